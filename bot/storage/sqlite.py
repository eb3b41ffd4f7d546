"""The SQLite backend: one file, the standard library's sqlite3, WAL journal.

Calls are synchronous and serialised by a lock: the bot uses the storage from one thread at a
time, and a commit costs microseconds, so a thread hop or a pool would cost more than it saves.
Every write runs in ``BEGIN IMMEDIATE`` ... ``COMMIT``: taking the write lock up front makes a
second process wait (busy timeout) instead of failing when its read turns into a write.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from bot.errors import DuplicateUpdate, StaleConversation, StorageError
from bot.storage import migrations
from bot.storage.base import JSON, Answer, AnswerWrite, Conversation, Storage, User

MEMORY = ":memory:"

_USER_COLUMNS = "id, key, lang, tz, created_at, blocked_at"
_CONVERSATION_COLUMNS = (
    "id, user_id, dialogue_id, state, version, created_at, updated_at, finished_at, active"
)
_ANSWER_COLUMNS = "conversation_id, question_id, value, answered_at, superseded_at"


class SqliteStorage(Storage):
    """Storage in one SQLite file (or in memory, for tests)."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        busy_timeout: float = 5.0,
        synchronous: Literal["FULL", "NORMAL"] = "FULL",
    ) -> None:
        """Open (creating if needed) the database file; call migrate() before use.

        A new file and its parent directories are created readable by their owner only
        (0600 and 0700): the database holds personal data. An existing file keeps its mode.

        Args:
            path: the database file, or ":memory:" for a private in-memory database.
            busy_timeout: seconds to wait for another process's write lock before failing.
            synchronous: "FULL" syncs every commit to disk, so a commit survives even a power
                cut; "NORMAL" syncs at checkpoints only, ~10 times faster, and a commit still
                survives a crash of the process (not of the machine).

        Raises:
            StorageError: the file cannot be created or opened, or is not a database.
        """
        self._lock = threading.RLock()
        self.path = str(path)
        try:
            if self.path != MEMORY:
                file = Path(self.path)
                file.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
                # Create the file before SQLite does, so it never exists with a wider mode;
                # SQLite gives its -wal and -shm files the same mode as the database.
                os.close(os.open(file, os.O_RDWR | os.O_CREAT, 0o600))
            self._conn = sqlite3.connect(
                self.path, timeout=busy_timeout, isolation_level=None, check_same_thread=False
            )
        except (OSError, sqlite3.Error) as exc:
            raise StorageError(f"cannot open SQLite database {self.path}: {exc}") from exc
        try:
            with self._translate():
                journal = self._conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
                if self.path != MEMORY and journal != "wal":
                    raise StorageError(f"{self.path}: cannot switch to WAL (mode is {journal})")
                self._conn.execute("PRAGMA foreign_keys = ON")
                self._conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
                self._conn.execute(f"PRAGMA synchronous = {synchronous}")
        except StorageError:
            self._conn.close()
            raise

    # Plumbing

    @contextmanager
    def _translate(self) -> Iterator[None]:
        """Turn sqlite3's exceptions into StorageError."""
        try:
            yield
        except sqlite3.Error as exc:
            raise StorageError(f"SQLite ({self.path}): {exc}") from exc

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        with self._lock, self._translate():
            yield self._conn

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One transaction: committed if the block ends normally, rolled back if it raises."""
        with self._lock, self._translate():
            conn = self._conn
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    # The original error says more than a failed rollback would.
                    with suppress(sqlite3.Error):
                        conn.execute("ROLLBACK")
                raise

    # Schema

    def migrate(self) -> None:
        """Apply the missing migrations in order, each in its own transaction (idempotent).

        Raises:
            StorageError: a migration failed (it left nothing behind), or the database was
                migrated by a newer release.
        """
        self._migrate(migrations.load_migrations())

    def _migrate(self, available: Sequence[migrations.Migration]) -> None:
        while True:
            with self._write() as conn:
                conn.execute(migrations.SCHEMA_MIGRATIONS_SQLITE)
                applied = [row[0] for row in conn.execute("SELECT version FROM schema_migrations")]
                todo = migrations.pending(available, applied)
                if not todo:
                    return
                migration = todo[0]
                for statement in migration.sqlite:
                    conn.execute(statement)
                conn.execute(
                    "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                    (migration.version, migration.name, _ts(_now())),
                )

    def close(self) -> None:
        """Close the database; later calls raise StorageError. Closing twice is harmless."""
        with self._lock:
            self._conn.close()

    # Users

    def get_user(self, key: str) -> User | None:
        with self._read() as conn:
            row = conn.execute(f"SELECT {_USER_COLUMNS} FROM users WHERE key = ?", (key,))
            found = row.fetchone()
        return None if found is None else _user(found)

    def get_or_create_user(self, key: str, *, lang: str, tz: str) -> User:
        # Most updates come from known users: look before taking the write lock.
        user = self.get_user(key)
        if user is not None:
            return user
        with self._write() as conn:
            conn.execute(
                "INSERT INTO users (key, lang, tz, created_at) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (key) DO NOTHING",
                (key, lang, tz, _ts(_now())),
            )
            row = conn.execute(f"SELECT {_USER_COLUMNS} FROM users WHERE key = ?", (key,))
            return _user(row.fetchone())

    def update_user(
        self,
        user_id: int,
        *,
        lang: str | None = None,
        tz: str | None = None,
        blocked_at: datetime | None = None,
        unblock: bool = False,
    ) -> User:
        if blocked_at is not None and unblock:
            raise ValueError("update_user: blocked_at and unblock are exclusive")
        changes: dict[str, Any] = {}
        if lang is not None:
            changes["lang"] = lang
        if tz is not None:
            changes["tz"] = tz
        if blocked_at is not None:
            changes["blocked_at"] = _ts(blocked_at)
        if unblock:
            changes["blocked_at"] = None
        with self._write() as conn:
            if changes:
                assignments = ", ".join(f"{column} = ?" for column in changes)
                conn.execute(
                    f"UPDATE users SET {assignments} WHERE id = ?", (*changes.values(), user_id)
                )
            row = conn.execute(f"SELECT {_USER_COLUMNS} FROM users WHERE id = ?", (user_id,))
            found = row.fetchone()
            if found is None:
                raise StorageError(f"no user with id {user_id}")
            return _user(found)

    def delete_user(self, user_id: int) -> None:
        with self._write() as conn:
            # Conversations, answers and processed updates go with it (ON DELETE CASCADE).
            conn.execute("DELETE FROM users WHERE id = ?", (user_id,))

    # Conversations

    def active_conversation(self, user_id: int) -> Conversation | None:
        with self._read() as conn:
            row = conn.execute(
                f"SELECT {_CONVERSATION_COLUMNS} FROM conversations"
                " WHERE user_id = ? AND active = 1",
                (user_id,),
            ).fetchone()
        return None if row is None else _conversation(row)

    def start_conversation(
        self, user_id: int, dialogue_id: str, state: dict[str, JSON]
    ) -> Conversation:
        encoded = _json(state)
        now = _ts(_now())
        with self._write() as conn:
            if conn.execute("SELECT 1 FROM users WHERE id = ?", (user_id,)).fetchone() is None:
                raise StorageError(f"no user with id {user_id}")
            conn.execute(
                "UPDATE conversations SET active = 0, version = version + 1, updated_at = ?"
                " WHERE user_id = ? AND active = 1",
                (now, user_id),
            )
            cursor = conn.execute(
                "INSERT INTO conversations (user_id, dialogue_id, state, version, created_at,"
                " updated_at, active) VALUES (?, ?, ?, 1, ?, ?, 1)",
                (user_id, dialogue_id, encoded, now, now),
            )
            row = conn.execute(
                f"SELECT {_CONVERSATION_COLUMNS} FROM conversations WHERE id = ?",
                (cursor.lastrowid,),
            ).fetchone()
        return _conversation(row)

    def conversations(self, user_id: int) -> list[Conversation]:
        with self._read() as conn:
            rows = conn.execute(
                f"SELECT {_CONVERSATION_COLUMNS} FROM conversations WHERE user_id = ? ORDER BY id",
                (user_id,),
            ).fetchall()
        return [_conversation(row) for row in rows]

    def current_answers(self, conversation_id: int) -> dict[str, JSON]:
        with self._read() as conn:
            rows = conn.execute(
                "SELECT question_id, value FROM answers"
                " WHERE conversation_id = ? AND superseded_at IS NULL ORDER BY id",
                (conversation_id,),
            ).fetchall()
        return {question_id: json.loads(value) for question_id, value in rows}

    def answer_history(self, conversation_id: int) -> list[Answer]:
        with self._read() as conn:
            rows = conn.execute(
                f"SELECT {_ANSWER_COLUMNS} FROM answers WHERE conversation_id = ? ORDER BY id",
                (conversation_id,),
            ).fetchall()
        return [_answer(row) for row in rows]

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
        # Encode first: a value JSON cannot hold fails before anything is written.
        encoded_state = _json(state)
        writes = [
            (answer.question_id, None if answer.value is None else _json(answer.value))
            for answer in answers
        ]
        now = _ts(_now())
        with self._write() as conn:
            if update_id is not None:
                inserted = conn.execute(
                    "INSERT INTO processed_updates (update_id, user_id, processed_at)"
                    " VALUES (?, (SELECT user_id FROM conversations WHERE id = ?), ?)"
                    " ON CONFLICT (update_id) DO NOTHING",
                    (update_id, conversation_id, now),
                )
                if inserted.rowcount == 0:
                    raise DuplicateUpdate(f"update {update_id} was already processed")
            updated = conn.execute(
                "UPDATE conversations SET state = ?, version = version + 1, updated_at = ?,"
                " finished_at = CASE WHEN ? THEN COALESCE(finished_at, ?) ELSE finished_at END"
                " WHERE id = ? AND version = ?",
                (encoded_state, now, finished, now, conversation_id, expected_version),
            )
            if updated.rowcount == 0:
                raise _stale(conn, conversation_id, expected_version)
            for question_id, value in writes:
                conn.execute(
                    "UPDATE answers SET superseded_at = ?"
                    " WHERE conversation_id = ? AND question_id = ? AND superseded_at IS NULL",
                    (now, conversation_id, question_id),
                )
                if value is not None:
                    conn.execute(
                        "INSERT INTO answers (conversation_id, question_id, value, answered_at)"
                        " VALUES (?, ?, ?, ?)",
                        (conversation_id, question_id, value, now),
                    )
        return expected_version + 1

    def is_processed(self, update_id: int) -> bool:
        with self._read() as conn:
            row = conn.execute(
                "SELECT 1 FROM processed_updates WHERE update_id = ?", (update_id,)
            ).fetchone()
        return row is not None

    def mark_processed(self, update_id: int, user_id: int | None = None) -> bool:
        with self._write() as conn:
            inserted = conn.execute(
                "INSERT INTO processed_updates (update_id, user_id, processed_at)"
                " VALUES (?, ?, ?) ON CONFLICT (update_id) DO NOTHING",
                (update_id, user_id, _ts(_now())),
            )
            return inserted.rowcount == 1


def _stale(conn: sqlite3.Connection, conversation_id: int, expected: int) -> StaleConversation:
    row = conn.execute(
        "SELECT version FROM conversations WHERE id = ?", (conversation_id,)
    ).fetchone()
    if row is None:
        return StaleConversation(f"conversation {conversation_id} no longer exists")
    return StaleConversation(
        f"conversation {conversation_id} is at version {row[0]}, not {expected}"
    )


def _now() -> datetime:
    return datetime.now(UTC)


def _ts(moment: datetime) -> str:
    """UTC ISO-8601 with microseconds always present, so text order is time order."""
    if moment.tzinfo is None:
        raise ValueError(f"naive datetime {moment!r}: pass an aware one")
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def _dt(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


def _json(value: JSON) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _user(row: Any) -> User:
    created_at = datetime.fromisoformat(row[4])
    return User(row[0], row[1], row[2], row[3], created_at, _dt(row[5]))


def _conversation(row: Any) -> Conversation:
    return Conversation(
        id=row[0],
        user_id=row[1],
        dialogue_id=row[2],
        state=json.loads(row[3]),
        version=row[4],
        created_at=datetime.fromisoformat(row[5]),
        updated_at=datetime.fromisoformat(row[6]),
        finished_at=_dt(row[7]),
        active=bool(row[8]),
    )


def _answer(row: Any) -> Answer:
    return Answer(
        conversation_id=row[0],
        question_id=row[1],
        value=json.loads(row[2]),
        answered_at=datetime.fromisoformat(row[3]),
        superseded_at=_dt(row[4]),
    )
