"""The CLDR facts kept in bot/dialogue/cldr.py are Babel's, and format as Babel does."""

import datetime as dt
import subprocess
import sys

import pytest
from babel import Locale
from babel.dates import format_date
from babel.numbers import format_decimal

from bot.dialogue import cldr
from bot.dialogue.model import LANGUAGES

DAYS = [dt.date(2019, 12, 25) + dt.timedelta(days=n) for n in range(0, 4 * 366, 3)]


@pytest.mark.parametrize("lang", LANGUAGES)
def test_the_kept_facts_are_babels(lang):
    assert cldr.FACTS[lang] == cldr.facts(lang), (
        f"Babel's CLDR data changed: set cldr.FACTS[{lang!r}] to cldr.facts({lang!r})"
    )


@pytest.mark.parametrize("lang", LANGUAGES)
def test_dates_are_written_as_babel_writes_them(lang):
    locale = Locale.parse(lang)
    for day in [*DAYS, dt.date(1, 1, 1), dt.date(2000, 2, 29), dt.date(9999, 12, 31)]:
        assert cldr.long_date(day, lang) == format_date(day, "long", locale=locale)
        assert cldr.full_date(day, lang) == format_date(day, "full", locale=locale)
        assert cldr.short_weekday(day, lang) == format_date(day, "EEE", locale=locale)
    assert cldr.long_date(dt.date(2026, 12, 8), "fr") == "8 décembre 2026"
    assert cldr.full_date(dt.date(2026, 12, 8), "en") == "Tuesday, December 8, 2026"


@pytest.mark.parametrize("lang", LANGUAGES)
def test_plurals_numbers_and_day_order_are_babels(lang):
    locale = Locale.parse(lang)
    for count in [*range(0, 1201), 10**6, 2 * 10**6, 10**6 + 1, 10**9]:
        assert cldr.plural_category(lang, count) == locale.plural_form(count)
    values = [n / 100 for n in range(-1000, 1001)]
    values += [0.05, 0.15, 0.25, 2.25, 1e6, -0.04, -0.0, 4.0]
    for value in values:
        assert cldr.decimal(value, lang) == format_decimal(value, "0.#", locale=locale)
    pattern = locale.date_formats["short"].pattern.lower()
    assert cldr.month_first(lang) == (pattern.find("m") < pattern.find("d"))


def test_formatting_loads_no_locale_data():
    code = """
import datetime as dt
import babel.localedata
from bot.dialogue import cldr
for lang in ("fr", "en"):
    cldr.full_date(dt.date(2026, 12, 8), lang)
    cldr.long_date(dt.date(2026, 12, 8), lang)
    cldr.short_weekday(dt.date(2026, 12, 8), lang)
    cldr.plural_category(lang, 3)
    cldr.decimal(3.5, lang)
    cldr.month_first(lang)
print(sorted(babel.localedata._cache))
"""
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "[]"
