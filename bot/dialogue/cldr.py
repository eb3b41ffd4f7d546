"""What the Unicode CLDR knows of each language: plurals, dates, day/month order.

Pure: the caller passes the dates; nothing here reads the clock.

The few facts the dialogue's languages need (plural rules, date patterns, month and weekday
names, decimal symbols) are kept in `FACTS`, as Babel gives them from its CLDR data:
formatting a date or a count does not load Babel's whole locale data (about 3 MB of memory
per language, for the language and territory names, currencies, units... the bot never
shows). `tests/test_cldr.py` checks `FACTS` and every function against Babel itself; after
an upgrade of Babel that changes them, `facts(lang)` gives the new values.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import ROUND_HALF_EVEN, Decimal
from functools import cache
from typing import Any

from babel.plural import PluralRule

# Per language: plural rules, the "long", "full" and "short" date patterns, month names
# (January first), weekday names (Monday first) wide and abbreviated, decimal and minus signs.
FACTS: dict[str, dict[str, Any]] = {
    "fr": {
        "plural": {
            "many": "e in 0 and i not in 0 and i mod 1000000 in 0 and v in 0 or e not in 0..5",
            "one": "i in 0..1",
        },
        "long": "d MMMM y",
        "full": "EEEE d MMMM y",
        "short": "dd/MM/y",
        "months": (
            "janvier",
            "février",
            "mars",
            "avril",
            "mai",
            "juin",
            "juillet",
            "août",
            "septembre",
            "octobre",
            "novembre",
            "décembre",
        ),
        "weekdays": ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche"),
        "short_weekdays": ("lun.", "mar.", "mer.", "jeu.", "ven.", "sam.", "dim."),
        "decimal": ",",
        "minus": "-",
    },
    "en": {
        "plural": {"one": "i in 1 and v in 0"},
        "long": "MMMM d, y",
        "full": "EEEE, MMMM d, y",
        "short": "M/d/yy",
        "months": (
            "January",
            "February",
            "March",
            "April",
            "May",
            "June",
            "July",
            "August",
            "September",
            "October",
            "November",
            "December",
        ),
        "weekdays": (
            "Monday",
            "Tuesday",
            "Wednesday",
            "Thursday",
            "Friday",
            "Saturday",
            "Sunday",
        ),
        "short_weekdays": ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"),
        "decimal": ".",
        "minus": "-",
    },
}

# A date pattern's parts: a quoted literal ('' is a quote), a run of one field letter, or
# any other literal text.
_PART = re.compile(r"'(?:[^']|'')*'|([A-Za-z])\1*|[^A-Za-z']+")


def facts(lang: str) -> dict[str, Any]:
    """The facts `FACTS` keeps for `lang`, read from Babel's CLDR data (loads it all)."""
    from babel import Locale

    locale = Locale.parse(lang)
    days = locale.days["format"]
    return {
        "plural": dict(locale.plural_form.rules),
        "long": locale.date_formats["long"].pattern,
        "full": locale.date_formats["full"].pattern,
        "short": locale.date_formats["short"].pattern,
        "months": tuple(locale.months["format"]["wide"][month] for month in range(1, 13)),
        "weekdays": tuple(days["wide"][day] for day in range(7)),
        "short_weekdays": tuple(days["abbreviated"][day] for day in range(7)),
        "decimal": locale.number_symbols["latn"]["decimal"],
        "minus": locale.number_symbols["latn"]["minusSign"],
    }


@cache
def _plural(lang: str) -> PluralRule:
    return PluralRule(FACTS[lang]["plural"])


def plural_category(lang: str, count: int) -> str:
    """The CLDR plural category of `count` in `lang`: "one", "other" (French: 0 and 1 are one)."""
    return str(_plural(lang)(count))


def _format_date(day: dt.date, pattern: str, lang: str) -> str:
    """`day` written after a CLDR date pattern (the fields the patterns above use)."""
    known = FACTS[lang]
    written = []
    for match in _PART.finditer(pattern):
        part = match.group()
        if part.startswith("'"):
            written.append(part[1:-1].replace("''", "'") if part != "''" else "'")
        elif match.group(1) is None:
            written.append(part)
        elif part == "d":
            written.append(str(day.day))
        elif part == "dd":
            written.append(f"{day.day:02d}")
        elif part == "M":
            written.append(str(day.month))
        elif part == "MM":
            written.append(f"{day.month:02d}")
        elif part == "MMMM":
            written.append(known["months"][day.month - 1])
        elif part == "y":
            written.append(str(day.year))
        elif part == "yy":
            written.append(f"{day.year % 100:02d}")
        elif part == "EEEE":
            written.append(known["weekdays"][day.weekday()])
        elif part in ("E", "EE", "EEE"):
            written.append(known["short_weekdays"][day.weekday()])
        else:
            raise ValueError(f"date field {part!r} of {pattern!r} is not supported")
    return "".join(written)


def long_date(day: dt.date, lang: str) -> str:
    """ "8 décembre 2026" / "December 8, 2026": unambiguous in every language."""
    return _format_date(day, FACTS[lang]["long"], lang)


def full_date(day: dt.date, lang: str) -> str:
    """ "mardi 8 décembre 2026" / "Tuesday, December 8, 2026": with the weekday."""
    return _format_date(day, FACTS[lang]["full"], lang)


def short_weekday(day: dt.date, lang: str) -> str:
    """ "mar." / "Tue"."""
    return _format_date(day, "EEE", lang)


@cache
def month_first(lang: str) -> bool:
    """Whether `lang` writes numeric dates month first (English: 3/15/27), per the CLDR."""
    pattern = FACTS[lang]["short"].lower()
    return bool(pattern.find("m") < pattern.find("d"))


def decimal(value: float, lang: str) -> str:
    """ "3,5" / "3.5"; a whole number without decimals ("4")."""
    rounded = Decimal(str(value)).quantize(Decimal("0.1"), rounding=ROUND_HALF_EVEN)
    whole, _, tenth = f"{abs(rounded):f}".partition(".")
    text = whole if tenth in ("", "0") else f"{whole}{FACTS[lang]['decimal']}{tenth}"
    return f"{FACTS[lang]['minus']}{text}" if rounded.is_signed() else text
