"""Stored conversations for the scale benchmark, written in bulk (SQLite or PostgreSQL).

Every stored conversation is one the bot could have written: its state and answers are the
walk of bench/checklist.py stopped after some question (30% finished), with one processed
update per answer and the reminders such a user has (a review and a next step once finished,
a nudge before). Each user owns one project, numbered as they are, holding their
conversation. The schema comes from the bot's own migrations; rows are then inserted
directly, as the storage API would take hours (one commit per step).

*Active* users are stored mid-checklist on a typed question (a text, a date or a number), so a
manager can answer them at once, without a button to tap; each benchmark run gets its own set.
Stored update ids start at ``FIRST_STORED_UPDATE`` so they never collide with the emulator's.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import random
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from bench.checklist import Snapshot, is_typed, real_dialogue, walk

FIRST_STORED_UPDATE = 1_000_000_000
FIRST_TELEGRAM_ID = 5_000_000
FINISHED_SHARE = 0.3
TZ = "Europe/Paris"


@dataclass(frozen=True)
class ActiveUser:
    """A stored user in the middle of the checklist, on a typed question."""

    telegram_id: int
    question: str


@dataclass(frozen=True)
class Generated:
    stored: int  # conversations stored (active ones included)
    answers: int  # answer rows
    active: tuple[tuple[ActiveUser, ...], ...]  # one set per run


def _migrate(storage: Any) -> None:
    """Create the schema through the storage (then close it), on an event loop of its own: the
    suite calls this from its own loop."""

    async def run() -> None:
        try:
            await storage.migrate()
        finally:
            await storage.close()

    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, run()).result()


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


@dataclass(frozen=True)
class _Row:
    user: tuple[Any, ...]
    project: tuple[Any, ...]
    member: tuple[Any, ...]
    conversation: tuple[Any, ...]
    answers: list[tuple[Any, ...]]
    updates: list[tuple[Any, ...]]
    reminders: list[tuple[Any, ...]]


class _Rows:
    """The rows of every stored user, generated lazily, deterministic for a seed."""

    def __init__(self, stored: int, active: int, runs: int, seed: int, ts: Any) -> None:
        if active * runs > stored:
            raise ValueError("more active users than stored ones")
        self.stored = stored
        self.ts = ts  # datetime -> the backend's timestamp value
        self.random = random.Random(seed)
        self.questions, self.snapshots = walk()
        self.typed = [
            s for s in self.snapshots[1:-1] if is_typed(real_dialogue().questions[s.state["at"]])
        ]
        self.dialogue_id = real_dialogue().id
        # The same walk gives the same JSON: encode each snapshot once.
        self.encoded = {
            s.index: (_json(s.state), [(qid, _json(value)) for qid, value in s.answers])
            for s in self.snapshots
        }
        self.now = dt.datetime.now(dt.UTC)
        # Active users are spread over the id range, so they are not all in the last pages.
        self.active_ids = set(self.random.sample(range(stored), active * runs))
        self.active_order = sorted(self.active_ids)
        self.random.shuffle(self.active_order)
        self.runs = runs
        self.active_per_run = active
        self.positions: dict[int, str] = {}
        self.answer_count = 0

    def active_sets(self) -> tuple[tuple[ActiveUser, ...], ...]:
        sets = []
        for run in range(self.runs):
            chosen = self.active_order[run * self.active_per_run : (run + 1) * self.active_per_run]
            sets.append(
                tuple(ActiveUser(FIRST_TELEGRAM_ID + i, self.positions[i]) for i in chosen)
            )
        return tuple(sets)

    def __iter__(self) -> Iterator[_Row]:
        update_id = FIRST_STORED_UPDATE
        rng = self.random
        last = len(self.snapshots) - 1
        for index in range(self.stored):
            user_id = conversation_id = project_id = index + 1
            if index in self.active_ids:
                snapshot: Snapshot = rng.choice(self.typed)
                self.positions[index] = str(snapshot.state["at"])
                age = dt.timedelta(minutes=rng.randrange(5, 600))
            else:
                finished = rng.random() < FINISHED_SHARE
                snapshot = self.snapshots[last if finished else rng.randrange(0, last)]
                age = dt.timedelta(days=rng.randrange(1, 700))
            created = self.ts(self.now - age - dt.timedelta(hours=2))
            updated = self.ts(self.now - age)
            done = snapshot.index == last
            state, encoded = self.encoded[snapshot.index]
            # current_project_id is set once the projects are in (they reference their user).
            user = (user_id, f"tg:{FIRST_TELEGRAM_ID + index}", "fr", TZ, created, None)
            project = (project_id, user_id, None, created, updated)
            member = (project_id, user_id, "owner", created)
            conversation = (
                conversation_id,
                user_id,
                self.dialogue_id,
                state,
                1 + len(encoded),
                created,
                updated,
                updated if done else None,
                True,
                project_id,
            )
            answers = [(conversation_id, qid, value, updated, None) for qid, value in encoded]
            count = len(encoded) + 1
            updates = [(u, user_id, updated) for u in range(update_id, update_id + count)]
            update_id += count
            due = self.now + dt.timedelta(days=rng.randrange(20, 120), hours=rng.randrange(24))
            plans: list[tuple[str, str, dict[str, Any]]] = [("nudge", "nudge-1", {})]
            if done:
                plans = [
                    ("review", "review-1", {"number": 1}),
                    ("next_step", "write_rules", {"step": "write_rules"}),
                ]
            reminders = [
                (
                    user_id,
                    conversation_id,
                    kind,
                    ref,
                    _json(payload),
                    self.ts(due),
                    "pending",
                    0,
                    updated,
                    updated,
                    project_id,
                )
                for kind, ref, payload in plans
            ]
            self.answer_count += len(answers)
            yield _Row(user, project, member, conversation, answers, updates, reminders)


_USERS = "users (id, key, lang, tz, created_at, blocked_at)"
_PROJECTS = "projects (id, owner_id, title, created_at, updated_at)"
_MEMBERS = "project_members (project_id, user_id, role, joined_at)"
_CONVERSATIONS = (
    "conversations (id, user_id, dialogue_id, state, version, created_at, updated_at,"
    " finished_at, active, project_id)"
)
_ANSWERS = "answers (conversation_id, question_id, value, answered_at, superseded_at)"
_UPDATES = "processed_updates (update_id, user_id, processed_at)"
_REMINDERS = (
    "reminders (user_id, conversation_id, kind, ref, payload, due_at, status, attempts,"
    " created_at, updated_at, project_id)"
)
_CURRENT_PROJECTS = "UPDATE users SET current_project_id = id"  # each user's one project
_CHUNK = 5000


def generate_sqlite(
    path: str, *, stored: int, active: int, runs: int = 1, seed: int = 6
) -> Generated:
    """Create (or overwrite) the SQLite database at path with ``stored`` conversations."""
    import sqlite3
    from pathlib import Path

    from bot.storage.database import sqlite_storage

    for suffix in ("", "-wal", "-shm"):
        Path(path + suffix).unlink(missing_ok=True)
    _migrate(sqlite_storage(path, synchronous="NORMAL"))
    rows = _Rows(
        stored, active, runs, seed, lambda moment: moment.isoformat(timespec="microseconds")
    )
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        # A throwaway file being filled: no journal, no syncs; WAL again at the end.
        conn.execute("PRAGMA journal_mode = OFF")
        conn.execute("PRAGMA synchronous = OFF")
        conn.execute("PRAGMA cache_size = -200000")
        conn.execute("BEGIN")
        # Bulk load without the indexes, then build them once (much faster than row by row).
        indexes = conn.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
        ).fetchall()
        for name, _ in indexes:
            conn.execute(f'DROP INDEX "{name}"')
        for chunk in _chunks(iter(rows)):
            conn.executemany(
                f"INSERT INTO {_USERS} VALUES (?, ?, ?, ?, ?, ?)", [r.user for r in chunk]
            )
            conn.executemany(
                f"INSERT INTO {_PROJECTS} VALUES (?, ?, ?, ?, ?)", [r.project for r in chunk]
            )
            conn.executemany(
                f"INSERT INTO {_MEMBERS} VALUES (?, ?, ?, ?)", [r.member for r in chunk]
            )
            conn.executemany(
                f"INSERT INTO {_CONVERSATIONS} VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [r.conversation for r in chunk],
            )
            conn.executemany(
                f"INSERT INTO {_ANSWERS} VALUES (?, ?, ?, ?, ?)",
                [a for r in chunk for a in r.answers],
            )
            conn.executemany(
                f"INSERT INTO {_UPDATES} VALUES (?, ?, ?)", [u for r in chunk for u in r.updates]
            )
            conn.executemany(
                f"INSERT INTO {_REMINDERS} VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [m for r in chunk for m in r.reminders],
            )
        conn.execute(_CURRENT_PROJECTS)
        for _, sql in indexes:
            conn.execute(sql)
        conn.execute("COMMIT")
        conn.execute("ANALYZE")
        conn.execute("PRAGMA journal_mode = WAL")
    finally:
        conn.close()
    return Generated(stored, rows.answer_count, rows.active_sets())


def generate_postgres(
    url: str, *, stored: int, active: int, runs: int = 1, seed: int = 6
) -> Generated:
    """Fill the (empty) schema ``url`` points at with ``stored`` conversations (COPY)."""
    import psycopg

    from bot.storage.database import postgres_storage

    _migrate(postgres_storage(url))
    rows = _Rows(stored, active, runs, seed, lambda moment: moment)
    with psycopg.connect(url) as conn:
        with conn.cursor() as cur:
            for chunk in _chunks(iter(rows)):
                for table, records in (
                    (_USERS, [r.user for r in chunk]),
                    (_PROJECTS, [r.project for r in chunk]),
                    (_MEMBERS, [r.member for r in chunk]),
                    (_CONVERSATIONS, [r.conversation for r in chunk]),
                    (_ANSWERS, [a for r in chunk for a in r.answers]),
                    (_UPDATES, [u for r in chunk for u in r.updates]),
                    (_REMINDERS, [m for r in chunk for m in r.reminders]),
                ):
                    # COPY writes identity columns as given (no OVERRIDING needed).
                    with cur.copy(f"COPY {table} FROM STDIN") as copy:
                        for record in records:
                            copy.write_row(record)
            # Identity columns: continue after the ids written here, as the bot would.
            cur.execute(_CURRENT_PROJECTS)
            for table in ("users", "projects", "conversations"):
                cur.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"
                    f" (SELECT max(id) FROM {table}))"
                )
        conn.commit()
        conn.execute("ANALYZE")
    return Generated(stored, rows.answer_count, rows.active_sets())


def _chunks(rows: Iterator[_Row]) -> Iterator[list[_Row]]:
    chunk: list[_Row] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= _CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
