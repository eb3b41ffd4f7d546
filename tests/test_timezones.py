"""Time zones typed by name: the names the bot keeps are the CLDR's, as Babel gives them, and
reading one does not load Babel's locale data into the bot."""

import subprocess
import sys

from bot.reminders import timezones


def test_the_kept_city_and_country_names_are_babels():
    assert timezones._by_local_name() == timezones.local_names_from_cldr(), (
        "Babel's or tzdata's names changed: rewrite the table with "
        "`python -m bot.reminders.timezones`"
    )


def test_a_city_typed_in_french_or_english_finds_its_zone_without_babels_locale_data():
    code = """
import sys
from bot.reminders.timezones import resolve_timezone
print(resolve_timezone("Londres"), resolve_timezone("Le Caire"), resolve_timezone("Morocco"))
import babel.localedata
print(sorted(babel.localedata._cache), "babel.dates" in sys.modules)
"""
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    found, loaded = result.stdout.splitlines()
    assert found == "Europe/London Africa/Cairo Africa/Casablanca"
    assert loaded == "[] False"
