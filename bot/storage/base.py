"""The records the storage (bot/storage/database.py) returns, and the checks of its arguments.

Every method is a coroutine: a database that is slow or locked makes the update that waits for
it wait, never the event loop (other users, the reminders, /healthz). Every method runs in ONE
transaction, and every method that writes commits before it returns: once it has returned, the
data survives a crash. An update costs one read (`load`) and at most one write (`save_step`,
which also records the update and any reminders it schedules).

Every datetime returned is aware and in UTC; datetimes passed in must be aware. Database failures
raise bot.errors.StorageError (or its subclasses StaleConversation and DuplicateUpdate).
Open the storage with bot.storage.factory.open_storage, await migrate(), and close() at the end.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

JSON = Any  # a value json.dumps accepts
JSONObject = dict[str, JSON]


@dataclass(frozen=True)
class User:
    id: int
    key: str  # "tg:<telegram user id>" or "cli:<name>"
    lang: str  # "fr" or "en"
    tz: str  # IANA name, e.g. "Europe/Paris"
    created_at: datetime
    blocked_at: datetime | None = None  # set when Telegram says the user blocked the bot


@dataclass(frozen=True)
class Conversation:
    """One alliance project of a user: where the walk stands."""

    id: int
    user_id: int
    dialogue_id: str
    state: dict[str, JSON]  # the dialogue core's state, opaque to storage
    version: int  # bumped by every save_step; optimistic concurrency
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None = None
    active: bool = True


@dataclass(frozen=True)
class Answer:
    conversation_id: int
    question_id: str
    value: JSON
    answered_at: datetime
    superseded_at: datetime | None = None  # set when a later answer replaced this one


@dataclass(frozen=True)
class AnswerWrite:
    """An answer to record in save_step; value None removes the current one (kept in history)."""

    question_id: str
    value: JSON


@dataclass(frozen=True)
class Snapshot:
    """What one update needs to know, read in one transaction by Storage.load."""

    user: User | None
    conversation: Conversation | None  # the user's active one
    answers: dict[str, JSON]  # the conversation's current answers (empty without one)
    processed: bool  # the update was processed before


@dataclass(frozen=True)
class NewReminder:
    """A reminder to schedule together with a step (see Storage.add_reminder)."""

    kind: str
    ref: str
    due_at: datetime
    payload: dict[str, JSON] = field(default_factory=dict)


@dataclass(frozen=True)
class ChangeReminder:
    """With a step: move one of the user's reminders to due_at (as Storage.reschedule does), or
    close it with status (as Storage.set_reminder_status does)."""

    reminder_id: int
    due_at: datetime | None = None
    status: ClosingStatus | None = None


@dataclass(frozen=True)
class CancelReminders:
    """With a step: cancel the user's pending reminders of these kinds, or all of them when
    kinds is None (as Storage.cancel_reminders does)."""

    kinds: tuple[str, ...] | None = None


# Reminders

# A reminder's life: pending -> sent (mark_sent) or failed (mark_failed: the dispatcher gave
# up). The user may close any reminder not closed yet as done or cancelled (final), and
# reschedule a pending, sent or failed one, which makes it pending again.
REMINDER_STATUSES = ("pending", "sent", "done", "cancelled", "failed")
# What a user may close a reminder with; once done or cancelled, a reminder no longer changes.
ClosingStatus = Literal["done", "cancelled"]
CLOSED_STATUSES = ("done", "cancelled")


@dataclass(frozen=True)
class Reminder:
    """A follow-up message to send a user at due_at, and where its delivery stands."""

    id: int
    user_id: int
    conversation_id: int | None  # the alliance project it is about, if any
    kind: str  # "next_step", "todo", "prep_eve", "go_no_go", "review", "nudge", ...
    ref: str  # what it is about within its kind: a next-step id, a question id, "session-2"
    payload: dict[str, JSON]  # what the sender needs to render it
    due_at: datetime
    status: str  # one of REMINDER_STATUSES
    attempts: int  # failed delivery attempts (retry_later, mark_failed)
    claimed_by: str | None  # the dispatcher worker holding it, until claimed_until
    claimed_until: datetime | None
    sent_at: datetime | None  # the last time it was sent
    created_at: datetime
    updated_at: datetime


def check_reminder_key(kind: str, ref: str) -> None:
    """Raise ValueError unless kind and ref are non-empty (the backends' shared check)."""
    if not kind or not ref:
        raise ValueError("a reminder needs a non-empty kind and ref")


def check_aware(moment: datetime) -> None:
    """Raise ValueError if moment is naive."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"naive datetime {moment!r}: pass an aware one")


def check_closing_status(status: str) -> None:
    """Raise ValueError unless status is one a user closes a reminder with."""
    if status not in CLOSED_STATUSES:
        raise ValueError(f"a user closes a reminder as 'done' or 'cancelled', not {status!r}")


def check_kinds(kinds: Sequence[str] | None) -> list[str] | None:
    """The kinds as a list (None: every kind); TypeError for a bare string."""
    if isinstance(kinds, str):  # "todo" would otherwise read as ["t", "o", "d", "o"]
        raise TypeError("kinds is a sequence of kinds, not one string")
    return None if kinds is None else list(kinds)


def check_limit(limit: int) -> None:
    """Raise ValueError unless limit is at least 1."""
    if limit < 1:
        raise ValueError(f"limit must be at least 1, not {limit}")


def check_claim(now: datetime, worker: str, lease: timedelta, limit: int) -> None:
    """Raise ValueError unless claim_due's arguments make sense."""
    check_aware(now)
    if not worker:
        raise ValueError("claim_due needs a worker name")
    if lease <= timedelta(0):
        raise ValueError(f"the lease must be positive, not {lease}")
    check_limit(limit)


# What a step may do to the user's reminders, in its transaction (Storage.save_step).
ReminderChange = NewReminder | ChangeReminder | CancelReminders


# Advisors (the web view, bot/web/): who they are, what managers shared with them.


@dataclass(frozen=True)
class Advisor:
    id: int
    name: str
    code: str  # a manager types "/advisor <code>" to share a project with this advisor
    lang: str  # the language of their pages, "fr" or "en"
    admin: bool  # sees the analytics of every manager (aggregates only)
    created_at: datetime


@dataclass(frozen=True)
class AdvisorSession:
    """A signed-in advisor: who, the token their forms carry, and until when."""

    advisor: Advisor
    csrf: str
    expires_at: datetime


@dataclass(frozen=True)
class Share:
    """A manager's consent: one project (conversation) shown to one advisor."""

    id: int
    advisor_id: int
    user_id: int
    conversation_id: int
    consented_at: datetime
    withdrawn_at: datetime | None = None


@dataclass(frozen=True)
class SharedProject:
    """A project as its advisor sees it: the consent, the manager, where the walk stands."""

    share: Share
    user: User
    conversation: Conversation
    answers: dict[str, JSON]  # the current answers
    note: str  # the advisor's private note ("" when none)


@dataclass(frozen=True)
class ProjectFacts:
    """What the analytics count about one project: no name, no answer text kept beyond it."""

    user_id: int
    lang: str
    conversation: Conversation
    answers: dict[str, JSON]
