"""The storage, on SQLAlchemy Core: SQLite (the standard sqlite3 module) or PostgreSQL (psycopg).

One implementation for both databases; the dialects differ only where the databases do: how a
connection is set up (`sqlite_storage`, `postgres_storage`), the upsert statement's module,
the row locks of claim_due (FOR UPDATE ... SKIP LOCKED on PostgreSQL, where replicas claim at
the same time; SQLite ignores them and takes the write lock up front), and the WAL checkpoint
that erases a deleted user from SQLite's files.

Every method is a coroutine that runs its whole transaction at once, on one connection.
PostgreSQL: in one of the storage's worker threads, on a pooled connection: the event loop
goes on meanwhile, and an update costs one thread hop per transaction (an asyncio driver would
cost one per statement and fetch: about five times the CPU, measured). SQLite: on the event
loop's thread itself, on a connection of its own, when nothing can make the transaction wait;
in a worker thread when something would, or when it may take long (see Storage._run).

SQLite: WAL journal, synchronous=FULL; a writing transaction starts with BEGIN IMMEDIATE, so a
second process waits for the write lock (busy timeout, in a worker thread) instead of failing
when its read turns into a write; a worker thread copies the write-ahead log back into the
database every CHECKPOINT_EVERY writes, never a COMMIT (see Storage._written). PostgreSQL:
several replicas may share the database; conversations are guarded by their version
(optimistic concurrency), update ids by their primary key, migrations by an advisory lock. If
a connection turns out to be lost (server restarted, connection killed) before COMMIT, the
call runs again once on a new connection: the server rolled it back.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import json
import logging
import os
import queue
import sqlite3
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal, TypeVar

from sqlalchemy import (
    Connection,
    Engine,
    and_,
    bindparam,
    case,
    create_engine,
    delete,
    event,
    exists,
    func,
    literal_column,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.pool import StaticPool
from sqlalchemy.sql.elements import BindParameter

from bot.errors import ConfigError, DuplicateUpdate, StaleConversation, StorageError
from bot.storage import migrations
from bot.storage.advisors import AdvisorStorage, upsert_note
from bot.storage.base import (
    CLOSED_STATUSES,
    JSON,
    Answer,
    AnswerWrite,
    ChangeReminder,
    ClosingStatus,
    Conversation,
    GapComment,
    Invitation,
    InvitationStatus,
    Joined,
    JSONObject,
    Member,
    NewReminder,
    Project,
    ProjectView,
    Reminder,
    ReminderChange,
    Side,
    Snapshot,
    User,
    check_aware,
    check_claim,
    check_closing_status,
    check_kinds,
    check_limit,
    check_reminder_key,
)
from bot.storage.claims import whole_users
from bot.storage.schema import (
    REMINDER_PROJECT_KEY,
    active_walk,
    answers,
    conversations,
    gap_comments,
    invitations,
    processed_updates,
    project_members,
    projects,
    reminders,
    users,
)

logger = logging.getLogger(__name__)

T = TypeVar("T")
Maker = Callable[[Any], T]  # a record from its row
MEMORY = ":memory:"
_NO_TURN = contextlib.nullcontext()  # what a transaction waits for when it need not wait
# Conversations whose current answers are kept in memory (see Storage.load).
ANSWERS_KEPT = 256
# Kept answers this long or shorter are shared strings (see _kept_value).
_SHARED_TEXT = 24
# SQLite: the page cache of each connection, in KiB (see sqlite_storage).
PAGE_CACHE_KIB = 512
# SQLite: write transactions between two copies of the write-ahead log into the database
# (SQLite's own automatic checkpoint, off on the bot's connections, runs every 1,000 pages:
# a write of one update dirties a few pages).
CHECKPOINT_EVERY = 100
# SQLite's primary result codes that say "another connection holds a lock" (BUSY, LOCKED).
_SQLITE_BUSY = frozenset({5, 6})
# What Storage._transaction_here did.
_RAN = "ran"
_TURN_TAKEN = "turn taken"  # by a worker thread: wait for it on the loop
_WOULD_WAIT = "would wait"  # for a lock, or a connection: a worker thread runs it


class _Turn:
    """The turn this process's SQLite writers take (see Storage.__init__). Worker threads
    wait for it as for a lock; the event loop, which must not block, takes it only when it is
    free and no worker thread waits for it (`take_now`: else a loop that writes often could
    keep a thread from it for long), and otherwise waits on the loop until it is released
    (`released`)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._guard = threading.Lock()  # over _queued and _waiting
        self._queued = 0  # worker threads waiting for the turn
        self._waiting: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = []

    def __enter__(self) -> None:
        with self._guard:
            self._queued += 1
        try:
            self._lock.acquire()
        finally:
            with self._guard:
                self._queued -= 1

    def __exit__(self, *exc: object) -> None:
        self.release()

    def take_now(self) -> bool:
        with self._guard:
            return not self._queued and self._lock.acquire(blocking=False)

    def release(self) -> None:
        self._lock.release()
        with self._guard:
            waiting, self._waiting = self._waiting, []
        for loop, future in waiting:
            with contextlib.suppress(RuntimeError):  # that loop is closed: nobody waits
                loop.call_soon_threadsafe(_wake, future)

    async def released(self) -> None:
        """Return once the turn is free with no worker thread waiting for it, or was released
        since this was called (it may be taken again by then)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        with self._guard:
            # A release takes the guard after it frees the turn, a thread's wait ends under
            # it: if either came after this look, the release finds this one registered and
            # wakes it (a waiting thread releases the turn once done).
            if not self._lock.locked() and not self._queued:
                return
            self._waiting.append((loop, future))
        await future


def _wake(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class _Workers:
    """The storage's worker threads: at most `count`, each started when a call finds none
    idle, each kept (with its connection, see Storage._thread_connection) until shutdown.

    A call is handed over with one queue put and its outcome handed back to the event loop
    with one call_soon_threadsafe: about a third less CPU per thread hop than
    loop.run_in_executor, whose futures chain through several callbacks on both threads.
    """

    def __init__(self, count: int) -> None:
        self._count = count
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._idle = 0  # threads waiting for a call and not yet promised one
        self._lock = threading.Lock()
        self._shut = False

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """fn(*args) in a worker thread; its result, or its exception."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._put((fn, args, loop, future))
        return await future

    def submit(self, fn: Callable[[], object]) -> None:
        """fn() in a worker thread, nobody waiting for it (its errors are its own)."""
        self._put((fn, (), None, None))

    def _put(self, job: _Job) -> None:
        with self._lock:
            if self._shut:
                raise RuntimeError("the storage's worker threads are shut down")
            if self._idle:
                self._idle -= 1
            elif len(self._threads) < self._count:
                thread = threading.Thread(
                    target=self._work, name=f"storage_{len(self._threads)}", daemon=True
                )
                thread.start()
                self._threads.append(thread)
            self._jobs.put(job)

    def _work(self) -> None:
        while (job := self._jobs.get()) is not None:
            fn, args, loop, future = job
            try:
                outcome: tuple[bool, Any] = (True, fn(*args))
            except BaseException as exc:  # handed to the caller, as run_in_executor does
                outcome = (False, exc)
            if loop is not None:
                with contextlib.suppress(RuntimeError):  # that loop is closed: nobody waits
                    loop.call_soon_threadsafe(_settle, future, outcome)
            elif not outcome[0]:
                logger.error("storage: a worker thread's call failed", exc_info=outcome[1])
            job = outcome = None  # type: ignore[assignment]  # nothing kept while waiting
            with self._lock:
                self._idle += 1

    def shutdown(self) -> None:
        """Run the calls already handed over, then stop every thread (blocks until then)."""
        with self._lock:
            self._shut = True
            threads = list(self._threads)
        for _ in threads:
            self._jobs.put(None)
        for thread in threads:
            thread.join()


_Job = tuple[Callable[..., Any], tuple[Any, ...], Any, Any]


def _settle(future: asyncio.Future[Any], outcome: tuple[bool, Any]) -> None:
    if future.cancelled():
        return
    ok, value = outcome
    if ok:
        future.set_result(value)
    else:
        future.set_exception(value)


# pg_advisory_xact_lock key held while migrating ("alliance" in ASCII, first 8 bytes).
MIGRATION_LOCK = 0x616C6C69616E6365


# Statements, built once (SQLAlchemy caches their compiled form).
_key: BindParameter[Any] = bindparam("b_key")
_id: BindParameter[Any] = bindparam("b_id")
_uid: BindParameter[Any] = bindparam("uid")
_cid: BindParameter[Any] = bindparam("cid")
_now: BindParameter[Any] = bindparam("now")
_USER_BY_KEY = select(users).where(users.c.key == _key)
_USER_BY_ID = select(users).where(users.c.id == _id)
_WAS_PROCESSED = exists().where(processed_updates.c.update_id == bindparam("b_update"))
# The user's active conversation in their current project.
_IN_CURRENT = active_walk(users.c.id, users.c.current_project_id)
_LOAD = (
    select(users, projects, conversations, _WAS_PROCESSED.label("processed"))
    .outerjoin(projects, projects.c.id == users.c.current_project_id)
    .outerjoin(conversations, _IN_CURRENT)
    .where(users.c.key == _key)
)
_PROCESSED = select(_WAS_PROCESSED)
_ACTIVE = select(conversations).join(users, _IN_CURRENT).where(users.c.id == _uid)
_CONVERSATIONS = (
    select(conversations).where(conversations.c.user_id == _uid).order_by(conversations.c.id)
)
_CURRENT_ANSWERS = (
    select(answers.c.question_id, answers.c.value)
    .where(answers.c.conversation_id == _cid, answers.c.superseded_at.is_(None))
    .order_by(answers.c.id)
)
_HISTORY = (
    select(
        answers.c.conversation_id,
        answers.c.question_id,
        answers.c.value,
        answers.c.answered_at,
        answers.c.superseded_at,
    )
    .where(answers.c.conversation_id == _cid)
    .order_by(answers.c.id)
)
_pid: BindParameter[Any] = bindparam("pid")
_ARCHIVE = (
    update(conversations)
    .where(active_walk(_uid, _pid))
    .values(active=False, version=conversations.c.version + 1, updated_at=_now)
)
_NEW_CONVERSATION = (
    conversations.insert()
    .values(
        user_id=_uid,
        project_id=_pid,
        dialogue_id=bindparam("b_dialogue"),
        state=bindparam("b_state"),
        version=1,
        created_at=_now,
        updated_at=_now,
        active=True,
    )
    .returning(*conversations.c)
)
_SAVE_STATE = (
    update(conversations)
    .where(conversations.c.id == _cid, conversations.c.version == bindparam("expected"))
    .values(state=bindparam("b_state"), version=conversations.c.version + 1, updated_at=_now)
    .returning(conversations.c.user_id, conversations.c.project_id)
)
_SAVE_STATE_FINISHED = _SAVE_STATE.values(
    finished_at=func.coalesce(conversations.c.finished_at, _now)
)
_VERSION = select(conversations.c.version).where(conversations.c.id == _cid)
_SUPERSEDE = (
    update(answers)
    .where(
        answers.c.conversation_id == _cid,
        answers.c.question_id == bindparam("b_question"),
        answers.c.superseded_at.is_(None),
    )
    .values(superseded_at=_now)
)
_INSERT_ANSWER = answers.insert().values(
    conversation_id=_cid,
    question_id=bindparam("b_question"),
    value=bindparam("value"),
    answered_at=_now,
)
_STEP_OWNER = select(conversations.c.user_id).where(conversations.c.id == _cid).scalar_subquery()


def _record_update(insert: Any, owner: Any) -> Any:
    """Record an update as processed, unless it already is (no row then)."""
    statement = insert(processed_updates).values(
        update_id=bindparam("b_update"), user_id=owner, processed_at=_now
    )
    return statement.on_conflict_do_nothing(
        index_elements=[processed_updates.c.update_id]
    ).returning(processed_updates.c.update_id)


# Processed-update records forgotten per call of prune_processed (one transaction), at most:
# the first pruning of a database written before pruning existed has millions, and a write
# transaction holds SQLite's write lock (answers wait for it meanwhile). About 15 ms of CPU on
# SQLite, measured on a table of 2.8 million.
PRUNE_BATCH = 5000
_PRUNE = delete(processed_updates).where(
    processed_updates.c.update_id.in_(
        select(processed_updates.c.update_id)
        .where(processed_updates.c.processed_at < bindparam("before"))
        .limit(bindparam("batch"))
        .scalar_subquery()
    )
)
_USER_EXISTS = select(users.c.id).where(users.c.id == _uid)
# Lock the user's row (PostgreSQL): two replicas starting a conversation for the same user take
# turns instead of colliding on the one-active-conversation index. NO KEY UPDATE does not block
# the key-share locks other tables' foreign keys take.
_LOCK_USER = select(users.c.id, users.c.current_project_id).where(users.c.id == _uid)
_LOCK_USER = _LOCK_USER.with_for_update(key_share=True)
_CONVERSATION_OWNER = select(conversations.c.user_id, conversations.c.project_id).where(
    conversations.c.id == _cid
)
_CURRENT_PROJECT = select(users.c.current_project_id).where(users.c.id == _uid)
_DELETE_USER = delete(users).where(users.c.id == _uid)

_OWN_REMINDER = select(reminders).where(reminders.c.id == _id, reminders.c.user_id == _uid)
# FOR UPDATE (PostgreSQL): a dispatcher claiming it meanwhile waits for the change, then skips it.
_OWN_REMINDER_LOCKED = _OWN_REMINDER.with_for_update()
_PENDING = reminders.c.status == "pending"
_PENDING_OF_USER = (
    select(reminders)
    .where(reminders.c.user_id == _uid, _PENDING)
    .order_by(reminders.c.due_at, reminders.c.id)
)
_REMINDERS_OF_USER = (
    select(reminders)
    .where(reminders.c.user_id == _uid)
    .order_by(reminders.c.due_at, reminders.c.id)
)
_ALL_PENDING = (
    select(reminders, users)
    .join(users, users.c.id == reminders.c.user_id)
    .where(_PENDING)
    .order_by(reminders.c.due_at, reminders.c.id)
    .limit(bindparam("limit"))
)
_RELEASED = {"claimed_by": None, "claimed_until": None}
_CANCEL_TWIN = (
    update(reminders)
    .where(
        reminders.c.user_id == _uid,
        func.coalesce(reminders.c.project_id, 0) == func.coalesce(_pid, 0),
        reminders.c.kind == bindparam("b_kind"),
        reminders.c.ref == bindparam("b_ref"),
        _PENDING,
    )
    .values(status="cancelled", updated_at=_now, **_RELEASED)
)
_RESCHEDULE = (
    update(reminders)
    .where(reminders.c.id == _id)
    .values(status="pending", due_at=bindparam("due"), attempts=0, updated_at=_now, **_RELEASED)
    .returning(*reminders.c)
)
_CLOSE = (
    update(reminders)
    .where(reminders.c.id == _id)
    .values(status=bindparam("b_status"), updated_at=_now, **_RELEASED)
    .returning(*reminders.c)
)
_CANCEL_PENDING = (
    update(reminders)
    .where(reminders.c.user_id == _uid, _PENDING)
    .values(status="cancelled", updated_at=_now, **_RELEASED)
)
_CANCEL_KINDS = _CANCEL_PENDING.where(reminders.c.kind.in_(bindparam("kinds", expanding=True)))
_CANCEL_PENDING_OF_PROJECT = _CANCEL_PENDING.where(reminders.c.project_id == _pid)
_CANCEL_KINDS_OF_PROJECT = _CANCEL_KINDS.where(reminders.c.project_id == _pid)

# claim_due. Claimable: pending, due, and not under a live lease.
_due_now: BindParameter[Any] = bindparam("due_now")
_CLAIMABLE = and_(
    _PENDING,
    reminders.c.due_at <= _due_now,
    or_(reminders.c.claimed_until.is_(None), reminders.c.claimed_until <= _due_now),
)
_held = reminders.alias("held")
# A user none of whose reminders another worker holds under a live claim.
_NO_LIVE_CLAIM = ~exists().where(
    _held.c.user_id == users.c.id,
    _held.c.status == "pending",
    _held.c.claimed_by != bindparam("worker"),
    _held.c.claimed_until > _due_now,
)
# Grouped by user_id + 0, not user_id: SQLite would otherwise read the whole reminders_by_user
# index for its order (8 ms a tick with 130,000 pending reminders, measured) rather than the
# due ones only through reminders_due (0.1 ms).
_due_user = (reminders.c.user_id + literal_column("0")).label("user_id")
_first_due = (
    select(_due_user, func.min(reminders.c.due_at).label("first_due"))
    .where(_CLAIMABLE)
    .group_by(_due_user)
    .subquery("due")
)
# A claim takes whole users, so the user's row is the lock on PostgreSQL: replicas claiming at
# the same time each lock a disjoint set of users (SKIP LOCKED goes on past the users another
# one holds) and no two of them can claim reminders of the same user at once. NO KEY UPDATE
# (key_share) does not block the key-share locks that inserting a reminder or a conversation
# takes on its user. The first `users` eligible users are always enough: each has at least one
# claimable reminder. SQLite renders no lock: its transaction holds the database's write lock.
_CLAIM_USERS = (
    select(users.c.id)
    .join(_first_due, _first_due.c.user_id == users.c.id)
    .where(users.c.blocked_at.is_(None), _NO_LIVE_CLAIM)
    .order_by(_first_due.c.first_due, users.c.id)
    .limit(bindparam("users"))
    .with_for_update(of=users, skip_locked=True, key_share=True)
)
# Re-checked under the locks, in a new snapshot (READ COMMITTED): a replica that claimed one of
# these users and committed between the first look and the lock now shows, and that user is
# left out. SKIP LOCKED, not a wait: a reminder the user is changing right now (a snooze, a
# cancel) is left for the next claim, and no row is waited for while users are held, so no
# deadlock with a change that locks several of a user's reminders.
_CLAIM_REMINDERS = (
    select(reminders.c.id, reminders.c.user_id, reminders.c.due_at)
    .join(users, users.c.id == reminders.c.user_id)
    .where(
        reminders.c.user_id.in_(bindparam("locked", expanding=True)),
        _CLAIMABLE,
        users.c.blocked_at.is_(None),
        _NO_LIVE_CLAIM,
    )
    .order_by(reminders.c.due_at, reminders.c.id)
    .with_for_update(of=reminders, skip_locked=True)
)
_CLAIM = (
    update(reminders)
    .where(reminders.c.id.in_(bindparam("ids", expanding=True)))
    .values(claimed_by=bindparam("worker"), claimed_until=bindparam("until"), updated_at=_now)
    .returning(*reminders.c)
)
_IF_CLAIMED = and_(reminders.c.id == _id, _PENDING, reminders.c.claimed_by == bindparam("worker"))
_MARK_SENT = (
    update(reminders)
    .where(_IF_CLAIMED)
    .values(status="sent", sent_at=_now, updated_at=_now, **_RELEASED)
)
_RETRY_LATER = (
    update(reminders)
    .where(_IF_CLAIMED)
    .values(
        due_at=bindparam("due"), attempts=reminders.c.attempts + 1, updated_at=_now, **_RELEASED
    )
)
_MARK_FAILED = (
    update(reminders)
    .where(_IF_CLAIMED)
    .values(status="failed", attempts=reminders.c.attempts + 1, updated_at=_now, **_RELEASED)
)


# Projects
_IS_MEMBER = exists().where(
    project_members.c.project_id == projects.c.id, project_members.c.user_id == _uid
)
_MEMBER_PROJECT = select(projects).where(projects.c.id == _pid, _IS_MEMBER)
_OWNER_ANSWERS = (
    select(answers.c.question_id, answers.c.value)
    .join(conversations, conversations.c.id == answers.c.conversation_id)
    .where(
        active_walk(_uid, _pid),
        answers.c.superseded_at.is_(None),
    )
    .order_by(answers.c.id)
)
_PROJECT_BY_ID = select(projects).where(projects.c.id == _pid)
_OWN_PROJECT = select(projects.c.id).where(projects.c.id == _pid, projects.c.owner_id == _uid)
_PROJECT_LOCKED = select(projects).where(projects.c.id == _pid).with_for_update(key_share=True)
_USER_PROJECTS = (
    select(
        projects,
        project_members.c.role,
        (users.c.current_project_id == projects.c.id).label("current"),
        conversations,
    )
    .join(project_members, project_members.c.project_id == projects.c.id)
    .join(users, users.c.id == project_members.c.user_id)
    .outerjoin(conversations, active_walk(users.c.id, projects.c.id))
    .where(users.c.id == _uid)
    .order_by(projects.c.id)
)
_NEW_PROJECT = (
    projects.insert()
    .values(owner_id=_uid, title=bindparam("b_title"), created_at=_now, updated_at=_now)
    .returning(*projects.c)
)
_NEW_MEMBER = project_members.insert().values(
    project_id=_pid, user_id=_uid, role=bindparam("b_role"), joined_at=_now
)
_SET_CURRENT = update(users).where(users.c.id == _uid).values(current_project_id=_pid)
_RENAME_PROJECT = (
    update(projects)
    .where(projects.c.id == _pid, projects.c.owner_id == _uid)
    .values(title=bindparam("b_title"), updated_at=_now)
)
_DELETE_PROJECT = delete(projects).where(projects.c.id == _pid, projects.c.owner_id == _uid)
_latest_other = (
    select(func.max(project_members.c.project_id))
    .where(project_members.c.user_id == _uid)
    .scalar_subquery()
)
_CURRENT_TO_LATEST = (
    update(users)
    .where(users.c.id == _uid, users.c.current_project_id.is_(None))
    .values(current_project_id=_latest_other)
)
_HAS_PARTNER = select(project_members.c.user_id).where(
    project_members.c.project_id == _pid, project_members.c.role == "partner"
)
_LEAVE = delete(project_members).where(
    project_members.c.project_id == _pid,
    project_members.c.user_id == _uid,
    project_members.c.role == "partner",
)
_LEAVE_DATA = (
    delete(conversations).where(
        conversations.c.project_id == _pid, conversations.c.user_id == _uid
    ),
    delete(gap_comments).where(gap_comments.c.project_id == _pid, gap_comments.c.user_id == _uid),
    delete(reminders).where(reminders.c.project_id == _pid, reminders.c.user_id == _uid),
    update(users)
    .where(users.c.id == _uid, users.c.current_project_id == _pid)
    .values(current_project_id=None),
    update(projects).where(projects.c.id == _pid).values(partner_left_at=_now),
)
_partner_of = select(project_members.c.project_id).where(
    project_members.c.user_id == _uid, project_members.c.role == "partner"
)
_PARTNER_LEFT = update(projects).where(projects.c.id.in_(_partner_of)).values(partner_left_at=_now)
_PARTNER_BACK = update(projects).where(projects.c.id == _pid).values(partner_left_at=None)
_SIDES = (
    select(project_members, users, conversations)
    .join(users, users.c.id == project_members.c.user_id)
    .outerjoin(conversations, active_walk(users.c.id, project_members.c.project_id))
    .where(project_members.c.project_id == _pid)
    .order_by(case((project_members.c.role == "owner", 0), else_=1))
)

# Invitations
_INVITATION_BY_HASH = select(invitations).where(invitations.c.token_hash == bindparam("b_hash"))
_INVITATION_LOCKED = _INVITATION_BY_HASH.with_for_update()
_INVITATIONS = (
    select(invitations)
    .join(projects, projects.c.id == invitations.c.project_id)
    .where(invitations.c.project_id == _pid, projects.c.owner_id == _uid)
    .order_by(invitations.c.id)
)
_NEW_INVITATION = (
    invitations.insert()
    .values(
        project_id=_pid,
        token_hash=bindparam("b_hash"),
        created_by=_uid,
        created_at=_now,
        expires_at=bindparam("expires"),
    )
    .returning(*invitations.c)
)
_REVOKE_OPEN = (
    update(invitations)
    .where(
        invitations.c.project_id == _pid,
        invitations.c.used_at.is_(None),
        invitations.c.revoked_at.is_(None),
    )
    .values(revoked_at=_now)
)
_USE_INVITATION = (
    update(invitations)
    .where(invitations.c.id == _id)
    .values(used_at=_now, used_by=_uid)
    .returning(*invitations.c)
)
_DECLINE_INVITATION = _USE_INVITATION.values(declined_at=_now)
_GAP_COMMENTS = (
    select(gap_comments).where(gap_comments.c.project_id == _pid).order_by(gap_comments.c.id)
)


def _upsert_reminder(insert: Any) -> Any:
    """Schedule a pending reminder, or move the pending one with the same user, kind and ref.

    Same due_at: the claim and attempts are kept, so re-adding a reminder that a dispatcher is
    sending right now does not get it sent twice. Two replicas adding the same reminder at once
    meet on the unique index: one inserts, one updates.
    """
    statement = insert(reminders).values(
        user_id=_uid,
        conversation_id=_cid,
        project_id=_pid,
        kind=bindparam("b_kind"),
        ref=bindparam("b_ref"),
        payload=bindparam("b_payload"),
        due_at=bindparam("due"),
        status="pending",
        attempts=0,
        created_at=_now,
        updated_at=_now,
    )
    new = statement.excluded
    same_due = reminders.c.due_at == new.due_at
    return statement.on_conflict_do_update(
        index_elements=[
            reminders.c.user_id,
            REMINDER_PROJECT_KEY,
            reminders.c.kind,
            reminders.c.ref,
        ],
        index_where=text("status = 'pending'"),
        set_={
            "conversation_id": new.conversation_id,
            "payload": new.payload,
            "updated_at": new.updated_at,
            "attempts": case((same_due, reminders.c.attempts), else_=literal_column("0")),
            "claimed_by": case((same_due, reminders.c.claimed_by)),
            "claimed_until": case((same_due, reminders.c.claimed_until)),
            "due_at": new.due_at,
        },
    ).returning(*reminders.c)


def _upsert_comment(insert: Any) -> Any:
    statement = insert(gap_comments).values(
        project_id=_pid,
        user_id=_uid,
        dimension=bindparam("b_dimension"),
        body=bindparam("b_body"),
        created_at=_now,
        updated_at=_now,
    )
    return statement.on_conflict_do_update(
        index_elements=[
            gap_comments.c.project_id,
            gap_comments.c.user_id,
            gap_comments.c.dimension,
        ],
        set_={"body": statement.excluded.body, "updated_at": statement.excluded.updated_at},
    ).returning(*gap_comments.c)


class _Dialect:
    """The statements whose form depends on the dialect (the module of their INSERT)."""

    def __init__(self, insert: Any) -> None:
        self.upsert_comment = _upsert_comment(insert)
        self.upsert_reminder = _upsert_reminder(insert)
        self.upsert_note = upsert_note(insert)
        self.record_update = _record_update(insert, _uid)
        self.record_step_update = _record_update(insert, _STEP_OWNER)
        self.new_user = (
            insert(users)
            .values(key=_key, lang=bindparam("b_lang"), tz=bindparam("b_tz"), created_at=_now)
            .on_conflict_do_nothing(index_elements=[users.c.key])
            .returning(*users.c)
        )


@functools.cache
def _dialect_statements(name: str) -> _Dialect:
    """The dialect's statements, built on first use: a SQLite bot never imports the PostgreSQL
    dialect (nor psycopg, about 10 MB of memory)."""
    if name == "sqlite":
        from sqlalchemy.dialects import sqlite

        return _Dialect(sqlite.insert)
    from sqlalchemy.dialects import postgresql

    return _Dialect(postgresql.insert)


class _Prepared:
    """A statement of the per-update path, compiled once for one dialect and run straight on
    the driver's cursor.

    SQLAlchemy still writes the SQL and converts the values (its bind and result processors:
    UTC timestamps, SQLite's booleans), once per call; what is skipped is its per-call
    execution path (cache key, execution context, result object), most of a short
    statement's CPU. Driver errors come out as SQLAlchemy's DBAPIError, as from
    Connection.execute, and before_cursor_execute listeners see it (see Storage._execute).
    """

    __slots__ = ("binds", "compiled", "names", "results", "returns_rows", "sql")

    def __init__(self, statement: Any, dialect: Any) -> None:
        compiled = statement.compile(dialect=dialect)
        self.compiled = compiled
        self.sql: str = compiled.string
        # qmark (SQLite): the values in the order of the placeholders; pyformat: by name.
        self.names: tuple[str, ...] | None = (
            tuple(compiled.positiontup) if compiled.positional else None
        )
        # By the name each value has in construct_params (a literal's anonymous one included).
        self.binds = tuple(
            (compiled.bind_names[bind], processor)
            for bind in compiled.binds.values()
            if (processor := bind.type.dialect_impl(dialect).bind_processor(dialect)) is not None
        )
        # The columns of its rows: a SELECT's, or what an INSERT or UPDATE returns (if any).
        columns = statement.exported_columns
        # Known here rather than asked of the cursor: psycopg builds a description of every
        # column each time it is asked (about a third of the driver's CPU per statement).
        self.returns_rows = len(columns) > 0
        self.results = tuple(
            (index, processor)
            for index, column in enumerate(columns)
            if (processor := column.type.dialect_impl(dialect).result_processor(dialect, None))
            is not None
        )

    def parameters(self, params: dict[str, Any]) -> Any:
        values = self.compiled.construct_params(params)
        for name, processor in self.binds:
            values[name] = processor(values[name])
        return values if self.names is None else [values[name] for name in self.names]

    def row(self, raw: Sequence[Any]) -> list[Any]:
        row = list(raw)
        for index, processor in self.results:
            row[index] = processor(row[index])
        return row


# The key, in a pooled connection's info, of its cursors by statement (see _cursor); the pool
# clears info when it replaces a connection.
_CURSORS = "alliance_cursors"


def _cursor(fairy: Any, statement: object) -> Any:
    """The pooled connection's cursor for this statement (a _Prepared, or BEGIN's text): one
    per statement and connection, kept, so psycopg keeps what it looked up for the statement's
    parameter and column types while the cursor runs the same query."""
    cursors: dict[object, Any] | None = fairy.info.get(_CURSORS)
    if cursors is None:
        cursors = fairy.info[_CURSORS] = {}
    cursor = cursors.get(statement)
    if cursor is None:
        cursor = cursors[statement] = fairy.driver_connection.cursor()
    return cursor


class _Hot:
    """The per-update statements of one dialect, prepared (see _Prepared)."""

    def __init__(self, dialect: Any, statements: _Dialect) -> None:
        self.load = _Prepared(_LOAD, dialect)
        self.processed = _Prepared(_PROCESSED, dialect)
        self.current_answers = _Prepared(_CURRENT_ANSWERS, dialect)
        self.record_update = _Prepared(statements.record_update, dialect)
        self.record_step_update = _Prepared(statements.record_step_update, dialect)
        self.save_state = _Prepared(_SAVE_STATE, dialect)
        self.save_state_finished = _Prepared(_SAVE_STATE_FINISHED, dialect)
        self.supersede = _Prepared(_SUPERSEDE, dialect)
        self.insert_answer = _Prepared(_INSERT_ANSWER, dialect)
        self.upsert_reminder = _Prepared(statements.upsert_reminder, dialect)
        # A new user's first update (open_user).
        self.new_user = _Prepared(statements.new_user, dialect)
        self.new_project = _Prepared(_NEW_PROJECT, dialect)
        self.new_member = _Prepared(_NEW_MEMBER, dialect)
        self.set_current = _Prepared(_SET_CURRENT, dialect)
        self.new_conversation = _Prepared(_NEW_CONVERSATION, dialect)


class Storage(AdvisorStorage):
    """What the bot needs from a database, on an SQLAlchemy async engine: SQLite or PostgreSQL
    (both pass tests/test_storage_contract.py). Open it with bot.storage.factory.open_storage
    (or sqlite_storage, postgres_storage), await migrate(), and close() at the end."""

    def __init__(self, engine: Engine, *, threads: int) -> None:
        """Use engine, from `threads` worker threads (1 for a single shared connection)."""
        self.engine = engine
        self.dialect = engine.dialect.name
        self._sqlite = self.dialect == "sqlite"
        self._name = "SQLite" if self._sqlite else "PostgreSQL"
        # Both drivers leave transactions to us (SQLite: isolation_level None; psycopg:
        # autocommit). SQLite: a read begins with BEGIN (one snapshot for its statements), a
        # write with BEGIN IMMEDIATE (the write lock at once). PostgreSQL: a write begins with
        # BEGIN; a read begins nothing, so it costs no BEGIN and COMMIT round trips: each of
        # its statements reads what is committed when it starts, as in a READ COMMITTED
        # transaction (PostgreSQL's default, used here). Nor does a write of one statement
        # (`single`): in autocommit, PostgreSQL runs a statement as a transaction of its own.
        self._begin: dict[bool, str | None] = (
            {False: "BEGIN", True: "BEGIN IMMEDIATE"}
            if self._sqlite
            else {False: None, True: "BEGIN"}
        )
        self._sql = _dialect_statements(self.dialect)
        self._hot = _Hot(engine.dialect, self._sql)
        self._driver_error: Any = engine.dialect.loaded_dbapi.Error  # the driver's errors
        self._threads = _Workers(threads)
        # Each worker thread keeps its connection between transactions (no pool round trip).
        self._local = threading.local()
        self._held: list[Connection] = []  # every such connection, to close them all
        self._held_lock = threading.Lock()
        self._closed = False
        # conversation id -> (version, its current answers), for the conversations last loaded
        # or saved here: an update does not read (and decode) every answer given before it.
        self._answers: OrderedDict[int, tuple[int, dict[str, JSON]]] = OrderedDict()
        self._answers_lock = threading.Lock()
        # SQLite: this process's writing transactions take turns here rather than in SQLite's
        # busy handler, which sleeps 1, 2, 5, 10, 15, 20, 25... ms between tries (100 ms
        # once several writers queue): a writer waiting here starts as soon as the one before
        # it commits. Another process's writer still meets the busy timeout.
        self._writing = _Turn() if self._sqlite else None
        # SQLite (a file): the connection of the transactions run on the calling thread (see
        # _run), opened by the first that runs there, and that thread (the event loop's).
        self._at_once = self._sqlite and threads > 1  # ":memory:" has one connection only
        self._own: Connection | None = None
        self._own_thread: int | None = None
        # SQLite: writes since the write-ahead log was last copied back (see _written).
        self._writes = 0
        self._copying = False  # a worker thread has a checkpoint to run

    # Plumbing

    async def _run(
        self,
        work: Callable[[Connection], T],
        *,
        write: bool,
        long: bool = False,
        single: bool = False,
    ) -> T:
        """Run work(connection) in one transaction. Commit if it returns, roll back if it
        raises. `single`: a write of one statement that may run twice: PostgreSQL sends
        neither BEGIN nor COMMIT (in autocommit, the statement is a transaction of its own),
        so a connection lost meanwhile may have committed it before the call runs again.

        PostgreSQL, and a `long` transaction (a scan, a batch): in a worker thread, the event
        loop going on meanwhile. Otherwise, on SQLite, at once on the calling thread when
        nothing would make it wait: a read (in WAL mode, readers never wait for writers), or
        a write when this process has no other writer in its turn and SQLite grants the write
        lock at once (its connection does not wait: busy timeout 0). It then costs no thread
        hop: the wake-up of a sleeping worker thread, the hand-overs of the GIL around each of
        SQLite's calls and the event loop's wake-up when the thread is done, which cost more
        than the transaction itself. A transaction that would wait (another process's writer,
        a checkpoint) runs in a worker thread instead, as a long one does. Writes in a worker
        thread and reads here were measured against this: more CPU per update as shipped,
        over its target, for no better latency (docs/architecture.md).
        """
        if self._closed:
            raise StorageError("the storage is closed")
        while self._at_once and not long:
            ran, result = self._transaction_here(work, write, single)
            if ran is _RAN:
                if write:
                    self._written()
                return result  # type: ignore[return-value]  # ran: work's result
            if ran is not _TURN_TAKEN or self._writing is None:
                break  # it would wait: in a worker thread
            # A worker thread writes (a checkpoint, a long write): wait on the loop, not in
            # a thread that would then hold the turn, which the next writers would find taken.
            await self._writing.released()
        done = await self._threads.run(self._transaction, work, write, single)
        if write and self._sqlite:
            self._written()
        return done

    def _transaction_here(
        self, work: Callable[[Connection], T], write: bool, single: bool = False
    ) -> tuple[object, T | None]:
        """SQLite: run the transaction on this thread if nothing makes it wait: (_RAN, work's
        result); else (_TURN_TAKEN or _WOULD_WAIT, None), and nothing was written."""
        if self._own_thread not in (None, threading.get_ident()):
            return _WOULD_WAIT, None  # another thread's event loop: its connection is taken
        turn = self._writing if write else None
        if turn is not None and not turn.take_now():
            return _TURN_TAKEN, None  # another writer of this process is in its turn
        try:
            conn = self._own_connection()
            with conn.begin():
                self._begin_transaction(conn, write, single)
                result = work(conn)
            return _RAN, result
        except DBAPIError as exc:
            if exc.connection_invalidated:
                self._drop_own_connection()
                return _WOULD_WAIT, None  # a worker thread tries it on its connection
            if _sqlite_busy(exc):
                return _WOULD_WAIT, None  # a worker thread waits for the lock (busy timeout)
            raise StorageError(f"{self._name}: {exc.orig}") from exc
        except (SQLAlchemyError, OSError) as exc:
            raise StorageError(f"{self._name}: {exc}") from exc
        finally:
            if turn is not None:
                turn.release()

    def _own_connection(self) -> Connection:
        """The connection of the transactions run on the calling thread (see _run): it never
        waits for a lock."""
        conn = self._own
        if conn is None or conn.closed or conn.invalidated:
            conn = self._connect()
            try:
                _driver(conn).execute("PRAGMA busy_timeout = 0")
            except self._driver_error as exc:
                conn.close()
                raise StorageError(f"{self._name}: {exc}") from exc
            self._own, self._own_thread = conn, threading.get_ident()
            with self._held_lock:
                self._held.append(conn)
        return conn

    def _drop_own_connection(self) -> None:
        conn, self._own = self._own, None
        self._release(conn)

    def _written(self) -> None:
        """After a committed SQLite write: every CHECKPOINT_EVERY writes, a worker thread
        copies the write-ahead log back into the database (see _copy_back). SQLite's
        automatic checkpoint is off on the bot's connections: it would run inside the COMMIT
        that crosses its threshold, on the event loop (see _run), while it copies and syncs
        the database."""
        self._writes += 1
        if self._writes < CHECKPOINT_EVERY or self._copying:
            return
        self._writes = 0
        self._copying = True
        try:
            self._threads.submit(self._copy_back)  # not awaited: nobody waits for it
        except RuntimeError:  # closing (the threads are stopping): SQLite copies it at close
            self._copying = False

    def _copy_back(self) -> None:
        """A PASSIVE checkpoint (it waits for no reader), in its turn among this process's
        writers: none appends to the log meanwhile, so it copies all of it (but what a reader
        still reads), and the next write starts the log over from its beginning. SQLite does
        that only when a write begins with the whole log copied: a checkpoint that writes
        went on beside would leave the log growing for good."""
        try:
            with self._writing or _NO_TURN:
                conn = self._thread_connection()
                _driver(conn).execute("PRAGMA wal_checkpoint(PASSIVE)").close()
        except Exception as exc:
            # The log keeps every commit, and the next checkpoint copies it.
            logger.warning("SQLite: checkpoint of the write-ahead log failed: %s", exc)
        finally:
            self._copying = False

    def _transaction(
        self, work: Callable[[Connection], T], write: bool, single: bool = False
    ) -> T:
        """One transaction, run again once on a new connection if the connection turns out to
        be lost before COMMIT (the server rolled it back)."""
        for attempt in (1, 2):
            committing = False
            conn = self._thread_connection()
            turn: contextlib.AbstractContextManager[object] = _NO_TURN
            if write and self._writing is not None:
                turn = self._writing
            try:
                with turn, conn.begin():
                    self._begin_transaction(conn, write, single)
                    result = work(conn)
                    committing = True
                return result
            except DBAPIError as exc:
                lost = exc.connection_invalidated
                if lost:
                    self._drop_thread_connection()
                if lost and not committing and attempt == 1:
                    continue
                if lost and committing:
                    raise StorageError(
                        f"{self._name} connection lost during COMMIT, outcome unknown: {exc.orig}"
                    ) from exc
                raise StorageError(f"{self._name}: {exc.orig}") from exc
            except (SQLAlchemyError, OSError) as exc:
                raise StorageError(f"{self._name}: {exc}") from exc
        raise AssertionError("unreachable")  # pragma: no cover

    def _thread_connection(self) -> Connection:
        """This worker thread's connection, opened on its first transaction (or again after
        it was lost)."""
        conn: Connection | None = getattr(self._local, "conn", None)
        if conn is None or conn.closed or conn.invalidated:
            conn = self._connect()
            self._local.conn = conn
            with self._held_lock:
                self._held.append(conn)
        return conn

    def _drop_thread_connection(self) -> None:
        conn: Connection | None = getattr(self._local, "conn", None)
        self._local.conn = None
        self._release(conn)

    def _release(self, conn: Connection | None) -> None:
        """Forget a held connection (the loop's own or a worker thread's) and close it."""
        if conn is not None:
            with self._held_lock:
                self._held.remove(conn)
            with contextlib.suppress(SQLAlchemyError):
                conn.close()

    def _close_all(self) -> None:
        with self._held_lock:
            held, self._held = self._held, []
        for conn in held:
            with contextlib.suppress(SQLAlchemyError):
                conn.close()
        self.engine.dispose()

    def _connect(self) -> Connection:
        """A connection from the pool (a new one if the pool has none to give)."""
        try:
            return self.engine.connect()
        except (DBAPIError, OSError) as exc:
            reason = exc.orig if isinstance(exc, DBAPIError) else exc
            raise StorageError(f"cannot connect to {self._name}: {reason}") from exc

    def _execute(
        self, conn: Connection, prepared: _Prepared, params: dict[str, Any]
    ) -> list[list[Any]]:
        """Run a prepared statement in conn's transaction; its rows, converted."""
        cursor = _cursor(conn.connection, prepared)
        try:
            parameters = prepared.parameters(params)
            # Listeners of the engine's before_cursor_execute still see every statement (their
            # return value is not used).
            for listener in conn.dispatch.before_cursor_execute:
                listener(conn, cursor, prepared.sql, parameters, None, False)
            cursor.execute(prepared.sql, parameters)
            raw = cursor.fetchall() if prepared.returns_rows else []
        except self._driver_error as exc:
            raise self._driver_failure(conn, cursor, prepared.sql, params, exc) from exc
        return [prepared.row(row) for row in raw]

    def _begin_transaction(self, conn: Connection, write: bool, single: bool = False) -> None:
        """Send the BEGIN a transaction needs, if any (see __init__); engine listeners do not
        see it."""
        begin = None if single and not self._sqlite else self._begin[write]
        if begin is None:
            return
        cursor = _cursor(conn.connection, begin)
        try:
            cursor.execute(begin)
        except self._driver_error as exc:
            raise self._driver_failure(conn, cursor, begin, {}, exc) from exc

    def _driver_failure(
        self, conn: Connection, cursor: Any, sql: str, params: dict[str, Any], exc: Any
    ) -> Exception:
        """A driver's error as Connection.execute raises it: a lost connection is invalidated,
        and the error says so (_transaction then runs the work again on a new connection)."""
        dialect = self.engine.dialect
        lost = dialect.is_disconnect(exc, conn.connection.dbapi_connection, cursor)
        if lost:
            conn.invalidate(exc)
        return DBAPIError.instance(
            sql, params, exc, self._driver_error, connection_invalidated=lost, dialect=dialect
        )

    async def _read(self, work: Callable[[Connection], T], *, long: bool = False) -> T:
        return await self._run(work, write=False, long=long)

    async def _write(
        self, work: Callable[[Connection], T], *, long: bool = False, single: bool = False
    ) -> T:
        return await self._run(work, write=True, long=long, single=single)

    async def _one(self, statement: Any, params: dict[str, Any], make: Maker[T]) -> T | None:
        """The record of the row statement reads, if any."""

        def work(conn: Connection) -> T | None:
            row = conn.execute(statement, params).first()
            return None if row is None else make(row)

        return await self._read(work)

    async def _all(self, statement: Any, params: dict[str, Any], make: Maker[T]) -> list[T]:
        """The records of every row statement reads, in its order."""

        def work(conn: Connection) -> list[T]:
            return [make(row) for row in conn.execute(statement, params)]

        return await self._read(work)

    # Schema

    async def migrate(self) -> None:
        """Bring the schema to the latest migration (idempotent).

        When it is current, this costs one query. Otherwise, in one transaction (PostgreSQL:
        under an advisory lock, so replicas starting together migrate once: the others wait,
        then find it done), a database with no table at all is created from the tables at
        once, and any other runs the migrations it misses (Alembic).

        Raises:
            StorageError: a migration failed (it left nothing behind), or the database was
                migrated by a newer release.
        """
        if await self.schema_revision() == migrations.head():
            return

        def work(conn: Connection) -> None:
            if not self._sqlite:
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
                schema = (conn.execute(text("SELECT current_schema()"))).scalar()
                if schema is None:  # the search path names a schema not created yet
                    path = (conn.execute(text("SHOW search_path"))).scalar()
                    first = str(path).split(",")[0].strip().strip('"').replace('"', '""')
                    conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{first}"'))
            migrations.bring_to_head(conn)

        await self._write(work, long=True)

    async def schema_revision(self) -> str | None:
        """The migration the database is at; None for a database never migrated."""

        def work(conn: Connection) -> str | None:
            found = conn.execute(text("SELECT version_num FROM alembic_version"))
            return found.scalar()

        try:
            return await self._read(work)
        except StorageError as exc:
            if isinstance(exc.__cause__, DBAPIError) and "alembic_version" in str(exc):
                return None  # no such table yet: never migrated
            raise

    async def close(self) -> None:
        """Close every connection; later calls raise StorageError. Closing twice is harmless."""
        if self._closed:
            return
        self._closed = True

        def finish() -> None:
            # The transactions still running end first: a connection in use is never closed.
            self._threads.shutdown()
            self._close_all()

        await asyncio.to_thread(finish)

    # One update

    async def load(self, key: str, update_id: int | None = None) -> Snapshot:
        """The user with this key, their active conversation and its current answers, and
        whether update_id was processed before: one read, one transaction."""

        def work(conn: Connection) -> Snapshot:
            params = {"b_key": key, "b_update": update_id}
            found = self._execute(conn, self._hot.load, params)
            if not found:
                processed = self._execute(conn, self._hot.processed, params)
                return Snapshot(None, None, {}, bool(processed[0][0]))
            row = found[0]
            user = _user(row)
            width = len(users.c)
            project = None if row[width] is None else _project(row[width:])
            width += len(projects.c)
            if row[width] is None:
                return Snapshot(user, None, {}, bool(row[-1]), project)
            conversation = _conversation(row[width:])
            current = self._kept_answers(conversation.id, conversation.version)
            if current is None:
                current = self._read_answers(conn, conversation.id)
                self._keep_answers(conversation.id, conversation.version, current)
            owner_answers = None
            if project is not None and project.owner_id != user.id:
                owner_answers = _owner_answers(conn, project)
            return Snapshot(
                user, conversation, dict(current), bool(row[-1]), project, owner_answers
            )

        return await self._read(work)

    def _kept_answers(self, conversation_id: int, version: int) -> dict[str, JSON] | None:
        """The conversation's current answers as kept at this version, if they are."""
        with self._answers_lock:
            kept = self._answers.get(conversation_id)
            if kept is None or kept[0] != version:
                return None
            self._answers.move_to_end(conversation_id)
            return kept[1]

    def _keep_answers(self, conversation_id: int, version: int, current: dict[str, JSON]) -> None:
        """Keep the conversation's current answers at this version (never handed out: copied).

        Sound because every change of a conversation's answers bumps its version in the same
        transaction (save_step), and a version is never reused: answers kept at the version
        the database shows are the database's.
        """
        with self._answers_lock:
            self._answers[conversation_id] = (version, current)
            self._answers.move_to_end(conversation_id)
            while len(self._answers) > ANSWERS_KEPT:
                self._answers.popitem(last=False)

    def _advance_answers(
        self, conversation_id: int, version: int, writes: Sequence[tuple[str, str | None]]
    ) -> None:
        """After a committed save_step from version to version + 1: the kept answers too."""
        with self._answers_lock:
            kept = self._answers.pop(conversation_id, None)
        if kept is None or kept[0] != version:
            return
        current = dict(kept[1])
        for question_id, value in writes:
            current.pop(question_id, None)  # a new answer comes last, as in the database
            if value is not None:
                current[sys.intern(question_id)] = _kept_value(json.loads(value))
        self._keep_answers(conversation_id, version + 1, current)

    async def open_user(
        self, key: str, *, lang: str, tz: str, dialogue_id: str, state: dict[str, JSON]
    ) -> tuple[User, Project, Conversation, bool]:
        """The user with this key, their current project and their active conversation in it,
        in one transaction, creating the user (with lang and tz), a first project and a first
        conversation (with state) if missing.

        Returns:
            (user, project, conversation, True if the conversation was created here).
        """
        encoded = _json(state)

        def work(conn: Connection) -> tuple[User, Project, Conversation, bool]:
            new = self._new_user(conn, key, lang, tz, dialogue_id, encoded)
            if new is not None:
                return new
            user = self._user_or_new(conn, key, lang, tz)
            found = (conn.execute(_ACTIVE, {"uid": user.id})).first()
            if found is not None:
                conversation, fresh = _conversation(found), False
            else:
                conversation, fresh = self._start(conn, user.id, dialogue_id, encoded), True
            row = conn.execute(_PROJECT_BY_ID, {"pid": conversation.project_id}).one()
            user = _user(conn.execute(_USER_BY_ID, {"b_id": user.id}).one())
            return user, _project(row), conversation, fresh

        return await self._write(work)

    def _new_user(
        self, conn: Connection, key: str, lang: str, tz: str, dialogue_id: str, encoded: str
    ) -> tuple[User, Project, Conversation, bool] | None:
        """Create the user with this key, their first project and their first conversation;
        None, and nothing written, if the key is taken. A new user has nothing to look up or
        archive (no other transaction sees their row before this one commits): five
        statements, each on the prepared path."""
        hot, now = self._hot, _utc_now()
        params = {"b_key": key, "b_lang": lang, "b_tz": tz, "now": now}
        created = self._execute(conn, hot.new_user, params)
        if not created:
            return None
        user = _user(created[0])
        params = {"uid": user.id, "b_title": None, "now": now}
        project = _project(self._execute(conn, hot.new_project, params)[0])
        params = {"pid": project.id, "uid": user.id, "b_role": "owner", "now": now}
        self._execute(conn, hot.new_member, params)
        self._execute(conn, hot.set_current, params)
        params = {
            "uid": user.id,
            "pid": project.id,
            "b_dialogue": dialogue_id,
            "b_state": encoded,
            "now": now,
        }
        conversation = _conversation(self._execute(conn, hot.new_conversation, params)[0])
        user = dataclasses.replace(user, current_project_id=project.id)
        return user, project, conversation, True

    # Users

    async def get_user(self, key: str) -> User | None:
        return await self._one(_USER_BY_KEY, {"b_key": key}, _user)

    async def get_or_create_user(self, key: str, *, lang: str, tz: str) -> User:
        """Return the user with this key, creating it with lang and tz if new."""
        # Most updates come from known users: look before taking the write lock.
        user = await self.get_user(key)
        if user is not None:
            return user

        def work(conn: Connection) -> User:
            return self._user_or_new(conn, key, lang, tz)

        return await self._write(work)

    def _user_or_new(self, conn: Connection, key: str, lang: str, tz: str) -> User:
        row = (conn.execute(_USER_BY_KEY, {"b_key": key})).first()
        if row is None:
            params = {"b_key": key, "b_lang": lang, "b_tz": tz, "now": _utc_now()}
            row = (conn.execute(self._sql.new_user, params)).first()
        if row is None:  # another replica created it between our SELECT and INSERT
            row = (conn.execute(_USER_BY_KEY, {"b_key": key})).first()
        assert row is not None
        return _user(row)

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
        With nothing to change, the user as stored (a read: no write lock).

        Raises:
            StorageError: no user has this id.
            ValueError: blocked_at is naive, or given together with unblock=True.
        """
        if blocked_at is not None and unblock:
            raise ValueError("update_user: blocked_at and unblock are exclusive")
        if blocked_at is not None:
            check_aware(blocked_at)
        changes: dict[str, Any] = {}
        if lang is not None:
            changes["lang"] = lang
        if tz is not None:
            changes["tz"] = tz
        if blocked_at is not None or unblock:
            changes["blocked_at"] = blocked_at

        if not changes:  # nothing to change: a read, no write lock
            found = await self._one(_USER_BY_ID, {"b_id": user_id}, _user)
            if found is None:
                raise StorageError(f"no user with id {user_id}")
            return found

        def work(conn: Connection) -> User:
            statement = (
                update(users).where(users.c.id == user_id).values(**changes).returning(*users.c)
            )
            row = (conn.execute(statement)).first()
            if row is None:
                raise StorageError(f"no user with id {user_id}")
            return _user(row)

        return await self._write(work)

    async def delete_user(self, user_id: int) -> None:
        """Erase the user and everything of theirs (conversations, answers, history, updates,
        reminders).

        An unknown id is not an error: erasing twice leaves the same result. Ids are never
        reused, so the user's key may come back later as a new user with a new id.
        """

        def work(conn: Connection) -> None:
            # The projects they joined as a partner show that the partner left.
            conn.execute(_PARTNER_LEFT, {"uid": user_id, "now": _utc_now()})
            # Their projects, conversations, answers, memberships, comments, processed updates
            # and reminders go with it (CASCADE); invitations they used forget who used them.
            conn.execute(_DELETE_USER, {"uid": user_id})

        await self._write(work, long=True)
        # Erased from the files too: secure_delete zeroes the freed space, and the write-ahead
        # log, which still holds the rows' earlier pages, is copied back and emptied. Outside
        # any transaction, or the checkpoint could not complete.
        await self._checkpoint()

    async def _run_outside_transaction(self, work: Callable[[Connection], None]) -> None:
        def run() -> None:
            try:
                conn = self._thread_connection()
                # no BEGIN sent: SQLite runs it on its own, after this process's writers
                with self._writing or _NO_TURN, conn.begin():
                    work(conn)
            except (SQLAlchemyError, OSError) as exc:
                raise StorageError(f"{self._name}: {exc}") from exc

        await self._threads.run(run)

    # Conversations

    async def active_conversation(self, user_id: int) -> Conversation | None:
        return await self._one(_ACTIVE, {"uid": user_id}, _conversation)

    async def start_conversation(
        self, user_id: int, dialogue_id: str, state: JSONObject, *, update_id: int | None = None
    ) -> Conversation:
        """Create a new active conversation (version 1); any earlier active one becomes
        inactive (archived), and its version is bumped so a step still in flight on it fails
        with StaleConversation. update_id, if given, is recorded as processed in the same
        transaction.

        Raises:
            StorageError: no user has this id.
            DuplicateUpdate: update_id was already processed (nothing is written).
        """
        encoded = _json(state)

        def work(conn: Connection) -> Conversation:
            if update_id is not None:
                self._record(conn, update_id, user_id)
            return self._start(conn, user_id, dialogue_id, encoded)

        return await self._write(work)

    def _start(
        self, conn: Connection, user_id: int, dialogue_id: str, encoded: str
    ) -> Conversation:
        """A new active conversation in the user's current project (a new project, theirs,
        if they have none), archiving the active one there."""
        found = conn.execute(_LOCK_USER, {"uid": user_id}).first()
        if found is None:
            raise StorageError(f"no user with id {user_id}")
        now = _utc_now()
        project_id = found[1]
        if project_id is None:
            project_id = _new_project(conn, user_id, None, now).id
        return _start_in(conn, user_id, project_id, dialogue_id, encoded, now)

    async def conversations(self, user_id: int) -> list[Conversation]:
        """All of the user's conversations, oldest first."""

        return await self._all(_CONVERSATIONS, {"uid": user_id}, _conversation)

    async def current_answers(self, conversation_id: int) -> dict[str, JSON]:
        """question_id -> value of the answers not superseded, in the order they were given."""

        def work(conn: Connection) -> dict[str, JSON]:
            return self._read_answers(conn, conversation_id)

        return await self._read(work)

    async def answer_history(self, conversation_id: int) -> list[Answer]:
        """Every answer ever recorded, superseded ones included, in the order given."""
        return await self._all(_HISTORY, {"cid": conversation_id}, _answer)

    async def save_step(
        self,
        conversation_id: int,
        *,
        expected_version: int,
        state: dict[str, JSON],
        answers: Sequence[AnswerWrite] = (),
        update_id: int | None = None,
        finished: bool = False,
        reminders: Sequence[ReminderChange] = (),
    ) -> int:
        """In ONE transaction: record answers (superseding earlier values of the same questions),
        store the new state, mark update_id processed, and apply the reminder changes to the
        conversation's user's reminders (new ones about this conversation, as add_reminder does;
        moves, closes and cancels as reschedule, set_reminder_status and cancel_reminders do);
        return the new version.

        finished=True sets finished_at if it is not set yet (the conversation stays active);
        finished=False leaves it as it is. update_id is recorded with the conversation's user,
        so delete_user erases it too.

        Raises StaleConversation if the version moved or the conversation no longer exists,
        DuplicateUpdate if update_id was already processed (checked first); in both cases
        nothing is written. TypeError if state or a value is not JSON-serialisable (before
        anything is written).
        """
        # Encode and check first: a bad value fails before anything is written.
        encoded_state = _json(state)
        writes = [
            (answer.question_id, None if answer.value is None else _json(answer.value))
            for answer in answers
        ]
        changes = list(reminders)
        planned = {
            id(change): self._reminder_params(change)
            for change in changes
            if isinstance(change, NewReminder)
        }
        for change in changes:
            if isinstance(change, ChangeReminder):
                _check_change(change)
        now = _utc_now()
        hot = self._hot
        # The conversation's current answers at expected_version, when kept: a question among
        # them has an answer to supersede, another has none (sound once the state is saved at
        # that version, in this transaction), and its first answer costs no UPDATE.
        kept = self._kept_answers(conversation_id, expected_version)
        answered = None if kept is None else set(kept)

        def work(conn: Connection) -> int:
            if update_id is not None:
                # First: a replica processing the same update concurrently waits on the
                # primary key here, then sees the conflict, instead of reporting a stale version.
                params = {"b_update": update_id, "cid": conversation_id, "now": now}
                if not self._execute(conn, hot.record_step_update, params):
                    raise DuplicateUpdate(f"update {update_id} was already processed")
            statement = hot.save_state_finished if finished else hot.save_state
            params = {
                "cid": conversation_id,
                "expected": expected_version,
                "b_state": encoded_state,
                "now": now,
            }
            saved = self._execute(conn, statement, params)
            if not saved:
                raise _stale(conn, conversation_id, expected_version)
            owner, project_id = saved[0]
            current = None if answered is None else set(answered)
            for question_id, value in writes:
                params = {"cid": conversation_id, "b_question": question_id, "now": now}
                if current is None or question_id in current:
                    self._execute(conn, hot.supersede, params)
                if value is not None:
                    self._execute(conn, hot.insert_answer, {**params, "value": value})
                if current is not None and value is not None:
                    current.add(question_id)
                elif current is not None:
                    current.discard(question_id)
            for change in changes:
                if isinstance(change, NewReminder):
                    params = {**planned[id(change)], "uid": owner, "cid": conversation_id}
                    params.update(pid=project_id, now=now)
                    self._execute(conn, hot.upsert_reminder, params)
                elif isinstance(change, ChangeReminder):
                    self._change(conn, owner, change)
                else:
                    _cancel(conn, owner, check_kinds(change.kinds), project_id)
            return expected_version + 1

        version = await self._write(work)
        self._advance_answers(conversation_id, expected_version, writes)
        return version

    async def mark_processed(self, update_id: int, user_id: int | None = None) -> bool:
        """Record an update that changed nothing; False if it was already recorded.

        Give user_id when the update came from a known user, so delete_user erases it too.
        """
        (recorded,) = await self.mark_processed_many([(update_id, user_id)])
        return recorded

    async def mark_processed_many(self, records: Sequence[tuple[int, int | None]]) -> list[bool]:
        """Record several updates that changed nothing, in one transaction (one sync to disk
        on SQLite); for each, False if it was already recorded. (update id, user id) pairs,
        the user id as for mark_processed. A user id of nobody fails the whole transaction:
        record each alone then."""

        def work(conn: Connection) -> list[bool]:
            return [self._recorded(conn, update_id, user_id) for update_id, user_id in records]

        # Run again on a new connection, a record committed by the first run reads False. One
        # record is one statement: on PostgreSQL, without BEGIN and COMMIT (see _run).
        return await self._write(work, single=len(records) == 1)

    def _record(self, conn: Connection, update_id: int, user_id: int | None) -> None:
        if not self._recorded(conn, update_id, user_id):
            raise DuplicateUpdate(f"update {update_id} was already processed")

    def _recorded(self, conn: Connection, update_id: int, user_id: int | None) -> bool:
        """Record the update as processed; False if it already was."""
        params = {"b_update": update_id, "uid": user_id, "now": _utc_now()}
        return bool(self._execute(conn, self._hot.record_update, params))

    def _read_answers(self, conn: Connection, conversation_id: int) -> dict[str, JSON]:
        rows = self._execute(conn, self._hot.current_answers, {"cid": conversation_id})
        return {sys.intern(question): _kept_value(json.loads(value)) for question, value in rows}

    async def prune_processed(self, before: datetime) -> int:
        """Forget updates processed before `before`, PRUNE_BATCH of them at most, in one
        transaction; return how many were forgotten (PRUNE_BATCH: more may be left)."""
        check_aware(before)
        params = {"before": before, "batch": PRUNE_BATCH}

        def work(conn: Connection) -> int:
            return (conn.execute(_PRUNE, params)).rowcount

        return await self._write(work, long=True)

    # Projects
    #
    # A user sees only the projects they are a member of: a project id from elsewhere reads
    # as absent. Only a project's owner renames, deletes or invites into it.

    async def project(self, project_id: int, *, user_id: int) -> Project | None:
        """The project, if the user is one of its members."""
        params = {"pid": project_id, "uid": user_id}
        return await self._one(_MEMBER_PROJECT, params, _project)

    async def user_projects(self, user_id: int) -> list[ProjectView]:
        """Every project the user is a member of, oldest first, with their active walk in it
        and its current answers: one transaction."""

        def work(conn: Connection) -> list[ProjectView]:
            width = len(projects.c)
            views = []
            for row in conn.execute(_USER_PROJECTS, {"uid": user_id}):
                project = _project(row)
                role = row[width]
                current = bool(row[width + 1])
                conversation = None
                found = row[width + 2 :]
                if found[0] is not None:
                    conversation = _conversation(found)
                answers = {} if conversation is None else _current_answers(conn, conversation.id)
                views.append(ProjectView(project, role, conversation, answers, current))
            return views

        return await self._read(work)

    async def new_project(
        self,
        user_id: int,
        *,
        title: str | None,
        dialogue_id: str,
        state: JSONObject,
        update_id: int | None = None,
    ) -> tuple[Project, Conversation]:
        """Start a project of the user's (its owner) with a first walk (state), and make it
        their current one; update_id, if given, is recorded as processed in the same
        transaction.

        Raises:
            StorageError: no user has this id.
            DuplicateUpdate: update_id was already processed (nothing is written).
        """
        encoded = _json(state)

        def work(conn: Connection) -> tuple[Project, Conversation]:
            if update_id is not None:
                self._record(conn, update_id, user_id)
            if conn.execute(_LOCK_USER, {"uid": user_id}).first() is None:
                raise StorageError(f"no user with id {user_id}")
            now = _utc_now()
            project = _new_project(conn, user_id, _title(title), now)
            started = _start_in(conn, user_id, project.id, dialogue_id, encoded, now)
            return project, started

        return await self._write(work)

    async def switch_project(
        self, user_id: int, project_id: int, *, update_id: int | None = None
    ) -> Project | None:
        """Make the project the user's current one; None (nothing changed) if they are not a
        member of it. update_id, if given, is recorded as processed in the same transaction.

        Raises:
            DuplicateUpdate: update_id was already processed (nothing is written).
        """

        def work(conn: Connection) -> Project | None:
            if update_id is not None:
                self._record(conn, update_id, user_id)
            params = {"pid": project_id, "uid": user_id}
            row = conn.execute(_MEMBER_PROJECT, params).first()
            if row is None:
                return None
            conn.execute(_SET_CURRENT, params)
            return _project(row)

        return await self._write(work)

    async def rename_project(self, user_id: int, project_id: int, title: str | None) -> bool:
        """Give the user's own project a title (None: untitled); False if it is not theirs."""
        params = {"pid": project_id, "uid": user_id, "b_title": _title(title), "now": _utc_now()}

        def work(conn: Connection) -> bool:
            return conn.execute(_RENAME_PROJECT, params).rowcount == 1

        return await self._write(work)

    async def delete_project(self, user_id: int, project_id: int) -> bool:
        """Erase the user's own project and everything in it (both sides' walks and answers,
        invitations, comments, reminders); their current project becomes the latest of the
        others (None if none is left). False, erasing nothing, if it is not theirs."""

        def work(conn: Connection) -> bool:
            params = {"pid": project_id, "uid": user_id}
            if conn.execute(_DELETE_PROJECT, params).rowcount != 1:
                return False
            conn.execute(_CURRENT_TO_LATEST, params)
            return True

        return await self._erase(work)

    async def leave_project(self, user_id: int, project_id: int) -> bool:
        """The partner erases their part of a project: their walks and answers, comments and
        reminders in it, their membership; the project records that the partner left. False,
        changing nothing, if the user is not the project's partner."""

        def work(conn: Connection) -> bool:
            params = {"pid": project_id, "uid": user_id, "now": _utc_now()}
            if conn.execute(_LEAVE, params).rowcount != 1:
                return False
            for statement in _LEAVE_DATA:
                conn.execute(statement, params)
            return True

        return await self._erase(work)

    async def project_sides(self, project_id: int) -> list[Side]:
        """The project's members, owner first, each with their active walk and its current
        answers: one transaction. For the bot's own use (the divergence report, telling the
        other side): it checks no access."""

        def work(conn: Connection) -> list[Side]:
            sides = []
            member_width, user_width = len(project_members.c), len(users.c)
            for row in conn.execute(_SIDES, {"pid": project_id}):
                member = Member(row[0], row[1], row[2], row[3])
                user = _user(row[member_width:])
                found = row[member_width + user_width :]
                conversation = None if found[0] is None else _conversation(found)
                answers = {} if conversation is None else _current_answers(conn, conversation.id)
                sides.append(Side(member, user, conversation, answers))
            return sides

        return await self._read(work)

    # Invitations

    async def create_invitation(
        self, project_id: int, *, user_id: int, token_hash: str, expires_at: datetime
    ) -> Invitation | None:
        """A new invitation into the user's own project, identified by the hash of its token
        (see base.hash_token); the project's invitations still open are revoked (one link at a
        time). None, writing nothing, if the project is not the user's.

        Raises:
            ValueError: expires_at is naive, or token_hash is empty.
        """
        check_aware(expires_at)
        if not token_hash:
            raise ValueError("an invitation needs its token's hash")

        def work(conn: Connection) -> Invitation | None:
            now = _utc_now()
            params = {"pid": project_id, "uid": user_id, "now": now}
            if conn.execute(_OWN_PROJECT, params).first() is None:
                return None
            conn.execute(_REVOKE_OPEN, params)
            params.update(b_hash=token_hash, expires=expires_at)
            return _invitation(conn.execute(_NEW_INVITATION, params).one())

        return await self._write(work)

    async def invitations(self, project_id: int, *, user_id: int) -> list[Invitation]:
        """The invitations into the user's own project, oldest first (none if not theirs)."""
        params = {"pid": project_id, "uid": user_id}
        return await self._all(_INVITATIONS, params, _invitation)

    async def revoke_invitations(self, project_id: int, *, user_id: int) -> int:
        """Revoke the open invitations into the user's own project; return how many."""

        def work(conn: Connection) -> int:
            params = {"pid": project_id, "uid": user_id, "now": _utc_now()}
            if conn.execute(_OWN_PROJECT, params).first() is None:
                return 0
            return conn.execute(_REVOKE_OPEN, params).rowcount

        return await self._write(work)

    async def find_invitation(self, token_hash: str) -> Invitation | None:
        """The invitation with this token hash, whatever its state."""
        return await self._one(_INVITATION_BY_HASH, {"b_hash": token_hash}, _invitation)

    async def accept_invitation(
        self,
        token_hash: str,
        *,
        user_id: int,
        now: datetime,
        dialogue_id: str,
        state: JSONObject,
    ) -> Joined:
        """The user joins the invitation's project as its partner, in one transaction: the
        invitation is used, the user becomes a member, a walk of theirs starts in the project
        (state) and it becomes their current project.

        Nothing changes unless the invitation is open at `now` (not used, not revoked, not
        expired), the user is not the project's owner and the project has no partner yet;
        Joined.status says which ("unknown" for a hash no invitation has).

        Raises:
            ValueError: now is naive.
            StorageError: no user has this id.
        """
        check_aware(now)
        encoded = _json(state)

        def work(conn: Connection) -> Joined:
            found = self._usable(conn, token_hash, user_id, now)
            if isinstance(found, Joined):
                return found
            invitation, project = found
            written = _utc_now()
            params = {"b_id": invitation.id, "uid": user_id, "now": written}
            used = _invitation(conn.execute(_USE_INVITATION, params).one())
            member = {"pid": project.id, "uid": user_id, "b_role": "partner", "now": written}
            conn.execute(_NEW_MEMBER, member)
            conn.execute(_PARTNER_BACK, member)
            walk = _start_in(conn, user_id, project.id, dialogue_id, encoded, written)
            conn.execute(_SET_CURRENT, member)
            return Joined("ok", used, project, walk)

        return await self._write(work)

    async def decline_invitation(self, token_hash: str, *, user_id: int, now: datetime) -> Joined:
        """The user declines the invitation: it is used (declined_at set) and can serve no
        more. Same checks as accept_invitation; status "ok" when declined here."""
        check_aware(now)

        def work(conn: Connection) -> Joined:
            found = self._usable(conn, token_hash, user_id, now)
            if isinstance(found, Joined):
                return found
            invitation, project = found
            params = {"b_id": invitation.id, "uid": user_id, "now": _utc_now()}
            declined = _invitation(conn.execute(_DECLINE_INVITATION, params).one())
            return Joined("ok", declined, project)

        return await self._write(work)

    def _usable(
        self, conn: Connection, token_hash: str, user_id: int, now: datetime
    ) -> tuple[Invitation, Project] | Joined:
        """The invitation and its project, locked, if user_id may use it at now; otherwise
        why not."""
        if conn.execute(_LOCK_USER, {"uid": user_id}).first() is None:
            raise StorageError(f"no user with id {user_id}")
        row = conn.execute(_INVITATION_LOCKED, {"b_hash": token_hash}).first()
        if row is None:
            return Joined("unknown")
        invitation = _invitation(row)
        status: InvitationStatus = "ok"
        if invitation.revoked_at is not None:
            status = "revoked"
        elif invitation.used_at is not None:
            status = "used"
        elif now >= invitation.expires_at:
            status = "expired"
        if status != "ok":
            return Joined(status, invitation)
        project_row = conn.execute(_PROJECT_LOCKED, {"pid": invitation.project_id}).one()
        project = _project(project_row)
        if project.owner_id == user_id:
            return Joined("own", invitation)
        if conn.execute(_HAS_PARTNER, {"pid": project.id}).first() is not None:
            return Joined("taken", invitation)
        return invitation, project

    # Comments on the gaps

    async def set_gap_comment(
        self, project_id: int, *, user_id: int, dimension: str, body: str
    ) -> GapComment | None:
        """The user's comment on one gap of the project (replacing their earlier one on it);
        None, writing nothing, if they are not a member of the project.

        Raises:
            ValueError: dimension or body is empty.
        """
        if not dimension or not body.strip():
            raise ValueError("a comment needs a dimension and a text")

        def work(conn: Connection) -> GapComment | None:
            params: dict[str, Any] = {"pid": project_id, "uid": user_id}
            if conn.execute(_MEMBER_PROJECT, params).first() is None:
                return None
            params.update(b_dimension=dimension, b_body=body.strip(), now=_utc_now())
            return _gap_comment(conn.execute(self._sql.upsert_comment, params).one())

        return await self._write(work)

    async def gap_comments(self, project_id: int) -> list[GapComment]:
        """The project's comments, in the order they were first written (for the bot's own
        use: it checks no access)."""
        return await self._all(_GAP_COMMENTS, {"pid": project_id}, _gap_comment)

    async def _erase(self, work: Callable[[Connection], bool]) -> bool:
        """Run an erasing write; when it erased something, checkpoint (see _checkpoint)."""
        erased = await self._write(work)
        if erased:
            await self._checkpoint()
        return erased

    async def _checkpoint(self) -> None:
        """SQLite: erased rows leave the write-ahead log too (see delete_user)."""
        if self._sqlite:

            def checkpoint(conn: Connection) -> None:
                conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")

            await self._run_outside_transaction(checkpoint)

    # Reminders
    #
    # The user-facing methods take the user's id and touch only that user's reminders: a
    # reminder id from another user reads as absent. The dispatcher's methods (claim_due,
    # mark_sent, retry_later, mark_failed) act only while the caller still holds the claim.

    def _reminder_params(self, plan: NewReminder) -> dict[str, Any]:
        check_reminder_key(plan.kind, plan.ref)
        check_aware(plan.due_at)
        return {
            "b_kind": plan.kind,
            "b_ref": plan.ref,
            "due": plan.due_at,
            "b_payload": _json(dict(plan.payload)),
        }

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
        plan = self._reminder_params(NewReminder(kind, ref, due_at, payload or {}))

        def work(conn: Connection) -> Reminder:
            found = conn.execute(_CURRENT_PROJECT, {"uid": user_id}).first()
            if found is None:
                raise StorageError(f"no user with id {user_id}")
            project_id = found[0]
            if conversation_id is not None:
                owner = (conn.execute(_CONVERSATION_OWNER, {"cid": conversation_id})).first()
                if owner is None or owner[0] != user_id:
                    raise StorageError(f"user {user_id} has no conversation {conversation_id}")
                project_id = owner[1]
            params = {**plan, "uid": user_id, "cid": conversation_id, "now": _utc_now()}
            params["pid"] = project_id
            return _reminder((conn.execute(self._sql.upsert_reminder, params)).one())

        return await self._write(work)

    async def get_reminder(self, reminder_id: int, *, user_id: int) -> Reminder | None:
        """The user's reminder with this id; None if there is none or it is someone else's."""

        params = {"b_id": reminder_id, "uid": user_id}
        return await self._one(_OWN_REMINDER, params, _reminder)

    async def pending_reminders(self, user_id: int) -> list[Reminder]:
        """The user's pending reminders, soonest first (then by id)."""

        return await self._all(_PENDING_OF_USER, {"uid": user_id}, _reminder)

    async def user_reminders(self, user_id: int) -> list[Reminder]:
        """Every reminder of the user, whatever its status, soonest first (then by id)."""

        return await self._all(_REMINDERS_OF_USER, {"uid": user_id}, _reminder)

    async def all_pending(self, limit: int = 1000) -> list[tuple[Reminder, User]]:
        """Every user's pending reminders with their user, soonest first, at most limit
        (for operators); blocked users' reminders included."""
        check_limit(limit)

        def work(conn: Connection) -> list[tuple[Reminder, User]]:
            width = len(reminders.c)
            rows = conn.execute(_ALL_PENDING, {"limit": limit})
            return [(_reminder(row), _user(row[width:])) for row in rows]

        return await self._read(work, long=True)

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
        check_aware(due_at)
        move = ChangeReminder(reminder_id, due_at=due_at)
        return await self._write(lambda conn: self._change(conn, user_id, move))

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
        check_closing_status(status)
        close = ChangeReminder(reminder_id, status=status)
        return await self._write(lambda conn: self._change(conn, user_id, close))

    def _change(self, conn: Connection, user_id: int, change: ChangeReminder) -> Reminder | None:
        """Move (due_at) or close (status) the user's reminder, unless it is closed already."""
        current = self._own_reminder(conn, change.reminder_id, user_id)
        if current is None or current.status in CLOSED_STATUSES:
            return current
        now = _utc_now()
        params: dict[str, Any]
        if change.status is not None:
            params = {"b_id": current.id, "b_status": change.status, "now": now}
            return _reminder(conn.execute(_CLOSE, params).one())
        if current.status != "pending":
            # It becomes pending again: it replaces a pending twin, as add_reminder would.
            params = {"uid": user_id, "b_kind": current.kind, "b_ref": current.ref, "now": now}
            conn.execute(_CANCEL_TWIN, {**params, "pid": current.project_id})
        params = {"b_id": current.id, "due": change.due_at, "now": now}
        return _reminder(conn.execute(_RESCHEDULE, params).one())

    def _own_reminder(self, conn: Connection, reminder_id: int, user_id: int) -> Reminder | None:
        params = {"b_id": reminder_id, "uid": user_id}
        row = conn.execute(_OWN_REMINDER_LOCKED, params).first()
        return None if row is None else _reminder(row)

    async def cancel_reminders(
        self, user_id: int, *, kinds: Sequence[str] | None = None, project_id: int | None = None
    ) -> int:
        """Cancel the user's pending reminders (only those of these kinds, if given; only those
        of this project, if given), releasing their claims; return how many were cancelled."""
        chosen = check_kinds(kinds)
        if chosen == []:
            return 0
        return await self._write(lambda conn: _cancel(conn, user_id, chosen, project_id))

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
        check_claim(now, worker, lease, limit)
        params: dict[str, Any] = {"due_now": now, "worker": worker, "users": limit}

        def work(conn: Connection) -> list[Reminder]:
            chosen = [row[0] for row in conn.execute(_CLAIM_USERS, params)]
            if not chosen:
                return []
            rows = list(conn.execute(_CLAIM_REMINDERS, {**params, "locked": chosen}))
            # FOR UPDATE may return a row changed meanwhile out of order: sort again.
            rows.sort(key=lambda row: (row[2], row[0]))
            ids = whole_users([(row[0], row[1]) for row in rows], limit)
            if not ids:
                return []
            claim = {"ids": ids, "worker": worker, "until": now + lease, "now": _utc_now()}
            claimed = [_reminder(row) for row in conn.execute(_CLAIM, claim)]
            claimed.sort(key=lambda reminder: (reminder.due_at, reminder.id))
            return claimed

        return await self._write(work, long=True)

    async def mark_sent(self, reminder_id: int, *, worker: str) -> bool:
        """Record that worker sent the reminder: status "sent", sent_at now, claim released.

        Returns:
            False, changing nothing, if worker no longer holds the claim (another worker took
            over after the lease ran out, or the user moved, closed or cancelled it meanwhile).
            A worker whose lease ran out but that nobody replaced still holds the claim.
        """
        return await self._if_claimed(_MARK_SENT, reminder_id, worker, {})

    async def retry_later(self, reminder_id: int, *, worker: str, due_at: datetime) -> bool:
        """Give the reminder back after a failed attempt: attempts + 1, due at due_at, claim
        released, still pending. False, changing nothing, if worker no longer holds the claim.

        Raises:
            ValueError: due_at is naive.
        """
        check_aware(due_at)
        return await self._if_claimed(_RETRY_LATER, reminder_id, worker, {"due": due_at})

    async def mark_failed(self, reminder_id: int, *, worker: str) -> bool:
        """Give up on the reminder: status "failed", attempts + 1, claim released. False,
        changing nothing, if worker no longer holds the claim."""
        return await self._if_claimed(_MARK_FAILED, reminder_id, worker, {})

    async def _if_claimed(
        self, statement: Any, reminder_id: int, worker: str, values: dict[str, Any]
    ) -> bool:
        """Apply statement (which releases the claim) if worker holds the claim; True if so."""
        params = {**values, "b_id": reminder_id, "worker": worker, "now": _utc_now()}

        def work(conn: Connection) -> bool:
            return (conn.execute(statement, params)).rowcount == 1

        return await self._write(work)


# Opening


def sqlite_storage(
    path: str | os.PathLike[str],
    *,
    busy_timeout: float = 5.0,
    synchronous: Literal["FULL", "NORMAL"] = "FULL",
    threads: int = 4,
) -> Storage:
    """The storage in one SQLite file (or ":memory:", private to this storage).

    A new file and its parent directories are created readable by their owner only (0600 and
    0700): the database holds personal data. An existing file keeps its mode.

    Args:
        busy_timeout: seconds to wait for another process's write lock before failing.
        threads: worker threads, each with its connection (at most that many calls at once).
        synchronous: "FULL" syncs every commit to disk, so a commit survives even a power cut;
            "NORMAL" syncs at checkpoints only, and a commit still survives a crash of the
            process (not of the machine).

    Raises:
        StorageError: the file or its folder cannot be created.
    """
    where = str(path)
    memory = where == MEMORY
    if not memory:
        try:
            file = Path(where)
            file.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            # Create the file before SQLite does, so it never exists with a wider mode;
            # SQLite gives its -wal and -shm files the same mode as the database.
            os.close(os.open(file, os.O_RDWR | os.O_CREAT, 0o600))
        except OSError as exc:
            raise StorageError(f"cannot open SQLite database {where}: {exc}") from exc
    url = URL.create("sqlite+pysqlite", database=where)
    # Connections move between the worker threads (one at a time each).
    connect_args = {"timeout": busy_timeout, "check_same_thread": False}
    if memory:  # one connection, one thread: the database lives in that connection
        engine = create_engine(url, connect_args=connect_args, poolclass=StaticPool)
    else:
        # The worker threads' connections, and the event loop's (see Storage._run).
        engine = create_engine(
            url, connect_args=connect_args, pool_size=threads + 1, max_overflow=0
        )
    pragmas = (
        "PRAGMA foreign_keys = ON",
        "PRAGMA secure_delete = ON",  # erased rows leave no trace
        f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}",
        f"PRAGMA synchronous = {synchronous}",
        "PRAGMA wal_autocheckpoint = 0",  # checkpoints run in a worker thread (Storage._written)
        # SQLite's page cache, per connection (the loop's and each worker thread's): at most
        # 512 KiB rather than 2 MiB. An update's transactions touch a few dozen pages, and a
        # page left out is read again from the operating system's file cache.
        f"PRAGMA cache_size = -{PAGE_CACHE_KIB}",
    )

    @event.listens_for(engine, "connect")
    def setup(connection: Any, _record: Any) -> None:
        connection.isolation_level = None  # transactions are begun by Storage._transaction
        cursor = connection.cursor()
        try:
            journal = _write_ahead_log(cursor, busy_timeout)
            if not memory and journal != "wal":
                raise StorageError(f"{where}: cannot switch to WAL (mode is {journal})")
            for pragma in pragmas:
                cursor.execute(pragma)
        finally:
            cursor.close()

    return Storage(engine, threads=1 if memory else threads)


def _write_ahead_log(cursor: Any, busy_timeout: float) -> str:
    """Put the database in WAL mode (kept in the file: done once per file) and return the mode.

    Switching needs the file to itself, and SQLite refuses at once, without waiting, while
    another connection holds a write lock (another replica creating the schema of a new file):
    so it is tried again, for as long as a lock is waited for elsewhere.
    """
    deadline = time.monotonic() + busy_timeout
    pause = 0.005
    while True:
        try:
            cursor.execute("PRAGMA journal_mode")
            mode = str(cursor.fetchone()[0])
            if mode == "wal":
                return mode
            cursor.execute("PRAGMA journal_mode = WAL")
            return str(cursor.fetchone()[0])
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
        time.sleep(pause)
        pause = min(pause * 2, 0.1)


def postgres_storage(
    conninfo: str, *, schema: str | None = None, connect_timeout: int = 5, threads: int = 5
) -> Storage:
    """The storage in a PostgreSQL database (optionally in one schema of it).

    Its connections are in autocommit: the storage sends BEGIN for the transactions that write
    (reads need none, see Storage); code that uses its engine directly begins its own.

    Args:
        conninfo: a libpq URL or key=value string, handed to libpq as it is, e.g.
            "postgresql://bot@db.example:5432/alliance"; its parameters work, such as
            options=-csearch_path%3Dname.
        schema: keep every table in this schema (created by migrate() if missing) by setting
            each connection's search_path to it; None uses the server's default.
        connect_timeout: seconds to wait for the server, unless conninfo sets it.
        threads: worker threads, each with its connection (at most that many calls at once).

    Raises:
        ConfigError: conninfo cannot be parsed.
    """
    import psycopg  # here: a SQLite bot never loads it
    from psycopg import sql
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    try:
        params = conninfo_to_dict(conninfo)
    except psycopg.Error as exc:
        raise ConfigError(f"invalid PostgreSQL URL: {exc}") from exc
    params.setdefault("connect_timeout", connect_timeout)
    target = make_conninfo("", **params)

    def connect() -> psycopg.Connection[Any]:
        # Autocommit: Storage._transaction begins the transactions that write (see there).
        connection = psycopg.connect(target, autocommit=True)
        if schema is not None:
            connection.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(schema)))
        return connection

    engine = create_engine("postgresql+psycopg://", creator=connect, pool_size=threads)
    return Storage(engine, threads=threads)


def _driver(conn: Connection) -> Any:
    """The driver's connection under conn: what it runs is not part of conn's transactions."""
    return conn.connection.driver_connection


def _sqlite_busy(exc: DBAPIError) -> bool:
    """Whether SQLite refused because another connection holds a lock (it did not wait)."""
    code = getattr(exc.orig, "sqlite_errorcode", None)
    return isinstance(code, int) and code & 0xFF in _SQLITE_BUSY


def _check_change(change: ChangeReminder) -> None:
    """Raise ValueError unless change moves to an aware time or closes with a closing status."""
    if (change.due_at is None) == (change.status is None):
        raise ValueError("a reminder change either moves (due_at) or closes (status)")
    if change.due_at is not None:
        check_aware(change.due_at)
    else:
        check_closing_status(str(change.status))


def _cancel(
    conn: Connection, user_id: int, kinds: list[str] | None, project_id: int | None = None
) -> int:
    """Cancel the user's pending reminders (of these kinds; of this project)."""
    params = {"uid": user_id, "now": _utc_now(), "kinds": kinds, "pid": project_id}
    if project_id is None:
        statement = _CANCEL_PENDING if kinds is None else _CANCEL_KINDS
    else:
        statement = _CANCEL_PENDING_OF_PROJECT if kinds is None else _CANCEL_KINDS_OF_PROJECT
    return conn.execute(statement, params).rowcount


def _title(title: str | None) -> str | None:
    """A project title as stored: trimmed, None when empty."""
    if title is None:
        return None
    return title.strip() or None


def _new_project(conn: Connection, user_id: int, title: str | None, now: datetime) -> Project:
    """A project owned by the user, who becomes its owner member and has it as current."""
    params = {"uid": user_id, "b_title": title, "now": now}
    project = _project(conn.execute(_NEW_PROJECT, params).one())
    member = {"pid": project.id, "uid": user_id, "b_role": "owner", "now": now}
    conn.execute(_NEW_MEMBER, member)
    conn.execute(_SET_CURRENT, member)
    return project


def _start_in(
    conn: Connection, user_id: int, project_id: int, dialogue_id: str, encoded: str, now: datetime
) -> Conversation:
    """A new active walk of the user in the project, archiving their active one there."""
    conn.execute(_ARCHIVE, {"uid": user_id, "pid": project_id, "now": now})
    params = {
        "uid": user_id,
        "pid": project_id,
        "b_dialogue": dialogue_id,
        "b_state": encoded,
        "now": now,
    }
    return _conversation(conn.execute(_NEW_CONVERSATION, params).one())


# Rows to records


def _kept_value(value: JSON) -> JSON:
    """An answer as kept in memory (Storage._answers, up to ANSWERS_KEPT conversations): a short
    text (a choice, yes or no, a date) is one string shared by every conversation that gave it,
    as the question ids are (sys.intern), rather than a copy per conversation."""
    if isinstance(value, str):
        return sys.intern(value) if len(value) <= _SHARED_TEXT else value
    if isinstance(value, list):  # the options ticked in a multiple choice
        return [_kept_value(item) for item in value]
    return value


def _current_answers(conn: Connection, conversation_id: int) -> dict[str, JSON]:
    rows = conn.execute(_CURRENT_ANSWERS, {"cid": conversation_id})
    return {question_id: json.loads(value) for question_id, value in rows}


def _owner_answers(conn: Connection, project: Project) -> dict[str, JSON]:
    """The current answers of the owner's active walk in the project."""
    params = {"pid": project.id, "uid": project.owner_id}
    rows = conn.execute(_OWNER_ANSWERS, params)
    return {question_id: json.loads(value) for question_id, value in rows}


def _stale(conn: Connection, conversation_id: int, expected: int) -> StaleConversation:
    version = (conn.execute(_VERSION, {"cid": conversation_id})).scalar()
    if version is None:
        return StaleConversation(f"conversation {conversation_id} no longer exists")
    return StaleConversation(
        f"conversation {conversation_id} is at version {version}, not {expected}"
    )


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _json(value: JSON) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _user(row: Any) -> User:
    return User(row[0], row[1], row[2], row[3], row[4], row[5], row[6])


def _project(row: Any) -> Project:
    return Project(row[0], row[1], row[2], row[3], row[4], row[5])


def _from_row(make: Callable[..., T], width: int, json_column: int, row: Any) -> T:
    """A record from the first `width` columns of row (in table order), one of them JSON."""
    values = list(row[:width])
    values[json_column] = json.loads(values[json_column])
    return make(*values)


def _conversation(row: Any) -> Conversation:
    return _from_row(Conversation, 10, 3, row)


def _reminder(row: Any) -> Reminder:
    return _from_row(Reminder, 15, 5, row)


def _invitation(row: Any) -> Invitation:
    return Invitation(*row[:10])


def _gap_comment(row: Any) -> GapComment:
    return GapComment(*row[:7])


def _answer(row: Any) -> Answer:
    return _from_row(Answer, 5, 2, row)
