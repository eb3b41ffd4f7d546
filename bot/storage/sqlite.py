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
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from bot.errors import DuplicateUpdate, StaleConversation, StorageError
from bot.storage import migrations
from bot.storage.base import (
    CLOSED_STATUSES,
    JSON,
    Answer,
    AnswerWrite,
    ClosingStatus,
    Conversation,
    Reminder,
    Storage,
    User,
    check_claim,
    check_closing_status,
    check_kinds,
    check_limit,
    check_reminder_key,
)
from bot.storage.claims import whole_users

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
                self._conn.execute("PRAGMA secure_delete = ON")  # erased rows leave no trace
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
        # Erased from the files too: secure_delete zeroes the freed space, and the write-ahead
        # log, which still holds the rows' earlier pages, is copied back and emptied.
        with self._lock, self._translate():
            self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")

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

    # --- Reminders (owner: reminders) ---

    def add_reminder(
        self,
        user_id: int,
        *,
        kind: str,
        ref: str,
        due_at: datetime,
        payload: dict[str, JSON] | None = None,
        conversation_id: int | None = None,
    ) -> Reminder:
        check_reminder_key(kind, ref)
        encoded = _json({} if payload is None else dict(payload))
        due = _ts(due_at)
        now = _ts(_now())
        with self._write() as conn:
            _check_owner(conn, user_id, conversation_id)
            # Same due_at: keep the claim and attempts, so re-adding a reminder that a
            # dispatcher is sending right now does not get it sent twice.
            conn.execute(
                "INSERT INTO reminders (user_id, conversation_id, kind, ref, payload, due_at,"
                " status, attempts, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?, 'pending', 0, ?, ?)"
                " ON CONFLICT (user_id, kind, ref) WHERE status = 'pending' DO UPDATE SET"
                " conversation_id = excluded.conversation_id, payload = excluded.payload,"
                " updated_at = excluded.updated_at,"
                " attempts = CASE WHEN due_at = excluded.due_at THEN attempts ELSE 0 END,"
                " claimed_by = CASE WHEN due_at = excluded.due_at THEN claimed_by END,"
                " claimed_until = CASE WHEN due_at = excluded.due_at THEN claimed_until END,"
                " due_at = excluded.due_at",
                (user_id, conversation_id, kind, ref, encoded, due, now, now),
            )
            row = conn.execute(
                f"SELECT {_REMINDER_COLUMNS} FROM reminders"
                " WHERE user_id = ? AND kind = ? AND ref = ? AND status = 'pending'",
                (user_id, kind, ref),
            ).fetchone()
        return _reminder(row)

    def get_reminder(self, reminder_id: int, *, user_id: int) -> Reminder | None:
        with self._read() as conn:
            row = _own_reminder(conn, reminder_id, user_id)
        return None if row is None else _reminder(row)

    def pending_reminders(self, user_id: int) -> list[Reminder]:
        with self._read() as conn:
            rows = conn.execute(
                f"SELECT {_REMINDER_COLUMNS} FROM reminders"
                " WHERE user_id = ? AND status = 'pending' ORDER BY due_at, id",
                (user_id,),
            ).fetchall()
        return [_reminder(row) for row in rows]

    def all_pending(self, limit: int = 1000) -> list[tuple[Reminder, User]]:
        check_limit(limit)
        with self._read() as conn:
            rows = conn.execute(
                f"SELECT {_prefixed('r', _REMINDER_COLUMNS)}, {_prefixed('u', _USER_COLUMNS)}"
                " FROM reminders r JOIN users u ON u.id = r.user_id"
                " WHERE r.status = 'pending' ORDER BY r.due_at, r.id LIMIT ?",
                (limit,),
            ).fetchall()
        width = len(_REMINDER_COLUMNS.split(","))
        return [(_reminder(row[:width]), _user(row[width:])) for row in rows]

    def reschedule(self, reminder_id: int, *, user_id: int, due_at: datetime) -> Reminder | None:
        due = _ts(due_at)
        now = _ts(_now())
        with self._write() as conn:
            row = _own_reminder(conn, reminder_id, user_id)
            if row is None:
                return None
            current = _reminder(row)
            if current.status in CLOSED_STATUSES:
                return current
            if current.status != "pending":
                # It becomes pending again: it replaces a pending twin, as add_reminder would.
                conn.execute(
                    "UPDATE reminders SET status = 'cancelled', claimed_by = NULL,"
                    " claimed_until = NULL, updated_at = ?"
                    " WHERE user_id = ? AND kind = ? AND ref = ? AND status = 'pending'",
                    (now, user_id, current.kind, current.ref),
                )
            conn.execute(
                "UPDATE reminders SET status = 'pending', due_at = ?, attempts = 0,"
                " claimed_by = NULL, claimed_until = NULL, updated_at = ? WHERE id = ?",
                (due, now, reminder_id),
            )
            row = _own_reminder(conn, reminder_id, user_id)
        return _reminder(row)

    def set_reminder_status(
        self, reminder_id: int, *, user_id: int, status: ClosingStatus
    ) -> Reminder | None:
        check_closing_status(status)
        now = _ts(_now())
        with self._write() as conn:
            row = _own_reminder(conn, reminder_id, user_id)
            if row is None:
                return None
            if _reminder(row).status in CLOSED_STATUSES:
                return _reminder(row)
            conn.execute(
                "UPDATE reminders SET status = ?, claimed_by = NULL, claimed_until = NULL,"
                " updated_at = ? WHERE id = ?",
                (status, now, reminder_id),
            )
            row = _own_reminder(conn, reminder_id, user_id)
        return _reminder(row)

    def cancel_reminders(self, user_id: int, *, kinds: Sequence[str] | None = None) -> int:
        chosen = check_kinds(kinds)
        if chosen == []:
            return 0
        where = "" if chosen is None else f" AND kind IN ({', '.join('?' * len(chosen))})"
        with self._write() as conn:
            cancelled = conn.execute(
                "UPDATE reminders SET status = 'cancelled', claimed_by = NULL,"
                " claimed_until = NULL, updated_at = ?"
                f" WHERE user_id = ? AND status = 'pending'{where}",
                (_ts(_now()), user_id, *(chosen or ())),
            )
            return cancelled.rowcount

    def claim_due(
        self, now: datetime, *, worker: str, lease: timedelta, limit: int
    ) -> list[Reminder]:
        check_claim(now, worker, lease, limit)
        params = {"now": _ts(now), "worker": worker, "users": limit}
        # BEGIN IMMEDIATE (in _write) holds the write lock from the first SELECT on: another
        # process claiming at the same time waits, then sees these claims, so choosing whole
        # users and skipping those another worker holds needs nothing more.
        with self._write() as conn:
            # The first `limit` eligible users, soonest first, are always enough: each has at
            # least one claimable reminder.
            rows = conn.execute(
                "SELECT r.id, r.user_id FROM reminders r"
                " WHERE r.status = 'pending' AND r.due_at <= :now"
                " AND (r.claimed_until IS NULL OR r.claimed_until <= :now)"
                " AND r.user_id IN ("
                " SELECT u.id FROM users u JOIN ("
                " SELECT user_id, min(due_at) AS first_due FROM reminders"
                " WHERE status = 'pending' AND due_at <= :now"
                " AND (claimed_until IS NULL OR claimed_until <= :now) GROUP BY user_id"
                " ) AS due ON due.user_id = u.id"
                f" WHERE u.blocked_at IS NULL AND {_NO_LIVE_CLAIM}"
                " ORDER BY due.first_due, u.id LIMIT :users)"
                " ORDER BY r.due_at, r.id",
                params,
            ).fetchall()
            ids = whole_users(rows, limit)
            if not ids:
                return []
            marks = ", ".join("?" * len(ids))
            conn.execute(
                "UPDATE reminders SET claimed_by = ?, claimed_until = ?, updated_at = ?"
                f" WHERE id IN ({marks})",
                (worker, _ts(now + lease), _ts(_now()), *ids),
            )
            claimed = conn.execute(
                f"SELECT {_REMINDER_COLUMNS} FROM reminders WHERE id IN ({marks})"
                " ORDER BY due_at, id",
                ids,
            ).fetchall()
        return [_reminder(row) for row in claimed]

    def mark_sent(self, reminder_id: int, *, worker: str) -> bool:
        now = _ts(_now())
        return self._if_claimed(
            reminder_id,
            worker,
            "status = 'sent', sent_at = ?, updated_at = ?",
            (now, now),
        )

    def retry_later(self, reminder_id: int, *, worker: str, due_at: datetime) -> bool:
        return self._if_claimed(
            reminder_id,
            worker,
            "due_at = ?, attempts = attempts + 1, updated_at = ?",
            (_ts(due_at), _ts(_now())),
        )

    def mark_failed(self, reminder_id: int, *, worker: str) -> bool:
        return self._if_claimed(
            reminder_id,
            worker,
            "status = 'failed', attempts = attempts + 1, updated_at = ?",
            (_ts(_now()),),
        )

    def _if_claimed(
        self, reminder_id: int, worker: str, assignments: str, values: tuple[Any, ...]
    ) -> bool:
        """Apply assignments and release the claim, if worker holds the claim; True if so."""
        with self._write() as conn:
            updated = conn.execute(
                f"UPDATE reminders SET {assignments}, claimed_by = NULL, claimed_until = NULL"
                " WHERE id = ? AND status = 'pending' AND claimed_by = ?",
                (*values, reminder_id, worker),
            )
            return updated.rowcount == 1

    # --- end reminders ---


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


# --- Reminders: helpers (owner: reminders) ---

_REMINDER_COLUMNS = (
    "id, user_id, conversation_id, kind, ref, payload, due_at, status, attempts, claimed_by,"
    " claimed_until, sent_at, created_at, updated_at"
)


def _prefixed(alias: str, columns: str) -> str:
    return ", ".join(f"{alias}.{column.strip()}" for column in columns.split(","))


def _own_reminder(conn: sqlite3.Connection, reminder_id: int, user_id: int) -> Any:
    return conn.execute(
        f"SELECT {_REMINDER_COLUMNS} FROM reminders WHERE id = ? AND user_id = ?",
        (reminder_id, user_id),
    ).fetchone()


def _check_owner(conn: sqlite3.Connection, user_id: int, conversation_id: int | None) -> None:
    """Refuse a reminder for an unknown user, or about someone else's conversation."""
    if conn.execute("SELECT 1 FROM users WHERE id = ?", (user_id,)).fetchone() is None:
        raise StorageError(f"no user with id {user_id}")
    if conversation_id is None:
        return
    row = conn.execute(
        "SELECT user_id FROM conversations WHERE id = ?", (conversation_id,)
    ).fetchone()
    if row is None or row[0] != user_id:
        raise StorageError(f"user {user_id} has no conversation {conversation_id}")


# True for a user (alias u) none of whose reminders another worker holds under a live claim.
_NO_LIVE_CLAIM = (
    "NOT EXISTS (SELECT 1 FROM reminders held WHERE held.user_id = u.id"
    " AND held.status = 'pending' AND held.claimed_by <> :worker"
    " AND held.claimed_until > :now)"
)


def _reminder(row: Any) -> Reminder:
    return Reminder(
        id=row[0],
        user_id=row[1],
        conversation_id=row[2],
        kind=row[3],
        ref=row[4],
        payload=json.loads(row[5]),
        due_at=datetime.fromisoformat(row[6]),
        status=row[7],
        attempts=row[8],
        claimed_by=row[9],
        claimed_until=_dt(row[10]),
        sent_at=_dt(row[11]),
        created_at=datetime.fromisoformat(row[12]),
        updated_at=datetime.fromisoformat(row[13]),
    )


# --- end reminders: helpers ---
