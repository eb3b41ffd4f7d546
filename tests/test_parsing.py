"""Tests for bot.dialogue.parsing: typed answers in French and English."""

import datetime as dt
import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.dialogue.parsing import (
    REASONS,
    ParseError,
    is_not_yet,
    normalize_text,
    parse_choice,
    parse_choices,
    parse_date,
    parse_int,
    parse_yesno,
    read_month_first,
)
from bot.errors import AllianceBotError

D = dt.date
# A Wednesday in a non-leap year; 2028 is a leap year.
TODAY = D(2027, 1, 20)
LANGS = ["fr", "en"]


def date_reason(text, *, today=TODAY, allow_past=True):
    with pytest.raises(ParseError) as exc:
        parse_date(text, today=today, lang="fr", allow_past=allow_past)
    return exc.value.reason


# ---------------------------------------------------------------------------------------------
# ParseError
# ---------------------------------------------------------------------------------------------


def test_parse_error_carries_reason_and_is_a_project_value_error():
    error = ParseError("not_a_date")
    assert error.reason == "not_a_date"
    assert str(error) == "not_a_date"
    assert isinstance(error, ValueError)
    assert isinstance(error, AllianceBotError)


def test_reasons_lists_every_key():
    assert {
        "not_a_date",
        "date_in_past",
        "not_a_number",
        "too_small",
        "too_large",
        "empty",
        "too_long",
        "not_a_choice",
        "date_order",
    } == REASONS


# ---------------------------------------------------------------------------------------------
# parse_date: absolute forms
# ---------------------------------------------------------------------------------------------

# Numeric dates follow the language's order: French day first, English month first.
DAY_FIRST = [
    ("15/03/2027", D(2027, 3, 15)),
    ("15/3/2027", D(2027, 3, 15)),
    ("5/3/2027", D(2027, 3, 5)),
    ("15-03-2027", D(2027, 3, 15)),
    ("15.03.2027", D(2027, 3, 15)),
    ("15 / 03 / 2027", D(2027, 3, 15)),
    ("15/03/27", D(2027, 3, 15)),
    ("03/04/2027", D(2027, 4, 3)),
    ("15/03", D(2027, 3, 15)),
    ("15-03", D(2027, 3, 15)),
    ("15.03", D(2027, 3, 15)),
    ("20/01", D(2027, 1, 20)),  # today is not past
    ("19/01", D(2028, 1, 19)),  # yesterday: next year
    ("10/01", D(2028, 1, 10)),
    ("29/02", D(2028, 2, 29)),  # 2027 has none: the next leap year
]
MONTH_FIRST = [
    ("03/15/2027", D(2027, 3, 15)),
    ("3/5/2027", D(2027, 3, 5)),
    ("03-15-2027", D(2027, 3, 15)),
    ("03/15/27", D(2027, 3, 15)),
    ("03/04/2027", D(2027, 3, 4)),
    ("12/25/2027", D(2027, 12, 25)),
    ("03/15", D(2027, 3, 15)),
    ("01/19", D(2028, 1, 19)),
    ("02/29", D(2028, 2, 29)),
]


@pytest.mark.parametrize(("text", "expected"), DAY_FIRST)
def test_parse_date_numeric_day_first_in_french(text, expected):
    assert parse_date(text, today=TODAY, lang="fr") == expected


@pytest.mark.parametrize(("text", "expected"), MONTH_FIRST)
def test_parse_date_numeric_month_first_in_english(text, expected):
    assert parse_date(text, today=TODAY, lang="en") == expected


@pytest.mark.parametrize(
    ("text", "lang", "suggestion"),
    [
        ("10/13/2026", "fr", "13/10/2026"),
        ("13/10/2026", "en", "10/13/2026"),
        ("25/12", "en", "12/25"),
        ("12.25.2027", "fr", "25/12/2027"),
    ],
)
def test_parse_date_refuses_a_month_out_of_range_with_the_other_order(text, lang, suggestion):
    with pytest.raises(ParseError) as raised:
        parse_date(text, today=TODAY, lang=lang)
    assert raised.value.reason == "date_order"
    assert raised.value.params["suggestion"] == suggestion


@pytest.mark.parametrize(
    ("text", "lang", "expected"),
    [
        ("03/04/2027", "fr", False),
        ("03/04/2027", "en", True),
        ("03/04", "en", True),
        ("15/03/2027", "fr", None),
        ("04/04/2027", "en", None),
        ("15 mars", "fr", None),
    ],
)
def test_read_month_first_says_the_order_only_when_it_mattered(text, lang, expected):
    assert read_month_first(text, lang) is expected


ABSOLUTE = [
    # ISO
    ("2027-03-15", D(2027, 3, 15)),
    ("2027-3-5", D(2027, 3, 5)),
    ("2027/03/15", D(2027, 3, 15)),
    # month names with a year
    ("15 mars 2027", D(2027, 3, 15)),
    ("15 Mars 2027", D(2027, 3, 15)),
    ("15 MARS 2027", D(2027, 3, 15)),
    ("1er mars 2027", D(2027, 3, 1)),
    ("le 15 mars 2027", D(2027, 3, 15)),
    ("lundi 15 mars 2027", D(2027, 3, 15)),
    ("15 février 2027", D(2027, 2, 15)),
    ("15 fevrier 2027", D(2027, 2, 15)),
    ("15 févr. 2027", D(2027, 2, 15)),
    ("15 août 2027", D(2027, 8, 15)),
    ("15 aout 2027", D(2027, 8, 15)),
    ("15 décembre 2027", D(2027, 12, 15)),
    ("15 decembre 2027", D(2027, 12, 15)),
    ("15 janv. 2028", D(2028, 1, 15)),
    ("15 sept 2027", D(2027, 9, 15)),
    ("15 juillet 2027", D(2027, 7, 15)),
    ("15 juil 2027", D(2027, 7, 15)),
    ("15 juin 2027", D(2027, 6, 15)),
    ("March 15, 2027", D(2027, 3, 15)),
    ("march 15 2027", D(2027, 3, 15)),
    ("March 15th, 2027", D(2027, 3, 15)),
    ("15 March 2027", D(2027, 3, 15)),
    ("15th of March 2027", D(2027, 3, 15)),
    ("on the 15th of March 2027", D(2027, 3, 15)),
    ("Monday, March 15, 2027", D(2027, 3, 15)),
    ("Sept 1, 2027", D(2027, 9, 1)),
    ("Jun 30 2027", D(2027, 6, 30)),
    ("Jul 4 2027", D(2027, 7, 4)),
    ("Feb 29 2028", D(2028, 2, 29)),  # leap year
    # year missing: this year, or next year if already past
    ("15 mars", D(2027, 3, 15)),
    ("1er janvier", D(2028, 1, 1)),
    ("mar 15", D(2027, 3, 15)),
    ("Mar. 15", D(2027, 3, 15)),
    ("March 15th", D(2027, 3, 15)),
    ("15 March", D(2027, 3, 15)),
    ("the 15th of march", D(2027, 3, 15)),
    ("29 février", D(2028, 2, 29)),
    # end of a month or a year
    ("fin mars", D(2027, 3, 31)),
    ("Fin Mars", D(2027, 3, 31)),
    ("fin de mars", D(2027, 3, 31)),
    ("fin avril", D(2027, 4, 30)),
    ("fin d'avril", D(2027, 4, 30)),
    ("fin février", D(2027, 2, 28)),
    ("fin fevrier 2028", D(2028, 2, 29)),
    ("fin aout", D(2027, 8, 31)),
    ("fin janvier", D(2027, 1, 31)),  # this month's end is not past
    ("fin décembre 2027", D(2027, 12, 31)),
    ("end of March", D(2027, 3, 31)),
    ("the end of March", D(2027, 3, 31)),
    ("end of February 2028", D(2028, 2, 29)),
    ("end of june", D(2027, 6, 30)),
    ("fin 2027", D(2027, 12, 31)),
    ("end of 2028", D(2028, 12, 31)),
]


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize(("text", "expected"), ABSOLUTE)
def test_parse_date_absolute(text, expected, lang):
    assert parse_date(text, today=TODAY, lang=lang) == expected


def test_parse_date_end_of_month_already_past_rolls_to_next_year():
    assert parse_date("fin janvier", today=D(2027, 2, 1), lang="fr") == D(2028, 1, 31)
    assert parse_date("end of February", today=D(2027, 3, 1), lang="en") == D(2028, 2, 29)


# ---------------------------------------------------------------------------------------------
# parse_date: relative forms
# ---------------------------------------------------------------------------------------------

RELATIVE = [
    ("aujourd'hui", D(2027, 1, 20)),
    ("aujourd’hui", D(2027, 1, 20)),
    ("aujourdhui", D(2027, 1, 20)),
    ("Aujourd'hui.", D(2027, 1, 20)),
    ("today", D(2027, 1, 20)),
    ("demain", D(2027, 1, 21)),
    ("tomorrow", D(2027, 1, 21)),
    ("  Demain.  ", D(2027, 1, 21)),
    ("après-demain", D(2027, 1, 22)),
    ("apres-demain", D(2027, 1, 22)),
    ("après demain", D(2027, 1, 22)),
    ("APRÈS-DEMAIN", D(2027, 1, 22)),
    ("the day after tomorrow", D(2027, 1, 22)),
    ("hier", D(2027, 1, 19)),
    ("yesterday", D(2027, 1, 19)),
    ("dans 3 jours", D(2027, 1, 23)),
    ("dans trois jours", D(2027, 1, 23)),
    ("dans 1 jour", D(2027, 1, 21)),
    ("dans un jour", D(2027, 1, 21)),
    ("dans 2 semaines", D(2027, 2, 3)),
    ("dans deux semaines", D(2027, 2, 3)),
    ("dans une semaine", D(2027, 1, 27)),
    ("dans 1 mois", D(2027, 2, 20)),
    ("dans un mois", D(2027, 2, 20)),
    ("dans douze mois", D(2028, 1, 20)),
    ("dans 2 ans", D(2029, 1, 20)),
    ("dans un an", D(2028, 1, 20)),
    ("dans 2 années", D(2029, 1, 20)),
    ("dans dix-sept jours", D(2027, 2, 6)),
    ("d'ici 2 semaines", D(2027, 2, 3)),
    ("in 3 weeks", D(2027, 2, 10)),
    ("in two weeks", D(2027, 2, 3)),
    ("in a week", D(2027, 1, 27)),
    ("in a month", D(2027, 2, 20)),
    ("in 10 days", D(2027, 1, 30)),
    ("in ten days", D(2027, 1, 30)),
    ("in one year", D(2028, 1, 20)),
    ("in twelve months", D(2028, 1, 20)),
    ("In 3 weeks' time", D(2027, 2, 10)),
    ("10 days from now", D(2027, 1, 30)),
    ("next week", D(2027, 1, 27)),
    ("la semaine prochaine", D(2027, 1, 27)),
    ("semaine prochaine", D(2027, 1, 27)),
    ("next month", D(2027, 2, 20)),
    ("le mois prochain", D(2027, 2, 20)),
    ("next year", D(2028, 1, 20)),
    ("l'an prochain", D(2028, 1, 20)),
    ("l'année prochaine", D(2028, 1, 20)),
    ("fin du mois", D(2027, 1, 31)),
    ("end of the month", D(2027, 1, 31)),
    ("fin du mois prochain", D(2027, 2, 28)),
    ("fin de l'année", D(2027, 12, 31)),
    ("end of the year", D(2027, 12, 31)),
    # weekdays: the first one strictly after today (a Wednesday)
    ("next monday", D(2027, 1, 25)),
    ("Next Monday", D(2027, 1, 25)),
    ("lundi prochain", D(2027, 1, 25)),
    ("lundi", D(2027, 1, 25)),
    ("monday", D(2027, 1, 25)),
    ("jeudi", D(2027, 1, 21)),
    ("thursday", D(2027, 1, 21)),
    ("mercredi", D(2027, 1, 27)),  # today's weekday: a week later
    ("next wednesday", D(2027, 1, 27)),
    ("mardi prochain", D(2027, 1, 26)),
    ("dimanche", D(2027, 1, 24)),
    ("sunday", D(2027, 1, 24)),
    ("vendredi prochain", D(2027, 1, 22)),
    ("samedi", D(2027, 1, 23)),
]


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize(("text", "expected"), RELATIVE)
def test_parse_date_relative(text, expected, lang):
    assert parse_date(text, today=TODAY, lang=lang) == expected


CLAMPING = [
    # (today, text, expected)
    (D(2027, 1, 31), "dans 1 mois", D(2027, 2, 28)),
    (D(2027, 1, 31), "next month", D(2027, 2, 28)),
    (D(2027, 1, 31), "le mois prochain", D(2027, 2, 28)),
    (D(2028, 1, 31), "in a month", D(2028, 2, 29)),  # leap year
    (D(2027, 1, 30), "dans un mois", D(2027, 2, 28)),
    (D(2027, 3, 31), "dans 1 mois", D(2027, 4, 30)),
    (D(2027, 8, 31), "in six months", D(2028, 2, 29)),
    (D(2027, 10, 31), "dans 4 mois", D(2028, 2, 29)),
    (D(2027, 12, 31), "dans 2 mois", D(2028, 2, 29)),
    (D(2027, 12, 15), "next month", D(2028, 1, 15)),
    (D(2028, 2, 29), "dans 1 an", D(2029, 2, 28)),
    (D(2028, 2, 29), "next year", D(2029, 2, 28)),
    (D(2028, 2, 29), "in 4 years", D(2032, 2, 29)),
    (D(2027, 12, 28), "dans 1 semaine", D(2028, 1, 4)),
    (D(2028, 2, 28), "demain", D(2028, 2, 29)),
    (D(2027, 2, 28), "demain", D(2027, 3, 1)),
    (D(2027, 12, 31), "tomorrow", D(2028, 1, 1)),
    (D(2028, 2, 10), "fin du mois", D(2028, 2, 29)),
    (D(2027, 2, 10), "end of the month", D(2027, 2, 28)),
    (D(2027, 1, 31), "fin du mois prochain", D(2027, 2, 28)),
]


@pytest.mark.parametrize(("today", "text", "expected"), CLAMPING)
def test_parse_date_month_arithmetic_clamps(today, text, expected):
    assert parse_date(text, today=today, lang="en") == expected


@pytest.mark.parametrize(
    ("today", "text", "expected"),
    [
        (D(2027, 3, 16), "15/03", D(2028, 3, 15)),
        (D(2027, 3, 15), "15 mars", D(2027, 3, 15)),
        (D(2027, 12, 31), "1er janvier", D(2028, 1, 1)),
        (D(2027, 12, 31), "Dec 31", D(2027, 12, 31)),
        (D(2028, 3, 1), "29/02", D(2032, 2, 29)),
        (D(2028, 2, 1), "29/02", D(2028, 2, 29)),
    ],
)
def test_parse_date_without_year_is_next_occurrence(today, text, expected):
    assert parse_date(text, today=today, lang="fr") == expected


# ---------------------------------------------------------------------------------------------
# parse_date: errors and allow_past
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        ".",
        "31/02/2027",
        "32/01/2027",
        "0/01/2027",
        "15/13/2027",
        "15/00/2027",
        "29/02/2027",  # not a leap year
        "29 février 2027",
        "31 avril 2027",
        "31/04",
        "31 février",
        "2027-02-30",
        "2027-13-01",
        "0000-01-01",
        "mars 2027",  # no day
        "2027",
        "15",
        "ma 15",  # month prefix too short
        "jui 15",  # juin or juillet?
        "15 foo 2027",
        "fin foo",
        "dans jours",
        "dans 3",
        "dans trois heures",
        "in many weeks",
        "in an hour",
        "dans 999999 ans",  # beyond the calendar
        "9999-12-31 plus",
        "next",
        "prochain",
        "lundi matin",
        "hello",
        "not a date",
        "15/03/2027/01",
    ],
)
def test_parse_date_rejects(text):
    assert date_reason(text) == "not_a_date"


def test_parse_date_at_calendar_end_is_not_a_date():
    assert date_reason("demain", today=D(9999, 12, 31)) == "not_a_date"
    assert date_reason("next month", today=D(9999, 12, 15)) == "not_a_date"
    assert date_reason("15/03", today=D(9999, 12, 31)) == "not_a_date"


@pytest.mark.parametrize(
    "text", ["hier", "yesterday", "19/01/2027", "1er janvier 2027", "2020-05-01"]
)
def test_parse_date_past_refused_when_not_allowed(text):
    assert date_reason(text, allow_past=False) == "date_in_past"
    assert parse_date(text, today=TODAY, lang="fr") < TODAY  # allowed by default


@pytest.mark.parametrize("text", ["aujourd'hui", "today", "20/01/2027", "demain", "19/01"])
def test_parse_date_today_and_future_allowed_when_past_is_not(text):
    assert parse_date(text, today=TODAY, lang="fr", allow_past=False) >= TODAY


# ---------------------------------------------------------------------------------------------
# parse_int
# ---------------------------------------------------------------------------------------------

INTS = [
    ("0", 0),
    ("4", 4),
    ("  42  ", 42),
    ("007", 7),
    ("+3", 3),
    ("-3", -3),
    ("- 3", -3),
    ("−3", -3),  # U+2212 MINUS SIGN
    ("1 000", 1000),
    ("1\u00a0000", 1000),  # no-break space
    ("1\u202f000", 1000),  # narrow no-break space (French typography)
    ("1\u2009000", 1000),  # thin space
    ("12 345 678", 12345678),
    ("-1 000", -1000),
    ("1.000.000", 1000000),
    ("1,000,000", 1000000),
    ("1,000,000.00", 1000000),
    ("1.000.000,00", 1000000),
    ("1 000,00", 1000),
    ("4.0", 4),
    ("4,0", 4),
    ("4,00", 4),
    ("1000,000", 1000),
    ("4.", 4),
    ("zéro", 0),
    ("zero", 0),
    ("un", 1),
    ("une", 1),
    ("one", 1),
    ("deux", 2),
    ("two", 2),
    ("quatre", 4),
    ("Quatre", 4),
    ("four", 4),
    ("cinq", 5),
    ("five", 5),
    ("six", 6),
    ("sept", 7),
    ("seven", 7),
    ("dix", 10),
    ("ten", 10),
    ("douze", 12),
    ("twelve", 12),
    ("quinze", 15),
    ("dix-sept", 17),
    ("dix sept", 17),
    ("seventeen", 17),
    ("dix-neuf", 19),
    ("vingt", 20),
    ("twenty", 20),
    ("aucun", 0),
    ("none", 0),
    ("５", 5),  # full-width digit
]


@pytest.mark.parametrize(("text", "expected"), INTS)
def test_parse_int(text, expected):
    assert parse_int(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "  ",
        "abc",
        "4.5",
        "4,5",
        "4.05",
        "1,000",  # a thousand in English, one in French: ambiguous
        "1.000",
        "1,500",
        "1 0000",
        "10 00",
        "1,000.000",
        "1,000,000,00",
        "4 apples",
        "environ 5",
        "vingt et un",
        "twenty-one",
        "++4",
        "4-",
        "0x10",
        "1e3",
        "½",
    ],
)
def test_parse_int_rejects(text):
    with pytest.raises(ParseError) as exc:
        parse_int(text)
    assert exc.value.reason == "not_a_number"


@pytest.mark.parametrize(
    ("text", "minimum", "maximum", "reason"),
    [
        ("0", 1, 20, "too_small"),
        ("zéro", 1, None, "too_small"),
        ("-5", 0, None, "too_small"),
        ("21", 1, 20, "too_large"),
        ("vingt", None, 19, "too_large"),
        ("1 000 000", None, 999_999, "too_large"),
        ("9" * 5000, None, None, "too_large"),  # beyond int()'s digit limit
        ("-" + "9" * 5000, None, None, "too_small"),
    ],
)
def test_parse_int_bounds(text, minimum, maximum, reason):
    with pytest.raises(ParseError) as exc:
        parse_int(text, minimum=minimum, maximum=maximum)
    assert exc.value.reason == reason


@pytest.mark.parametrize(("text", "expected"), [("1", 1), ("20", 20), ("dix", 10)])
def test_parse_int_bounds_are_inclusive(text, expected):
    assert parse_int(text, minimum=1, maximum=20) == expected


# ---------------------------------------------------------------------------------------------
# parse_yesno and is_not_yet
# ---------------------------------------------------------------------------------------------

YESNO = [
    # yes
    ("oui", "yes"),
    ("Oui", "yes"),
    ("OUI !", "yes"),
    ("  oui.  ", "yes"),
    ("o", "yes"),
    ("O", "yes"),
    ("yes", "yes"),
    ("Yes!", "yes"),
    ("y", "yes"),
    ("ok", "yes"),
    ("OK.", "yes"),
    ("d'accord", "yes"),
    ("d’accord", "yes"),
    ("daccord", "yes"),
    ("bien sûr", "yes"),
    ("bien sur", "yes"),
    ("Bien sûr !", "yes"),
    ("absolument", "yes"),
    ("tout à fait", "yes"),
    ("oui, bien sûr", "yes"),
    ("oui merci", "yes"),
    ("euh... oui", "yes"),
    ("yep", "yes"),
    ("yeah", "yes"),
    ("sure", "yes"),
    ("of course", "yes"),
    ("yes please", "yes"),
    ("no problem", "yes"),
    ("pas de problème", "yes"),
    # no
    ("non", "no"),
    ("Non.", "no"),
    ("NON", "no"),
    ("n", "no"),
    ("no", "no"),
    ("No!", "no"),
    ("nope", "no"),
    ("pas du tout", "no"),
    ("non, pas du tout", "no"),
    ("non merci", "no"),
    ("absolument pas", "no"),
    ("not at all", "no"),
    ("no thanks", "no"),
    ("jamais", "no"),
    ("never", "no"),
    ("i don't think so", "no"),
    # not yet
    ("pas encore", "notyet"),
    ("Pas encore.", "notyet"),
    ("pas encore décidé", "notyet"),
    ("pas encore decide", "notyet"),
    ("je ne sais pas", "notyet"),
    ("Je ne sais pas encore", "notyet"),
    ("ne sais pas", "notyet"),
    ("je sais pas", "notyet"),
    ("nsp", "notyet"),
    ("NSP", "notyet"),
    ("plus tard", "notyet"),
    ("peut-être", "notyet"),
    ("peut etre", "notyet"),
    ("aucune idée", "notyet"),
    ("non, pas encore", "notyet"),
    ("not yet", "notyet"),
    ("Not yet.", "notyet"),
    ("no, not yet", "notyet"),
    ("don't know", "notyet"),
    ("don’t know", "notyet"),
    ("dont know", "notyet"),
    ("I don't know", "notyet"),
    ("I don't know yet", "notyet"),
    ("I do not know yet", "notyet"),
    ("unsure", "notyet"),
    ("not sure", "notyet"),
    ("maybe later", "notyet"),
    ("later", "notyet"),
    ("idk", "notyet"),
    # not recognised
    ("", None),
    ("   ", None),
    ("!!!", None),
    ("merci", None),  # filler only
    ("oui non", None),
    ("yes no", None),
    ("oui, pas encore", None),
    ("peut", None),
    ("ouiiii", None),
    ("nonsense", None),
    ("yesterday", None),
    ("okay then, whatever", None),
    ("15", None),
]


@pytest.mark.parametrize(("text", "expected"), YESNO)
def test_parse_yesno(text, expected):
    assert parse_yesno(text) == expected


@pytest.mark.parametrize(("text", "expected"), YESNO)
def test_is_not_yet_matches_parse_yesno(text, expected):
    assert is_not_yet(text) is (expected == "notyet")


# ---------------------------------------------------------------------------------------------
# parse_choice and parse_choices
# ---------------------------------------------------------------------------------------------

OPTIONS = [
    ("supplier", "Fournisseur"),
    ("distributor", "Distributeur"),
    ("competitor", "Concurrent"),
    ("research", "Centre de recherche"),
    ("joint_venture", "Coentreprise (joint-venture)"),
    ("other", "Autre"),
]
OPTIONS_EN = [
    ("supplier", "Supplier"),
    ("distributor", "Distributor"),
    ("competitor", "Competitor"),
    ("rd", "R&D, research lab"),
    ("other", "Other"),
]


@pytest.mark.parametrize(
    ("text", "options", "expected"),
    [
        ("1", OPTIONS, "supplier"),
        ("2", OPTIONS, "distributor"),
        (" 6 ", OPTIONS, "other"),
        ("2.", OPTIONS, "distributor"),
        ("2)", OPTIONS, "distributor"),
        ("(2)", OPTIONS, "distributor"),
        ("#2", OPTIONS, "distributor"),
        ("Fournisseur", OPTIONS, "supplier"),
        ("fournisseur", OPTIONS, "supplier"),
        ("FOURNISSEUR.", OPTIONS, "supplier"),
        ("supplier", OPTIONS, "supplier"),
        ("joint_venture", OPTIONS, "joint_venture"),
        ("joint venture", OPTIONS, "joint_venture"),
        ("coentreprise (joint-venture)", OPTIONS, "joint_venture"),
        ("coent", OPTIONS, "joint_venture"),
        ("Four", OPTIONS, "supplier"),
        ("conc", OPTIONS, "competitor"),
        ("centre", OPTIONS, "research"),
        ("aut", OPTIONS, "other"),
        ("Supplier", OPTIONS_EN, "supplier"),
        ("competitor", OPTIONS_EN, "competitor"),
        ("R&D, research lab", OPTIONS_EN, "rd"),
        ("r&d", OPTIONS_EN, "rd"),
        ("oth", OPTIONS_EN, "other"),
        ("4", OPTIONS_EN, "rd"),
        ("Stratégie", [("s", "Stratégie"), ("o", "Other")], "s"),
        ("strategie", [("s", "Stratégie"), ("o", "Other")], "s"),
        ("STRAT", [("s", "Stratégie"), ("o", "Other")], "s"),
        ("l'alliance", [("a", "L’alliance"), ("b", "Le reste")], "a"),
        ("lalliance", [("a", "L’alliance"), ("b", "Le reste")], "a"),
    ],
)
def test_parse_choice(text, options, expected):
    assert parse_choice(text, options) == expected


@pytest.mark.parametrize(
    ("text", "options"),
    [
        ("", OPTIONS),
        ("  ", OPTIONS),
        ("0", OPTIONS),
        ("7", OPTIONS),
        ("-1", OPTIONS),
        ("1.5", OPTIONS),
        ("fo", OPTIONS),  # prefix shorter than three characters
        ("dis", [("a", "Distributeur"), ("b", "Distance")]),  # ambiguous prefix
        ("xyz", OPTIONS),
        ("Fournisseurs", OPTIONS),
        ("1", []),
        ("99999999999999999999", OPTIONS),
    ],
)
def test_parse_choice_rejects(text, options):
    with pytest.raises(ParseError) as exc:
        parse_choice(text, options)
    assert exc.value.reason == "not_a_choice"


@pytest.mark.parametrize(
    ("text", "options", "expected"),
    [
        ("1, 3", OPTIONS, ["supplier", "competitor"]),
        ("1 3", OPTIONS, ["supplier", "competitor"]),
        ("1,3 et 5", OPTIONS, ["supplier", "competitor", "joint_venture"]),
        ("1;3", OPTIONS, ["supplier", "competitor"]),
        ("3, 1", OPTIONS, ["supplier", "competitor"]),  # options' order
        ("1, 1, 1", OPTIONS, ["supplier"]),  # unique
        ("2", OPTIONS, ["distributor"]),
        ("1 and 2", OPTIONS, ["supplier", "distributor"]),
        ("1 & 2", OPTIONS, ["supplier", "distributor"]),
        ("1/2", OPTIONS, ["supplier", "distributor"]),
        ("1\n4", OPTIONS, ["supplier", "research"]),
        ("1, 3,", OPTIONS, ["supplier", "competitor"]),
        ("Fournisseur, Concurrent", OPTIONS, ["supplier", "competitor"]),
        ("fournisseur et concurrent", OPTIONS, ["supplier", "competitor"]),
        ("Concurrent, 1", OPTIONS, ["supplier", "competitor"]),
        ("Centre de recherche, autre", OPTIONS, ["research", "other"]),
        ("four, dist", OPTIONS, ["supplier", "distributor"]),
        ("R&D, research lab", OPTIONS_EN, ["rd"]),  # a label holding a comma
        ("supplier and other", OPTIONS_EN, ["supplier", "other"]),
        ("1 2 3 4 5", OPTIONS_EN, ["supplier", "distributor", "competitor", "rd", "other"]),
    ],
)
def test_parse_choices(text, options, expected):
    assert parse_choices(text, options) == expected


@pytest.mark.parametrize(
    "text",
    ["", " ", ",", ", ;", "1, 9", "1, xyz", "0", "1 et", "et 2", "fournisseur ou concurrent"],
)
def test_parse_choices_rejects(text):
    with pytest.raises(ParseError) as exc:
        parse_choices(text, OPTIONS)
    assert exc.value.reason == "not_a_choice"


# ---------------------------------------------------------------------------------------------
# normalize_text
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("  Acme SA  ", "Acme SA"),
        ("Acme\x00 SA", "Acme SA"),
        ("a\x07b\x1bc\x7fd", "abcd"),
        ("ligne 1\nligne 2", "ligne 1\nligne 2"),
        ("ligne 1\r\nligne 2\rligne 3", "ligne 1\nligne 2\nligne 3"),
        ("col1\tcol2", "col1\tcol2"),
        ("\n\t  texte \n", "texte"),
        ("Cafe\u0301", "Café"),  # NFD to NFC
        ("\ud800Acme", "Acme"),  # unpaired surrogate
        ("Société « Alpha » – l’équipe 👨‍👩‍👧", "Société « Alpha » – l’équipe 👨‍👩‍👧"),
    ],
)
def test_normalize_text(text, expected):
    assert normalize_text(text, max_length=100) == expected


@pytest.mark.parametrize("text", ["", "   ", "\n\t", "\x00\x01", "\u00a0"])
def test_normalize_text_empty(text):
    with pytest.raises(ParseError) as exc:
        normalize_text(text, max_length=100)
    assert exc.value.reason == "empty"


def test_normalize_text_length_is_counted_after_cleaning():
    assert normalize_text("  " + "é" * 5 + "  ", max_length=5) == "é" * 5
    assert normalize_text("e\u0301" * 5, max_length=5) == "é" * 5
    with pytest.raises(ParseError) as exc:
        normalize_text("abcdef", max_length=5)
    assert exc.value.reason == "too_long"


# ---------------------------------------------------------------------------------------------
# Properties
# ---------------------------------------------------------------------------------------------

DATE_WORDS = [
    "dans",
    "in",
    "fin",
    "end of",
    "next",
    "prochain",
    "mars",
    "march",
    "lundi",
    "le",
    "the",
    "jours",
    "weeks",
    "mois",
    "un",
    "a",
    "/",
    "-",
    ".",
    ",",
    "'",
    " ",
    "29",
    "02",
    "9999",
    "0",
]
date_like_text = st.lists(
    st.one_of(st.sampled_from(DATE_WORDS), st.integers(0, 100_000).map(str)), max_size=6
).map(" ".join)


def outcome(function, *args, **kwargs):
    """Return ("ok", result) or ("error", reason) for a call that may raise ParseError."""
    try:
        return "ok", function(*args, **kwargs)
    except ParseError as error:
        return "error", error.reason


@settings(max_examples=300)
@given(
    text=st.one_of(st.text(), date_like_text),
    today=st.dates(),
    allow_past=st.booleans(),
)
def test_parse_date_only_raises_parse_error(text, today, allow_past):
    kind, result = outcome(parse_date, text, today=today, lang="fr", allow_past=allow_past)
    if kind == "error":
        assert result in {"not_a_date", "date_in_past", "date_order"}
    else:
        assert isinstance(result, dt.date)
        assert allow_past or result >= today


@given(day=st.dates(min_value=D(1000, 1, 1)), today=st.dates())
def test_parse_date_round_trips_numeric_forms(day, today):
    assert parse_date(day.strftime("%d/%m/%Y"), today=today, lang="fr") == day
    assert parse_date(day.strftime("%m/%d/%Y"), today=today, lang="en") == day
    assert parse_date(day.isoformat(), today=today, lang="fr") == day


@given(n=st.integers())
def test_parse_int_round_trips(n):
    assert parse_int(str(n)) == n


@given(n=st.integers(min_value=-(10**12), max_value=10**12))
def test_parse_int_round_trips_grouped_thousands(n):
    assert parse_int(f"{n:,}".replace(",", "\u202f")) == n
    assert parse_int(f"{n:,}".replace(",", " ")) == n


@given(text=st.text())
def test_parse_int_only_raises_parse_error(text):
    kind, result = outcome(parse_int, text, minimum=-100, maximum=100)
    if kind == "error":
        assert result in {"not_a_number", "too_small", "too_large"}
    else:
        assert -100 <= result <= 100


@given(text=st.text())
def test_parse_yesno_never_raises(text):
    assert parse_yesno(text) in {"yes", "no", "notyet", None}


@given(text=st.text())
def test_parse_choices_only_raises_parse_error(text):
    kind, keys = outcome(parse_choices, text, OPTIONS)
    if kind == "error":
        assert keys == "not_a_choice"
    else:
        assert keys
        assert keys == [key for key, _label in OPTIONS if key in keys]


@given(text=st.text(), max_length=st.integers(0, 50))
def test_normalize_text_output_is_clean_and_stable(text, max_length):
    kind, result = outcome(normalize_text, text, max_length=max_length)
    if kind == "error":
        assert result in {"empty", "too_long"}
    else:
        assert 0 < len(result) <= max_length
        assert result == result.strip()
        assert unicodedata.is_normalized("NFC", result)
        assert all(ch in "\n\t" or unicodedata.category(ch) not in ("Cc", "Cs") for ch in result)
        assert normalize_text(result, max_length=max_length) == result
