"""The migration runner: an empty database reaches head, idempotently, atomically, safely."""

from __future__ import annotations

import sqlite3
import sys
import threading

import psycopg
import pytest

from bot.errors import StorageError
from bot.storage import migrations
from bot.storage.migrations import Migration, head, load_migrations, pending

GOOD = "DESCRIPTION = 'x'\nSQLITE = POSTGRES = ('SELECT 1',)\n"
TABLES = {
    "schema_migrations",
    "users",
    "conversations",
    "answers",
    "processed_updates",
    "reminders",
}


def fake(version, *statements, name=None):
    return Migration(
        version, name or f"{version:04d}_fake", "a test migration", statements, statements
    )


def versions(backend):
    return [row[0] for row in backend.execute("SELECT version FROM schema_migrations ORDER BY 1")]


def test_migrations_are_numbered_from_one_without_gaps():
    loaded = load_migrations()
    assert [m.version for m in loaded] == list(range(1, len(loaded) + 1))
    assert head() == loaded[-1].version
    assert loaded[0].name == "0001_initial"
    for migration in loaded:
        assert migration.description
        assert migration.sqlite
        assert migration.postgres


def test_pending_keeps_order_and_skips_applied():
    available = [fake(2), fake(1), fake(3)]
    assert [m.version for m in pending(available, [])] == [1, 2, 3]
    assert [m.version for m in pending(available, [1, 2])] == [3]
    assert pending(available, [1, 2, 3]) == []


def test_pending_refuses_a_database_from_a_newer_release():
    with pytest.raises(StorageError, match="newer release"):
        pending([fake(1)], [1, 2])


def test_empty_database_upgrades_to_head_idempotently(storage_backend):
    storage = storage_backend.open()
    assert storage_backend.tables() == set()
    storage.migrate()
    assert storage_backend.tables() == TABLES
    assert versions(storage_backend) == list(range(1, head() + 1))
    recorded = storage_backend.rows("schema_migrations")
    assert [row["name"] for row in recorded] == [m.name for m in load_migrations()]

    storage.migrate()  # again, same handle
    other = storage_backend.open()
    other.migrate()  # again, as another replica would at its start
    assert storage_backend.rows("schema_migrations") == recorded
    assert storage_backend.tables() == TABLES
    # And the schema works.
    user = other.get_or_create_user("tg:1", lang="fr", tz="UTC")
    assert storage.get_user("tg:1") == user


def test_per_update_lookups_are_indexed(storage_backend):
    storage_backend.open().migrate()
    assert {
        "conversations_active",  # a user's active conversation
        "answers_current",  # a conversation's current answers
        "conversations_by_user",
        "answers_by_conversation",
        "processed_updates_by_user",  # erasing a user
    } <= storage_backend.indexes()


def test_database_allows_one_active_conversation_per_user(storage_backend):
    storage = storage_backend.open()
    storage.migrate()
    user = storage.get_or_create_user("tg:1", lang="fr", tz="UTC")
    storage.start_conversation(user.id, "alliance", {})
    now = "'2030-01-01T00:00:00.000000+00:00'"
    active = "1" if storage_backend.name == "sqlite" else "TRUE"
    with pytest.raises((sqlite3.IntegrityError, psycopg.errors.UniqueViolation)):
        storage_backend.execute(
            "INSERT INTO conversations (user_id, dialogue_id, state, version, created_at,"
            f" updated_at, active) VALUES ({user.id}, 'x', '{{}}', 1, {now}, {now}, {active})"
        )


def test_missing_migrations_are_applied_in_order(storage_backend):
    storage = storage_backend.open()
    first = load_migrations()
    storage._migrate(first)
    extra = [
        fake(head() + 1, "CREATE TABLE extra_one (id INTEGER PRIMARY KEY)"),
        fake(head() + 2, "ALTER TABLE extra_one ADD COLUMN note TEXT"),
    ]
    storage._migrate([*first, *extra])
    assert versions(storage_backend) == list(range(1, head() + 3))
    assert "extra_one" in storage_backend.tables()
    assert "note" in storage_backend.columns("extra_one")


def test_failed_migration_leaves_nothing_behind(storage_backend):
    storage = storage_backend.open()
    storage.migrate()
    broken = fake(
        head() + 1,
        "CREATE TABLE half_done (id INTEGER PRIMARY KEY)",
        "ALTER TABLE users ADD COLUMN nickname TEXT",
        "THIS IS NOT SQL",
    )
    with pytest.raises(StorageError):
        storage._migrate([*load_migrations(), broken])
    assert "half_done" not in storage_backend.tables()
    assert "nickname" not in storage_backend.columns("users")
    assert versions(storage_backend) == list(range(1, head() + 1))
    # The storage still works after the failure.
    assert storage.get_or_create_user("tg:1", lang="fr", tz="UTC").key == "tg:1"


def test_database_from_a_newer_release_is_refused(storage_backend):
    storage = storage_backend.open()
    storage.migrate()
    storage_backend.execute(
        "INSERT INTO schema_migrations (version, name, applied_at)"
        f" VALUES ({head() + 1}, '9999_future', '2030-01-01T00:00:00.000000+00:00')"
    )
    with pytest.raises(StorageError, match="newer release"):
        storage.migrate()


def test_replicas_starting_together_migrate_once(storage_backend):
    replicas = [storage_backend.open() for _ in range(4)]
    barrier = threading.Barrier(len(replicas))
    errors = []

    def start(storage):
        barrier.wait()
        try:
            storage.migrate()
        except Exception as exc:  # collected, asserted below
            errors.append(exc)

    threads = [threading.Thread(target=start, args=(replica,)) for replica in replicas]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    assert versions(storage_backend) == list(range(1, head() + 1))
    assert storage_backend.tables() == TABLES


@pytest.mark.parametrize(
    ("files", "error"),
    [
        ({"0001_a.py": GOOD, "0003_c.py": GOOD}, "without gaps"),
        ({"0001_a.py": GOOD, "2_b.py": GOOD}, "not named NNNN_name"),
        ({"0001_a.py": "SQLITE = ('SELECT 1',)\nDESCRIPTION = 'x'\n"}, "POSTGRES"),
        ({"0001_a.py": "SQLITE = POSTGRES = ('SELECT 1',)\n"}, "DESCRIPTION"),
    ],
)
def test_badly_written_migrations_are_reported(files, error, tmp_path, monkeypatch):
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    monkeypatch.setattr(migrations, "__path__", [str(tmp_path)])
    for name in files:  # these test modules must not stay importable afterwards
        monkeypatch.delitem(sys.modules, f"bot.storage.migrations.{name[:-3]}", raising=False)
    load_migrations.cache_clear()
    try:
        with pytest.raises(StorageError, match=error):
            load_migrations()
    finally:
        load_migrations.cache_clear()
