"""An iCalendar file (RFC 5545) of the preparation sessions, the go/no-go decision, the next
steps and the pending reminders, written by hand.

Dates without a time (sessions, decision, next steps) are all-day events (VALUE=DATE), which
need no time zone and land on the same day in every calendar. Reminders have a time: it is
written in UTC (the "Z" form), which every client converts to its own zone. So the file carries
no VTIMEZONE.

Each event's UID is stable for one conversation (re-importing an updated export updates the
events instead of duplicating them) and unique across users.
"""

from __future__ import annotations

import datetime as dt
import hashlib

from bot.export.content import ReportContent

PRODID = "-//alliance-bot//Alliance checklist export//EN"
_FOLD_AT = 75  # octets per line, CRLF excluded (RFC 5545, 3.1)


def render_ics(content: ReportContent, *, now: dt.datetime) -> bytes:
    """The calendar as bytes: UTF-8, CRLF line ends, lines folded at 75 octets.

    Args:
        content: what the report shows.
        now: the export time (aware), written as every event's DTSTAMP.

    Raises:
        ValueError: now is naive.
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be aware")
    ui = content.texts.ui
    stamp = _utc(now)
    project = content.project
    lines = [
        "BEGIN:VCALENDAR",
        f"PRODID:{PRODID}",
        "VERSION:2.0",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        "X-WR-CALNAME:" + escape_text(ui("export.calendar.name", project=project)),
    ]

    def day_event(uid: str, day: dt.date, summary: str, description: str) -> None:
        lines.extend(
            [
                "BEGIN:VEVENT",
                f"UID:{_uid(content, uid)}",
                f"DTSTAMP:{stamp}",
                f"DTSTART;VALUE=DATE:{day:%Y%m%d}",
                f"DTEND;VALUE=DATE:{day + dt.timedelta(days=1):%Y%m%d}",
                "SUMMARY:" + escape_text(summary),
                "DESCRIPTION:" + escape_text(description),
                "TRANSP:TRANSPARENT",  # a marker on the day, not a block of busy time
                "END:VEVENT",
            ]
        )

    plan = content.plan
    if plan is not None:
        count = len(plan.sessions)
        for n, day in enumerate(plan.sessions, start=1):
            day_event(
                f"session-{n}",
                day,
                ui("export.session", n=n, count=count),
                ui("export.calendar.session_details", n=n, count=count, project=project),
            )
        day_event(
            "go-no-go",
            plan.go_no_go,
            ui("export.go_no_go"),
            ui("export.calendar.go_no_go_details", project=project),
        )
    for step in content.summary.diagnosis.next_steps:
        day_event(
            f"step-{step.key}",
            step.due,
            ui("export.calendar.step", text=step.text),
            ui("export.calendar.step_details", project=project, date=content.date(step.due)),
        )
    seen: dict[str, int] = {}
    for reminder in content.reminders:
        key = hashlib.sha256(f"{_utc(reminder.due)}|{reminder.text}".encode()).hexdigest()[:16]
        seen[key] = seen.get(key, 0) + 1
        suffix = f"-{seen[key]}" if seen[key] > 1 else ""  # the same reminder twice: two events
        start = _utc(reminder.due)
        lines.extend(
            [
                "BEGIN:VEVENT",
                f"UID:{_uid(content, f'reminder-{key}{suffix}')}",
                f"DTSTAMP:{stamp}",
                f"DTSTART:{start}",
                "DURATION:PT15M",
                "SUMMARY:" + escape_text(ui("export.calendar.reminder", text=reminder.text)),
                "DESCRIPTION:" + escape_text(reminder.text),
                "TRANSP:TRANSPARENT",
                "BEGIN:VALARM",
                "ACTION:DISPLAY",
                "DESCRIPTION:" + escape_text(reminder.text),
                "TRIGGER:PT0S",
                "END:VALARM",
                "END:VEVENT",
            ]
        )
    lines.append("END:VCALENDAR")
    return b"".join(fold(line) + b"\r\n" for line in lines)


def escape_text(text: str) -> str:
    """A TEXT value (RFC 5545, 3.3.11): backslash, semicolon and comma escaped, line breaks as
    the two characters \\n, other control characters dropped (the format forbids them)."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = "".join(ch for ch in text if ch == "\n" or ch == "\t" or ord(ch) >= 0x20)
    text = text.replace("\x7f", "")
    return text.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\n", "\\n")


def fold(line: str) -> bytes:
    """One content line as UTF-8, folded so that no physical line exceeds 75 octets.

    A fold is CRLF and one space; it never cuts a multi-octet character in two.
    """
    data = line.encode()
    if len(data) <= _FOLD_AT:
        return data
    parts: list[bytes] = []
    start, limit = 0, _FOLD_AT
    while len(data) - start > limit:
        end = start + limit
        while end > start and (data[end] & 0xC0) == 0x80:  # inside a character: back off
            end -= 1
        parts.append(data[start:end])
        start, limit = end, _FOLD_AT - 1  # continuation lines begin with the space
    parts.append(data[start:])
    return b"\r\n ".join(parts)


def _utc(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")


def _uid(content: ReportContent, kind: str) -> str:
    safe = "".join(ch if ch.isascii() and (ch.isalnum() or ch in "-.") else "-" for ch in kind)
    return f"{safe}-{content.uid_seed}@alliance-bot"
