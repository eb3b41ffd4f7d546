"""Migrations (Alembic): an empty database reaches head, idempotently, atomically, safely; a
database made by the bot's earlier migration runner is taken over with every row kept."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import event

from bot.cli import main
from bot.errors import StorageError
from bot.storage import migrations
from tests.storage_fixtures import add_user

TABLES = {
    "alembic_version",
    "users",
    "conversations",
    "answers",
    "processed_updates",
    "reminders",
    "projects",
    "project_members",
    "invitations",
    "gap_comments",
    "advisors",
    "advisor_logins",
    "advisor_sessions",
    "advisor_shares",
    "advisor_notes",
}
LEGACY = Path(__file__).parent / "fixtures" / "legacy"


def revision(backend):
    return [row[0] for row in backend.execute("SELECT version_num FROM alembic_version")]


async def test_empty_database_upgrades_to_head_idempotently(storage_backend):
    storage = storage_backend.open()
    assert storage_backend.tables() == set()
    assert await storage.schema_revision() is None
    await storage.migrate()
    assert storage_backend.tables() == TABLES
    assert revision(storage_backend) == [migrations.head()]

    await storage.migrate()  # again, same handle
    other = storage_backend.open()
    await other.migrate()  # again, as another replica would at its start
    assert revision(storage_backend) == [migrations.head()]
    assert storage_backend.tables() == TABLES
    # And the schema works.
    user = await add_user(other, "tg:1", lang="fr", tz="UTC")
    assert await storage.get_user("tg:1") == user


async def test_a_current_schema_costs_one_query_at_start_up(storage_backend):
    await storage_backend.open().migrate()
    storage = storage_backend.open()
    statements = []

    def seen(conn, cursor, statement, parameters, context, executemany):
        if statement not in ("BEGIN", "BEGIN IMMEDIATE"):
            statements.append(statement)

    event.listen(storage.engine, "before_cursor_execute", seen)
    await storage.migrate()
    assert statements == ["SELECT version_num FROM alembic_version"]


async def test_per_update_lookups_are_indexed(storage_backend):
    await storage_backend.open().migrate()
    assert {
        "conversations_active",  # a user's active conversation
        "answers_current",  # a conversation's current answers
        "conversations_by_user",
        "answers_by_conversation",
        "processed_updates_by_user",  # erasing a user
        "processed_updates_by_time",  # pruning the old ones
        "reminders_due",
        "reminders_by_user",
        "reminders_by_conversation",
        "reminders_pending_key",
        "reminders_by_project",
        "projects_by_owner",
        "project_members_by_user",  # a user's projects, whatever their role
        "conversations_by_project",
        "invitations_by_project",
        "gap_comments_key",
    } <= storage_backend.indexes()


async def test_database_allows_one_active_conversation_per_user_and_project(storage_backend):
    storage = storage_backend.open()
    await storage.migrate()
    user = await add_user(storage, "tg:1", lang="fr", tz="UTC")
    first = await storage.start_conversation(user.id, "alliance", {})
    second, _ = await storage.new_project(user.id, title="B", dialogue_id="alliance", state={})
    now = "'2030-01-01T00:00:00.000000+00:00'"
    active = "1" if storage_backend.name == "sqlite" else "TRUE"
    for project_id in (first.project_id, second.id):
        with pytest.raises((sqlite3.IntegrityError, psycopg.errors.UniqueViolation)):
            storage_backend.execute(
                "INSERT INTO conversations (user_id, dialogue_id, state, version, created_at,"
                f" updated_at, active, project_id) VALUES ({user.id}, 'x', '{{}}', 1, {now},"
                f" {now}, {active}, {project_id})"
            )


async def test_failed_migration_leaves_nothing_behind(storage_backend):
    # A table in the way: the first migration fails half-way, and nothing of it stays.
    storage_backend.create()
    storage_backend.execute("CREATE TABLE reminders (id INTEGER PRIMARY KEY)")
    storage = storage_backend.open()
    with pytest.raises(StorageError):
        await storage.migrate()
    assert storage_backend.tables() == {"reminders"}
    storage_backend.execute("DROP TABLE reminders")
    await storage.migrate()  # the storage still works after the failure
    assert (await add_user(storage, "tg:1", lang="fr", tz="UTC")).key == "tg:1"


async def test_database_from_a_newer_release_is_refused(storage_backend):
    storage = storage_backend.open()
    await storage.migrate()
    storage_backend.execute("UPDATE alembic_version SET version_num = '9999'")
    with pytest.raises(StorageError, match="newer release"):
        await storage_backend.open().migrate()


async def test_replicas_starting_together_migrate_once(storage_backend):
    replicas = [storage_backend.open() for _ in range(4)]
    await asyncio.gather(*(replica.migrate() for replica in replicas))
    assert revision(storage_backend) == [migrations.head()]
    assert storage_backend.tables() == TABLES


async def test_a_replica_opening_a_file_another_is_writing_waits_for_it(tmp_path):
    """Switching a file to WAL needs it to itself, and SQLite refuses at once while another
    connection writes (a replica creating the schema of a new file): the opening replica
    waits for the lock, as for any other, instead of failing to start."""
    import threading

    from bot.storage.database import sqlite_storage

    path = tmp_path / "alliance.db"
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("CREATE TABLE started (x)")  # a new file, not yet in WAL mode
    other.execute("BEGIN IMMEDIATE")
    other.execute("INSERT INTO started VALUES (1)")
    released = threading.Event()

    def release() -> None:
        other.execute("COMMIT")
        released.set()

    timer = threading.Timer(0.3, release)
    timer.start()
    try:
        storage = sqlite_storage(path, busy_timeout=10)
        assert await storage.schema_revision() is None  # connected: no schema yet
        assert released.is_set()
        with sqlite3.connect(path) as check:
            assert check.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        timer.cancel()
        other.close()


async def test_a_new_database_is_created_as_the_migrations_build_it(
    storage_backend, second_backend, monkeypatch
):
    """An empty database is created from the tables and stamped, without the migrations; its
    schema is the one the migrations build, to the last index condition and identity."""
    await _at_revision(storage_backend, "head")  # every migration, run by Alembic

    def no_migrations(*args, **kwargs):
        raise AssertionError("the migrations ran")

    monkeypatch.setattr(migrations, "upgrade", no_migrations)
    await second_backend.open().migrate()

    assert revision(second_backend) == revision(storage_backend) == [migrations.head()]
    created = second_backend.schema_description()
    assert set(created) >= TABLES
    assert "active" in str(created["conversations"]["indexes"])  # partial: WHERE active...
    assert created == storage_backend.schema_description()


async def test_a_database_with_tables_is_never_created_over(storage_backend):
    storage_backend.create()
    storage_backend.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY)")
    await storage_backend.open().migrate()  # the migrations run, the table stays
    assert storage_backend.tables() == TABLES | {"notes"}
    assert revision(storage_backend) == [migrations.head()]


def test_alliance_bot_migrate(tmp_path, capsys):
    url = f"sqlite:///{tmp_path}/bot.db"
    assert main(["migrate", "--database", url]) == 0
    assert main(["migrate", "--database", url]) == 0
    out = capsys.readouterr().out
    assert out.count(f"revision {migrations.head()}") == 2
    with sqlite3.connect(tmp_path / "bot.db") as conn:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
    assert {"users", "reminders", "alembic_version"} <= tables


# A database made by the earlier runner (bot/storage/migrations/NNNN_*.py, schema_migrations).

# Every table, with rows that use every column (NULLs and non-ASCII included).
LEGACY_ROWS = {
    "users": [
        (1, "tg:1", "fr", "Europe/Paris", "2026-01-02T03:04:05.123456+00:00", None),
        (2, "cli:zoé", "en", "UTC", "2026-01-03T00:00:00.000000+00:00",
         "2026-02-01T10:00:00.000001+00:00"),
        (5, "tg:5", "en", "America/Toronto", "2026-01-04T00:00:00.000000+00:00", None),
    ],
    "conversations": [
        (1, 1, "alliance", '{"at":"done"}', 3, "2026-01-02T03:04:06.000000+00:00",
         "2026-01-02T04:00:00.000000+00:00", "2026-01-02T04:00:00.000000+00:00", False),
        (2, 1, "alliance", '{"at":"kind","draft":["x"]}', 7, "2026-01-05T00:00:00.000000+00:00",
         "2026-01-06T00:00:00.000000+00:00", None, True),
        (3, 2, "alliance", "{}", 1, "2026-01-03T00:00:01.000000+00:00",
         "2026-01-03T00:00:01.000000+00:00", None, True),
    ],
    "answers": [
        (1, 2, "company", '"Acmé « SA »"', "2026-01-05T00:00:01.000000+00:00",
         "2026-01-05T00:00:02.000000+00:00"),
        (2, 2, "company", '"Acme"', "2026-01-05T00:00:02.000000+00:00", None),
        (3, 2, "picks", '["x","z"]', "2026-01-05T00:00:03.000000+00:00", None),
        (4, 1, "level", "4", "2026-01-02T03:05:00.000000+00:00", None),
    ],
    "processed_updates": [
        (100, 1, "2026-01-05T00:00:01.000000+00:00"),
        (101, None, "2026-01-05T00:00:02.000000+00:00"),
        (102, 2, "2026-01-05T00:00:03.000000+00:00"),
    ],
    "reminders": [
        (1, 1, 2, "todo", "kind", '{"question":"kind"}', "2026-03-01T08:00:00.000000+00:00",
         "pending", 0, None, None, None, "2026-01-05T00:00:01.000000+00:00",
         "2026-01-05T00:00:01.000000+00:00"),
        (2, 1, 1, "review", "1", '{"number":1}', "2026-02-01T08:00:00.000000+00:00",
         "sent", 1, None, None, "2026-02-01T08:00:01.000000+00:00",
         "2026-01-02T04:00:00.000000+00:00", "2026-02-01T08:00:01.000000+00:00"),
        (3, 2, None, "nudge", "nudge-1", "{}", "2026-01-10T08:00:00.000000+00:00",
         "pending", 2, "host:12", "2026-01-10T08:02:00.000000+00:00", None,
         "2026-01-03T00:00:01.000000+00:00", "2026-01-10T08:00:00.000000+00:00"),
        (4, 5, None, "nudge", "nudge-2", "{}", "2026-01-11T08:00:00.000000+00:00",
         "cancelled", 0, None, None, None, "2026-01-04T00:00:00.000000+00:00",
         "2026-01-05T00:00:00.000000+00:00"),
    ],
}  # fmt: skip


def _legacy_schema(backend, versions):
    """The tables the earlier runner made, at these versions (1: checklist, 2: reminders)."""
    backend.create()
    lines = (LEGACY / f"{backend.name}.sql").read_text().splitlines()
    script = "\n".join(line for line in lines if not line.startswith("--"))
    statements = [text.strip() for text in script.split(";\n") if text.strip()]
    for statement in statements:
        if 2 not in versions and "reminders" in statement:
            continue
        backend.execute(statement)
    for version in versions:
        name = {1: "0001_initial", 2: "0002_reminders"}[version]
        backend.execute(
            "INSERT INTO schema_migrations (version, name, applied_at)"
            f" VALUES ({version}, '{name}', '2026-01-01T00:00:00.000000+00:00')"
        )


def _fill(backend, tables):
    sqlite = backend.name == "sqlite"
    for table in tables:
        for row in LEGACY_ROWS[table]:
            values = ", ".join(_literal(value, sqlite) for value in row)
            overriding = (
                "" if sqlite or table == "processed_updates" else " OVERRIDING SYSTEM VALUE"
            )
            backend.execute(f"INSERT INTO {table}{overriding} VALUES ({values})")
        if not sqlite and table != "processed_updates":  # as if the ids had been generated
            backend.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), max(id)) FROM {table}"
            )


def _literal(value, sqlite):
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return ("1" if value else "0") if sqlite else ("TRUE" if value else "FALSE")
    if isinstance(value, int):
        return str(value)
    return "'" + value.replace("'", "''") + "'"


def _all_rows(backend, tables):
    """Every row of these tables, in the columns the earlier schema had (later migrations add
    columns at the end)."""
    found = {}
    for table in tables:
        width = len(LEGACY_ROWS[table][0])
        rows = backend.execute(f"SELECT * FROM {table} ORDER BY 1")
        found[table] = [row[:width] for row in rows]
    return found


async def test_a_database_of_the_earlier_runner_upgrades_keeping_every_row(storage_backend):
    tables = list(LEGACY_ROWS)
    _legacy_schema(storage_backend, [1, 2])
    _fill(storage_backend, tables)
    before = _all_rows(storage_backend, tables)
    assert [len(rows) for rows in before.values()] == [len(r) for r in LEGACY_ROWS.values()]

    storage = storage_backend.open()
    await storage.migrate()

    assert _all_rows(storage_backend, tables) == before  # every row, every column, as it was
    assert storage_backend.tables() == TABLES  # the earlier runner's own table is gone
    assert revision(storage_backend) == [migrations.head()]
    assert "processed_updates_by_time" in storage_backend.indexes()
    # The storage reads the old rows as it reads its own ...
    snapshot = await storage.load("tg:1", 100)
    assert snapshot.processed
    assert snapshot.conversation is not None
    assert snapshot.conversation.id == 2
    assert snapshot.conversation.state == {"at": "kind", "draft": ["x"]}
    assert snapshot.answers == {"company": "Acme", "picks": ["x", "z"]}
    zoe = await storage.get_user("cli:zoé")
    assert zoe is not None
    assert zoe.blocked_at is not None
    assert zoe.blocked_at.isoformat() == "2026-02-01T10:00:00.000001+00:00"
    history = await storage.answer_history(2)
    assert [a.value for a in history] == ["Acmé « SA »", "Acme", ["x", "z"]]
    statuses = [r.status for r in await storage.user_reminders(1)]
    assert statuses == ["sent", "pending"]  # soonest first
    # ... and goes on from them: ids are not reused, the indexes hold.
    step = await storage.save_step(
        2, expected_version=7, state={"at": "level"}, answers=[], update_id=103
    )
    assert step == 8
    newcomer = await add_user(storage, "tg:9", lang="fr", tz="UTC")
    assert newcomer.id > 5
    again = await storage.add_reminder(1, kind="todo", ref="kind", due_at=zoe.blocked_at)
    assert again.id == 1  # the pending twin moved, not duplicated
    await storage.migrate()  # and once at head, nothing more happens
    assert revision(storage_backend) == [migrations.head()]


async def test_a_database_of_the_earlier_runner_at_version_1_gets_reminders(storage_backend):
    tables = ["users", "conversations", "answers", "processed_updates"]
    _legacy_schema(storage_backend, [1])
    _fill(storage_backend, tables)
    before = _all_rows(storage_backend, tables)
    storage = storage_backend.open()
    await storage.migrate()
    assert _all_rows(storage_backend, tables) == before
    assert storage_backend.tables() == TABLES
    due = datetime(2026, 3, 1, 8, tzinfo=UTC)
    reminder = await storage.add_reminder(1, kind="todo", ref="kind", due_at=due)
    assert await storage.pending_reminders(1) == [reminder]


async def test_a_database_of_the_earlier_runner_from_a_newer_release_is_refused(
    storage_backend,
):
    _legacy_schema(storage_backend, [1, 2])
    storage_backend.execute(
        "INSERT INTO schema_migrations (version, name, applied_at)"
        " VALUES (3, '0003_future', '2026-01-01T00:00:00.000000+00:00')"
    )
    with pytest.raises(StorageError, match="newer release"):
        await storage_backend.open().migrate()
    assert "schema_migrations" in storage_backend.tables()


def test_the_head_read_without_alembic_is_alembics():
    """migrations.head() reads the scripts' revision lines; Alembic agrees."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(migrations.FOLDER))
    assert migrations.head() == ScriptDirectory.from_config(config).get_current_head()


# A database written by the release before projects (revision 0002): every user's walks become
# their first project.


async def _at_revision(backend, target):
    """A database migrated up to target, as that release left it."""
    backend.create()
    storage = backend.open()
    with storage.engine.begin() as conn:
        migrations.upgrade(conn, target)
    return storage


async def test_a_database_before_projects_gets_one_project_per_user_keeping_every_row(
    storage_backend,
):
    tables = list(LEGACY_ROWS)
    await _at_revision(storage_backend, "0002")
    assert revision(storage_backend) == ["0002"]
    _fill(storage_backend, tables)
    before = _all_rows(storage_backend, tables)

    storage = storage_backend.open()
    await storage.migrate()

    assert revision(storage_backend) == [migrations.head()]
    assert _all_rows(storage_backend, tables) == before  # every row, every column, as it was
    # Each user with walks owns one project holding all of them, and it is their current one.
    owners = storage_backend.execute("SELECT owner_id, title FROM projects ORDER BY id")
    assert owners == [(1, None), (2, None)]
    ana_views = await storage.user_projects(1)
    [ana_project] = [view.project for view in ana_views]
    assert [(view.role, view.current) for view in ana_views] == [("owner", True)]
    assert ana_views[0].conversation.id == 2  # the active walk; walk 1 stays archived in it
    assert ana_views[0].answers == {"company": "Acme", "picks": ["x", "z"]}
    assert {c.project_id for c in await storage.conversations(1)} == {ana_project.id}
    assert (await storage.get_user("tg:1")).current_project_id == ana_project.id
    assert ana_project.created_at.isoformat() == "2026-01-02T03:04:06+00:00"  # its first walk
    zoe_project = (await storage.user_projects(2))[0].project
    # A user who never started a walk has no project yet.
    assert (await storage.get_user("tg:5")).current_project_id is None
    assert await storage.user_projects(5) == []
    # Reminders name the project: of their walk, or else of their user.
    projects_of = dict(storage_backend.execute("SELECT id, project_id FROM reminders"))
    assert projects_of == {1: ana_project.id, 2: ana_project.id, 3: zoe_project.id, 4: None}

    # The storage goes on from there: the per-update read names the project ...
    snapshot = await storage.load("tg:1", 100)
    assert snapshot.processed
    assert snapshot.project == ana_project
    assert snapshot.role == "owner"
    assert snapshot.conversation.id == 2
    assert snapshot.answers == {"company": "Acme", "picks": ["x", "z"]}
    # ... an old pending reminder is moved, not duplicated, in its project ...
    due = datetime(2026, 3, 2, 8, tzinfo=UTC)
    again = await storage.add_reminder(1, kind="todo", ref="kind", due_at=due)
    assert (again.id, again.project_id) == (1, ana_project.id)
    # ... while a second project has reminders of its own with the same kind and ref.
    second, walk = await storage.new_project(1, title="Bêta", dialogue_id="alliance", state={})
    other = await storage.add_reminder(
        1, kind="todo", ref="kind", due_at=due, conversation_id=walk.id
    )
    assert other.id not in (1, 2, 3, 4)
    assert other.project_id == second.id
    assert len(await storage.pending_reminders(1)) == 2
    # A user without a project gets one with their first walk.
    started = await storage.start_conversation(5, "alliance", {})
    assert [view.project.id for view in await storage.user_projects(5)] == [started.project_id]
