"""Exports: the report as PDF or Markdown, the calendar as iCalendar, the user's data as JSON.

`export(fmt, ...)` returns a file name and the bytes to send (the CLI uses it for every format,
the bot for Markdown, JSON and the calendar). The bot draws a PDF in a worker process instead:
`report_parts` reads its content here, bot/export/pool.py renders it. Importing this package is
cheap: matplotlib and fpdf2 load only when a PDF is made, the report's content (content.py)
when a report is read (the bot imports the package at start, for its render pool).
Formats and their contents: docs/exports.md.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import unicodedata
from collections.abc import Iterable
from typing import TYPE_CHECKING

from bot.dialogue.engine import Engine, State
from bot.errors import AllianceBotError
from bot.storage.base import User
from bot.storage.database import Storage

if TYPE_CHECKING:
    from bot.export.content import ReportContent

FORMATS = ("pdf", "md", "json", "ics")
MIME_TYPES = {
    "pdf": "application/pdf",
    "md": "text/markdown; charset=utf-8",
    "json": "application/json",
    "ics": "text/calendar; charset=utf-8",
}
_SLUG_MAX = 40
_LIGATURES = {"ß": "ss", "æ": "ae", "œ": "oe", "Æ": "AE", "Œ": "OE", "ø": "o", "Ø": "O"}

__all__ = [
    "FORMATS",
    "MIME_TYPES",
    "ExportError",
    "export",
    "export_name",
    "filename",
    "render",
    "report_content",
    "report_parts",
    "slugify",
]


class ExportError(AllianceBotError):
    """An export cannot be made: unknown format, or no conversation to report on."""


async def export(
    fmt: str,
    *,
    storage: Storage,
    engine: Engine,
    user: User,
    today: dt.date,
    reminders: Iterable[tuple[dt.datetime, str]] = (),
    now: dt.datetime | None = None,
) -> tuple[str, bytes]:
    """One export of the user's data, as (file name, content).

    Args:
        fmt: "pdf" or "md" (the report), "ics" (the calendar) or "json" (all the user's data).
        storage: an open storage; the report formats read the user's active conversation.
        engine: the engine of the dialogue the conversation follows.
        user: the user, as storage returned them (their language and time zone are used).
        today: today's date where the user lives (next steps are counted from it).
        reminders: pending reminders, as (aware due time, text) pairs (see content.Reminder).
        now: the export time (aware), stamped into the files; default: the current time.

    Returns:
        ("alliance-<company>-<YYYY-MM-DD>.<fmt>", bytes).

    Raises:
        ExportError: fmt is not one of FORMATS, or a report is asked for a user without an
            active conversation.
        StorageError: the database failed.
    """
    if fmt not in FORMATS:
        raise ExportError(f"unknown export format {fmt!r}: use one of {', '.join(FORMATS)}")
    moment = now or dt.datetime.now(dt.UTC)
    if fmt == "json":
        from bot.export.jsondata import to_json, user_data

        name = await export_name(fmt, storage=storage, engine=engine, user=user, today=today)
        data = await user_data(storage, user, now=moment, dialogue=engine.dialogue)
        return name, to_json(data)
    name, content = await report_parts(
        fmt, storage=storage, engine=engine, user=user, today=today, reminders=reminders
    )
    # A PDF takes a while (and loads fpdf2 the first time): off the event loop. The bot itself
    # draws PDFs in a worker process instead (bot/export/pool.py); this path serves the CLI.
    return name, await asyncio.to_thread(render, fmt, content, now=moment)


async def export_name(
    fmt: str, *, storage: Storage, engine: Engine, user: User, today: dt.date
) -> str:
    """The file name of an export: alliance-<company>-<YYYY-MM-DD>.<fmt>."""
    conversation = await storage.active_conversation(user.id)
    answers = await storage.current_answers(conversation.id) if conversation is not None else {}
    company = answers.get("company")
    return filename(
        company if isinstance(company, str) else None,
        engine.texts(user.lang).ui("export.filename_fallback"),
        today,
        fmt,
    )


async def report_parts(
    fmt: str,
    *,
    storage: Storage,
    engine: Engine,
    user: User,
    today: dt.date,
    reminders: Iterable[tuple[dt.datetime, str]] = (),
) -> tuple[str, ReportContent]:
    """A report's file name and content, read from storage, before it is rendered (`render`,
    or a worker process: bot/export/pool.py).

    Raises:
        ExportError: the user has no active conversation.
    """
    name = await export_name(fmt, storage=storage, engine=engine, user=user, today=today)
    content = await report_content(
        storage=storage, engine=engine, user=user, today=today, reminders=reminders
    )
    return name, content


async def report_content(
    *,
    storage: Storage,
    engine: Engine,
    user: User,
    today: dt.date,
    reminders: Iterable[tuple[dt.datetime, str]] = (),
) -> ReportContent:
    """Everything a report shows about the user's active conversation.

    Raises:
        ExportError: the user has no active conversation.
    """
    from bot.export.content import build_content, uid_seed

    conversation = await storage.active_conversation(user.id)
    if conversation is None:
        raise ExportError("this user has no active conversation to report on")
    return build_content(
        engine,
        State.load(conversation.state),
        await storage.current_answers(conversation.id),
        lang=user.lang,
        tz=user.tz,
        today=today,
        uid_seed=uid_seed(user.key, conversation.id, conversation.created_at),
        reminders=reminders,
    )


def render(fmt: str, content: ReportContent, *, now: dt.datetime) -> bytes:
    """One report format ("pdf", "md" or "ics") from gathered content."""
    if fmt == "pdf":
        from bot.export.pdf import render_pdf

        return render_pdf(content, now=now)
    if fmt == "md":
        from bot.export.markdown import render_markdown

        return render_markdown(content).encode()
    if fmt == "ics":
        from bot.export.ics import render_ics

        return render_ics(content, now=now)
    raise ExportError(f"{fmt!r} is not a report format")


def slugify(text: str | None, fallback: str) -> str:
    """ASCII, lowercase, words joined by hyphens, at most 40 characters; `fallback` when
    nothing is left (no text, or only characters without a Latin transliteration)."""
    spelled = unicodedata.normalize("NFKD", text or "")
    for letter, ascii_letters in _LIGATURES.items():
        spelled = spelled.replace(letter, ascii_letters)
    ascii_text = "".join(
        ch
        if ch.isascii()
        else " "
        if unicodedata.category(ch)[0] in "PZS"  # ’ — « »: word separators
        else ""  # accents (combining marks) and letters without a Latin spelling
        for ch in spelled
    ).lower()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text).strip("-")
    if len(slug) > _SLUG_MAX:
        cut = slug[:_SLUG_MAX]
        slug = cut.rsplit("-", 1)[0] if "-" in cut else cut
    return slug or fallback


def filename(company: str | None, fallback: str, day: dt.date, fmt: str) -> str:
    """alliance-<company slug>-<YYYY-MM-DD>.<fmt>."""
    return f"alliance-{slugify(company, fallback)}-{day.isoformat()}.{fmt}"
