"""The storage interface, and the records it returns.

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

import abc
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

JSON = Any  # a value json.dumps accepts


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


class Storage(abc.ABC):
    """What the bot needs from a database (tests/test_storage_contract.py, on both)."""

    @abc.abstractmethod
    async def migrate(self) -> None:
        """Bring the schema to the latest migration (idempotent)."""

    @abc.abstractmethod
    async def schema_revision(self) -> str | None:
        """The migration the database is at; None for a database never migrated."""

    @abc.abstractmethod
    async def close(self) -> None: ...

    # One update
    @abc.abstractmethod
    async def load(self, key: str, update_id: int | None = None) -> Snapshot:
        """The user with this key, their active conversation and its current answers, and
        whether update_id was processed before: one read, one transaction."""

    @abc.abstractmethod
    async def open_user(
        self, key: str, *, lang: str, tz: str, dialogue_id: str, state: dict[str, JSON]
    ) -> tuple[User, Conversation, bool]:
        """The user with this key and their active conversation, in one transaction, creating
        the user (with lang and tz) and a first conversation (with state) if missing.

        Returns:
            (user, conversation, True if the conversation was created here).
        """

    # Users
    @abc.abstractmethod
    async def get_user(self, key: str) -> User | None: ...

    @abc.abstractmethod
    async def get_or_create_user(self, key: str, *, lang: str, tz: str) -> User:
        """Return the user with this key, creating it with lang and tz if new."""

    @abc.abstractmethod
    async def update_user(
        self,
        user_id: int,
        *,
        lang: str | None = None,
        tz: str | None = None,
        blocked_at: datetime | None = None,
        unblock: bool = False,
    ) -> User:
        """Change the given fields; blocked_at sets the block time, unblock=True clears it.

        Raises:
            StorageError: no user has this id.
            ValueError: blocked_at is naive, or given together with unblock=True.
        """

    @abc.abstractmethod
    async def delete_user(self, user_id: int) -> None:
        """Erase the user and everything of theirs (conversations, answers, history, updates,
        reminders).

        An unknown id is not an error: erasing twice leaves the same result. Ids are never
        reused, so the user's key may come back later as a new user with a new id.
        """

    # Conversations
    @abc.abstractmethod
    async def active_conversation(self, user_id: int) -> Conversation | None: ...

    @abc.abstractmethod
    async def start_conversation(
        self,
        user_id: int,
        dialogue_id: str,
        state: dict[str, JSON],
        *,
        update_id: int | None = None,
    ) -> Conversation:
        """Create a new active conversation (version 1); any earlier active one becomes
        inactive (archived), and its version is bumped so a step still in flight on it fails
        with StaleConversation. update_id, if given, is recorded as processed in the same
        transaction.

        Raises:
            StorageError: no user has this id.
            DuplicateUpdate: update_id was already processed (nothing is written).
        """

    @abc.abstractmethod
    async def conversations(self, user_id: int) -> list[Conversation]:
        """All of the user's conversations, oldest first."""

    @abc.abstractmethod
    async def current_answers(self, conversation_id: int) -> dict[str, JSON]:
        """question_id -> value of the answers not superseded, in the order they were given."""

    @abc.abstractmethod
    async def answer_history(self, conversation_id: int) -> list[Answer]:
        """Every answer ever recorded, superseded ones included, in the order given."""

    @abc.abstractmethod
    async def save_step(
        self,
        conversation_id: int,
        *,
        expected_version: int,
        state: dict[str, JSON],
        answers: Sequence[AnswerWrite] = (),
        update_id: int | None = None,
        finished: bool = False,
        reminders: Sequence[NewReminder] = (),
    ) -> int:
        """In ONE transaction: record answers (superseding earlier values of the same questions),
        store the new state, mark update_id processed, schedule reminders (for the
        conversation's user, about this conversation, as add_reminder does); return the new
        version.

        finished=True sets finished_at if it is not set yet (the conversation stays active);
        finished=False leaves it as it is. update_id is recorded with the conversation's user,
        so delete_user erases it too.

        Raises StaleConversation if the version moved or the conversation no longer exists,
        DuplicateUpdate if update_id was already processed (checked first); in both cases
        nothing is written. TypeError if state or a value is not JSON-serialisable (before
        anything is written).
        """

    @abc.abstractmethod
    async def is_processed(self, update_id: int) -> bool: ...

    @abc.abstractmethod
    async def prune_processed(self, before: datetime) -> int:
        """Forget the updates processed before `before`; return how many were forgotten."""

    @abc.abstractmethod
    async def mark_processed(self, update_id: int, user_id: int | None = None) -> bool:
        """Record an update that changed nothing; False if it was already recorded.

        Give user_id when the update came from a known user, so delete_user erases it too.
        """

    # Reminders
    #
    # The user-facing methods take the user's id and touch only that user's reminders: a
    # reminder id from another user reads as absent. The dispatcher's methods (claim_due,
    # mark_sent, retry_later, mark_failed) act only while the caller still holds the claim.

    @abc.abstractmethod
    async def add_reminder(
        self,
        user_id: int,
        *,
        kind: str,
        ref: str,
        due_at: datetime,
        payload: dict[str, JSON] | None = None,
        conversation_id: int | None = None,
    ) -> Reminder:
        """Schedule a pending reminder; if the user already has a pending one with this kind
        and ref, move it instead (new due_at, payload and conversation) and return it.

        Scheduling is thus idempotent. Moving a reminder to another due_at resets its attempts
        and releases any claim on it (a dispatcher then cannot mark it sent); re-adding it with
        the same due_at keeps the claim, so a reminder being sent is not sent twice. Only a
        pending reminder is moved: once sent, done, cancelled or failed, a reminder is history
        and the same kind and ref schedule a new one.

        Raises:
            ValueError: due_at is naive.
            TypeError: payload is not JSON-serialisable (nothing is written).
            StorageError: no user has this id, or the conversation is not one of the user's.
        """

    @abc.abstractmethod
    async def get_reminder(self, reminder_id: int, *, user_id: int) -> Reminder | None:
        """The user's reminder with this id; None if there is none or it is someone else's."""

    @abc.abstractmethod
    async def pending_reminders(self, user_id: int) -> list[Reminder]:
        """The user's pending reminders, soonest first (then by id)."""

    @abc.abstractmethod
    async def user_reminders(self, user_id: int) -> list[Reminder]:
        """Every reminder of the user, whatever its status, soonest first (then by id)."""

    @abc.abstractmethod
    async def all_pending(self, limit: int = 1000) -> list[tuple[Reminder, User]]:
        """Every user's pending reminders with their user, soonest first, at most limit
        (for operators); blocked users' reminders included."""

    @abc.abstractmethod
    async def reschedule(
        self, reminder_id: int, *, user_id: int, due_at: datetime
    ) -> Reminder | None:
        """Move the user's reminder to due_at and make it pending again (a snooze).

        Its attempts restart from 0 and any claim is released. A pending reminder with the same
        kind and ref, if another one exists, is cancelled: the one moved replaces it. A done or
        cancelled reminder does not change and is returned as it is (check its status).

        Returns:
            The reminder as it now is; None if the user has no reminder with this id.

        Raises:
            ValueError: due_at is naive.
        """

    @abc.abstractmethod
    async def set_reminder_status(
        self, reminder_id: int, *, user_id: int, status: ClosingStatus
    ) -> Reminder | None:
        """Close the user's reminder as "done" or "cancelled", releasing any claim.

        A reminder already done or cancelled does not change and is returned as it is.

        Returns:
            The reminder as it now is; None if the user has no reminder with this id.

        Raises:
            ValueError: status is not "done" or "cancelled".
        """

    @abc.abstractmethod
    async def cancel_reminders(self, user_id: int, *, kinds: Sequence[str] | None = None) -> int:
        """Cancel the user's pending reminders (only those of these kinds, if given), releasing
        their claims; return how many were cancelled."""

    @abc.abstractmethod
    async def claim_due(
        self, now: datetime, *, worker: str, lease: timedelta, limit: int
    ) -> list[Reminder]:
        """Claim about limit due reminders for worker until now + lease, whole users at a time,
        in one transaction.

        A reminder is claimable when it is pending, due (due_at <= now), unclaimed or its lease
        has run out (claimed_until <= now), and its user has not blocked the bot (a blocked
        user's reminders stay pending, unclaimed). Two workers, in this process or another
        replica, never hold the same reminder at the same time.

        Claims go by user, so that one worker alone sends to a chat and can space its messages:
        a user's claimable reminders are all claimed together, and a user any of whose
        reminders another worker holds under a live claim (claimed_until > now) is skipped
        until that claim is released or runs out. Users come soonest first (by their soonest
        claimable reminder), and are taken whole until limit reminders are reached, so a batch
        may hold more than limit; never more than 2 * limit, though: a user whose reminders
        would go past that is left for a later batch, unless they come first, in which case
        only their 2 * limit soonest are claimed (this worker then claims the rest later).
        Fewer than limit means nothing more was claimable (on PostgreSQL, a user whose row
        another transaction holds locked, claiming or changing it, is skipped too), or the next
        user has too many reminders to fit (the next call claims them first).

        Returns:
            The claimed reminders, soonest first, with claimed_by and claimed_until set.

        Raises:
            ValueError: now is naive, lease is not positive, or limit is below 1.
        """

    @abc.abstractmethod
    async def mark_sent(self, reminder_id: int, *, worker: str) -> bool:
        """Record that worker sent the reminder: status "sent", sent_at now, claim released.

        Returns:
            False, changing nothing, if worker no longer holds the claim (another worker took
            over after the lease ran out, or the user moved, closed or cancelled it meanwhile).
            A worker whose lease ran out but that nobody replaced still holds the claim.
        """

    @abc.abstractmethod
    async def retry_later(self, reminder_id: int, *, worker: str, due_at: datetime) -> bool:
        """Give the reminder back after a failed attempt: attempts + 1, due at due_at, claim
        released, still pending. False, changing nothing, if worker no longer holds the claim.

        Raises:
            ValueError: due_at is naive.
        """

    @abc.abstractmethod
    async def mark_failed(self, reminder_id: int, *, worker: str) -> bool:
        """Give up on the reminder: status "failed", attempts + 1, claim released. False,
        changing nothing, if worker no longer holds the claim."""
