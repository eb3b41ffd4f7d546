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

import hashlib
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
    current_project_id: int | None = None  # where the user's messages go (None: no project)


@dataclass(frozen=True)
class Conversation:
    """One walk of a user through the questions of a project: where it stands. A project has
    one active walk per member (the owner's, the partner's); /restart archives one."""

    id: int
    user_id: int
    dialogue_id: str
    state: dict[str, JSON]  # the dialogue core's state, opaque to storage
    version: int  # bumped by every save_step; optimistic concurrency
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None = None
    active: bool = True
    project_id: int | None = None  # always set by the storage


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
class Project:
    """One alliance project: a manager (its owner) and one prospective partner."""

    id: int
    owner_id: int
    title: str | None  # the partner's name as the manager gave it; None: untitled
    created_at: datetime
    updated_at: datetime
    partner_left_at: datetime | None = None  # the partner erased their data from it


Role = Literal["owner", "partner"]
ROLES: tuple[Role, ...] = ("owner", "partner")


@dataclass(frozen=True)
class Member:
    """A user's part in a project."""

    project_id: int
    user_id: int
    role: Role
    joined_at: datetime


@dataclass(frozen=True)
class Side:
    """One side of a project: the member, their user, their active walk and its answers."""

    member: Member
    user: User
    conversation: Conversation | None
    answers: dict[str, JSON]


@dataclass(frozen=True)
class ProjectView:
    """A project as one of its members sees it in a list (Storage.user_projects)."""

    project: Project
    role: Role  # the user's role in it
    conversation: Conversation | None  # the user's active walk in it
    answers: dict[str, JSON]  # its current answers
    current: bool  # the user's messages go to this project


@dataclass(frozen=True)
class Invitation:
    """A link that lets one person join a project as its partner (only the token's hash is
    stored: see hash_token)."""

    id: int
    project_id: int
    token_hash: str
    created_by: int
    created_at: datetime
    expires_at: datetime
    used_at: datetime | None = None  # accepted or declined
    used_by: int | None = None  # who used it (None once they erased their data)
    declined_at: datetime | None = None
    revoked_at: datetime | None = None

    def is_open(self, now: datetime) -> bool:
        """Can still be used: not used, not revoked, not expired."""
        return self.used_at is None and self.revoked_at is None and now < self.expires_at


# Why an invitation cannot be used (Storage.accept_invitation); "ok" when it was.
InvitationStatus = Literal["ok", "unknown", "used", "expired", "revoked", "own", "taken"]


@dataclass(frozen=True)
class Joined:
    """What Storage.accept_invitation did."""

    status: InvitationStatus
    invitation: Invitation | None = None  # None: no such token
    project: Project | None = None  # set when status is "ok"
    conversation: Conversation | None = None  # the partner's walk, when status is "ok"


@dataclass(frozen=True)
class GapComment:
    """One side's short note on one gap of a project's divergence report."""

    id: int
    project_id: int
    user_id: int
    dimension: str
    body: str
    created_at: datetime
    updated_at: datetime


def hash_token(token: str) -> str:
    """The hex SHA-256 of an invitation token: what the storage keeps and looks up."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Snapshot:
    """What one update needs to know, read in one transaction by Storage.load."""

    user: User | None
    conversation: Conversation | None  # the user's active one in their current project
    answers: dict[str, JSON]  # the conversation's current answers (empty without one)
    processed: bool  # the update was processed before
    project: Project | None = None  # the user's current project
    # When the user is the project's partner: the owner's current answers, which decide the
    # branch of the partner's walk (never shown to the partner).
    owner_answers: dict[str, JSON] | None = None

    @property
    def role(self) -> Role | None:
        """The user's role in their current project."""
        if self.project is None or self.user is None:
            return None
        return "owner" if self.project.owner_id == self.user.id else "partner"


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
    """With a step: cancel the user's pending reminders of the step's project, of these kinds
    or all of them when kinds is None (as Storage.cancel_reminders does)."""

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
    project_id: int | None = None  # the project it is about


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
    """A manager's consent: one of their projects shown to one advisor."""

    id: int
    advisor_id: int
    user_id: int  # the manager who consented, the project's owner
    project_id: int
    consented_at: datetime
    withdrawn_at: datetime | None = None


@dataclass(frozen=True)
class SharedProject:
    """A project as its advisor sees it: the consent, the manager (its owner), the manager's
    walk in it and its answers, the advisor's note."""

    share: Share
    project: Project
    owner: User
    conversation: Conversation | None  # the owner's active walk in the project
    answers: dict[str, JSON]  # its current answers
    note: str  # the advisor's private note ("" when none)
    # The invited partner's current answers in the project ({} before their first one); None
    # when no partner has joined (or the partner left it).
    partner_answers: dict[str, JSON] | None = None
    partner_state: dict[str, JSON] | None = None  # where the partner's walk stands


@dataclass(frozen=True)
class ProjectFacts:
    """What the analytics count about one project: no name, no answer text kept beyond it."""

    user_id: int
    lang: str
    conversation: Conversation
    answers: dict[str, JSON]
