"""Read a time zone as a manager types it: a city, an IANA name, or a UTC offset."""

from __future__ import annotations

import json
import re
import unicodedata
import zoneinfo
from functools import cache
from pathlib import Path

_LANGUAGES = ("fr", "en")
#: City and country names in French and English -> zone, as `local_names_from_cldr` finds them
#: in Babel's CLDR data. Kept in a file: looking them up through Babel loads its whole locale
#: data for both languages, 6-7 MiB that the bot process would keep for good after the first
#: time zone typed, for a table of under a thousand names. tests/test_timezones.py checks the
#: file against Babel; after an upgrade of Babel or tzdata that changes the names, rewrite it
#: with `python -m bot.reminders.timezones`.
LOCAL_NAMES = Path(__file__).with_name("zone_names.json")

# Cities the CLDR does not name because they share a zone with another city, and countries that
# span several zones, where one zone is by far the most likely for a business in them.
_EXTRA = {
    "geneve": "Europe/Zurich",
    "geneva": "Europe/Zurich",
    "lausanne": "Europe/Zurich",
    "montreal": "America/Toronto",
    "quebec": "America/Toronto",
    "pekin": "Asia/Shanghai",
    "beijing": "Asia/Shanghai",
    "saint-denis": "Indian/Reunion",
    "papeete": "Pacific/Tahiti",
    "canada": "America/Toronto",
}
_OFFSET = re.compile(r"^(?:utc|gmt)?\s*([+-])\s*(\d{1,2})(?::?00)?$")


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.strip().lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c)).replace("’", "'")


@cache
def _by_city() -> dict[str, str]:
    cities: dict[str, str] = {}
    for name in sorted(zoneinfo.available_timezones()):
        if "/" not in name or name.startswith(("Etc/", "SystemV/", "US/")):
            continue
        city = _fold(name.rsplit("/", 1)[1].replace("_", " "))
        cities.setdefault(city, name)
    return cities


@cache
def _by_local_name() -> dict[str, str]:
    """City and country names in French and English: "Londres", "Le Caire", "La Réunion",
    "Belgique", "Morocco"... (`LOCAL_NAMES`)."""
    names: dict[str, str] = json.loads(LOCAL_NAMES.read_text(encoding="utf-8"))
    return names


def local_names_from_cldr() -> dict[str, str]:
    """City and country names in French and English, from the CLDR (through Babel), folded.
    A country names its zone when it has one. Loads Babel's locale data: not for the bot."""
    from babel import Locale
    from babel.core import get_global
    from babel.dates import get_timezone_location

    available = zoneinfo.available_timezones()
    canonical = sorted(set(get_global("zone_territories")) & available)
    names: dict[str, str] = {}
    for lang in _LANGUAGES:
        locale = Locale.parse(lang)
        for zone in canonical:
            city = get_timezone_location(zone, locale, return_city=True)
            names.setdefault(_fold(city), zone)
        for territory, zones in get_global("territory_zones").items():
            if len(zones) == 1 and zones[0] in available and territory in locale.territories:
                names.setdefault(_fold(locale.territories[territory]), zones[0])
    return names


@cache
def _by_lower_name() -> dict[str, str]:
    return {name.lower(): name for name in zoneinfo.available_timezones()}


def resolve_timezone(text: str) -> str | None:
    """An IANA time zone name for what was typed, or None if nothing fits.

    Accepts "Europe/Paris", "paris", "Londres", "Le Caire", "Belgique", "Montréal", "UTC",
    "UTC+2", "GMT-5", "+01:00". Offsets must
    be whole hours (a fixed offset ignores daylight saving: a city is better).
    """
    folded = _fold(text)
    if not folded:
        return None
    if folded in ("utc", "gmt", "z"):
        return "UTC"
    exact = _by_lower_name().get(folded.replace(" ", "_"))
    if exact:
        return exact
    if folded in _EXTRA:
        return _EXTRA[folded]
    if folded in _by_local_name():
        return _by_local_name()[folded]
    match = _OFFSET.match(folded)
    if match:
        sign, hours = match.group(1), int(match.group(2))
        if hours > 14:
            return None
        if hours == 0:
            return "UTC"
        # IANA's Etc zones count the other way round: UTC+2 is Etc/GMT-2.
        return f"Etc/GMT{'-' if sign == '+' else '+'}{hours}"
    return _by_city().get(folded.replace("-", " ")) or _by_city().get(folded)


if __name__ == "__main__":  # rewrite LOCAL_NAMES from Babel's data
    LOCAL_NAMES.write_text(
        json.dumps(local_names_from_cldr(), ensure_ascii=False, indent=0, sort_keys=True) + "\n",
        encoding="utf-8",
    )
