"""What operators see of pending reminders: ``alliance-bot reminders [--json]``.

One row per pending reminder, soonest first: whose, which project, what, when (in UTC and on the
user's own clock) and where its delivery stands. Operator output, in English, not shown to
users.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.storage.base import Reminder, User
from bot.storage.database import Storage

#: Rows shown at most; the soonest come first.
DEFAULT_LIMIT = 1000

_COLUMNS = (
    ("id", "ID"),
    ("user", "USER"),
    ("project", "PROJECT"),
    ("kind", "KIND"),
    ("ref", "REF"),
    ("due_utc", "DUE (UTC)"),
    ("due_local", "DUE (USER'S TIME)"),
    ("state", "STATE"),
    ("attempts", "ATTEMPTS"),
)


async def pending_report(
    storage: Storage, *, now: datetime, limit: int = DEFAULT_LIMIT
) -> list[dict[str, Any]]:
    """Every pending reminder (at most limit, soonest first) as a JSON-ready dict.

    Keys: id, user (the user's key), project (conversation id or None), kind, ref, due_utc
    and due_local (ISO 8601; local is in the user's time zone, tz), status (always
    "pending"), state, attempts (failed delivery attempts), claimed_by. state says where
    delivery stands at ``now``: "blocked" (the user blocked the bot: waits for /start),
    "sending" (a dispatcher holds it), "retrying" (due later after a failed attempt), "due"
    (due, waiting for the next tick) or "scheduled".

    Raises:
        ValueError: now is naive.
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError(f"naive datetime {now!r}: pass an aware one")
    return [_row(reminder, user, now) for reminder, user in await storage.all_pending(limit)]


def format_table(rows: list[dict[str, Any]]) -> str:
    """The rows as an aligned text table (times to the minute), or a sentence if empty."""
    if not rows:
        return "No pending reminders."
    lines = [[title for _, title in _COLUMNS]]
    lines += [[_cell(key, row.get(key)) for key, _ in _COLUMNS] for row in rows]
    widths = [max(len(line[i]) for line in lines) for i in range(len(_COLUMNS))]
    lines.insert(1, ["-" * width for width in widths])
    return "\n".join(
        "  ".join(text.ljust(width) for text, width in zip(line, widths, strict=True)).rstrip()
        for line in lines
    )


async def main(args_json: bool, storage: Storage) -> int:
    """``alliance-bot reminders [--json]``: print the pending reminders; return 0."""
    rows = await pending_report(storage, now=datetime.now(UTC))
    if args_json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
    else:
        print(format_table(rows))
        if len(rows) == DEFAULT_LIMIT:
            print(f"(the first {DEFAULT_LIMIT} only)")
    return 0


def _row(reminder: Reminder, user: User, now: datetime) -> dict[str, Any]:
    return {
        "id": reminder.id,
        "user": user.key,
        "project": reminder.conversation_id,
        "kind": reminder.kind,
        "ref": reminder.ref,
        "due_utc": reminder.due_at.astimezone(UTC).isoformat(),
        "due_local": reminder.due_at.astimezone(_zone(user.tz)).isoformat(),
        "tz": user.tz,
        "status": reminder.status,
        "state": _state(reminder, user, now),
        "attempts": reminder.attempts,
        "claimed_by": reminder.claimed_by,
    }


def _state(reminder: Reminder, user: User, now: datetime) -> str:
    if user.blocked_at is not None:
        return "blocked"
    if reminder.claimed_until is not None and reminder.claimed_until > now:
        return "sending"
    if reminder.due_at <= now:
        return "due"
    return "retrying" if reminder.attempts else "scheduled"


def _zone(tz: str) -> ZoneInfo:
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # a bad stored zone: show UTC
        return ZoneInfo("UTC")


def _cell(key: str, value: Any) -> str:
    if value is None:
        return "-"
    if key.startswith("due_"):
        return datetime.fromisoformat(str(value)).isoformat(sep=" ", timespec="minutes")
    return str(value)
