"""Read a time zone as a manager types it: a city, an IANA name, or a UTC offset."""

from __future__ import annotations

import re
import unicodedata
import zoneinfo
from functools import cache

# City names people type that are not the last part of an IANA name (mostly French spellings).
_ALIASES = {
    "bruxelles": "Europe/Brussels",
    "geneve": "Europe/Zurich",
    "geneva": "Europe/Zurich",
    "lausanne": "Europe/Zurich",
    "londres": "Europe/London",
    "varsovie": "Europe/Warsaw",
    "lisbonne": "Europe/Lisbon",
    "vienne": "Europe/Vienna",
    "moscou": "Europe/Moscow",
    "copenhague": "Europe/Copenhagen",
    "montreal": "America/Toronto",
    "quebec": "America/Toronto",
    "new york": "America/New_York",
    "pekin": "Asia/Shanghai",
    "beijing": "Asia/Shanghai",
    "alger": "Africa/Algiers",
    "beyrouth": "Asia/Beirut",
    "le caire": "Africa/Cairo",
    "reunion": "Indian/Reunion",
    "la reunion": "Indian/Reunion",
    "saint-denis": "Indian/Reunion",
    "papeete": "Pacific/Tahiti",
    "noumea": "Pacific/Noumea",
    "france": "Europe/Paris",
    "belgique": "Europe/Brussels",
    "suisse": "Europe/Zurich",
    "luxembourg": "Europe/Luxembourg",
    "maroc": "Africa/Casablanca",
    "senegal": "Africa/Dakar",
    "tunisie": "Africa/Tunis",
    "algerie": "Africa/Algiers",
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
def _by_lower_name() -> dict[str, str]:
    return {name.lower(): name for name in zoneinfo.available_timezones()}


def resolve_timezone(text: str) -> str | None:
    """An IANA time zone name for what was typed, or None if nothing fits.

    Accepts "Europe/Paris", "paris", "Montréal", "UTC", "UTC+2", "GMT-5", "+01:00". Offsets must
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
    if folded in _ALIASES:
        return _ALIASES[folded]
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
