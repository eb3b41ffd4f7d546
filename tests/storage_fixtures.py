"""Storage fixtures: every backend, each test on a fresh database (imported by conftest.py).

``storage`` is a migrated storage, parametrized over SQLite (a file in tmp_path) and PostgreSQL
(a schema of its own, dropped afterwards). ``storage_backend`` gives the same database unmigrated,
more handles on it, and raw SQL access for checks the interface cannot make.

PostgreSQL: DATABASE_URL_TEST (default postgresql://postgres@127.0.0.1:5432/test). If the server
cannot be reached its tests are skipped, unless ALLIANCE_REQUIRE_POSTGRES=1 (CI) makes them fail.
"""

from __future__ import annotations

import os
import re
import sqlite3
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, closing
from dataclasses import dataclass, field
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from bot.storage.base import User
from bot.storage.database import Storage, postgres_storage, sqlite_storage

PG_URL = os.environ.get("DATABASE_URL_TEST", "postgresql://postgres@127.0.0.1:5432/test")


async def add_user(storage: Storage, key: str, *, lang: str, tz: str) -> User:
    """The user with this key, created with lang and tz (and no conversation) if new: how
    storage tests begin. The bot itself creates a user with their first conversation
    (Storage.open_user); this runs the same statements, without the conversation."""

    def work(conn: Any) -> User:
        return storage._user_or_new(conn, key, lang, tz)

    return await storage._write(work)


def _pg_where(url: str) -> str:
    """The server and database a URL names, without its password."""
    try:
        params = conninfo_to_dict(url)
    except psycopg.Error:
        return "DATABASE_URL_TEST (unparsable)"
    host = params.get("host", "localhost")
    return f"{host}:{params.get('port', 5432)}/{params.get('dbname', '')}"


@pytest.fixture(scope="session")
def pg_admin() -> Iterator[psycopg.Connection[Any]]:
    """An autocommit connection to the test server; skips (or fails in CI) if it is down."""
    try:
        conn = psycopg.connect(PG_URL, autocommit=True, connect_timeout=3)
    except psycopg.Error as exc:
        reason = f"PostgreSQL unreachable at {_pg_where(PG_URL)}: {str(exc).strip()}"
        if os.environ.get("ALLIANCE_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"{reason} (ALLIANCE_REQUIRE_POSTGRES=1 requires it)", pytrace=False)
        pytest.skip(f"{reason}; set DATABASE_URL_TEST to test PostgreSQL")
    with conn:
        yield conn


@dataclass
class StorageBackend:
    """One empty test database and the means to open it and look inside it."""

    name: str  # "sqlite" or "postgres"
    _open: Callable[[], Storage]
    _raw: Callable[[], Any]  # a DB-API connection, autocommit, on the same database
    _opened: list[Storage] = field(default_factory=list)
    path: str | None = None  # SQLite: the database file
    schema: str | None = None  # PostgreSQL: the schema holding the tables

    def open(self) -> Storage:
        """A new, unmigrated handle on this database (closed after the test)."""
        storage = self._open()
        self._opened.append(storage)
        return storage

    def create(self) -> None:
        """Create the empty database (the SQLite file, the PostgreSQL schema) for raw SQL."""
        if self.name == "sqlite":
            self.open()
        else:
            self.execute(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"')

    def execute(self, statement: str) -> list[tuple[Any, ...]]:
        """Run one SQL statement outside the storage; rows if it returns any."""
        with closing(self._raw()) as conn:
            cursor = conn.execute(statement)
            return list(cursor.fetchall()) if cursor.description else []

    def tables(self) -> set[str]:
        """Every table of the database (SQLite's internal ones aside)."""
        if self.name == "sqlite":
            rows = self.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            )
        else:
            rows = self.execute(
                "SELECT table_name FROM information_schema.tables"
                f" WHERE table_schema = '{self.schema}' AND table_type = 'BASE TABLE'"
            )
        return {row[0] for row in rows}

    def indexes(self) -> set[str]:
        if self.name == "sqlite":
            rows = self.execute("SELECT name FROM sqlite_master WHERE type = 'index'")
        else:
            rows = self.execute(
                f"SELECT indexname FROM pg_indexes WHERE schemaname = '{self.schema}'"
            )
        return {row[0] for row in rows}

    def columns(self, table: str) -> list[str]:
        with closing(self._raw()) as conn:
            cursor = conn.execute(f'SELECT * FROM "{table}" WHERE 1 = 0')
            return [column[0] for column in cursor.description]

    def rows(self, table: str) -> list[dict[str, Any]]:
        """Every row of a table, as column -> value."""
        with closing(self._raw()) as conn:
            cursor = conn.execute(f'SELECT * FROM "{table}"')
            names = [column[0] for column in cursor.description]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def schema_description(self) -> dict[str, Any]:
        """Everything the database's schema holds, table by table, as the database itself
        reports it: columns (type, nullability, default, identity), constraints (primary and
        foreign keys with their actions, unique, checks), indexes (columns, expressions,
        uniqueness, the rows a partial one covers), sequences; comparable across two
        databases of the same backend."""
        if self.name == "sqlite":
            return self._sqlite_schema()
        return self._postgres_schema()

    def _sqlite_schema(self) -> dict[str, Any]:
        found: dict[str, Any] = {}
        tables = self.execute("SELECT name, sql FROM sqlite_master WHERE type = 'table'")
        for table, create in tables:
            indexes = {}
            for _, name, unique, origin, partial in self.execute(f"PRAGMA index_list('{table}')"):
                [(index_sql,)] = self.execute(
                    f"SELECT coalesce(sql, '') FROM sqlite_master WHERE name = '{name}'"
                )
                indexes[name] = (
                    unique,
                    origin,
                    partial,
                    " ".join(index_sql.split(" ON ", 1)[-1].split()),  # columns, WHERE
                    self.execute(f"PRAGMA index_xinfo('{name}')"),
                )
            found[table] = {
                "columns": self.execute(f"PRAGMA table_xinfo('{table}')"),
                "foreign keys": sorted(
                    row[2:] for row in self.execute(f"PRAGMA foreign_key_list('{table}')")
                ),
                "checks": _checks(create or ""),
                "autoincrement": "AUTOINCREMENT" in (create or ""),
                "indexes": indexes,
            }
        return found

    def _postgres_schema(self) -> dict[str, Any]:
        found: dict[str, Any] = {}
        schema = self.schema
        assert schema is not None

        def local(text: str) -> str:
            return text.replace(f"{schema}.", "")

        for table, *column in self.execute(
            "SELECT table_name, column_name, ordinal_position, data_type, is_nullable,"
            " column_default, is_identity, identity_generation, identity_start,"
            " identity_increment, character_maximum_length, numeric_precision,"
            " datetime_precision FROM information_schema.columns"
            f" WHERE table_schema = '{schema}' ORDER BY 1, 3"
        ):
            found.setdefault(table, {}).setdefault("columns", []).append(
                tuple(local(str(value)) for value in column)
            )
        for table, name, kind, definition in self.execute(
            "SELECT cl.relname, co.conname, co.contype, pg_get_constraintdef(co.oid)"
            " FROM pg_constraint co JOIN pg_class cl ON cl.oid = co.conrelid"
            f" JOIN pg_namespace ns ON ns.oid = cl.relnamespace WHERE ns.nspname = '{schema}'"
            " ORDER BY 1, 2"
        ):
            found[table].setdefault("constraints", []).append((name, kind, local(definition)))
        for table, name, definition in self.execute(
            "SELECT tablename, indexname, indexdef FROM pg_indexes"
            f" WHERE schemaname = '{schema}' ORDER BY 1, 2"
        ):
            found[table].setdefault("indexes", []).append((name, local(definition)))
        found["sequences"] = self.execute(
            "SELECT cl.relname FROM pg_class cl JOIN pg_namespace ns ON ns.oid = cl.relnamespace"
            f" WHERE ns.nspname = '{schema}' AND cl.relkind = 'S' ORDER BY 1"
        )
        return found

    async def close_all(self) -> None:
        for storage in self._opened:
            await storage.close()


def _checks(sql: str) -> list[str]:
    """The conditions of every CHECK in a CREATE TABLE statement, whitespace normalized."""
    found = []
    for start in re.finditer(r"CHECK\s*\(", sql):
        depth, end = 1, start.end()
        while depth:
            depth += {"(": 1, ")": -1}.get(sql[end], 0)
            end += 1
        found.append(" ".join(sql[start.end() : end - 1].split()))
    return sorted(found)


def _sqlite_backend(tmp_path: Any) -> StorageBackend:
    path = str(tmp_path / "data" / "alliance.db")
    return StorageBackend(
        name="sqlite",
        _open=lambda: sqlite_storage(path),
        _raw=lambda: sqlite3.connect(path, isolation_level=None),
        path=path,
    )


def _postgres_backend(schema: str) -> StorageBackend:
    return StorageBackend(
        name="postgres",
        _open=lambda: postgres_storage(PG_URL, schema=schema),
        _raw=lambda: psycopg.connect(PG_URL, autocommit=True, options=f"-c search_path={schema}"),
        schema=schema,
    )


@asynccontextmanager
async def _empty_backend(
    name: str, request: pytest.FixtureRequest, folder: Any
) -> AsyncIterator[StorageBackend]:
    """An empty database: a file in folder, or a PostgreSQL schema of its own, dropped after."""
    if name == "sqlite":
        backend = _sqlite_backend(folder)
        try:
            yield backend
        finally:
            await backend.close_all()
        return
    admin: psycopg.Connection[Any] = request.getfixturevalue("pg_admin")
    schema = f"test_{uuid.uuid4().hex[:16]}"
    backend = _postgres_backend(schema)
    try:
        yield backend
    finally:
        await backend.close_all()
        admin.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


@pytest.fixture(
    params=[
        pytest.param("sqlite"),
        pytest.param("postgres", marks=pytest.mark.postgres),
    ]
)
async def storage_backend(
    request: pytest.FixtureRequest, tmp_path: Any
) -> AsyncIterator[StorageBackend]:
    """An empty database on each backend; PostgreSQL gets a schema of its own, dropped after."""
    async with _empty_backend(request.param, request, tmp_path) as backend:
        yield backend


@pytest.fixture
async def second_backend(
    storage_backend: StorageBackend, request: pytest.FixtureRequest, tmp_path: Any
) -> AsyncIterator[StorageBackend]:
    """Another empty database on storage_backend's backend."""
    async with _empty_backend(storage_backend.name, request, tmp_path / "second") as backend:
        yield backend


@pytest.fixture
async def storage(storage_backend: StorageBackend) -> Storage:
    """A migrated, empty storage on each backend (SQLite file, PostgreSQL schema)."""
    opened = storage_backend.open()
    await opened.migrate()
    return opened
