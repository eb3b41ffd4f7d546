"""The storage contract: the same tests on every backend (see the `storage` fixture)."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import stat
import threading
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
import pytest
import sqlalchemy
import time_machine

from bot.errors import ConfigError, DuplicateUpdate, StaleConversation, StorageError
from bot.storage import database
from bot.storage.base import Answer, AnswerWrite
from bot.storage.database import Storage, postgres_storage, sqlite_storage
from bot.storage.factory import open_storage
from tests.storage_fixtures import PG_URL, add_user

# Runs a test that uses storage/storage_backend on PostgreSQL only.
POSTGRES_ONLY = pytest.mark.parametrize(
    "storage_backend", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)


async def processed(storage, update_id):
    """Whether storage holds update_id as processed (the check Storage.load makes)."""
    return (await storage.load("", update_id)).processed


T0 = datetime(2030, 3, 4, 5, 6, 7, 123456, tzinfo=UTC)


async def make_user(storage, key="tg:1", lang="fr", tz="Europe/Paris"):
    return await add_user(storage, key, lang=lang, tz=tz)


def is_utc(moment):
    return moment.tzinfo is not None and moment.utcoffset() == timedelta(0)


# Users


async def test_unknown_user_is_none(storage):
    assert await storage.get_user("tg:404") is None


async def test_a_user_is_created_once(storage):
    before = datetime.now(UTC)
    user = await make_user(storage, lang="fr", tz="Europe/Paris")
    assert (user.key, user.lang, user.tz, user.blocked_at) == ("tg:1", "fr", "Europe/Paris", None)
    assert is_utc(user.created_at)
    assert before <= user.created_at <= datetime.now(UTC)
    again = await add_user(storage, "tg:1", lang="en", tz="UTC")
    assert again == user  # the existing user, unchanged by the new defaults
    assert await storage.get_user("tg:1") == user


async def test_users_have_distinct_ids(storage):
    first = await make_user(storage, "tg:1")
    second = await make_user(storage, "cli:alice")
    assert first.id != second.id
    assert await storage.get_user("cli:alice") == second


async def test_update_language_and_timezone(storage):
    user = await make_user(storage)
    assert (await storage.update_user(user.id, lang="en")).lang == "en"
    updated = await storage.update_user(user.id, tz="America/Montreal")
    assert (updated.lang, updated.tz) == ("en", "America/Montreal")
    assert await storage.get_user(user.key) == updated
    assert await storage.update_user(user.id) == updated  # nothing to change


async def test_update_unknown_user_raises(storage):
    with pytest.raises(StorageError):
        await storage.update_user(404, lang="en")
    with pytest.raises(StorageError):
        await storage.update_user(404)


async def test_block_and_unblock(storage):
    user = await make_user(storage)
    paris = datetime(2030, 1, 2, 10, 0, tzinfo=ZoneInfo("Europe/Paris"))
    blocked = await storage.update_user(user.id, blocked_at=paris)
    assert blocked.blocked_at == paris
    assert is_utc(blocked.blocked_at)
    assert (await storage.get_user(user.key)).blocked_at == paris
    unblocked = await storage.update_user(user.id, unblock=True)
    assert unblocked.blocked_at is None
    assert (await storage.get_user(user.key)).blocked_at is None


async def test_block_rejects_naive_or_contradictory_arguments(storage):
    user = await make_user(storage)
    with pytest.raises(ValueError, match="naive"):
        await storage.update_user(user.id, blocked_at=datetime(2030, 1, 1))  # naive on purpose
    with pytest.raises(ValueError, match="exclusive"):
        await storage.update_user(user.id, blocked_at=T0, unblock=True)
    assert (await storage.get_user(user.key)).blocked_at is None


# Conversations


async def test_no_active_conversation_at_first(storage):
    user = await make_user(storage)
    assert await storage.active_conversation(user.id) is None
    assert await storage.conversations(user.id) == []


async def test_start_conversation(storage):
    user = await make_user(storage)
    state = {"node": "q1", "path": ["intro"], "é": {"n": 1.5, "ok": True, "none": None}}
    conversation = await storage.start_conversation(user.id, "alliance", state)
    assert conversation.user_id == user.id
    assert conversation.dialogue_id == "alliance"
    assert conversation.state == state
    assert conversation.active
    assert conversation.finished_at is None
    assert conversation.created_at == conversation.updated_at
    assert is_utc(conversation.created_at)
    assert await storage.active_conversation(user.id) == conversation
    assert await storage.conversations(user.id) == [conversation]


async def test_starting_again_archives_the_previous_conversation(storage):
    user = await make_user(storage)
    first = await storage.start_conversation(user.id, "alliance", {"n": 1})
    second = await storage.start_conversation(user.id, "alliance", {"n": 2})
    assert await storage.active_conversation(user.id) == second
    listed = await storage.conversations(user.id)
    assert [c.id for c in listed] == [first.id, second.id]  # oldest first
    archived = listed[0]
    assert not archived.active
    assert archived.state == {"n": 1}
    # Archiving moves the version, so a step still in flight on it fails.
    assert archived.version > first.version
    with pytest.raises(StaleConversation):
        await storage.save_step(first.id, expected_version=first.version, state={})
    third = await storage.start_conversation(user.id, "other", {})
    assert [c.active for c in await storage.conversations(user.id)] == [False, False, True]
    assert await storage.active_conversation(user.id) == third


async def test_conversations_belong_to_their_user(storage):
    alice = await make_user(storage, "tg:1")
    bob = await make_user(storage, "tg:2")
    mine = await storage.start_conversation(alice.id, "alliance", {})
    theirs = await storage.start_conversation(bob.id, "alliance", {})
    assert await storage.active_conversation(alice.id) == mine
    assert await storage.active_conversation(bob.id) == theirs
    assert await storage.conversations(alice.id) == [mine]


async def test_start_conversation_for_unknown_user_raises(storage):
    with pytest.raises(StorageError):
        await storage.start_conversation(404, "alliance", {})


# Steps and answers


async def test_save_step_stores_state_and_answers(storage):
    user = await make_user(storage)
    conversation = await storage.start_conversation(user.id, "alliance", {"node": "q1"})
    version = await storage.save_step(
        conversation.id,
        expected_version=conversation.version,
        state={"node": "q2"},
        answers=[AnswerWrite("q1", "yes")],
    )
    assert version == conversation.version + 1
    current = await storage.active_conversation(user.id)
    assert current.version == version
    assert current.state == {"node": "q2"}
    assert current.updated_at >= conversation.updated_at
    assert current.finished_at is None
    assert await storage.current_answers(conversation.id) == {"q1": "yes"}


async def test_answer_values_round_trip(storage):
    user = await make_user(storage)
    conversation = await storage.start_conversation(user.id, "alliance", {})
    values = {
        "text": "Énergie « verte » ✓",
        "zero": 0,
        "false": False,
        "empty": "",
        "float": 2.5,
        "list": [1, "two", None],
        "dict": {"a": [True, {"b": -3}]},
    }
    await storage.save_step(
        conversation.id,
        expected_version=conversation.version,
        state={},
        answers=[AnswerWrite(question, value) for question, value in values.items()],
    )
    assert await storage.current_answers(conversation.id) == values
    assert list(await storage.current_answers(conversation.id)) == list(values)  # answer order


async def test_new_answer_supersedes_and_history_keeps_order(storage):
    user = await make_user(storage)
    conversation = await storage.start_conversation(user.id, "alliance", {})
    with time_machine.travel(T0, tick=False):
        version = await storage.save_step(
            conversation.id,
            expected_version=conversation.version,
            state={},
            answers=[AnswerWrite("q1", "a"), AnswerWrite("q2", "b")],
        )
    later = T0 + timedelta(minutes=5)
    with time_machine.travel(later, tick=False):
        await storage.save_step(
            conversation.id, expected_version=version, state={}, answers=[AnswerWrite("q1", "c")]
        )
    assert await storage.current_answers(conversation.id) == {"q2": "b", "q1": "c"}
    assert await storage.answer_history(conversation.id) == [
        Answer(conversation.id, "q1", "a", T0, superseded_at=later),
        Answer(conversation.id, "q2", "b", T0),
        Answer(conversation.id, "q1", "c", later),
    ]
    assert all(is_utc(a.answered_at) for a in await storage.answer_history(conversation.id))


async def test_none_removes_the_current_answer_and_keeps_history(storage):
    user = await make_user(storage)
    conversation = await storage.start_conversation(user.id, "alliance", {})
    version = await storage.save_step(
        conversation.id,
        expected_version=conversation.version,
        state={},
        answers=[AnswerWrite("q1", "a"), AnswerWrite("q2", "b")],
    )
    await storage.save_step(
        conversation.id, expected_version=version, state={}, answers=[AnswerWrite("q1", None)]
    )
    assert await storage.current_answers(conversation.id) == {"q2": "b"}
    history = await storage.answer_history(conversation.id)
    assert [(a.question_id, a.value) for a in history] == [("q1", "a"), ("q2", "b")]
    assert history[0].superseded_at is not None
    assert history[1].superseded_at is None


async def test_removing_an_unanswered_question_is_harmless(storage):
    user = await make_user(storage)
    conversation = await storage.start_conversation(user.id, "alliance", {})
    await storage.save_step(
        conversation.id,
        expected_version=conversation.version,
        state={},
        answers=[AnswerWrite("q9", None)],
    )
    assert await storage.current_answers(conversation.id) == {}
    assert await storage.answer_history(conversation.id) == []


async def test_same_question_twice_in_one_step_keeps_the_last(storage):
    user = await make_user(storage)
    conversation = await storage.start_conversation(user.id, "alliance", {})
    await storage.save_step(
        conversation.id,
        expected_version=conversation.version,
        state={},
        answers=[AnswerWrite("q1", "first"), AnswerWrite("q1", "second")],
    )
    assert await storage.current_answers(conversation.id) == {"q1": "second"}
    assert [a.value for a in await storage.answer_history(conversation.id)] == ["first", "second"]


async def test_answers_kept_in_memory_still_supersede_earlier_ones(storage):
    """After a load, the storage keeps the conversation's answers and writes no UPDATE for a
    question they show unanswered; a question answered again, in a later step or twice in
    one, still leaves one current answer."""
    user = await make_user(storage)
    conversation = await storage.start_conversation(user.id, "alliance", {})
    version = await storage.save_step(
        conversation.id, expected_version=1, state={}, answers=[AnswerWrite("q1", "a")]
    )
    assert (await storage.load(user.key)).answers == {"q1": "a"}
    steps = (
        [AnswerWrite("q1", "b"), AnswerWrite("q2", "x"), AnswerWrite("q2", "y")],
        [AnswerWrite("q2", None), AnswerWrite("q2", "z")],
    )
    for answers in steps:
        version = await storage.save_step(
            conversation.id, expected_version=version, state={}, answers=answers
        )
    assert await storage.current_answers(conversation.id) == {"q1": "b", "q2": "z"}
    history = await storage.answer_history(conversation.id)
    assert [(a.question_id, a.value, a.superseded_at is None) for a in history] == [
        ("q1", "a", False),
        ("q1", "b", True),
        ("q2", "x", False),
        ("q2", "y", False),
        ("q2", "z", True),
    ]


async def test_answers_belong_to_their_conversation(storage):
    user = await make_user(storage)
    old = await storage.start_conversation(user.id, "alliance", {})
    await storage.save_step(
        old.id, expected_version=old.version, state={}, answers=[AnswerWrite("q1", "old")]
    )
    new = await storage.start_conversation(user.id, "alliance", {})
    assert await storage.current_answers(new.id) == {}
    assert await storage.answer_history(new.id) == []
    assert await storage.current_answers(old.id) == {"q1": "old"}


async def test_finishing_sets_finished_at_once(storage):
    user = await make_user(storage)
    conversation = await storage.start_conversation(user.id, "alliance", {})
    with time_machine.travel(T0, tick=False):
        version = await storage.save_step(
            conversation.id, expected_version=conversation.version, state={}, finished=True
        )
    finished = await storage.active_conversation(user.id)
    assert finished.finished_at == T0
    assert finished.active  # still the current conversation, e.g. to show the diagnosis
    with time_machine.travel(T0 + timedelta(days=1), tick=False):
        version = await storage.save_step(
            conversation.id, expected_version=version, state={"x": 1}
        )
        await storage.save_step(conversation.id, expected_version=version, state={}, finished=True)
    assert (await storage.active_conversation(user.id)).finished_at == T0


# Concurrency and duplicates: a refused step writes nothing


async def snapshot(storage, user):
    conversation = await storage.active_conversation(user.id)
    return (
        conversation,
        await storage.current_answers(conversation.id),
        await storage.answer_history(conversation.id),
    )


async def test_stale_version_raises_and_writes_nothing(storage):
    user = await make_user(storage)
    conversation = await storage.start_conversation(user.id, "alliance", {"node": "q1"})
    await storage.save_step(
        conversation.id,
        expected_version=conversation.version,
        state={"node": "q2"},
        answers=[AnswerWrite("q1", "a")],
    )
    before = await snapshot(storage, user)
    with pytest.raises(StaleConversation):
        await storage.save_step(
            conversation.id,
            expected_version=conversation.version,  # the version before the first step
            state={"node": "elsewhere"},
            answers=[AnswerWrite("q1", "z"), AnswerWrite("q2", "z")],
            update_id=99,
            finished=True,
        )
    assert await snapshot(storage, user) == before
    assert not await processed(storage, 99)


async def test_unknown_conversation_is_stale(storage):
    with pytest.raises(StaleConversation):
        await storage.save_step(404, expected_version=1, state={}, update_id=5)
    assert not await processed(storage, 5)


async def test_duplicate_update_raises_and_writes_nothing(storage):
    user = await make_user(storage)
    conversation = await storage.start_conversation(user.id, "alliance", {})
    version = await storage.save_step(
        conversation.id,
        expected_version=conversation.version,
        state={"n": 1},
        answers=[AnswerWrite("q1", "a")],
        update_id=7,
    )
    assert await processed(storage, 7)
    before = await snapshot(storage, user)
    with pytest.raises(DuplicateUpdate):
        await storage.save_step(
            conversation.id,
            expected_version=version,
            state={"n": 2},
            answers=[AnswerWrite("q1", "b")],
            update_id=7,
        )
    assert await snapshot(storage, user) == before
    # Checked before the version: a redelivered update is a duplicate, even if stale too.
    with pytest.raises(DuplicateUpdate):
        await storage.save_step(
            conversation.id, expected_version=version - 1, state={}, update_id=7
        )


async def test_mark_processed(storage):
    user = await make_user(storage)
    assert not await processed(storage, 1)
    assert await storage.mark_processed(1) is True
    assert await storage.mark_processed(1) is False
    assert await storage.mark_processed(2, user.id) is True
    assert await processed(storage, 1)
    assert await processed(storage, 2)
    conversation = await storage.start_conversation(user.id, "alliance", {})
    with pytest.raises(DuplicateUpdate):
        await storage.save_step(conversation.id, expected_version=1, state={}, update_id=2)
    assert (await storage.active_conversation(user.id)).version == conversation.version


async def test_mark_processed_many_records_updates_together(storage):
    user = await make_user(storage)
    await storage.mark_processed(1)
    begun = []
    count = begun.append  # one object, to remove the listener with
    sqlalchemy.event.listen(storage.engine, "begin", count)
    try:
        recorded = await storage.mark_processed_many([(1, None), (2, user.id), (3, None)])
    finally:
        sqlalchemy.event.remove(storage.engine, "begin", count)
    assert recorded == [False, True, True]  # 1 was recorded before
    assert len(begun) == 1
    assert [await processed(storage, n) for n in (1, 2, 3, 4)] == [True, True, True, False]
    # A user id of nobody fails the whole transaction: nothing of it is recorded.
    with pytest.raises(StorageError):
        await storage.mark_processed_many([(4, None), (5, user.id + 1000)])
    assert not await processed(storage, 4)
    await storage.delete_user(user.id)  # the records of the user's updates go with them
    assert [await processed(storage, n) for n in (1, 2, 3)] == [True, False, True]


async def test_pruning_forgets_only_the_updates_processed_before_the_limit(storage):
    user = await make_user(storage)
    conversation = await storage.start_conversation(user.id, "alliance", {})
    with time_machine.travel(T0 - timedelta(days=8), tick=False):
        await storage.mark_processed(1, user.id)
        await storage.save_step(conversation.id, expected_version=1, state={}, update_id=2)
    with time_machine.travel(T0 - timedelta(days=6), tick=False):
        await storage.mark_processed(3)
        await storage.save_step(conversation.id, expected_version=2, state={}, update_id=4)
    assert await storage.prune_processed(T0 - timedelta(days=7)) == 2
    assert [await processed(storage, n) for n in (1, 2, 3, 4)] == [False, False, True, True]
    assert await storage.prune_processed(T0 - timedelta(days=7)) == 0
    with pytest.raises(ValueError, match="naive"):
        await storage.prune_processed(datetime(2030, 1, 1))


async def test_pruning_forgets_one_batch_per_call(storage, monkeypatch):
    monkeypatch.setattr(database, "PRUNE_BATCH", 3)
    user = await make_user(storage)
    with time_machine.travel(T0 - timedelta(days=8), tick=False):
        for update_id in range(1, 8):
            await storage.mark_processed(update_id, user.id)
    with time_machine.travel(T0, tick=False):
        await storage.mark_processed(8, user.id)
    begun = []
    count = begun.append  # one object, to remove the listener with
    sqlalchemy.event.listen(storage.engine, "begin", count)
    try:
        forgotten = [await storage.prune_processed(T0 - timedelta(days=7)) for _ in range(4)]
    finally:
        sqlalchemy.event.remove(storage.engine, "begin", count)
    assert forgotten == [3, 3, 1, 0]
    assert len(begun) == 4  # one transaction each: other writes go on between them
    assert [await processed(storage, n) for n in range(1, 9)] == [False] * 7 + [True]


async def test_non_json_state_raises_before_writing(storage):
    user = await make_user(storage)
    conversation = await storage.start_conversation(user.id, "alliance", {})
    with pytest.raises(TypeError):
        await storage.save_step(
            conversation.id,
            expected_version=conversation.version,
            state={"bad": object()},
            update_id=3,
        )
    assert not await processed(storage, 3)
    assert await storage.active_conversation(user.id) == conversation


# Erasure


def links_to(table, row, gone):
    """Why a row still points to the erased user, or None if it does not."""
    for column, value in row.items():
        if column in ("user_id", "owner_id", "created_by", "used_by") and value == gone["user"]:
            return column
        if column == "project_id" and value in gone["projects"]:
            return "project_id"
        if column == "conversation_id" and value in gone["conversations"]:
            return "conversation_id"
        if column == "update_id" and value in gone["updates"]:
            return "update_id"
    if table == "users" and (row["id"] == gone["user"] or row["key"] == gone["key"]):
        return "id"
    if table == "conversations" and row["id"] in gone["conversations"]:
        return "id"
    if table == "projects" and row["id"] in gone["projects"]:
        return "id"
    return None


async def test_delete_user_erases_every_row_of_theirs(storage, storage_backend):
    async def populate(user, first_update):
        old = await storage.start_conversation(user.id, "alliance", {"who": user.key})
        await storage.save_step(
            old.id, expected_version=1, state={}, answers=[AnswerWrite("q1", "a")]
        )
        new = await storage.start_conversation(user.id, "alliance", {"who": user.key})
        version = await storage.save_step(
            new.id,
            expected_version=1,
            state={},
            answers=[AnswerWrite("q1", "b")],
            update_id=first_update,
        )
        await storage.save_step(
            new.id,
            expected_version=version,
            state={},
            answers=[AnswerWrite("q1", None)],
            update_id=first_update + 1,
        )
        await storage.mark_processed(first_update + 2, user.id)
        # Reminders: about a conversation, about none, and one already sent (history).
        await storage.add_reminder(
            user.id, kind="todo", ref="q1", due_at=T0, conversation_id=old.id, payload={"k": 1}
        )
        await storage.add_reminder(user.id, kind="nudge", ref="nudge-1", due_at=T0)
        earlier = T0 - timedelta(days=1)
        sent = await storage.add_reminder(user.id, kind="review", ref="review-1", due_at=earlier)
        for claimed in await storage.claim_due(
            earlier, worker="w", lease=timedelta(hours=1), limit=9
        ):
            await storage.mark_sent(claimed.id, worker="w")
        assert (await storage.get_reminder(sent.id, user_id=user.id)).status == "sent"
        # A second project, with a comment, a pending invitation and a reminder.
        project, other = await storage.new_project(
            user.id, title="Partner", dialogue_id="alliance", state={}
        )
        await storage.save_step(
            other.id, expected_version=1, state={}, answers=[AnswerWrite("q1", "c")]
        )
        await storage.set_gap_comment(project.id, user_id=user.id, dimension="trust", body="x")
        await storage.create_invitation(
            project.id, user_id=user.id, token_hash=f"h-{user.key}", expires_at=T0
        )
        await storage.add_reminder(user.id, kind="review", ref="review-1", due_at=T0)
        # Both projects shared with an advisor, who keeps a note on one; one share withdrawn.
        for shared in (old.project_id, project.id):
            share, _ = await storage.share(
                user_id=user.id, project_id=shared, advisor_id=advisor.id, now=T0
            )
        await storage.withdraw_share(share.id, user_id=user.id, now=T0)
        await storage.set_note(advisor.id, old.project_id, f"about {user.key}", now=T0)
        return [old.id, new.id, other.id], [old.project_id, project.id]

    advisor = await storage.add_advisor("Claire", code="ABCDEFGH", lang="fr", admin=False, now=T0)
    assert advisor is not None
    await storage.add_login(advisor.id, "hash-1", now=T0, expires_at=T0 + timedelta(days=1))
    await storage.use_login(
        "hash-1", now=T0, session_hash="hash-2", csrf="c", session_expires_at=T0 + timedelta(1)
    )
    alice = await make_user(storage, "tg:1")
    bob = await make_user(storage, "tg:2")
    alice_conversations, alice_projects = await populate(alice, 100)
    _, bob_projects = await populate(bob, 200)
    # Alice is also the partner in Bob's second project: her walk, answers and comment there.
    joined = await storage.accept_invitation(
        "h-tg:2", user_id=alice.id, now=T0 - timedelta(days=1), dialogue_id="partner", state={}
    )
    assert joined.status == "ok"
    alice_conversations.append(joined.conversation.id)
    await storage.save_step(
        joined.conversation.id, expected_version=1, state={}, answers=[AnswerWrite("q1", "d")]
    )
    await storage.set_gap_comment(
        bob_projects[1], user_id=alice.id, dimension="trust", body="mine"
    )
    await storage.mark_processed(300)  # an update of nobody's
    bob_before = {
        "user": await storage.get_user("tg:2"),
        "conversations": await storage.conversations(bob.id),
        "history": [
            await storage.answer_history(c.id) for c in await storage.conversations(bob.id)
        ],
        "reminders": await storage.pending_reminders(bob.id),
    }

    alice_reminders = [r.id for r in await storage.pending_reminders(alice.id)]
    assert len(alice_reminders) == 3
    bob_sides = await storage.project_sides(bob_projects[1])
    assert [side.member.role for side in bob_sides] == ["owner", "partner"]

    await storage.delete_user(alice.id)

    gone = {
        "user": alice.id,
        "key": alice.key,
        "conversations": set(alice_conversations),
        "projects": set(alice_projects),
        "updates": {100, 101, 102},
    }
    tables = storage_backend.tables() - {"alembic_version"}
    assert {"users", "conversations", "answers", "processed_updates", "reminders"} <= tables
    # The advisors' own rows: who they are and how they sign in, nothing about a manager.
    advisors_own = {"advisors", "advisor_logins", "advisor_sessions"}
    for table in sorted(tables - advisors_own):
        rows = storage_backend.rows(table)
        assert rows, f"{table} is empty: this test would not notice leftovers there"
        columns = set(rows[0])
        links = {"user_id", "conversation_id", "update_id", "owner_id", "created_by", "project_id"}
        assert columns & links or table == "users", (
            f"table {table} has no user_id, conversation_id or update_id column: teach this "
            "test how its rows link to a user"
        )
        leftovers = [row for row in rows if links_to(table, row, gone)]
        assert leftovers == [], f"{table} still holds the erased user's rows"

    assert await storage.get_user("tg:1") is None
    assert await storage.conversations(alice.id) == []
    assert [await storage.answer_history(cid) for cid in alice_conversations] == [
        [] for _ in alice_conversations
    ]
    assert not await processed(storage, 100)
    assert await processed(storage, 300)
    assert await storage.pending_reminders(alice.id) == []
    for rid in alice_reminders:
        assert await storage.get_reminder(rid, user_id=alice.id) is None
    assert await storage.pending_reminders(bob.id) == bob_before["reminders"]
    assert await storage.get_user("tg:2") == bob_before["user"]
    assert await storage.conversations(bob.id) == bob_before["conversations"]
    assert [
        await storage.answer_history(c.id) for c in await storage.conversations(bob.id)
    ] == bob_before["history"]
    # Bob's project shows that its partner left; its invitation forgets who used it.
    sides = await storage.project_sides(bob_projects[1])
    assert [side.member.role for side in sides] == ["owner"]
    left = await storage.project(bob_projects[1], user_id=bob.id)
    assert left.partner_left_at is not None
    assert [c.body for c in await storage.gap_comments(bob_projects[1])] == ["x"]
    [used] = await storage.invitations(bob_projects[1], user_id=bob.id)
    assert used.used_at is not None
    assert used.used_by is None
    # The key can come back; it gets a new id (ids are never reused).
    assert (await make_user(storage, "tg:1")).id not in (alice.id, bob.id)


async def test_delete_unknown_user_is_harmless(storage):
    await storage.delete_user(404)


# Time and lifecycle


async def test_timestamps_are_the_utc_instant(storage):
    paris = datetime(2030, 7, 1, 12, 30, 15, 987654, tzinfo=ZoneInfo("Europe/Paris"))
    with time_machine.travel(paris, tick=False):
        user = await make_user(storage)
        conversation = await storage.start_conversation(user.id, "alliance", {})
        await storage.save_step(
            conversation.id, expected_version=1, state={}, answers=[AnswerWrite("q", 1)]
        )
    stored = await storage.active_conversation(user.id)
    moments = [
        (await storage.get_user(user.key)).created_at,
        stored.created_at,
        stored.updated_at,
        (await storage.answer_history(conversation.id))[0].answered_at,
    ]
    for moment in moments:
        assert moment == paris
        assert moment.tzinfo is UTC


async def test_a_second_handle_sees_everything(storage, storage_backend):
    user = await make_user(storage)
    conversation = await storage.start_conversation(user.id, "alliance", {"node": "q2"})
    await storage.save_step(
        conversation.id,
        expected_version=1,
        state={"n": 1},
        answers=[AnswerWrite("q1", "a")],
        update_id=1,
    )
    other = storage_backend.open()
    await other.migrate()
    assert await other.get_user(user.key) == await storage.get_user(user.key)
    assert await other.conversations(user.id) == await storage.conversations(user.id)
    assert await other.answer_history(conversation.id) == await storage.answer_history(
        conversation.id
    )
    assert await processed(other, 1)


async def test_load_sees_answers_another_handle_wrote(storage, storage_backend):
    """A replica's answers show in the next load, though this storage kept the answers it
    loaded and saved last."""
    user = await make_user(storage)
    conversation = await storage.start_conversation(user.id, "alliance", {})
    version = await storage.save_step(
        conversation.id, expected_version=1, state={}, answers=[AnswerWrite("q1", "a")]
    )
    assert (await storage.load(user.key)).answers == {"q1": "a"}
    other = storage_backend.open()
    await other.migrate()
    await other.save_step(
        conversation.id,
        expected_version=version,
        state={},
        answers=[AnswerWrite("q1", None), AnswerWrite("q2", ["x", "y"])],
    )
    loaded = await storage.load(user.key)
    assert loaded.answers == {"q2": ["x", "y"]}
    assert loaded.conversation is not None
    assert loaded.conversation.version == version + 1
    # Its own next step goes on from there, and the order is the database's.
    await storage.save_step(
        conversation.id,
        expected_version=version + 1,
        state={},
        answers=[AnswerWrite("q3", 3), AnswerWrite("q2", ["z"])],
    )
    assert list((await storage.load(user.key)).answers.items()) == [("q3", 3), ("q2", ["z"])]
    assert await storage.current_answers(conversation.id) == {"q3": 3, "q2": ["z"]}


async def test_closed_storage_raises_storage_error(storage):
    await storage.close()
    await storage.close()  # harmless
    with pytest.raises(StorageError):
        await storage.get_user("tg:1")
    with pytest.raises(StorageError):
        await storage.mark_processed(1)


# SQLite specifics


async def test_sqlite_reopened_file_keeps_everything(tmp_path):
    path = tmp_path / "bot.db"
    with time_machine.travel(T0, tick=False):
        storage = open_storage(f"sqlite:///{path}")
        await storage.migrate()
        user = await add_user(storage, "tg:1", lang="en", tz="UTC")
        user = await storage.update_user(user.id, blocked_at=T0)
        old = await storage.start_conversation(user.id, "alliance", {})
        conversation = await storage.start_conversation(user.id, "alliance", {"node": "q3"})
        await storage.save_step(
            conversation.id,
            expected_version=1,
            state={"node": "end"},
            answers=[AnswerWrite("q1", {"a": 1}), AnswerWrite("q2", "x")],
            update_id=42,
            finished=True,
        )
        await storage.save_step(
            conversation.id, expected_version=2, state={}, answers=[AnswerWrite("q2", None)]
        )
        expected = (
            await storage.get_user("tg:1"),
            await storage.conversations(user.id),
            await storage.current_answers(conversation.id),
            await storage.answer_history(conversation.id),
        )
        await storage.close()

    reopened = open_storage(str(path))
    try:
        await reopened.migrate()
        assert (
            await reopened.get_user("tg:1"),
            await reopened.conversations(user.id),
            await reopened.current_answers(conversation.id),
            await reopened.answer_history(conversation.id),
        ) == expected
        assert expected[0].blocked_at == T0
        assert [c.id for c in expected[1]] == [old.id, conversation.id]
        assert await processed(reopened, 42)
    finally:
        await reopened.close()


async def test_sqlite_files_are_private(tmp_path):
    path = tmp_path / "new" / "dir" / "bot.db"
    storage = sqlite_storage(path)
    try:
        await storage.migrate()
        await add_user(storage, "tg:1", lang="fr", tz="UTC")  # so the WAL files exist
        files = [p for p in path.parent.iterdir() if p.name.startswith("bot.db")]
        assert {p.name for p in files} >= {"bot.db", "bot.db-wal"}
        for file in files:
            assert stat.S_IMODE(os.stat(file).st_mode) == 0o600, file.name
        assert stat.S_IMODE(os.stat(path.parent).st_mode) == 0o700
    finally:
        await storage.close()


async def test_sqlite_connection_settings(tmp_path):
    storage = sqlite_storage(tmp_path / "bot.db")
    try:
        with storage.engine.connect() as conn:
            for pragma, expected in [
                ("journal_mode", "wal"),
                ("foreign_keys", 1),
                ("busy_timeout", 5000),
                ("synchronous", 2),  # FULL
                ("secure_delete", 1),
                ("cache_size", -512),  # KiB
            ]:
                found = conn.exec_driver_sql(f"PRAGMA {pragma}").scalar()
                assert found == expected, pragma
    finally:
        await storage.close()


async def test_sqlite_copies_its_write_ahead_log_back_as_it_writes(tmp_path):
    """SQLite's own checkpoint is off on the storage's connections (it would run inside a
    COMMIT): the storage copies the log back itself as it writes. The log stops growing, and
    the database file alone (ignoring its log, as a copy of that file alone would) holds
    what was written."""
    path = tmp_path / "bot.db"
    log = tmp_path / "bot.db-wal"
    every = database.CHECKPOINT_EVERY
    storage = sqlite_storage(path)
    try:
        await storage.migrate()
        user = await make_user(storage)
        conversation = await storage.start_conversation(user.id, "alliance", {})
        version = conversation.version
        for number in range(5 * every):
            version = await storage.save_step(
                conversation.id,
                expected_version=version,
                state={},
                answers=[AnswerWrite(f"q{number}", "yes")],
            )
            if number + 1 == every // 2:
                half = log.stat().st_size  # the log of every // 2 answers, none copied
        # Five times as many answers as that: the log never held more than about twice.
        assert log.stat().st_size < 4 * half

        def answers_in_the_file() -> int:
            file = sqlite3.connect(f"file:{path}?immutable=1", uri=True)
            try:
                return int(file.execute("SELECT count(*) FROM answers").fetchone()[0])
            except sqlite3.DatabaseError:  # a page being copied
                return 0
            finally:
                file.close()

        for _ in range(600):  # the last copy may still run, in a worker thread
            if answers_in_the_file() >= 3 * every:
                break
            await asyncio.sleep(0.1)
        assert answers_in_the_file() >= 3 * every
    finally:
        await storage.close()


async def test_sqlite_a_write_waits_for_a_long_write_of_the_process_without_blocking(tmp_path):
    """A long write (pruning, in a worker thread) holds this process's writers' turn: an
    answer saved meanwhile waits for it, the event loop going on, then is written."""
    storage = sqlite_storage(tmp_path / "bot.db")
    pruning = threading.Event()
    go_on = threading.Event()

    def on_statement(conn, cursor, statement, parameters, context, executemany):
        if statement.startswith("DELETE FROM processed_updates"):
            pruning.set()
            go_on.wait(60)  # the worker thread holds the turn, and SQLite's write lock

    try:
        await storage.migrate()
        user = await make_user(storage)
        conversation = await storage.start_conversation(user.id, "alliance", {})
        sqlalchemy.event.listen(storage.engine, "before_cursor_execute", on_statement)
        prune = asyncio.create_task(storage.prune_processed(datetime.now(UTC)))
        assert await asyncio.to_thread(pruning.wait, 60)  # a worker thread prunes
        save = asyncio.create_task(
            storage.save_step(
                conversation.id,
                expected_version=conversation.version,
                state={"node": "q2"},
                answers=[AnswerWrite("q1", "yes")],
            )
        )
        for _ in range(20):  # the loop goes on while the answer waits
            await asyncio.sleep(0.01)
        assert not save.done()
        go_on.set()
        assert await prune == 0
        assert await save == conversation.version + 1
        assert await storage.current_answers(conversation.id) == {"q1": "yes"}
    finally:
        go_on.set()
        sqlalchemy.event.remove(storage.engine, "before_cursor_execute", on_statement)
        await storage.close()


async def test_sqlite_not_a_database(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("not a database, just some text that is long enough " * 20)
    storage = sqlite_storage(path)
    try:
        with pytest.raises(StorageError):
            await storage.migrate()
    finally:
        await storage.close()


async def test_sqlite_in_memory():
    storage = open_storage("sqlite://")
    try:
        await storage.migrate()
        assert (await make_user(storage)).key == "tg:1"
    finally:
        await storage.close()


# PostgreSQL specifics


def _backend_pids(storage: Storage) -> list[int]:
    """The server processes of the connections the storage holds."""
    drivers: list[Any] = [conn.connection.dbapi_connection for conn in storage._held]
    return [driver.info.backend_pid for driver in drivers]


@POSTGRES_ONLY
async def test_postgres_reconnects_once_after_losing_the_connection(
    storage, storage_backend, pg_admin
):
    user = await make_user(storage)

    def kill_connections():
        pids = _backend_pids(storage)
        assert pids
        for pid in pids:
            pg_admin.execute("SELECT pg_terminate_backend(%s)", (pid,))

    kill_connections()
    assert await storage.get_user(user.key) == user  # a read
    kill_connections()
    assert (await storage.load(user.key, 1)).user == user  # the per-update read
    kill_connections()
    conversation = await storage.start_conversation(user.id, "alliance", {})  # a write
    assert await storage.active_conversation(user.id) == conversation
    # The search_path is set on the new connection: the schema's tables are found.
    assert (await storage.get_user(user.key)).id == user.id


@POSTGRES_ONLY
async def test_postgres_a_write_reconnects_when_its_begin_finds_the_connection_lost(
    storage, storage_backend, pg_admin
):
    await storage.mark_processed(1)
    pids = _backend_pids(storage)
    for pid in pids:
        pg_admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
    for _ in range(500):  # until the server has closed them: the write's BEGIN meets that
        alive = pg_admin.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(%s)", (pids,)
        ).fetchone()
        if alive == (0,):
            break
        await asyncio.sleep(0.02)
    else:
        pytest.fail("the server did not close the storage's connections")
    assert await storage.mark_processed(2)
    assert await processed(storage, 2)


@pytest.mark.postgres
async def test_postgres_unreachable_server_raises_storage_error(pg_admin):
    storage = postgres_storage("postgresql://postgres@127.0.0.1:1/test", connect_timeout=2)
    try:
        with pytest.raises(StorageError, match="connect"):
            await storage.get_user("tg:1")
    finally:
        await storage.close()


@POSTGRES_ONLY
async def test_postgres_concurrent_steps_on_one_conversation(storage, storage_backend):
    user = await make_user(storage)
    conversation = await storage.start_conversation(user.id, "alliance", {})
    other = storage_backend.open()
    # Two replicas read version 1; the first to write wins, the second is told it is stale.
    await other.save_step(conversation.id, expected_version=1, state={"by": "other"}, update_id=1)
    with pytest.raises(StaleConversation):
        await storage.save_step(
            conversation.id, expected_version=1, state={"by": "me"}, update_id=2
        )
    with pytest.raises(DuplicateUpdate):
        await storage.save_step(
            conversation.id, expected_version=2, state={"by": "me"}, update_id=1
        )
    assert (await storage.active_conversation(user.id)).state == {"by": "other"}
    assert not await processed(storage, 2)


# The factory


async def test_open_storage_sqlite_forms(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for url, expected in [
        ("sqlite:///relative/a.db", tmp_path / "relative" / "a.db"),
        (f"sqlite:///{tmp_path}/absolute/b.db", tmp_path / "absolute" / "b.db"),
        ("plain/c.db", tmp_path / "plain" / "c.db"),
        (str(tmp_path / "d.db"), tmp_path / "d.db"),
    ]:
        storage = open_storage(url)
        try:
            assert isinstance(storage, Storage)
            assert storage.dialect == "sqlite"
            assert expected.exists(), url
        finally:
            await storage.close()


@pytest.mark.parametrize(
    "url",
    [
        "",
        "  ",
        "mysql://db/alliance",
        "sqlite:///",
        "sqlite:///x.db?mode=ro",
        "sqlite:x.db",
        "postgresql:db",
        "file:x.db",
    ],
)
def test_open_storage_rejects_bad_urls(url, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError):
        open_storage(url)


@pytest.mark.postgres
@pytest.mark.parametrize("scheme", ["postgresql://", "postgres://"])
async def test_open_storage_postgres(scheme, pg_admin):
    schema = f"test_factory_{uuid.uuid4().hex[:12]}"
    pg_admin.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
    pg_admin.execute(f"CREATE SCHEMA {schema}")
    base = PG_URL.split("://", 1)[1]
    separator = "&" if "?" in base else "?"
    url = f"{scheme}{base}{separator}options=-csearch_path%3D{schema}"
    storage = open_storage(url)
    try:
        assert isinstance(storage, Storage)
        assert storage.dialect == "postgresql"
        await storage.migrate()
        await make_user(storage)
        with psycopg.connect(PG_URL) as conn:
            count = conn.execute(f"SELECT count(*) FROM {schema}.users").fetchone()[0]
        assert count == 1
    finally:
        await storage.close()
        pg_admin.execute(f"DROP SCHEMA {schema} CASCADE")
