"""Callback data: what a button carries, encoded under Telegram's 64-byte limit.

Format: a one-letter kind, then fields separated by "|":
    a|<question>|<answer>   answer the question (or tick a multiple-choice option)
    w|<question>            why this question?
    c|<question>|back|skip  a control of the question shown
    m|<target>|<value>      a menu pick (edit, restart)
    l|<lang>                language
    x|yes|no                confirm /delete
    p, s, n, q, r, f, z     reminders (see bot/telegram/reminder_handlers.py)
    e|<format>              /export (bot/telegram/export_handlers.py)
Anything else is "forged": the handler answers politely and records nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

MAX_BYTES = 64


@dataclass(frozen=True)
class Callback:
    kind: str
    fields: tuple[str, ...]


def encode(kind: str, *fields: str) -> str:
    data = "|".join((kind, *fields))
    if len(data.encode("utf-8")) > MAX_BYTES:
        raise ValueError(f"callback data over {MAX_BYTES} bytes: {data!r}")
    return data


_ARITY = {
    "a": 2,
    "w": 1,
    "c": 2,
    "m": 2,
    "l": 1,
    "x": 1,
    "p": 1,
    "s": 2,
    "q": 1,
    "r": 2,
    "f": 3,
    "z": 1,
    "e": 1,
    "n": 2,
}


def decode(data: str | None) -> Callback | None:
    """The button's meaning, or None when the data is not one of ours."""
    if not data or len(data.encode("utf-8")) > MAX_BYTES:
        return None
    kind, *fields = data.split("|")
    if _ARITY.get(kind) != len(fields) or not all(fields):
        return None
    return Callback(kind, tuple(fields))
