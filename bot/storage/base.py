"""The storage interface every backend implements, and the records it returns.

All methods are synchronous: SQLite answers in microseconds and the bot processes one update at a
time, so a thread hop would cost more than it saves. Every method that writes commits before it
returns: once it has returned, the data survives a crash.

Every datetime returned is aware and in UTC; datetimes passed in must be aware. Database failures
raise bot.errors.StorageError (or its subclasses StaleConversation and DuplicateUpdate).
Open a backend with bot.storage.factory.open_storage, call migrate(), and close() at the end.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

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
class StepResult:
    version: int
    answers: dict[str, JSON] = field(default_factory=dict)  # current answers after the step


class Storage(abc.ABC):
    """What the bot needs from a database. Both backends pass tests/test_storage_contract.py."""

    @abc.abstractmethod
    def migrate(self) -> None:
        """Bring the schema to the latest migration (idempotent)."""

    @abc.abstractmethod
    def close(self) -> None: ...

    # Users
    @abc.abstractmethod
    def get_user(self, key: str) -> User | None: ...

    @abc.abstractmethod
    def get_or_create_user(self, key: str, *, lang: str, tz: str) -> User:
        """Return the user with this key, creating it with lang and tz if new."""

    @abc.abstractmethod
    def update_user(
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
    def delete_user(self, user_id: int) -> None:
        """Erase the user and everything of theirs (conversations, answers, history, updates).

        An unknown id is not an error: erasing twice leaves the same result. Ids are never
        reused, so the user's key may come back later as a new user with a new id.
        """

    # Conversations
    @abc.abstractmethod
    def active_conversation(self, user_id: int) -> Conversation | None: ...

    @abc.abstractmethod
    def start_conversation(
        self, user_id: int, dialogue_id: str, state: dict[str, JSON]
    ) -> Conversation:
        """Create a new active conversation (version 1); any earlier active one becomes
        inactive (archived), and its version is bumped so a step still in flight on it fails
        with StaleConversation.

        Raises:
            StorageError: no user has this id.
        """

    @abc.abstractmethod
    def conversations(self, user_id: int) -> list[Conversation]:
        """All of the user's conversations, oldest first."""

    @abc.abstractmethod
    def current_answers(self, conversation_id: int) -> dict[str, JSON]:
        """question_id -> value of the answers not superseded, in the order they were given."""

    @abc.abstractmethod
    def answer_history(self, conversation_id: int) -> list[Answer]:
        """Every answer ever recorded, superseded ones included, in the order given."""

    @abc.abstractmethod
    def save_step(
        self,
        conversation_id: int,
        *,
        expected_version: int,
        state: dict[str, JSON],
        answers: Sequence[AnswerWrite] = (),
        update_id: int | None = None,
        finished: bool = False,
    ) -> int:
        """In ONE transaction: record answers (superseding earlier values of the same questions),
        store the new state, mark update_id processed; return the new version.

        finished=True sets finished_at if it is not set yet (the conversation stays active);
        finished=False leaves it as it is. update_id is recorded with the conversation's user,
        so delete_user erases it too.

        Raises StaleConversation if the version moved or the conversation no longer exists,
        DuplicateUpdate if update_id was already processed (checked first); in both cases
        nothing is written. TypeError if state or a value is not JSON-serialisable (before
        anything is written).
        """

    @abc.abstractmethod
    def is_processed(self, update_id: int) -> bool: ...

    @abc.abstractmethod
    def mark_processed(self, update_id: int, user_id: int | None = None) -> bool:
        """Record an update that changed nothing; False if it was already recorded.

        Give user_id when the update came from a known user, so delete_user erases it too.
        """
