"""The storage contract: the same tests on every backend (see the `storage` fixture)."""

from __future__ import annotations

import os
import stat
import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import psycopg
import pytest
import time_machine

from bot.errors import ConfigError, DuplicateUpdate, StaleConversation, StorageError
from bot.storage.base import Answer, AnswerWrite
from bot.storage.factory import open_storage
from bot.storage.postgres import PostgresStorage
from bot.storage.sqlite import SqliteStorage
from tests.storage_fixtures import PG_URL

# Runs a test that uses storage/storage_backend on PostgreSQL only.
POSTGRES_ONLY = pytest.mark.parametrize(
    "storage_backend", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)

T0 = datetime(2030, 3, 4, 5, 6, 7, 123456, tzinfo=UTC)


def make_user(storage, key="tg:1", lang="fr", tz="Europe/Paris"):
    return storage.get_or_create_user(key, lang=lang, tz=tz)


def is_utc(moment):
    return moment.tzinfo is not None and moment.utcoffset() == timedelta(0)


# Users


def test_unknown_user_is_none(storage):
    assert storage.get_user("tg:404") is None


def test_get_or_create_user_creates_once(storage):
    before = datetime.now(UTC)
    user = make_user(storage, lang="fr", tz="Europe/Paris")
    assert (user.key, user.lang, user.tz, user.blocked_at) == ("tg:1", "fr", "Europe/Paris", None)
    assert is_utc(user.created_at)
    assert before <= user.created_at <= datetime.now(UTC)
    again = storage.get_or_create_user("tg:1", lang="en", tz="UTC")
    assert again == user  # the existing user, unchanged by the new defaults
    assert storage.get_user("tg:1") == user


def test_users_have_distinct_ids(storage):
    first = make_user(storage, "tg:1")
    second = make_user(storage, "cli:alice")
    assert first.id != second.id
    assert storage.get_user("cli:alice") == second


def test_update_language_and_timezone(storage):
    user = make_user(storage)
    assert storage.update_user(user.id, lang="en").lang == "en"
    updated = storage.update_user(user.id, tz="America/Montreal")
    assert (updated.lang, updated.tz) == ("en", "America/Montreal")
    assert storage.get_user(user.key) == updated
    assert storage.update_user(user.id) == updated  # nothing to change


def test_update_unknown_user_raises(storage):
    with pytest.raises(StorageError):
        storage.update_user(404, lang="en")
    with pytest.raises(StorageError):
        storage.update_user(404)


def test_block_and_unblock(storage):
    user = make_user(storage)
    paris = datetime(2030, 1, 2, 10, 0, tzinfo=ZoneInfo("Europe/Paris"))
    blocked = storage.update_user(user.id, blocked_at=paris)
    assert blocked.blocked_at == paris
    assert is_utc(blocked.blocked_at)
    assert storage.get_user(user.key).blocked_at == paris
    unblocked = storage.update_user(user.id, unblock=True)
    assert unblocked.blocked_at is None
    assert storage.get_user(user.key).blocked_at is None


def test_block_rejects_naive_or_contradictory_arguments(storage):
    user = make_user(storage)
    with pytest.raises(ValueError, match="naive"):
        storage.update_user(user.id, blocked_at=datetime(2030, 1, 1))  # naive on purpose
    with pytest.raises(ValueError, match="exclusive"):
        storage.update_user(user.id, blocked_at=T0, unblock=True)
    assert storage.get_user(user.key).blocked_at is None


# Conversations


def test_no_active_conversation_at_first(storage):
    user = make_user(storage)
    assert storage.active_conversation(user.id) is None
    assert storage.conversations(user.id) == []


def test_start_conversation(storage):
    user = make_user(storage)
    state = {"node": "q1", "path": ["intro"], "é": {"n": 1.5, "ok": True, "none": None}}
    conversation = storage.start_conversation(user.id, "alliance", state)
    assert conversation.user_id == user.id
    assert conversation.dialogue_id == "alliance"
    assert conversation.state == state
    assert conversation.active
    assert conversation.finished_at is None
    assert conversation.created_at == conversation.updated_at
    assert is_utc(conversation.created_at)
    assert storage.active_conversation(user.id) == conversation
    assert storage.conversations(user.id) == [conversation]


def test_starting_again_archives_the_previous_conversation(storage):
    user = make_user(storage)
    first = storage.start_conversation(user.id, "alliance", {"n": 1})
    second = storage.start_conversation(user.id, "alliance", {"n": 2})
    assert storage.active_conversation(user.id) == second
    listed = storage.conversations(user.id)
    assert [c.id for c in listed] == [first.id, second.id]  # oldest first
    archived = listed[0]
    assert not archived.active
    assert archived.state == {"n": 1}
    # Archiving moves the version, so a step still in flight on it fails.
    assert archived.version > first.version
    with pytest.raises(StaleConversation):
        storage.save_step(first.id, expected_version=first.version, state={})
    third = storage.start_conversation(user.id, "other", {})
    assert [c.active for c in storage.conversations(user.id)] == [False, False, True]
    assert storage.active_conversation(user.id) == third


def test_conversations_belong_to_their_user(storage):
    alice = make_user(storage, "tg:1")
    bob = make_user(storage, "tg:2")
    mine = storage.start_conversation(alice.id, "alliance", {})
    theirs = storage.start_conversation(bob.id, "alliance", {})
    assert storage.active_conversation(alice.id) == mine
    assert storage.active_conversation(bob.id) == theirs
    assert storage.conversations(alice.id) == [mine]


def test_start_conversation_for_unknown_user_raises(storage):
    with pytest.raises(StorageError):
        storage.start_conversation(404, "alliance", {})


# Steps and answers


def test_save_step_stores_state_and_answers(storage):
    user = make_user(storage)
    conversation = storage.start_conversation(user.id, "alliance", {"node": "q1"})
    version = storage.save_step(
        conversation.id,
        expected_version=conversation.version,
        state={"node": "q2"},
        answers=[AnswerWrite("q1", "yes")],
    )
    assert version == conversation.version + 1
    current = storage.active_conversation(user.id)
    assert current.version == version
    assert current.state == {"node": "q2"}
    assert current.updated_at >= conversation.updated_at
    assert current.finished_at is None
    assert storage.current_answers(conversation.id) == {"q1": "yes"}


def test_answer_values_round_trip(storage):
    user = make_user(storage)
    conversation = storage.start_conversation(user.id, "alliance", {})
    values = {
        "text": "Énergie « verte » ✓",
        "zero": 0,
        "false": False,
        "empty": "",
        "float": 2.5,
        "list": [1, "two", None],
        "dict": {"a": [True, {"b": -3}]},
    }
    storage.save_step(
        conversation.id,
        expected_version=conversation.version,
        state={},
        answers=[AnswerWrite(question, value) for question, value in values.items()],
    )
    assert storage.current_answers(conversation.id) == values
    assert list(storage.current_answers(conversation.id)) == list(values)  # answer order


def test_new_answer_supersedes_and_history_keeps_order(storage):
    user = make_user(storage)
    conversation = storage.start_conversation(user.id, "alliance", {})
    with time_machine.travel(T0, tick=False):
        version = storage.save_step(
            conversation.id,
            expected_version=conversation.version,
            state={},
            answers=[AnswerWrite("q1", "a"), AnswerWrite("q2", "b")],
        )
    later = T0 + timedelta(minutes=5)
    with time_machine.travel(later, tick=False):
        storage.save_step(
            conversation.id, expected_version=version, state={}, answers=[AnswerWrite("q1", "c")]
        )
    assert storage.current_answers(conversation.id) == {"q2": "b", "q1": "c"}
    assert storage.answer_history(conversation.id) == [
        Answer(conversation.id, "q1", "a", T0, superseded_at=later),
        Answer(conversation.id, "q2", "b", T0),
        Answer(conversation.id, "q1", "c", later),
    ]
    assert all(is_utc(a.answered_at) for a in storage.answer_history(conversation.id))


def test_none_removes_the_current_answer_and_keeps_history(storage):
    user = make_user(storage)
    conversation = storage.start_conversation(user.id, "alliance", {})
    version = storage.save_step(
        conversation.id,
        expected_version=conversation.version,
        state={},
        answers=[AnswerWrite("q1", "a"), AnswerWrite("q2", "b")],
    )
    storage.save_step(
        conversation.id, expected_version=version, state={}, answers=[AnswerWrite("q1", None)]
    )
    assert storage.current_answers(conversation.id) == {"q2": "b"}
    history = storage.answer_history(conversation.id)
    assert [(a.question_id, a.value) for a in history] == [("q1", "a"), ("q2", "b")]
    assert history[0].superseded_at is not None
    assert history[1].superseded_at is None


def test_removing_an_unanswered_question_is_harmless(storage):
    user = make_user(storage)
    conversation = storage.start_conversation(user.id, "alliance", {})
    storage.save_step(
        conversation.id,
        expected_version=conversation.version,
        state={},
        answers=[AnswerWrite("q9", None)],
    )
    assert storage.current_answers(conversation.id) == {}
    assert storage.answer_history(conversation.id) == []


def test_same_question_twice_in_one_step_keeps_the_last(storage):
    user = make_user(storage)
    conversation = storage.start_conversation(user.id, "alliance", {})
    storage.save_step(
        conversation.id,
        expected_version=conversation.version,
        state={},
        answers=[AnswerWrite("q1", "first"), AnswerWrite("q1", "second")],
    )
    assert storage.current_answers(conversation.id) == {"q1": "second"}
    assert [a.value for a in storage.answer_history(conversation.id)] == ["first", "second"]


def test_answers_belong_to_their_conversation(storage):
    user = make_user(storage)
    old = storage.start_conversation(user.id, "alliance", {})
    storage.save_step(
        old.id, expected_version=old.version, state={}, answers=[AnswerWrite("q1", "old")]
    )
    new = storage.start_conversation(user.id, "alliance", {})
    assert storage.current_answers(new.id) == {}
    assert storage.answer_history(new.id) == []
    assert storage.current_answers(old.id) == {"q1": "old"}


def test_finishing_sets_finished_at_once(storage):
    user = make_user(storage)
    conversation = storage.start_conversation(user.id, "alliance", {})
    with time_machine.travel(T0, tick=False):
        version = storage.save_step(
            conversation.id, expected_version=conversation.version, state={}, finished=True
        )
    finished = storage.active_conversation(user.id)
    assert finished.finished_at == T0
    assert finished.active  # still the current conversation, e.g. to show the diagnosis
    with time_machine.travel(T0 + timedelta(days=1), tick=False):
        version = storage.save_step(conversation.id, expected_version=version, state={"x": 1})
        storage.save_step(conversation.id, expected_version=version, state={}, finished=True)
    assert storage.active_conversation(user.id).finished_at == T0


# Concurrency and duplicates: a refused step writes nothing


def snapshot(storage, user):
    conversation = storage.active_conversation(user.id)
    return (
        conversation,
        storage.current_answers(conversation.id),
        storage.answer_history(conversation.id),
    )


def test_stale_version_raises_and_writes_nothing(storage):
    user = make_user(storage)
    conversation = storage.start_conversation(user.id, "alliance", {"node": "q1"})
    storage.save_step(
        conversation.id,
        expected_version=conversation.version,
        state={"node": "q2"},
        answers=[AnswerWrite("q1", "a")],
    )
    before = snapshot(storage, user)
    with pytest.raises(StaleConversation):
        storage.save_step(
            conversation.id,
            expected_version=conversation.version,  # the version before the first step
            state={"node": "elsewhere"},
            answers=[AnswerWrite("q1", "z"), AnswerWrite("q2", "z")],
            update_id=99,
            finished=True,
        )
    assert snapshot(storage, user) == before
    assert not storage.is_processed(99)


def test_unknown_conversation_is_stale(storage):
    with pytest.raises(StaleConversation):
        storage.save_step(404, expected_version=1, state={}, update_id=5)
    assert not storage.is_processed(5)


def test_duplicate_update_raises_and_writes_nothing(storage):
    user = make_user(storage)
    conversation = storage.start_conversation(user.id, "alliance", {})
    version = storage.save_step(
        conversation.id,
        expected_version=conversation.version,
        state={"n": 1},
        answers=[AnswerWrite("q1", "a")],
        update_id=7,
    )
    assert storage.is_processed(7)
    before = snapshot(storage, user)
    with pytest.raises(DuplicateUpdate):
        storage.save_step(
            conversation.id,
            expected_version=version,
            state={"n": 2},
            answers=[AnswerWrite("q1", "b")],
            update_id=7,
        )
    assert snapshot(storage, user) == before
    # Checked before the version: a redelivered update is a duplicate, even if stale too.
    with pytest.raises(DuplicateUpdate):
        storage.save_step(conversation.id, expected_version=version - 1, state={}, update_id=7)


def test_mark_processed(storage):
    user = make_user(storage)
    assert not storage.is_processed(1)
    assert storage.mark_processed(1) is True
    assert storage.mark_processed(1) is False
    assert storage.mark_processed(2, user.id) is True
    assert storage.is_processed(1)
    assert storage.is_processed(2)
    conversation = storage.start_conversation(user.id, "alliance", {})
    with pytest.raises(DuplicateUpdate):
        storage.save_step(conversation.id, expected_version=1, state={}, update_id=2)
    assert storage.active_conversation(user.id).version == conversation.version


def test_non_json_state_raises_before_writing(storage):
    user = make_user(storage)
    conversation = storage.start_conversation(user.id, "alliance", {})
    with pytest.raises(TypeError):
        storage.save_step(
            conversation.id,
            expected_version=conversation.version,
            state={"bad": object()},
            update_id=3,
        )
    assert not storage.is_processed(3)
    assert storage.active_conversation(user.id) == conversation


# Erasure


def links_to(table, row, gone):
    """Why a row still points to the erased user, or None if it does not."""
    for column, value in row.items():
        if column == "user_id" and value == gone["user"]:
            return "user_id"
        if column == "conversation_id" and value in gone["conversations"]:
            return "conversation_id"
        if column == "update_id" and value in gone["updates"]:
            return "update_id"
    if table == "users" and (row["id"] == gone["user"] or row["key"] == gone["key"]):
        return "id"
    if table == "conversations" and row["id"] in gone["conversations"]:
        return "id"
    return None


def test_delete_user_erases_every_row_of_theirs(storage, storage_backend):
    def populate(user, first_update):
        old = storage.start_conversation(user.id, "alliance", {"who": user.key})
        storage.save_step(old.id, expected_version=1, state={}, answers=[AnswerWrite("q1", "a")])
        new = storage.start_conversation(user.id, "alliance", {"who": user.key})
        version = storage.save_step(
            new.id,
            expected_version=1,
            state={},
            answers=[AnswerWrite("q1", "b")],
            update_id=first_update,
        )
        storage.save_step(
            new.id,
            expected_version=version,
            state={},
            answers=[AnswerWrite("q1", None)],
            update_id=first_update + 1,
        )
        storage.mark_processed(first_update + 2, user.id)
        # Reminders: about a conversation, about none, and one already sent (history).
        storage.add_reminder(
            user.id, kind="todo", ref="q1", due_at=T0, conversation_id=old.id, payload={"k": 1}
        )
        storage.add_reminder(user.id, kind="nudge", ref="nudge-1", due_at=T0)
        earlier = T0 - timedelta(days=1)
        sent = storage.add_reminder(user.id, kind="review", ref="review-1", due_at=earlier)
        for claimed in storage.claim_due(earlier, worker="w", lease=timedelta(hours=1), limit=9):
            storage.mark_sent(claimed.id, worker="w")
        assert storage.get_reminder(sent.id, user_id=user.id).status == "sent"
        return [old.id, new.id]

    alice = make_user(storage, "tg:1")
    bob = make_user(storage, "tg:2")
    alice_conversations = populate(alice, 100)
    populate(bob, 200)
    storage.mark_processed(300)  # an update of nobody's
    bob_before = {
        "user": storage.get_user("tg:2"),
        "conversations": storage.conversations(bob.id),
        "history": [storage.answer_history(c.id) for c in storage.conversations(bob.id)],
        "reminders": storage.pending_reminders(bob.id),
    }

    alice_reminders = [r.id for r in storage.pending_reminders(alice.id)]
    assert len(alice_reminders) == 2

    storage.delete_user(alice.id)

    gone = {
        "user": alice.id,
        "key": alice.key,
        "conversations": set(alice_conversations),
        "updates": {100, 101, 102},
    }
    tables = storage_backend.tables() - {"schema_migrations"}
    assert {"users", "conversations", "answers", "processed_updates", "reminders"} <= tables
    for table in sorted(tables):
        rows = storage_backend.rows(table)
        assert rows, f"{table} is empty: this test would not notice leftovers there"
        columns = set(rows[0])
        assert columns & {"user_id", "conversation_id", "update_id"} or table == "users", (
            f"table {table} has no user_id, conversation_id or update_id column: teach this "
            "test how its rows link to a user"
        )
        leftovers = [row for row in rows if links_to(table, row, gone)]
        assert leftovers == [], f"{table} still holds the erased user's rows"

    assert storage.get_user("tg:1") is None
    assert storage.conversations(alice.id) == []
    assert all(storage.answer_history(cid) == [] for cid in alice_conversations)
    assert not storage.is_processed(100)
    assert storage.is_processed(300)
    assert storage.pending_reminders(alice.id) == []
    assert all(storage.get_reminder(rid, user_id=alice.id) is None for rid in alice_reminders)
    assert storage.pending_reminders(bob.id) == bob_before["reminders"]
    assert storage.get_user("tg:2") == bob_before["user"]
    assert storage.conversations(bob.id) == bob_before["conversations"]
    assert [storage.answer_history(c.id) for c in storage.conversations(bob.id)] == bob_before[
        "history"
    ]
    # The key can come back; it gets a new id (ids are never reused).
    assert make_user(storage, "tg:1").id not in (alice.id, bob.id)


def test_delete_unknown_user_is_harmless(storage):
    storage.delete_user(404)


# Time and lifecycle


def test_timestamps_are_the_utc_instant(storage):
    paris = datetime(2030, 7, 1, 12, 30, 15, 987654, tzinfo=ZoneInfo("Europe/Paris"))
    with time_machine.travel(paris, tick=False):
        user = make_user(storage)
        conversation = storage.start_conversation(user.id, "alliance", {})
        storage.save_step(
            conversation.id, expected_version=1, state={}, answers=[AnswerWrite("q", 1)]
        )
    stored = storage.active_conversation(user.id)
    moments = [
        storage.get_user(user.key).created_at,
        stored.created_at,
        stored.updated_at,
        storage.answer_history(conversation.id)[0].answered_at,
    ]
    for moment in moments:
        assert moment == paris
        assert moment.tzinfo is UTC


def test_a_second_handle_sees_everything(storage, storage_backend):
    user = make_user(storage)
    conversation = storage.start_conversation(user.id, "alliance", {"node": "q2"})
    storage.save_step(
        conversation.id,
        expected_version=1,
        state={"n": 1},
        answers=[AnswerWrite("q1", "a")],
        update_id=1,
    )
    other = storage_backend.open()
    other.migrate()
    assert other.get_user(user.key) == storage.get_user(user.key)
    assert other.conversations(user.id) == storage.conversations(user.id)
    assert other.answer_history(conversation.id) == storage.answer_history(conversation.id)
    assert other.is_processed(1)


def test_closed_storage_raises_storage_error(storage):
    storage.close()
    storage.close()  # harmless
    with pytest.raises(StorageError):
        storage.get_user("tg:1")
    with pytest.raises(StorageError):
        storage.mark_processed(1)


# SQLite specifics


def test_sqlite_reopened_file_keeps_everything(tmp_path):
    path = tmp_path / "bot.db"
    with time_machine.travel(T0, tick=False):
        storage = open_storage(f"sqlite:///{path}")
        storage.migrate()
        user = storage.get_or_create_user("tg:1", lang="en", tz="UTC")
        user = storage.update_user(user.id, blocked_at=T0)
        old = storage.start_conversation(user.id, "alliance", {})
        conversation = storage.start_conversation(user.id, "alliance", {"node": "q3"})
        storage.save_step(
            conversation.id,
            expected_version=1,
            state={"node": "end"},
            answers=[AnswerWrite("q1", {"a": 1}), AnswerWrite("q2", "x")],
            update_id=42,
            finished=True,
        )
        storage.save_step(
            conversation.id, expected_version=2, state={}, answers=[AnswerWrite("q2", None)]
        )
        expected = (
            storage.get_user("tg:1"),
            storage.conversations(user.id),
            storage.current_answers(conversation.id),
            storage.answer_history(conversation.id),
        )
        storage.close()

    reopened = open_storage(str(path))
    try:
        reopened.migrate()
        assert (
            reopened.get_user("tg:1"),
            reopened.conversations(user.id),
            reopened.current_answers(conversation.id),
            reopened.answer_history(conversation.id),
        ) == expected
        assert expected[0].blocked_at == T0
        assert [c.id for c in expected[1]] == [old.id, conversation.id]
        assert reopened.is_processed(42)
    finally:
        reopened.close()


def test_sqlite_files_are_private(tmp_path):
    path = tmp_path / "new" / "dir" / "bot.db"
    storage = SqliteStorage(path)
    try:
        storage.migrate()
        storage.get_or_create_user("tg:1", lang="fr", tz="UTC")  # so the WAL files exist
        files = [p for p in path.parent.iterdir() if p.name.startswith("bot.db")]
        assert {p.name for p in files} >= {"bot.db", "bot.db-wal"}
        for file in files:
            assert stat.S_IMODE(os.stat(file).st_mode) == 0o600, file.name
        assert stat.S_IMODE(os.stat(path.parent).st_mode) == 0o700
    finally:
        storage.close()


def test_sqlite_connection_settings(tmp_path):
    storage = SqliteStorage(tmp_path / "bot.db")
    conn = storage._conn
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert conn.execute("PRAGMA busy_timeout").fetchone()[0] == 5000
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    storage.close()


def test_sqlite_not_a_database(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("not a database, just some text that is long enough " * 20)
    with pytest.raises(StorageError):
        SqliteStorage(path)


def test_sqlite_in_memory():
    storage = open_storage("sqlite://")
    try:
        storage.migrate()
        assert make_user(storage).key == "tg:1"
    finally:
        storage.close()


# PostgreSQL specifics


@POSTGRES_ONLY
def test_postgres_reconnects_once_after_losing_the_connection(storage, storage_backend, pg_admin):
    user = make_user(storage)

    def kill_connection():
        pid = storage._conn.info.backend_pid
        pg_admin.execute("SELECT pg_terminate_backend(%s)", (pid,))

    kill_connection()
    assert storage.get_user(user.key) == user  # a read
    kill_connection()
    conversation = storage.start_conversation(user.id, "alliance", {})  # a write
    assert storage.active_conversation(user.id) == conversation
    # The search_path is restored on the new connection: the schema's tables are found.
    assert storage._conn.execute("SHOW search_path").fetchone()[0] == storage_backend.schema
    storage._conn.rollback()


@POSTGRES_ONLY
def test_postgres_lost_and_unreachable_raises_storage_error(storage, storage_backend, pg_admin):
    pg_admin.execute("SELECT pg_terminate_backend(%s)", (storage._conn.info.backend_pid,))
    storage._conninfo = "host=127.0.0.1 port=1 dbname=test user=postgres connect_timeout=2"
    with pytest.raises(StorageError, match="cannot connect"):
        storage.get_user("tg:1")


@pytest.mark.postgres
def test_postgres_unreachable_server_raises_storage_error(pg_admin):
    with pytest.raises(StorageError, match="cannot connect"):
        PostgresStorage("postgresql://postgres@127.0.0.1:1/test")


@POSTGRES_ONLY
def test_postgres_concurrent_steps_on_one_conversation(storage, storage_backend):
    user = make_user(storage)
    conversation = storage.start_conversation(user.id, "alliance", {})
    other = storage_backend.open()
    # Two replicas read version 1; the first to write wins, the second is told it is stale.
    other.save_step(conversation.id, expected_version=1, state={"by": "other"}, update_id=1)
    with pytest.raises(StaleConversation):
        storage.save_step(conversation.id, expected_version=1, state={"by": "me"}, update_id=2)
    with pytest.raises(DuplicateUpdate):
        storage.save_step(conversation.id, expected_version=2, state={"by": "me"}, update_id=1)
    assert storage.active_conversation(user.id).state == {"by": "other"}
    assert not storage.is_processed(2)


# The factory


def test_open_storage_sqlite_forms(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for url, expected in [
        ("sqlite:///relative/a.db", tmp_path / "relative" / "a.db"),
        (f"sqlite:///{tmp_path}/absolute/b.db", tmp_path / "absolute" / "b.db"),
        ("plain/c.db", tmp_path / "plain" / "c.db"),
        (str(tmp_path / "d.db"), tmp_path / "d.db"),
    ]:
        storage = open_storage(url)
        try:
            assert isinstance(storage, SqliteStorage)
            assert expected.exists(), url
        finally:
            storage.close()


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
def test_open_storage_postgres(scheme, pg_admin):
    schema = f"test_factory_{uuid.uuid4().hex[:12]}"
    pg_admin.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
    pg_admin.execute(f"CREATE SCHEMA {schema}")
    base = PG_URL.split("://", 1)[1]
    separator = "&" if "?" in base else "?"
    url = f"{scheme}{base}{separator}options=-csearch_path%3D{schema}"
    storage = open_storage(url)
    try:
        assert isinstance(storage, PostgresStorage)
        storage.migrate()
        make_user(storage)
        with psycopg.connect(PG_URL) as conn:
            count = conn.execute(f"SELECT count(*) FROM {schema}.users").fetchone()[0]
        assert count == 1
    finally:
        storage.close()
        pg_admin.execute(f"DROP SCHEMA {schema} CASCADE")
