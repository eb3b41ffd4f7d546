"""The statements that create a new database (bot/storage/sql/) are what the tables compile
to; tests/test_migrations.py checks that the schema they build is the migrations' one."""

from __future__ import annotations

import pytest

from bot.storage import schema

DATABASES = ("sqlite", "postgresql")


@pytest.mark.parametrize("database", DATABASES)
def test_the_shipped_statements_are_the_tables_compiled(database):
    shipped = (schema.SQL_FOLDER / f"{database}.sql").read_text(encoding="utf-8")
    assert shipped == schema.creation_sql(database), (
        f"bot/storage/sql/{database}.sql is not what bot/storage/schema.py compiles to: "
        "run `python -m bot.storage.schema` and commit the files"
    )


@pytest.mark.parametrize("database", DATABASES)
def test_every_table_and_index_is_one_statement(database):
    statements = schema.creation_statements(database)
    tables = [s for s in statements if s.startswith("CREATE TABLE")]
    indexes = [s for s in statements if s.startswith(("CREATE INDEX", "CREATE UNIQUE INDEX"))]
    assert {s.split()[2] for s in tables} == set(schema.metadata.tables)
    assert len(indexes) == sum(len(t.indexes) for t in schema.metadata.tables.values())
    assert not any(";" in s or s.startswith("--") for s in statements)
