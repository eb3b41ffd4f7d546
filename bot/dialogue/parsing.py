"""Parsing of answers typed by the manager, in French or English, into checklist values.

Every function here is pure: no clock, no I/O, no Telegram. Failures raise `ParseError`, whose
`reason` is a short machine key that the caller turns into a localized sentence; no user-visible
sentence lives in this module. The only language data are the words recognized in input, and
every parser accepts both languages whatever the conversation's language is, because managers mix
them freely.

Matching is done on a folded form of the input: case-folded, accents removed, typographic
apostrophes, dashes and spaces unified, white space collapsed.
"""

from __future__ import annotations

import calendar
import datetime
import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from typing import Final

from bot.dialogue.cldr import FACTS, month_first
from bot.errors import AllianceBotError

REASONS: Final[frozenset[str]] = frozenset(
    {
        "not_a_date",
        "date_in_past",
        "not_a_number",
        "too_small",
        "too_large",
        "empty",
        "too_long",
        "not_a_choice",
        "date_order",
    }
)
"""Every `ParseError.reason` this module raises (each needs a localized message)."""


class ParseError(AllianceBotError, ValueError):
    """A typed answer could not be understood or is out of bounds.

    Attributes:
        reason: machine key saying why, one of `REASONS` (e.g. "not_a_date", "too_large").
    """

    def __init__(self, reason: str, **params: object) -> None:
        super().__init__(reason)
        self.reason = reason
        self.params = params  # what the message may quote, e.g. the corrected date


# ---------------------------------------------------------------------------------------------
# Folding
# ---------------------------------------------------------------------------------------------

_APOSTROPHES: Final = frozenset("'’‘ʼ`´′")
_DASHES: Final = frozenset("‐‑‒–—―−")  # includes U+2212 MINUS SIGN, typed on some keyboards
# Letters that NFKD does not decompose but that users type for plain Latin letters.
_LIGATURES: Final = {"œ": "oe", "æ": "ae", "ø": "o", "ł": "l", "đ": "d"}


def _fold(text: str) -> str:
    """Return `text` case-folded, without accents, with unified punctuation and spaces.

    Apostrophe-like characters become "'", dash-like characters "-", every run of white space a
    single space; control and format characters (NUL, zero-width space...) are dropped. The
    result has no leading or trailing space.
    """
    # casefold before NFKD: casefold can emit combining marks (e.g. "İ" -> "i̇") to strip.
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    chars: list[str] = []
    for ch in decomposed:
        if unicodedata.combining(ch):
            continue
        if ch in _APOSTROPHES:
            chars.append("'")
        elif ch in _DASHES:
            chars.append("-")
        elif ch.isspace():
            chars.append(" ")
        elif unicodedata.category(ch) in ("Cc", "Cf", "Cs"):
            continue
        else:
            chars.append(_LIGATURES.get(ch, ch))
    return " ".join("".join(chars).split())


fold = _fold  # for callers comparing typed words the same way (the engine's command words)


def _key(text: str, *, join_apostrophes: bool = False) -> str:
    """Return the folded words of `text` separated by single spaces, punctuation dropped.

    Apostrophes separate words ("d'accord" -> "d accord") unless `join_apostrophes` is set
    ("d'accord" -> "daccord"); vocabulary tables register both spellings so that input typed
    with or without the apostrophe matches.
    """
    folded = _fold(text)
    folded = folded.replace("'", "" if join_apostrophes else " ")
    return " ".join(re.sub(r"[\W_]+", " ", folded).split())


def _variants(phrase: str) -> set[str]:
    """Return the keys input may fold to when the user means `phrase`."""
    return {_key(phrase), _key(phrase, join_apostrophes=True)} - {""}


# ---------------------------------------------------------------------------------------------
# Shared vocabulary
# ---------------------------------------------------------------------------------------------

_NUMBER_WORDS: Final[dict[str, int]] = {
    # French
    "zéro": 0,
    "un": 1,
    "une": 1,
    "deux": 2,
    "trois": 3,
    "quatre": 4,
    "cinq": 5,
    "six": 6,
    "sept": 7,
    "huit": 8,
    "neuf": 9,
    "dix": 10,
    "onze": 11,
    "douze": 12,
    "treize": 13,
    "quatorze": 14,
    "quinze": 15,
    "seize": 16,
    "dix-sept": 17,
    "dix-huit": 18,
    "dix-neuf": 19,
    "vingt": 20,
    # English
    "zero": 0,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,  # "six" is spelled the same in both languages
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "thirteen": 13,
    "fourteen": 14,
    "fifteen": 15,
    "sixteen": 16,
    "seventeen": 17,
    "eighteen": 18,
    "nineteen": 19,
    "twenty": 20,
}
_NUMBERS: Final[dict[str, int]] = {_key(word): value for word, value in _NUMBER_WORDS.items()}

# ---------------------------------------------------------------------------------------------
# Integers
# ---------------------------------------------------------------------------------------------

# "none"/"aucun" answer "how many ...?" questions as naturally as "zero".
_INT_WORDS: Final[dict[str, int]] = {
    **_NUMBERS,
    **{_key(word): 0 for word in ("aucun", "aucune", "none")},
}

_INT_RE: Final = re.compile(
    r"(?P<sign>[+-]?) ?"
    r"(?P<int>[0-9]+"
    r"|[0-9]{1,3}(?: [0-9]{3})+"
    r"|[0-9]{1,3}(?P<grp>[.,])[0-9]{3}(?:(?P=grp)[0-9]{3})+)"
    r"(?:(?P<dec>[.,])(?P<frac>[0-9]+))?"
)


def parse_int(text: str, *, minimum: int | None = None, maximum: int | None = None) -> int:
    """Parse a whole number typed in digits or in words.

    Accepted: digits with an optional sign ("+3", "-3", "− 3"); digits grouped by thousands with
    spaces, no-break or thin spaces ("1 000", "1 000 000"), or with two or more identical "." or
    "," separators ("1.000.000", "1,000,000"); a zero fraction ("4.0", "4,00"); number words from
    zero to twenty in French and English ("quatre", "dix-sept", "four"), and "aucun"/"none" for 0.
    A single "." or "," followed by exactly three digits ("1,000", "1.000") is refused: it reads
    as a thousand in one language and as a decimal in the other.

    Args:
        text: the typed answer.
        minimum: smallest value accepted, if any.
        maximum: largest value accepted, if any.

    Returns:
        The number.

    Raises:
        ParseError: "not_a_number" when `text` is not a whole number, "too_small" or "too_large"
            when it is outside [minimum, maximum].
    """
    folded = _fold(text).rstrip(".").strip()
    value = _INT_WORDS.get(_key(folded))
    if value is None:
        value = _parse_int_digits(folded)
    if minimum is not None and value < minimum:
        raise ParseError("too_small")
    if maximum is not None and value > maximum:
        raise ParseError("too_large")
    return value


def _parse_int_digits(folded: str) -> int:
    """Parse the digit forms `parse_int` accepts; `folded` comes from `_fold`."""
    match = _INT_RE.fullmatch(folded)
    if match is None:
        raise ParseError("not_a_number")
    digits, grp, dec, frac = match.group("int", "grp", "dec", "frac")
    if frac is not None:
        if frac.strip("0") or dec == grp:
            raise ParseError("not_a_number")
        if grp is None and " " not in digits and len(digits) <= 3 and len(frac) == 3:
            raise ParseError("not_a_number")  # "1,000": a thousand or one? Ask again.
    digits = digits.replace(" ", "").replace(grp or " ", "")
    negative = match.group("sign") == "-"
    try:
        magnitude = int(digits)
    except ValueError:  # beyond int()'s digit limit: absurdly large either way
        raise ParseError("too_small" if negative else "too_large") from None
    return -magnitude if negative else magnitude


# ---------------------------------------------------------------------------------------------
# Yes / no / not yet
# ---------------------------------------------------------------------------------------------

_YES_PHRASES: Final = (
    "oui",
    "o",
    "ouais",
    "ouaip",
    "ouep",
    "si",
    "ok",
    "okay",
    "oki",
    "d'accord",
    "dac",
    "bien sûr",
    "bien entendu",
    "absolument",
    "tout à fait",
    "certainement",
    "évidemment",
    "exactement",
    "affirmatif",
    "carrément",
    "c'est le cas",
    "c'est fait",
    "pas de problème",
    "pas de souci",
    "sans problème",
    "je pense que oui",
    "je crois que oui",
    "yes",
    "y",
    "yep",
    "yeah",
    "yup",
    "sure",
    "of course",
    "certainly",
    "absolutely",
    "definitely",
    "indeed",
    "exactly",
    "correct",
    "that's right",
    "done",
    "no problem",
    "i think so",
)
_NO_PHRASES: Final = (
    "non",
    "n",
    "nan",
    "pas du tout",
    "absolument pas",
    "certainement pas",
    "pas vraiment",
    "jamais",
    "aucunement",
    "négatif",
    "bien sûr que non",
    "je pense que non",
    "je crois que non",
    "no",
    "nope",
    "nah",
    "not at all",
    "not really",
    "never",
    "no way",
    "of course not",
    "certainly not",
    "definitely not",
    "absolutely not",
    "i don't think so",
)
_NOT_YET_PHRASES: Final = (
    "pas encore",
    "pas encore décidé",
    "pas encore décidée",
    "pas encore fait",
    "pas décidé",
    "non décidé",
    "indécis",
    "je ne sais pas",
    "je ne sais pas encore",
    "je ne sais pas trop",
    "ne sais pas",
    "ne sais pas encore",
    "je sais pas",
    "je sais pas encore",
    "sais pas",
    "j'sais pas",
    "chais pas",
    "jsp",
    "nsp",
    "aucune idée",
    "pas sûr",
    "pas sûre",
    "pas certain",
    "pas certaine",
    "je ne suis pas sûr",
    "je ne suis pas sûre",
    "peut-être",
    "peut-être plus tard",
    "plus tard",
    "on verra",
    "à voir",
    "à définir",
    "à décider",
    "en cours",
    "en réflexion",
    "not yet",
    "not decided",
    "not decided yet",
    "undecided",
    "don't know",
    "don't know yet",
    "do not know",
    "do not know yet",
    "i don't know",
    "i don't know yet",
    "i do not know",
    "i do not know yet",
    "dunno",
    "idk",
    "unsure",
    "not sure",
    "not sure yet",
    "i'm not sure",
    "i am not sure",
    "no idea",
    "maybe",
    "maybe later",
    "later",
    "in progress",
    "to be decided",
    "tbd",
)
# Politeness and hesitation words that do not change the answer ("oui merci", "euh, non").
_FILLER_PHRASES: Final = (
    "merci",
    "merci beaucoup",
    "s'il vous plaît",
    "s'il te plaît",
    "svp",
    "stp",
    "euh",
    "heu",
    "hum",
    "bah",
    "ben",
    "eh bien",
    "thanks",
    "thank you",
    "thx",
    "please",
    "well",
    "um",
    "uh",
    "hmm",
    "hm",
)
_FILLER: Final = ""


def _phrase_table(groups: Iterable[tuple[str, Iterable[str]]]) -> dict[tuple[str, ...], str]:
    """Map the token tuples of every spelling of every phrase to its answer."""
    table: dict[tuple[str, ...], str] = {}
    for answer, phrases in groups:
        for phrase in phrases:
            for variant in _variants(phrase):
                table[tuple(variant.split())] = answer
    return table


_YESNO_TABLE: Final = _phrase_table(
    [
        ("yes", _YES_PHRASES),
        ("no", _NO_PHRASES),
        ("notyet", _NOT_YET_PHRASES),
        (_FILLER, _FILLER_PHRASES),
    ]
)
_YESNO_LONGEST: Final = max(len(tokens) for tokens in _YESNO_TABLE)


def parse_yesno(text: str) -> str | None:
    """Recognize a typed yes, no or "not yet" answer.

    The text is cut, longest phrase first, into known phrases ("oui", "bien sûr", "not yet",
    "je ne sais pas encore"...) and fillers ("merci", "euh", "please"...); case, accents,
    punctuation and surrounding spaces do not matter. Phrases that agree give their answer
    ("oui, bien sûr" is yes); "no" followed by "not yet" is not yet ("non, pas encore");
    any other mix, an unknown word or fillers alone give None.

    Args:
        text: the typed answer.

    Returns:
        "yes", "no", "notyet", or None when the text is not recognised.
    """
    tokens = _key(text).split()
    answers: set[str] = set()
    start = 0
    while start < len(tokens):
        found = _longest_phrase(tokens, start)
        if found is None:
            return None
        answer, length = found
        if answer != _FILLER:
            answers.add(answer)
        start += length
    if len(answers) == 1:
        return answers.pop()
    if answers == {"no", "notyet"}:
        return "notyet"
    return None


def _longest_phrase(tokens: list[str], start: int) -> tuple[str, int] | None:
    """Return (answer, length) of the longest known phrase at `tokens[start:]`, if any."""
    for length in range(min(_YESNO_LONGEST, len(tokens) - start), 0, -1):
        answer = _YESNO_TABLE.get(tuple(tokens[start : start + length]))
        if answer is not None:
            return answer, length
    return None


def is_not_yet(text: str) -> bool:
    """Tell whether `text` means "not yet / I don't know yet" (see `parse_yesno`)."""
    return parse_yesno(text) == "notyet"


# ---------------------------------------------------------------------------------------------
# Choices
# ---------------------------------------------------------------------------------------------

_CHOICE_PREFIX_MIN: Final = 3
# An option's number as listed, possibly copied with its decoration: "2", "2.", "2)", "(2)", "#2".
_CHOICE_NUMBER: Final = re.compile(r"[#(]? ?([0-9]{1,6}) ?[.)]?")


def parse_choice(text: str, options: Sequence[tuple[str, str]]) -> str:
    """Recognize one option among `options`.

    In this order: the option's 1-based number as listed ("2", "2.", "2)", "#2"); its exact label;
    its key ("joint_venture" also matches "joint venture"); a prefix of at least three
    characters of exactly one option's label ("strat" for "Stratégie"). Case, accents and
    punctuation do not matter.

    Args:
        text: the typed answer.
        options: (key, label) pairs, in the order shown to the user.

    Returns:
        The chosen option's key.

    Raises:
        ParseError: "not_a_choice" when nothing or more than one option matches.
    """
    typed = _key(text)
    if not typed:
        raise ParseError("not_a_choice")
    if number_match := _CHOICE_NUMBER.fullmatch(_fold(text)):
        number = int(number_match.group(1))
        if 1 <= number <= len(options):
            return options[number - 1][0]
    for field in (1, 0):  # label, then key
        matches = {option[0] for option in options if typed in _variants(option[field])}
        if len(matches) == 1:
            return matches.pop()
        if matches:
            raise ParseError("not_a_choice")
    if len(typed) >= _CHOICE_PREFIX_MIN:
        matches = {
            key
            for key, label in options
            if any(variant.startswith(typed) for variant in _variants(label))
        }
        if len(matches) == 1:
            return matches.pop()
    raise ParseError("not_a_choice")


_CHOICE_SEPARATORS: Final = re.compile(r"[,;\n]")
_CHOICE_NUMBERS: Final = re.compile(r"[0-9]+(?:(?: +| *(?:\bet\b|\band\b|[&+/]) *)[0-9]+)*")
_CHOICE_CONJUNCTIONS: Final = re.compile(r" +(?:et|and|&|\+) +")


def parse_choices(text: str, options: Sequence[tuple[str, str]]) -> list[str]:
    """Recognize several options among `options` (multiple choice typed as text).

    The whole text is first tried as a single option (a label may hold a comma). Otherwise it
    is split on commas, semicolons and line breaks; each part is one option (as in
    `parse_choice`), several numbers separated by spaces, "et", "and", "&", "+" or "/"
    ("1 3", "3 et 5"), or labels joined by "et", "and", "&" or "+".

    Args:
        text: the typed answer, e.g. "1, 3", "1 3", "1,3 et 5", "1;3", "Marketing, Ventes".
        options: (key, label) pairs, in the order shown to the user.

    Returns:
        The chosen keys, each once, in the order of `options`.

    Raises:
        ParseError: "not_a_choice" when a part is not recognised or nothing is given.
    """
    try:
        return [parse_choice(text, options)]
    except ParseError:
        pass
    folded = _fold(text.replace("\n", ","))
    chosen: set[str] = set()
    for raw_part in _CHOICE_SEPARATORS.split(folded):
        part = raw_part.strip(" .")
        if part:
            chosen.update(_parse_choice_part(part, options))
    if not chosen:
        raise ParseError("not_a_choice")
    return [key for key, _label in options if key in chosen]


def _parse_choice_part(part: str, options: Sequence[tuple[str, str]]) -> list[str]:
    """Parse one comma-separated part of a multiple choice (see `parse_choices`)."""
    try:
        return [parse_choice(part, options)]
    except ParseError:
        pass
    if _CHOICE_NUMBERS.fullmatch(part):
        return [parse_choice(number, options) for number in re.findall(r"[0-9]+", part)]
    pieces = _CHOICE_CONJUNCTIONS.split(part)
    if len(pieces) > 1:
        return [parse_choice(piece, options) for piece in pieces]
    raise ParseError("not_a_choice")


# ---------------------------------------------------------------------------------------------
# Free text
# ---------------------------------------------------------------------------------------------


def normalize_text(text: str, *, max_length: int) -> str:
    """Clean a free-text answer for storage.

    Line breaks are unified to "\\n"; control characters other than newline and tab (NUL,
    escape...) and unpaired surrogates (which cannot be encoded) are removed; the text is
    normalized to NFC and stripped of surrounding white space.

    Args:
        text: the typed answer.
        max_length: the longest result accepted, in characters.

    Returns:
        The cleaned text.

    Raises:
        ParseError: "empty" when nothing is left, "too_long" when the result is longer than
            `max_length`.
    """
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    kept = "".join(
        ch for ch in text if ch in "\n\t" or unicodedata.category(ch) not in ("Cc", "Cs")
    )
    result = unicodedata.normalize("NFC", kept).strip()
    if not result:
        raise ParseError("empty")
    if len(result) > max_length:
        raise ParseError("too_long")
    return result


# ---------------------------------------------------------------------------------------------
# Dates
# ---------------------------------------------------------------------------------------------

# Month and weekday names, French and English, as the CLDR gives them (bot/dialogue/cldr.py).
_MONTH_NAMES: Final[dict[str, int]] = {
    _key(name): number
    for lang in ("fr", "en")
    for number, name in enumerate(FACTS[lang]["months"], start=1)
}
_WEEKDAY_NAMES: Final[dict[str, int]] = {
    _key(name): number
    for lang in ("fr", "en")
    for number, name in enumerate(FACTS[lang]["weekdays"])
}
_MONTH_PREFIX_MIN: Final = 3

# Relative amounts: "un/une" are in _NUMBERS already; "a/an" only make sense before a unit.
_COUNTS: Final[dict[str, int]] = {**_NUMBERS, "a": 1, "an": 1}
# Unit -> (months, days) per unit.
_UNITS: Final[dict[str, tuple[int, int]]] = {
    **dict.fromkeys(("jour", "jours", "day", "days"), (0, 1)),
    **dict.fromkeys(("semaine", "semaines", "week", "weeks"), (0, 7)),
    **dict.fromkeys(("mois", "month", "months"), (1, 0)),
    **dict.fromkeys(("an", "ans", "annee", "annees", "year", "years"), (12, 0)),
}

_Resolver = Callable[[datetime.date], datetime.date]


def _add_months(day: datetime.date, months: int) -> datetime.date:
    """Add calendar months, clamping to the month's last day (31 Jan + 1 month -> 28/29 Feb)."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    month += 1
    return datetime.date(year, month, min(day.day, _last_day(year, month)))


def _last_day(year: int, month: int) -> int:
    """Return the number of days in `month` of `year`."""
    return calendar.monthrange(year, month)[1]


def _end_of_month(day: datetime.date) -> datetime.date:
    """Return the last day of `day`'s month."""
    return day.replace(day=_last_day(day.year, day.month))


def _next_weekday(today: datetime.date, weekday: int) -> datetime.date:
    """Return the first `weekday` (0 = Monday) strictly after `today`."""
    return today + datetime.timedelta(days=(weekday - today.weekday() - 1) % 7 + 1)


def _date_keywords() -> dict[str, _Resolver]:
    """Build the table of fixed date phrases, keyed by their folded date form."""
    day = datetime.timedelta(days=1)
    groups: list[tuple[tuple[str, ...], _Resolver]] = [
        (("aujourd'hui", "today", "ce jour"), lambda t: t),
        (("demain", "tomorrow"), lambda t: t + day),
        (
            ("après-demain", "day after tomorrow", "the day after tomorrow"),
            lambda t: t + 2 * day,
        ),
        (("hier", "yesterday"), lambda t: t - day),
        (
            ("avant-hier", "day before yesterday", "the day before yesterday"),
            lambda t: t - 2 * day,
        ),
        (
            ("la semaine prochaine", "semaine prochaine", "next week"),
            lambda t: t + 7 * day,
        ),
        (("le mois prochain", "mois prochain", "next month"), lambda t: _add_months(t, 1)),
        (
            ("l'an prochain", "l'année prochaine", "année prochaine", "next year"),
            lambda t: _add_months(t, 12),
        ),
        (
            ("fin du mois", "fin de mois", "end of the month", "end of month"),
            _end_of_month,
        ),
        (
            ("fin du mois prochain", "end of next month", "end of the next month"),
            lambda t: _end_of_month(_add_months(t, 1)),
        ),
        (
            ("fin de l'année", "fin d'année", "end of the year", "end of year"),
            lambda t: datetime.date(t.year, 12, 31),
        ),
    ]
    table: dict[str, _Resolver] = {}
    for phrases, resolver in groups:
        for phrase in phrases:
            for variant in (phrase, phrase.replace("'", "")):
                table[_date_form(variant)] = resolver
    return table


def _date_form(text: str) -> str:
    """Return the folded, ASCII-only form of `text` that the date patterns read.

    Apostrophes, commas and other punctuation separate words; "/", "." and "-" are kept
    between digits ("15/03/2027") but separate words when they touch a letter ("après-demain",
    "janv. 2027"); spaces around a kept separator go ("15 / 03" -> "15/03"); a trailing period
    goes.
    """
    form = re.sub(r"[^a-z0-9/.\- ]", " ", _fold(text))
    form = re.sub(r" *([/.\-]) *", r"\1", form)
    form = re.sub(r"(?<=[a-z])[.\-]|[.\-](?=[a-z])", " ", form)
    return " ".join(form.split()).rstrip(".").strip()


_DATE_KEYWORDS: Final = _date_keywords()
_LEAD_WORDS: Final = re.compile(r"(?:le|the|on|pour le|for|for the) (.+)")
_WEEKDAY_LEAD: Final = re.compile(r"([a-z]+) (?:le |the )?(.+)")
_NUMERIC_DMY: Final = re.compile(r"([0-9]{1,2})([/.\-])([0-9]{1,2})\2([0-9]{4}|[0-9]{2})")
_NUMERIC_YMD: Final = re.compile(r"([0-9]{4})([/.\-])([0-9]{1,2})\2([0-9]{1,2})")
_NUMERIC_DM: Final = re.compile(r"([0-9]{1,2})[/.\-]([0-9]{1,2})")
_ORDINAL: Final = r"(?:er|re|e|eme|st|nd|rd|th)?"
_DAY_MONTH: Final = re.compile(
    rf"([0-9]{{1,2}}){_ORDINAL} (?:of |de |d )?([a-z]+)(?: ([0-9]{{4}}))?"
)
_MONTH_DAY: Final = re.compile(rf"([a-z]+) (?:the )?([0-9]{{1,2}}){_ORDINAL}(?: ([0-9]{{4}}))?")
_END_OF: Final = re.compile(
    r"(?:fin|end|the end)(?: of| de| d| du mois de| du mois d)? ([a-z]+)(?: ([0-9]{4}))?"
)
_END_OF_YEAR: Final = re.compile(r"(?:fin|fin de|end of|the end of) ([0-9]{4})")
_RELATIVE: Final = re.compile(r"(?:dans|in|within|d ici|dici) (.+?) ([a-z]+?)(?: time)?")
_RELATIVE_FROM: Final = re.compile(r"(.+?) ([a-z]+) from (?:now|today)")
_WEEKDAY: Final = re.compile(r"(?:(?:next|this|on|ce) )?([a-z]+)(?: prochain| qui vient)?")


def parse_date(
    text: str, *, today: datetime.date, lang: str, allow_past: bool = True
) -> datetime.date:
    """Parse a date typed in French or English.

    Accepted, whatever `lang` is:
        - numeric, in `lang`'s order (French day first, English month first, from the CLDR):
          "15/03/2027", "15/3/2027", "15-03-2027", "15.03.2027", "15/03/27" (20xx); a month
          out of range in that order ("10/13/2026" in French) is refused with the date written
          the other way round as a hint (ParseError "date_order");
        - ISO year first: "2027-03-15" (also with "/" or ".");
        - "15/03", "15 mars", "mar 15", "le 1er mars", "15th of March": the next such day on
          or after `today` (this year, or next year if already past);
        - "15 mars 2027", "March 15, 2027", "15 March 2027", "lundi 15 mars 2027" (a leading
          weekday name is ignored);
        - "aujourd'hui"/"today", "demain"/"tomorrow", "après-demain", "hier"/"yesterday";
        - "dans 3 jours", "dans deux semaines", "dans un mois", "d'ici 2 ans", "in 3 weeks",
          "in a month", "10 days from now", with counts in digits or words up to twenty;
        - "lundi", "lundi prochain", "next monday": the first such weekday after `today`;
        - "la semaine prochaine"/"next week": `today` + 7 days; "le mois prochain"/"next
          month", "l'an prochain"/"next year": same day, clamped to the month's end;
        - "fin mars"/"end of March" (last day, this year or next if past), "fin mars 2027",
          "fin du mois"/"end of the month", "fin du mois prochain", "fin de l'année", "fin 2027".
    Month names and abbreviations ("janv", "sept", "fevr") are any prefix of at least three
    letters naming one month. Case, accents, surrounding spaces and a trailing period do not
    matter. Month arithmetic clamps: 31 January + 1 month is 28 (or 29) February.

    Args:
        text: the typed answer.
        today: the user's current date (this function never reads the clock).
        lang: the conversation language ("fr" or "en"); input in either language is accepted.
        allow_past: when False, a date before `today` is refused.

    Returns:
        The date.

    Raises:
        ParseError: "not_a_date" when `text` is not a date or names an impossible one
            ("31/02/2027"), "date_in_past" when `allow_past` is False and the date is before
            `today`.
    """
    form = _date_form(text)
    _check_order(form, month_first(lang))
    try:
        result = _resolve_date(form, today, month_first=month_first(lang))
    except (ValueError, OverflowError):  # datetime refused a computed date
        result = None
    if result is None:
        raise ParseError("not_a_date")
    if not allow_past and result < today:
        raise ParseError("date_in_past")
    return result


def read_month_first(text: str, lang: str) -> bool | None:
    """For a numeric date whose day and month could be swapped ("03/04/2027"), whether it was
    read month first (True) or day first (False); None when the text leaves no doubt."""
    form = _date_form(text)
    if match := _NUMERIC_DMY.fullmatch(form):
        first, second = int(match.group(1)), int(match.group(3))
    elif match := _NUMERIC_DM.fullmatch(form):
        first, second = int(match.group(1)), int(match.group(2))
    else:
        return None
    if first == second or first > 12 or second > 12:
        return None
    return month_first(lang)


def _check_order(form: str, month_is_first: bool) -> None:
    """Refuse a numeric date whose month is out of range in this language's order, with the
    same date written in that order ("10/13/2026" in French: "13/10/2026")."""
    match = _NUMERIC_DMY.fullmatch(form)
    parts = [match.group(1), match.group(3), match.group(4)] if match else None
    if parts is None and (short := _NUMERIC_DM.fullmatch(form)):
        parts = [short.group(1), short.group(2)]
    if parts is None:
        return
    first, second = int(parts[0]), int(parts[1])
    month = first if month_is_first else second
    day = second if month_is_first else first
    year = int(parts[2]) + (2000 if len(parts[2]) == 2 else 0) if len(parts) == 3 else 2028
    # Only when the other order makes a real date ("31/02" is no date either way).
    if month > 12 and 1 <= day <= 12 and 1 <= month <= _last_day(year, day):
        swapped = "/".join([parts[1], parts[0], *parts[2:]])
        raise ParseError("date_order", typed="/".join(parts), suggestion=swapped)


def _resolve_date(
    form: str, today: datetime.date, *, month_first: bool = False
) -> datetime.date | None:
    """Return the date `form` (from `_date_form`) names, or None if it names none.

    Raises:
        ValueError: an impossible date ("31/02/2027").
        OverflowError: a date beyond datetime's range.
    """
    candidates = [form]
    while lead := _LEAD_WORDS.fullmatch(candidates[-1]):  # "on the 15th" -> "the 15th" -> ...
        candidates.append(lead.group(1))
    for candidate in candidates:
        for resolve in (_resolve_keyword, _resolve_relative):
            result = resolve(candidate, today)
            if result is not None:
                return result
        result = _resolve_absolute(candidate, today, month_first=month_first)
        if result is not None:
            return result
        weekday_lead = _WEEKDAY_LEAD.fullmatch(candidate)
        if weekday_lead and weekday_lead.group(1) in _WEEKDAY_NAMES:
            result = _resolve_absolute(weekday_lead.group(2), today, month_first=month_first)
            if result is not None:
                return result
    return None


def _resolve_keyword(form: str, today: datetime.date) -> datetime.date | None:
    """Resolve fixed phrases ("demain", "next week") and weekday names ("lundi prochain")."""
    resolver = _DATE_KEYWORDS.get(form)
    if resolver is not None:
        return resolver(today)
    match = _WEEKDAY.fullmatch(form)
    if match and match.group(1) in _WEEKDAY_NAMES:
        return _next_weekday(today, _WEEKDAY_NAMES[match.group(1)])
    return None


def _resolve_relative(form: str, today: datetime.date) -> datetime.date | None:
    """Resolve "dans 3 jours", "in two weeks", "10 days from now"."""
    match = _RELATIVE.fullmatch(form) or _RELATIVE_FROM.fullmatch(form)
    if match is None:
        return None
    count_text, unit = match.groups()
    if re.fullmatch(r"[0-9]{1,6}", count_text):
        count: int | None = int(count_text)
    else:
        count = _COUNTS.get(count_text)
    per_unit = _UNITS.get(unit)
    if count is None or per_unit is None:
        return None
    months, days = per_unit
    return _add_months(today, count * months) + datetime.timedelta(days=count * days)


def _resolve_absolute(
    form: str, today: datetime.date, *, month_first: bool = False
) -> datetime.date | None:
    """Resolve a calendar date: numeric (in the language's day/month order), with a month name,
    or the end of a month or year."""
    if match := _NUMERIC_DMY.fullmatch(form):
        first, _sep, second, year_text = match.groups()
        year = int(year_text) + (2000 if len(year_text) == 2 else 0)
        numbers = (int(second), int(first)) if month_first else (int(first), int(second))
        return datetime.date(year, numbers[1], numbers[0])
    if match := _NUMERIC_YMD.fullmatch(form):
        year_text, _sep, month_text, day_text = match.groups()
        return datetime.date(int(year_text), int(month_text), int(day_text))
    if match := _NUMERIC_DM.fullmatch(form):
        first, second = int(match.group(1)), int(match.group(2))
        numbers = (second, first) if month_first else (first, second)
        return _next_occurrence(today, numbers[1], numbers[0])
    if match := _END_OF_YEAR.fullmatch(form):
        return datetime.date(int(match.group(1)), 12, 31)
    if match := _END_OF.fullmatch(form):
        month = _month(match.group(1))
        if month is None:
            return None
        if match.group(2):
            year = int(match.group(2))
            return datetime.date(year, month, _last_day(year, month))
        end = datetime.date(today.year, month, _last_day(today.year, month))
        if end < today:
            end = datetime.date(today.year + 1, month, _last_day(today.year + 1, month))
        return end
    for pattern, day_group, month_group in ((_DAY_MONTH, 1, 2), (_MONTH_DAY, 2, 1)):
        if match := pattern.fullmatch(form):
            month = _month(match.group(month_group))
            if month is None:
                continue
            day = int(match.group(day_group))
            if match.group(3):
                return datetime.date(int(match.group(3)), month, day)
            return _next_occurrence(today, month, day)
    return None


def _next_occurrence(today: datetime.date, month: int, day: int) -> datetime.date:
    """Return the first `day`/`month` on or after `today` (29 February: the next leap year).

    Raises:
        ValueError: no such day exists within eight years (e.g. 31 February).
    """
    for year in range(today.year, today.year + 9):  # leap years are at most 8 years apart
        try:
            candidate = datetime.date(year, month, day)
        except ValueError:
            continue
        if candidate >= today:
            return candidate
    raise ValueError(f"no day {day}/{month} after {today}")


def _month(word: str) -> int | None:
    """Return the month (1-12) a word names: a prefix of 3+ letters of one month's name."""
    if len(word) < _MONTH_PREFIX_MIN:
        return None
    months = {number for name, number in _MONTH_NAMES.items() if name.startswith(word)}
    return months.pop() if len(months) == 1 else None
