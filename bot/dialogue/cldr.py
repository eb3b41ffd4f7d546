"""What the Unicode CLDR (through Babel) knows of each language: plurals, dates, day/month order.

Pure: the caller passes the dates; nothing here reads the clock.
"""

from __future__ import annotations

import datetime as dt
from functools import cache

from babel import Locale
from babel.dates import format_date
from babel.numbers import format_decimal


@cache
def _locale(lang: str) -> Locale:
    return Locale.parse(lang)


def plural_category(lang: str, count: int) -> str:
    """The CLDR plural category of `count` in `lang`: "one", "other" (French: 0 and 1 are one)."""
    return str(_locale(lang).plural_form(count))


def long_date(day: dt.date, lang: str) -> str:
    """ "8 décembre 2026" / "December 8, 2026": unambiguous in every language."""
    return format_date(day, "long", locale=_locale(lang))


def full_date(day: dt.date, lang: str) -> str:
    """ "mardi 8 décembre 2026" / "Tuesday, December 8, 2026": with the weekday."""
    return format_date(day, "full", locale=_locale(lang))


def short_weekday(day: dt.date, lang: str) -> str:
    """ "mar." / "Tue"."""
    return format_date(day, "EEE", locale=_locale(lang))


@cache
def month_first(lang: str) -> bool:
    """Whether `lang` writes numeric dates month first (English: 3/15/27), per the CLDR."""
    pattern = _locale(lang).date_formats["short"].pattern.lower()
    return pattern.find("m") < pattern.find("d")


def decimal(value: float, lang: str) -> str:
    """ "3,5" / "3.5"; a whole number without decimals ("4")."""
    return format_decimal(value, "0.#", locale=_locale(lang))
