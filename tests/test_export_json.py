"""The data-portability export: valid against its schema, and the same as the database holds."""

import datetime as dt
import json
import sqlite3
from contextlib import closing

import jsonschema
import pytest

from bot.export.jsondata import SCHEMA_PATH, to_json, user_data
from bot.storage.base import AnswerWrite
from tests.storage_fixtures import add_user
from tests.test_export_fixtures import (
    ARABIC,
    CJK,
    EMOJI,
    NOW,
    answers_for,
    load_engine,
    longest_text,
    open_sqlite,
    record,
)


@pytest.fixture(scope="module")
def export_engine(tmp_path_factory):
    return load_engine(tmp_path_factory.mktemp("dialogue"))


@pytest.fixture(scope="module")
def schema():
    data = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(data)
    return data


def validate(schema, data):
    jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker()).validate(
        data
    )


def rows(path, sql, *args):
    with closing(sqlite3.connect(path)) as conn:
        conn.row_factory = sqlite3.Row
        return [dict(row) for row in conn.execute(sql, args)]


def when(text):
    """A stored or exported time, as an aware datetime."""
    return None if text is None else dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


@pytest.fixture
async def database(tmp_path, export_engine):
    """Two users; the first has an archived project, edits, a removal, and is blocked."""
    storage = await open_sqlite(tmp_path)
    engine = export_engine
    user = await record(
        storage, engine, answers_for(engine, {"company": "Ancien projet"}), done=True
    )
    answers = answers_for(engine, {"company": f"Nouveau {EMOJI}", "partner": f"{CJK} {ARABIC}"})
    user = await record(storage, engine, answers, done=False)  # the first one is archived
    conversation = await storage.active_conversation(user.id)
    version = await storage.save_step(
        conversation.id,
        expected_version=conversation.version,
        state=conversation.state,
        answers=[AnswerWrite("company", "Nouveau nom"), AnswerWrite("note", None)],
    )
    assert version > conversation.version
    user = await storage.update_user(
        user.id, blocked_at=dt.datetime(2026, 11, 20, 8, tzinfo=dt.UTC)
    )
    await storage.add_reminder(
        user.id,
        kind="next_step",
        ref="write_strategy",
        due_at=dt.datetime(2026, 12, 3, 8, tzinfo=dt.UTC),
        payload={"step": "write_strategy"},
        conversation_id=conversation.id,
    )
    await storage.add_reminder(
        user.id, kind="nudge", ref="nudge-1", due_at=dt.datetime(2026, 11, 29, 8, tzinfo=dt.UTC)
    )
    other = await record(storage, engine, {"company": "Someone else"}, key="tg:777")
    await storage.add_reminder(
        other.id, kind="nudge", ref="nudge-1", due_at=dt.datetime(2026, 11, 28, tzinfo=dt.UTC)
    )
    yield storage, user, str(tmp_path / "alliance.db")
    await storage.close()


async def test_export_is_valid_against_the_schema(schema, database):
    storage, user, _ = database
    data = await user_data(storage, user, now=NOW)
    validate(schema, data)
    assert data["exported_at"] == "2026-11-26T09:30:00Z"
    assert [r["ref"] for r in data["reminders"]] == ["nudge-1", "write_strategy"]  # soonest first


async def test_export_round_trips_to_the_database(database):
    storage, user, path = database
    data = json.loads(to_json(await user_data(storage, user, now=NOW)).decode("utf-8"))

    [user_row] = rows(path, "SELECT * FROM users WHERE id = ?", user.id)
    exported = data["user"]
    assert exported["id"] == user_row["id"]
    assert exported["key"] == user_row["key"] == "tg:4242"
    assert (exported["lang"], exported["tz"]) == (user_row["lang"], user_row["tz"])
    assert when(exported["created_at"]) == when(user_row["created_at"])
    assert when(exported["blocked_at"]) == when(user_row["blocked_at"])

    conversation_rows = rows(
        path, "SELECT * FROM conversations WHERE user_id = ? ORDER BY id", user.id
    )
    assert [c["id"] for c in data["conversations"]] == [c["id"] for c in conversation_rows]
    assert [c["active"] for c in data["conversations"]] == [False, True]
    for conversation, row in zip(data["conversations"], conversation_rows, strict=True):
        assert "version" not in conversation  # bookkeeping, not the user's data
        assert conversation["dialogue_id"] == row["dialogue_id"]
        assert conversation["active"] == bool(row["active"])
        assert conversation["state"] == json.loads(row["state"])
        for key in ("created_at", "updated_at", "finished_at"):
            assert when(conversation[key]) == when(row[key])
        answer_rows = rows(
            path, "SELECT * FROM answers WHERE conversation_id = ? ORDER BY id", row["id"]
        )
        assert len(conversation["history"]) == len(answer_rows)
        for item, answer in zip(conversation["history"], answer_rows, strict=True):
            assert item["question_id"] == answer["question_id"]
            assert item["value"] == json.loads(answer["value"])
            assert when(item["answered_at"]) == when(answer["answered_at"])
            assert when(item["superseded_at"]) == when(answer["superseded_at"])
        current = {
            a["question_id"]: json.loads(a["value"])
            for a in answer_rows
            if a["superseded_at"] is None
        }
        assert conversation["answers"] == current
        assert list(conversation["answers"]) == list(current)  # the order given

    reminder_rows = rows(
        path, "SELECT * FROM reminders WHERE user_id = ? ORDER BY due_at, id", user.id
    )
    assert len(data["reminders"]) == len(reminder_rows) == 2
    for reminder, row in zip(data["reminders"], reminder_rows, strict=True):
        assert set(reminder) >= {"id", "kind", "ref", "payload", "due_at", "status"}
        assert not set(reminder) & {"attempts", "claimed_by", "claimed_until"}  # bookkeeping
        assert reminder["id"] == row["id"]
        assert reminder["conversation_id"] == row["conversation_id"]
        assert (reminder["kind"], reminder["ref"]) == (row["kind"], row["ref"])
        assert reminder["payload"] == json.loads(row["payload"])
        assert reminder["status"] == row["status"] == "pending"
        for key in ("due_at", "sent_at", "created_at", "updated_at"):
            assert when(reminder[key]) == when(row[key])


async def test_history_keeps_edits_and_removals(database):
    storage, user, _ = database
    active = (await user_data(storage, user, now=NOW))["conversations"][-1]
    companies = [a for a in active["history"] if a["question_id"] == "company"]
    assert [a["value"] for a in companies] == [f"Nouveau {EMOJI}", "Nouveau nom"]
    assert companies[0]["superseded_at"] is not None
    assert companies[1]["superseded_at"] is None
    assert active["answers"]["company"] == "Nouveau nom"
    assert "note" not in active["answers"]  # removed, but still in the history
    assert any(a["question_id"] == "note" for a in active["history"])


async def test_only_this_users_data(database):
    storage, user, _ = database
    text = to_json(await user_data(storage, user, now=NOW)).decode("utf-8")
    assert "Someone else" not in text
    assert "tg:777" not in text


async def test_json_is_utf8_and_keeps_every_script(database):
    storage, user, _ = database
    raw = to_json(await user_data(storage, user, now=NOW))
    text = raw.decode("utf-8")
    for sample in (EMOJI, CJK, ARABIC):
        assert sample in text  # as typed, not \\u escapes


async def test_a_user_without_conversations(schema, tmp_path):
    storage = await open_sqlite(tmp_path)
    try:
        user = await add_user(storage, "cli:alice", lang="en", tz="UTC")
        data = await user_data(storage, user, now=NOW)
        validate(schema, data)
        assert data["conversations"] == []
        assert data["reminders"] == []
        assert data["user"]["blocked_at"] is None
    finally:
        await storage.close()


async def test_maximum_length_answers_validate(schema, tmp_path, export_engine):
    storage = await open_sqlite(tmp_path)
    try:
        user = await record(storage, export_engine, answers_for(export_engine, text=longest_text))
        data = await user_data(storage, user, now=NOW)
        validate(schema, data)
    finally:
        await storage.close()


async def test_now_must_be_aware(database):
    storage, user, _ = database
    with pytest.raises(ValueError, match="aware"):
        await user_data(storage, user, now=dt.datetime(2026, 11, 26, 9, 30))
