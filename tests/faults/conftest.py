"""Fixtures of the fault tests: the recording emulator and a fresh database on each backend.

The long versions of these tests are marked `slow`; a plain `pytest` run leaves them out (they
run with `make test-long`, i.e. `pytest -m "slow or not slow"`, or any explicit `-m`).
"""

from __future__ import annotations

import os
import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from tests.faults.load import RecordingEmulator
from tests.storage_fixtures import PG_URL
from tests.telegram_fixtures import TOKEN


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Without an explicit -m, leave out this package's slow tests (make test-long runs them)."""
    if config.getoption("markexpr"):
        return
    here = Path(__file__).parent
    kept: list[pytest.Item] = []
    slow: list[pytest.Item] = []
    for item in items:
        is_slow = item.get_closest_marker("slow") is not None and here in item.path.parents
        (slow if is_slow else kept).append(item)
    if slow:
        config.hook.pytest_deselected(items=slow)
        items[:] = kept


@pytest.fixture
async def recording_emulator() -> Any:
    """The emulator; afterwards, no request of the bot was refused (a 4xx), except the long
    poll of a killed bot, which the next one ends with 409 as Telegram does, and what the test
    declared in `emu.expected_refusals`."""
    emu = RecordingEmulator(token=TOKEN)
    async with emu:
        yield emu
    expected = {("getUpdates", 409), *emu.expected_refusals}
    refused = [
        f"{call.method} {call.status} {call.description}"
        for call in emu.calls
        if 400 <= call.status < 500 and (call.method, call.status) not in expected
    ]
    assert not refused, refused[:10]
    assert not emu.internal_errors, emu.internal_errors[:3]


@dataclass
class FaultDatabase:
    """A database the bot process and the test share."""

    backend: str  # "sqlite" or "postgres"
    url: str  # the bot's DATABASE_URL
    path: Path | None = None  # SQLite: the file
    schema: str | None = None  # PostgreSQL: the schema holding the tables

    def integrity(self) -> str:
        """SQLite's PRAGMA integrity_check ("ok" when sound); "ok" for PostgreSQL."""
        if self.path is None:
            return "ok"
        with closing(sqlite3.connect(self.path)) as conn:
            rows = conn.execute("PRAGMA integrity_check").fetchall()
        return "\n".join(str(row[0]) for row in rows)


def postgres_url(schema: str) -> str:
    """PG_URL with the connection's search_path set to schema."""
    separator = "&" if "?" in PG_URL else "?"
    return f"{PG_URL}{separator}options=-csearch_path%3D{schema}"


@pytest.fixture
def sqlite_database(tmp_path: Path) -> FaultDatabase:
    path = tmp_path / "data" / "alliance.sqlite3"
    return FaultDatabase("sqlite", f"sqlite:///{path}", path=path)


@pytest.fixture
def postgres_database(pg_admin: psycopg.Connection[Any]) -> Iterator[FaultDatabase]:
    schema = f"fault_{uuid.uuid4().hex[:12]}"
    pg_admin.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    try:
        yield FaultDatabase("postgres", postgres_url(schema), schema=schema)
    finally:
        pg_admin.execute(
            sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema))
        )


@pytest.fixture(
    params=[pytest.param("sqlite"), pytest.param("postgres", marks=pytest.mark.postgres)]
)
def fault_database(request: pytest.FixtureRequest) -> FaultDatabase:
    """A fresh database on each backend."""
    database: FaultDatabase = request.getfixturevalue(f"{request.param}_database")
    return database


def seed_from_env(default: int) -> int:
    """ALLIANCE_FAULT_SEED replays a run; otherwise the test's fixed seed."""
    return int(os.environ.get("ALLIANCE_FAULT_SEED", default))
