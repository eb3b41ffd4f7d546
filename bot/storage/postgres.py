"""The PostgreSQL backend: psycopg 3, one synchronous connection, explicit transactions.

Several replicas may share the database: conversations are guarded by their version (optimistic
concurrency), update ids by their primary key, and migrations by an advisory lock. Every call
runs in its own transaction (autocommit is off, and reads are wrapped too, so the connection is
never left idle in a transaction). If the connection was lost (server restarted, connection
killed), the call reconnects and runs again, once, provided its transaction had not reached
COMMIT: retrying is then safe because the server rolled it back.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from bot.errors import ConfigError, DuplicateUpdate, StaleConversation, StorageError
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
    check_aware,
    check_claim,
    check_closing_status,
    check_kinds,
    check_limit,
    check_reminder_key,
)
from bot.storage.claims import whole_users

T = TypeVar("T")
Connection = psycopg.Connection[tuple[Any, ...]]

# pg_advisory_xact_lock key held while migrating ("alliance" in ASCII, first 8 bytes).
MIGRATION_LOCK = 0x616C6C69616E6365

_USER_COLUMNS = "id, key, lang, tz, created_at, blocked_at"
_CONVERSATION_COLUMNS = (
    "id, user_id, dialogue_id, state, version, created_at, updated_at, finished_at, active"
)
_ANSWER_COLUMNS = "conversation_id, question_id, value, answered_at, superseded_at"


class PostgresStorage(Storage):
    """Storage in a PostgreSQL database (optionally in one schema of it)."""

    def __init__(
        self, conninfo: str, *, schema: str | None = None, connect_timeout: int = 5
    ) -> None:
        """Connect; call migrate() before use.

        Args:
            conninfo: a libpq URL or key=value string, e.g.
                "postgresql://bot@db.example:5432/alliance". Its own search_path option
                (options=-csearch_path%3Dname) is honoured; ``schema`` is simpler.
            schema: keep every table in this schema (created by migrate() if missing) by
                setting the connection's search_path to it; None uses the server's default.
            connect_timeout: seconds to wait for the server, unless conninfo sets it.

        Raises:
            ConfigError: conninfo cannot be parsed.
            StorageError: the server cannot be reached or refused the connection.
        """
        try:
            params = conninfo_to_dict(conninfo)
        except psycopg.Error as exc:
            raise ConfigError(f"invalid PostgreSQL URL: {exc}") from exc
        params.setdefault("connect_timeout", connect_timeout)
        self._conninfo = make_conninfo("", **params)
        self._schema = schema
        self._lock = threading.RLock()
        self._closed = False
        self._conn: Connection | None = None
        with self._lock:
            self._conn = self._connect()

    # Plumbing

    def _connect(self) -> Connection:
        try:
            conn = psycopg.connect(self._conninfo, autocommit=False)
        except psycopg.Error as exc:
            raise StorageError(f"cannot connect to PostgreSQL: {exc}") from exc
        try:
            if self._schema is not None:
                with conn.transaction():
                    # A plain SET outlives its transaction: it holds for the whole session.
                    conn.execute(
                        sql.SQL("SET search_path TO {}").format(sql.Identifier(self._schema))
                    )
        except psycopg.Error as exc:
            conn.close()
            raise StorageError(f"PostgreSQL: {exc}") from exc
        return conn

    def _run(self, work: Callable[[Connection], T]) -> T:
        """Run work(connection) in one transaction; commit if it returns, roll back if it raises.

        Reconnects and retries once if the connection turns out to be lost before COMMIT.
        """
        with self._lock:
            if self._closed:
                raise StorageError("the storage is closed")
            for attempt in (1, 2):
                if self._conn is None or self._conn.closed:
                    self._conn = self._connect()
                conn = self._conn
                before_commit = True
                try:
                    with conn.transaction():
                        result = work(conn)
                        before_commit = False
                    return result
                except psycopg.Error as exc:
                    lost = conn.closed or conn.broken
                    if lost and before_commit and attempt == 1:
                        conn.close()
                        continue
                    if lost and not before_commit:
                        raise StorageError(
                            f"PostgreSQL connection lost during COMMIT, outcome unknown: {exc}"
                        ) from exc
                    raise StorageError(f"PostgreSQL: {exc}") from exc
            raise AssertionError("unreachable")  # pragma: no cover

    # Schema

    def migrate(self) -> None:
        """Apply the missing migrations in order, each in its own transaction (idempotent).

        Each transaction first takes an advisory lock, so replicas starting together apply
        each migration once: the others wait, then find it applied.

        Raises:
            StorageError: a migration failed (it left nothing behind), or the database was
                migrated by a newer release.
        """
        self._migrate(migrations.load_migrations())

    def _migrate(self, available: Sequence[migrations.Migration]) -> None:
        def step(conn: Connection) -> bool:
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
            if self._schema is not None:
                exists = conn.execute(
                    "SELECT 1 FROM pg_namespace WHERE nspname = %s", (self._schema,)
                ).fetchone()
                if exists is None:
                    conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(self._schema)))
            found = conn.execute("SELECT to_regclass('schema_migrations')").fetchone()
            if found is None or found[0] is None:
                conn.execute(migrations.SCHEMA_MIGRATIONS_POSTGRES)
            applied = [row[0] for row in conn.execute("SELECT version FROM schema_migrations")]
            todo = migrations.pending(available, applied)
            if not todo:
                return False
            migration = todo[0]
            for statement in migration.postgres:
                conn.execute(statement)
            conn.execute(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES (%s, %s, %s)",
                (migration.version, migration.name, _now()),
            )
            return True

        while self._run(step):
            pass

    def close(self) -> None:
        """Close the connection; later calls raise StorageError. Closing twice is harmless."""
        with self._lock:
            self._closed = True
            if self._conn is not None:
                self._conn.close()

    # Users

    def get_user(self, key: str) -> User | None:
        def work(conn: Connection) -> User | None:
            row = conn.execute(
                f"SELECT {_USER_COLUMNS} FROM users WHERE key = %s", (key,)
            ).fetchone()
            return None if row is None else _user(row)

        return self._run(work)

    def get_or_create_user(self, key: str, *, lang: str, tz: str) -> User:
        def work(conn: Connection) -> User:
            row = conn.execute(
                f"SELECT {_USER_COLUMNS} FROM users WHERE key = %s", (key,)
            ).fetchone()
            if row is None:
                row = conn.execute(
                    "INSERT INTO users (key, lang, tz, created_at) VALUES (%s, %s, %s, %s)"
                    f" ON CONFLICT (key) DO NOTHING RETURNING {_USER_COLUMNS}",
                    (key, lang, tz, _now()),
                ).fetchone()
            if row is None:  # another replica created it between our SELECT and INSERT
                row = conn.execute(
                    f"SELECT {_USER_COLUMNS} FROM users WHERE key = %s", (key,)
                ).fetchone()
            assert row is not None
            return _user(row)

        return self._run(work)

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
        if blocked_at is not None and blocked_at.tzinfo is None:
            raise ValueError(f"naive datetime {blocked_at!r}: pass an aware one")
        changes: dict[str, Any] = {}
        if lang is not None:
            changes["lang"] = lang
        if tz is not None:
            changes["tz"] = tz
        if blocked_at is not None:
            changes["blocked_at"] = blocked_at
        if unblock:
            changes["blocked_at"] = None

        def work(conn: Connection) -> User:
            if changes:
                assignments = sql.SQL(", ").join(
                    sql.SQL("{} = %s").format(sql.Identifier(column)) for column in changes
                )
                row = conn.execute(
                    sql.SQL("UPDATE users SET {} WHERE id = %s RETURNING {}").format(
                        assignments, sql.SQL(_USER_COLUMNS)
                    ),
                    (*changes.values(), user_id),
                ).fetchone()
            else:
                row = conn.execute(
                    f"SELECT {_USER_COLUMNS} FROM users WHERE id = %s", (user_id,)
                ).fetchone()
            if row is None:
                raise StorageError(f"no user with id {user_id}")
            return _user(row)

        return self._run(work)

    def delete_user(self, user_id: int) -> None:
        def work(conn: Connection) -> None:
            # Conversations, answers and processed updates go with it (ON DELETE CASCADE).
            conn.execute("DELETE FROM users WHERE id = %s", (user_id,))

        self._run(work)

    # Conversations

    def active_conversation(self, user_id: int) -> Conversation | None:
        def work(conn: Connection) -> Conversation | None:
            row = conn.execute(
                f"SELECT {_CONVERSATION_COLUMNS} FROM conversations WHERE user_id = %s AND active",
                (user_id,),
            ).fetchone()
            return None if row is None else _conversation(row)

        return self._run(work)

    def start_conversation(
        self, user_id: int, dialogue_id: str, state: dict[str, JSON]
    ) -> Conversation:
        encoded = _json(state)
        now = _now()

        def work(conn: Connection) -> Conversation:
            # Lock the user's row: two replicas starting a conversation for the same user
            # take turns instead of colliding on the one-active-conversation index. NO KEY
            # UPDATE does not block the key-share locks other tables' foreign keys take.
            user = conn.execute(
                "SELECT 1 FROM users WHERE id = %s FOR NO KEY UPDATE", (user_id,)
            ).fetchone()
            if user is None:
                raise StorageError(f"no user with id {user_id}")
            conn.execute(
                "UPDATE conversations SET active = FALSE, version = version + 1,"
                " updated_at = %s WHERE user_id = %s AND active",
                (now, user_id),
            )
            row = conn.execute(
                "INSERT INTO conversations (user_id, dialogue_id, state, version, created_at,"
                " updated_at, active) VALUES (%s, %s, %s, 1, %s, %s, TRUE)"
                f" RETURNING {_CONVERSATION_COLUMNS}",
                (user_id, dialogue_id, encoded, now, now),
            ).fetchone()
            assert row is not None
            return _conversation(row)

        return self._run(work)

    def conversations(self, user_id: int) -> list[Conversation]:
        def work(conn: Connection) -> list[Conversation]:
            rows = conn.execute(
                f"SELECT {_CONVERSATION_COLUMNS} FROM conversations"
                " WHERE user_id = %s ORDER BY id",
                (user_id,),
            ).fetchall()
            return [_conversation(row) for row in rows]

        return self._run(work)

    def current_answers(self, conversation_id: int) -> dict[str, JSON]:
        def work(conn: Connection) -> dict[str, JSON]:
            rows = conn.execute(
                "SELECT question_id, value FROM answers"
                " WHERE conversation_id = %s AND superseded_at IS NULL ORDER BY id",
                (conversation_id,),
            ).fetchall()
            return {question_id: json.loads(value) for question_id, value in rows}

        return self._run(work)

    def answer_history(self, conversation_id: int) -> list[Answer]:
        def work(conn: Connection) -> list[Answer]:
            rows = conn.execute(
                f"SELECT {_ANSWER_COLUMNS} FROM answers WHERE conversation_id = %s ORDER BY id",
                (conversation_id,),
            ).fetchall()
            return [_answer(row) for row in rows]

        return self._run(work)

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
        now = _now()

        def work(conn: Connection) -> int:
            if update_id is not None:
                # Insert first: a replica processing the same update concurrently waits on the
                # primary key here, then sees the conflict, instead of reporting a stale version.
                inserted = conn.execute(
                    "INSERT INTO processed_updates (update_id, user_id, processed_at)"
                    " VALUES (%s, (SELECT user_id FROM conversations WHERE id = %s), %s)"
                    " ON CONFLICT (update_id) DO NOTHING",
                    (update_id, conversation_id, now),
                )
                if inserted.rowcount == 0:
                    raise DuplicateUpdate(f"update {update_id} was already processed")
            updated = conn.execute(
                "UPDATE conversations SET state = %s, version = version + 1, updated_at = %s,"
                " finished_at = CASE WHEN %s THEN COALESCE(finished_at, %s) ELSE finished_at END"
                " WHERE id = %s AND version = %s",
                (encoded_state, now, finished, now, conversation_id, expected_version),
            )
            if updated.rowcount == 0:
                raise _stale(conn, conversation_id, expected_version)
            for question_id, value in writes:
                conn.execute(
                    "UPDATE answers SET superseded_at = %s"
                    " WHERE conversation_id = %s AND question_id = %s AND superseded_at IS NULL",
                    (now, conversation_id, question_id),
                )
                if value is not None:
                    conn.execute(
                        "INSERT INTO answers (conversation_id, question_id, value, answered_at)"
                        " VALUES (%s, %s, %s, %s)",
                        (conversation_id, question_id, value, now),
                    )
            return expected_version + 1

        return self._run(work)

    def is_processed(self, update_id: int) -> bool:
        def work(conn: Connection) -> bool:
            row = conn.execute(
                "SELECT 1 FROM processed_updates WHERE update_id = %s", (update_id,)
            ).fetchone()
            return row is not None

        return self._run(work)

    def mark_processed(self, update_id: int, user_id: int | None = None) -> bool:
        def work(conn: Connection) -> bool:
            inserted = conn.execute(
                "INSERT INTO processed_updates (update_id, user_id, processed_at)"
                " VALUES (%s, %s, %s) ON CONFLICT (update_id) DO NOTHING",
                (update_id, user_id, _now()),
            )
            return inserted.rowcount == 1

        return self._run(work)

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
        check_aware(due_at)
        encoded = _json({} if payload is None else dict(payload))
        now = _now()

        def work(conn: Connection) -> Reminder:
            _check_owner(conn, user_id, conversation_id)
            # Same due_at: keep the claim and attempts, so re-adding a reminder that a
            # dispatcher is sending right now does not get it sent twice. Two replicas adding
            # the same reminder at once meet on the unique index: one inserts, one updates.
            row = conn.execute(
                "INSERT INTO reminders (user_id, conversation_id, kind, ref, payload, due_at,"
                " status, attempts, created_at, updated_at)"
                " VALUES (%s, %s, %s, %s, %s, %s, 'pending', 0, %s, %s)"
                " ON CONFLICT (user_id, kind, ref) WHERE status = 'pending' DO UPDATE SET"
                " conversation_id = excluded.conversation_id, payload = excluded.payload,"
                " updated_at = excluded.updated_at,"
                " attempts = CASE WHEN reminders.due_at = excluded.due_at"
                " THEN reminders.attempts ELSE 0 END,"
                " claimed_by = CASE WHEN reminders.due_at = excluded.due_at"
                " THEN reminders.claimed_by END,"
                " claimed_until = CASE WHEN reminders.due_at = excluded.due_at"
                " THEN reminders.claimed_until END,"
                " due_at = excluded.due_at"
                f" RETURNING {_REMINDER_COLUMNS}",
                (user_id, conversation_id, kind, ref, encoded, due_at, now, now),
            ).fetchone()
            assert row is not None
            return _reminder(row)

        return self._run(work)

    def get_reminder(self, reminder_id: int, *, user_id: int) -> Reminder | None:
        def work(conn: Connection) -> Reminder | None:
            row = _own_reminder(conn, reminder_id, user_id)
            return None if row is None else _reminder(row)

        return self._run(work)

    def pending_reminders(self, user_id: int) -> list[Reminder]:
        def work(conn: Connection) -> list[Reminder]:
            rows = conn.execute(
                f"SELECT {_REMINDER_COLUMNS} FROM reminders"
                " WHERE user_id = %s AND status = 'pending' ORDER BY due_at, id",
                (user_id,),
            ).fetchall()
            return [_reminder(row) for row in rows]

        return self._run(work)

    def all_pending(self, limit: int = 1000) -> list[tuple[Reminder, User]]:
        check_limit(limit)

        def work(conn: Connection) -> list[tuple[Reminder, User]]:
            rows = conn.execute(
                f"SELECT {_prefixed('r', _REMINDER_COLUMNS)}, {_prefixed('u', _USER_COLUMNS)}"
                " FROM reminders r JOIN users u ON u.id = r.user_id"
                " WHERE r.status = 'pending' ORDER BY r.due_at, r.id LIMIT %s",
                (limit,),
            ).fetchall()
            width = len(_REMINDER_COLUMNS.split(","))
            return [(_reminder(row[:width]), _user(row[width:])) for row in rows]

        return self._run(work)

    def reschedule(self, reminder_id: int, *, user_id: int, due_at: datetime) -> Reminder | None:
        check_aware(due_at)
        now = _now()

        def work(conn: Connection) -> Reminder | None:
            # FOR UPDATE: a dispatcher claiming it meanwhile waits for this move, then skips it.
            row = _own_reminder(conn, reminder_id, user_id, lock=True)
            if row is None:
                return None
            current = _reminder(row)
            if current.status in CLOSED_STATUSES:
                return current
            if current.status != "pending":
                # It becomes pending again: it replaces a pending twin, as add_reminder would.
                conn.execute(
                    "UPDATE reminders SET status = 'cancelled', claimed_by = NULL,"
                    " claimed_until = NULL, updated_at = %s"
                    " WHERE user_id = %s AND kind = %s AND ref = %s AND status = 'pending'",
                    (now, user_id, current.kind, current.ref),
                )
            row = conn.execute(
                "UPDATE reminders SET status = 'pending', due_at = %s, attempts = 0,"
                " claimed_by = NULL, claimed_until = NULL, updated_at = %s WHERE id = %s"
                f" RETURNING {_REMINDER_COLUMNS}",
                (due_at, now, reminder_id),
            ).fetchone()
            assert row is not None
            return _reminder(row)

        return self._run(work)

    def set_reminder_status(
        self, reminder_id: int, *, user_id: int, status: ClosingStatus
    ) -> Reminder | None:
        check_closing_status(status)
        now = _now()

        def work(conn: Connection) -> Reminder | None:
            row = _own_reminder(conn, reminder_id, user_id, lock=True)
            if row is None:
                return None
            if _reminder(row).status in CLOSED_STATUSES:
                return _reminder(row)
            row = conn.execute(
                "UPDATE reminders SET status = %s, claimed_by = NULL, claimed_until = NULL,"
                f" updated_at = %s WHERE id = %s RETURNING {_REMINDER_COLUMNS}",
                (status, now, reminder_id),
            ).fetchone()
            assert row is not None
            return _reminder(row)

        return self._run(work)

    def cancel_reminders(self, user_id: int, *, kinds: Sequence[str] | None = None) -> int:
        chosen = check_kinds(kinds)
        if chosen == []:
            return 0
        now = _now()

        def work(conn: Connection) -> int:
            cancelled = conn.execute(
                "UPDATE reminders SET status = 'cancelled', claimed_by = NULL,"
                " claimed_until = NULL, updated_at = %s"
                " WHERE user_id = %s AND status = 'pending'"
                " AND (%s::text[] IS NULL OR kind = ANY(%s::text[]))",
                (now, user_id, chosen, chosen),
            )
            return cancelled.rowcount

        return self._run(work)

    def claim_due(
        self, now: datetime, *, worker: str, lease: timedelta, limit: int
    ) -> list[Reminder]:
        check_claim(now, worker, lease, limit)
        params = {"now": now, "worker": worker, "users": limit}

        def work(conn: Connection) -> list[Reminder]:
            # A claim takes whole users, so the user's row is the lock: replicas claiming at
            # the same time each lock a disjoint set of users (SKIP LOCKED goes on past the
            # users another one holds, up to the limit) and no two of them can claim reminders
            # of the same user at once. NO KEY UPDATE does not block the key-share locks that
            # inserting a reminder or a conversation takes on its user. The first `limit`
            # eligible users are always enough: each has at least one claimable reminder.
            users = [
                user_id
                for (user_id,) in conn.execute(
                    "SELECT u.id FROM users u JOIN ("
                    " SELECT user_id, min(due_at) AS first_due FROM reminders"
                    " WHERE status = 'pending' AND due_at <= %(now)s"
                    " AND (claimed_until IS NULL OR claimed_until <= %(now)s) GROUP BY user_id"
                    " ) AS due ON due.user_id = u.id"
                    f" WHERE u.blocked_at IS NULL AND {_NO_LIVE_CLAIM}"
                    " ORDER BY due.first_due, u.id LIMIT %(users)s"
                    " FOR NO KEY UPDATE OF u SKIP LOCKED",
                    params,
                )
            ]
            if not users:
                return []
            # Re-check under the locks, in a new snapshot (READ COMMITTED): a replica that
            # claimed one of these users and committed between our first look and our lock
            # now shows, and that user is left out. Nobody else can claim them until we commit.
            # SKIP LOCKED, not a wait: a reminder the user is changing right now (a snooze, a
            # cancel) is left for the next claim, and we never wait for a row while holding
            # users, so no deadlock with a change that locks several of a user's reminders.
            # Claiming only part of a user is safe: our live claim keeps the others away.
            rows = conn.execute(
                "SELECT r.id, r.user_id, r.due_at"
                " FROM reminders r JOIN users u ON u.id = r.user_id"
                " WHERE r.user_id = ANY(%(locked)s) AND r.status = 'pending'"
                " AND r.due_at <= %(now)s"
                " AND (r.claimed_until IS NULL OR r.claimed_until <= %(now)s)"
                f" AND u.blocked_at IS NULL AND {_NO_LIVE_CLAIM}"
                " ORDER BY r.due_at, r.id FOR UPDATE OF r SKIP LOCKED",
                {**params, "locked": users},
            ).fetchall()
            # FOR UPDATE may return a row changed meanwhile out of order: sort again.
            rows.sort(key=lambda row: (row[2], row[0]))
            ids = whole_users([(row[0], row[1]) for row in rows], limit)
            if not ids:
                return []
            claimed = [
                _reminder(row)
                for row in conn.execute(
                    "UPDATE reminders SET claimed_by = %s, claimed_until = %s, updated_at = %s"
                    f" WHERE id = ANY(%s) RETURNING {_REMINDER_COLUMNS}",
                    (worker, now + lease, _now(), ids),
                )
            ]
            claimed.sort(key=lambda reminder: (reminder.due_at, reminder.id))
            return claimed

        return self._run(work)

    def mark_sent(self, reminder_id: int, *, worker: str) -> bool:
        now = _now()
        return self._if_claimed(
            reminder_id, worker, "status = 'sent', sent_at = %s, updated_at = %s", (now, now)
        )

    def retry_later(self, reminder_id: int, *, worker: str, due_at: datetime) -> bool:
        check_aware(due_at)
        return self._if_claimed(
            reminder_id,
            worker,
            "due_at = %s, attempts = attempts + 1, updated_at = %s",
            (due_at, _now()),
        )

    def mark_failed(self, reminder_id: int, *, worker: str) -> bool:
        return self._if_claimed(
            reminder_id,
            worker,
            "status = 'failed', attempts = attempts + 1, updated_at = %s",
            (_now(),),
        )

    def _if_claimed(
        self, reminder_id: int, worker: str, assignments: str, values: tuple[Any, ...]
    ) -> bool:
        """Apply assignments and release the claim, if worker holds the claim; True if so."""

        def work(conn: Connection) -> bool:
            updated = conn.execute(
                sql.SQL(
                    "UPDATE reminders SET "
                    + assignments
                    + ", claimed_by = NULL, claimed_until = NULL"
                    " WHERE id = %s AND status = 'pending' AND claimed_by = %s"
                ),
                (*values, reminder_id, worker),
            )
            return updated.rowcount == 1

        return self._run(work)

    # --- end reminders ---


def _stale(conn: Connection, conversation_id: int, expected: int) -> StaleConversation:
    row = conn.execute(
        "SELECT version FROM conversations WHERE id = %s", (conversation_id,)
    ).fetchone()
    if row is None:
        return StaleConversation(f"conversation {conversation_id} no longer exists")
    return StaleConversation(
        f"conversation {conversation_id} is at version {row[0]}, not {expected}"
    )


def _now() -> datetime:
    return datetime.now(UTC)


def _utc(moment: datetime) -> datetime:
    # psycopg returns timestamptz in the session's time zone; the interface promises UTC.
    return moment.astimezone(UTC)


def _opt_utc(moment: datetime | None) -> datetime | None:
    return None if moment is None else moment.astimezone(UTC)


def _json(value: JSON) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _user(row: tuple[Any, ...]) -> User:
    return User(row[0], row[1], row[2], row[3], _utc(row[4]), _opt_utc(row[5]))


def _conversation(row: tuple[Any, ...]) -> Conversation:
    return Conversation(
        id=row[0],
        user_id=row[1],
        dialogue_id=row[2],
        state=json.loads(row[3]),
        version=row[4],
        created_at=_utc(row[5]),
        updated_at=_utc(row[6]),
        finished_at=_opt_utc(row[7]),
        active=row[8],
    )


def _answer(row: tuple[Any, ...]) -> Answer:
    return Answer(
        conversation_id=row[0],
        question_id=row[1],
        value=json.loads(row[2]),
        answered_at=_utc(row[3]),
        superseded_at=_opt_utc(row[4]),
    )


# --- Reminders: helpers (owner: reminders) ---

_REMINDER_COLUMNS = (
    "id, user_id, conversation_id, kind, ref, payload, due_at, status, attempts, claimed_by,"
    " claimed_until, sent_at, created_at, updated_at"
)


def _prefixed(alias: str, columns: str) -> str:
    return ", ".join(f"{alias}.{column.strip()}" for column in columns.split(","))


def _own_reminder(
    conn: Connection, reminder_id: int, user_id: int, *, lock: bool = False
) -> tuple[Any, ...] | None:
    return conn.execute(
        f"SELECT {_REMINDER_COLUMNS} FROM reminders WHERE id = %s AND user_id = %s"
        + (" FOR UPDATE" if lock else ""),
        (reminder_id, user_id),
    ).fetchone()


def _check_owner(conn: Connection, user_id: int, conversation_id: int | None) -> None:
    """Refuse a reminder for an unknown user, or about someone else's conversation."""
    if conn.execute("SELECT 1 FROM users WHERE id = %s", (user_id,)).fetchone() is None:
        raise StorageError(f"no user with id {user_id}")
    if conversation_id is None:
        return
    row = conn.execute(
        "SELECT user_id FROM conversations WHERE id = %s", (conversation_id,)
    ).fetchone()
    if row is None or row[0] != user_id:
        raise StorageError(f"user {user_id} has no conversation {conversation_id}")


# True for a user (alias u) none of whose reminders another worker holds under a live claim.
_NO_LIVE_CLAIM = (
    "NOT EXISTS (SELECT 1 FROM reminders held WHERE held.user_id = u.id"
    " AND held.status = 'pending' AND held.claimed_by <> %(worker)s"
    " AND held.claimed_until > %(now)s)"
)


def _reminder(row: tuple[Any, ...]) -> Reminder:
    return Reminder(
        id=row[0],
        user_id=row[1],
        conversation_id=row[2],
        kind=row[3],
        ref=row[4],
        payload=json.loads(row[5]),
        due_at=_utc(row[6]),
        status=row[7],
        attempts=row[8],
        claimed_by=row[9],
        claimed_until=_opt_utc(row[10]),
        sent_at=_opt_utc(row[11]),
        created_at=_utc(row[12]),
        updated_at=_utc(row[13]),
    )


# --- end reminders: helpers ---
