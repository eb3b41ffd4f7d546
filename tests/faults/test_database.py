"""The database goes away while managers answer.

Three ways: PostgreSQL drops the bot's connections (`pg_terminate_backend`, as a server restart
does), PostgreSQL is unreachable for a while (a proxy between the bot and the server refuses
connections: the server itself, shared with other tests, is not touched), and another process
holds SQLite's write lock longer than the busy timeout. Each time the bot logs the problem,
answers every message (with an apology when it could not handle it: never silence), does not
crash, reports 503 on /healthz while the database is unreachable, and carries on once the
database is back; every acknowledged answer is in the database.
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
import re
import sqlite3
import uuid
from contextlib import closing
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict

from tests.faults.conftest import FaultDatabase, postgres_url, seed_from_env
from tests.faults.load import Fleet, RecordingEmulator
from tests.faults.process import CLEAN_STOP, BotProcess, bot_environment
from tests.faults.proxy import CuttableProxy
from tests.faults.report import record
from tests.storage_fixtures import PG_URL

#: A reply, or an apology, comes within this many seconds even while the database is away
#: (SQLite's busy timeout is 5 s; a PostgreSQL connection attempt fails at once).
SILENCE = 20.0


class Outage:
    """A running bot, a fleet answering, and the way the database goes away."""

    def __init__(
        self,
        emulator: RecordingEmulator,
        database: FaultDatabase,
        bot_url: str,
        workdir: Any,
        *,
        managers: int,
        seed: int,
    ) -> None:
        self.emulator = emulator
        self.database = database
        self.bot = BotProcess(bot_environment(emulator, bot_url), workdir, name="bot")
        # Up to 20 managers answer as fast as the bot replies, the others take their time (as
        # in test_kill.py): a saturated bot would answer late, and lateness is not the point.
        eager = min(1.0, 20 / managers)
        self.fleet = Fleet(
            emulator,
            database.url,
            managers=managers,
            seed=seed,
            silence=SILENCE,
            think=(3.0, 25.0),
            eager=eager,
        )

    async def __aenter__(self) -> Outage:
        await self.bot.start(self.emulator)
        self.fleet.bot_up()
        self.fleet.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.bot.running and exc[0] is not None:
            await self.bot.kill()
        self.fleet.close()

    def log_count(self, text: str) -> int:
        return self.bot.log().count(text)

    async def answering(self) -> None:
        """Wait until the managers are past their /start and answering."""
        while sum(m.figures.acknowledged for m in self.fleet.managers) < len(self.fleet.managers):
            self.fleet.check_running()
            await asyncio.sleep(0.1)

    async def finish(self) -> dict:
        """Let the managers finish, stop the bot with SIGTERM, check its log; the figures."""
        await self.fleet.stop()
        assert self.bot.running, f"the bot died:\n{self.bot.log_tail()}"
        assert await self.bot.terminate() == 0, self.bot.log_tail()
        log = self.bot.log()
        assert CLEAN_STOP in log
        figures = self.fleet.verify()
        assert self.database.integrity() == "ok"
        assert figures.acknowledged >= len(self.fleet.managers), figures
        # Every error the log shows is the database's, reported as such.
        errors = set(_EXCEPTION_LINE.findall(log))
        assert errors <= _DATABASE_ERRORS, errors - _DATABASE_ERRORS
        # Every update a handler failed on got an apology: nobody was left in silence.
        failures = log.count("error while handling an update")
        apologies = sum(
            any(text in message.text for text in (m._apology, m._unavailable))
            for m in self.fleet.managers
            for message in m.log.entries
            if message.method == "sendMessage"
        )
        assert apologies == failures, f"{failures} updates failed, {apologies} apologies sent"
        return {"handler_failures": failures, **dataclasses.asdict(figures)}


_EXCEPTION_LINE = re.compile(r"^([A-Za-z_][\w.]*(?:Error|Exception)):", re.MULTILINE)
_DATABASE_ERRORS = {
    "bot.errors.StorageError",
    "psycopg.OperationalError",
    "sqlite3.OperationalError",
    "sqlalchemy.exc.OperationalError",  # the same, as SQLAlchemy reports them
}


def _with_application_name(url: str, name: str) -> str:
    return f"{url}&application_name={name}"


def terminate_backends(pg_admin: psycopg.Connection[Any], application_name: str) -> int:
    """pg_terminate_backend on every connection of the bot; how many there were."""
    rows = pg_admin.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
        " WHERE datname = current_database() AND application_name = %s"
        " AND pid <> pg_backend_pid()",
        (application_name,),
    ).fetchall()
    return len(rows)


async def run_terminations(emulator, database, pg_admin, workdir, *, managers, rounds, seed):
    rng = random.Random(seed)
    name = f"alliance-fault-{uuid.uuid4().hex[:8]}"
    url = _with_application_name(database.url, name)
    terminated = 0
    async with Outage(emulator, database, url, workdir, managers=managers, seed=seed) as run:
        for _ in range(rounds):
            await asyncio.sleep(rng.uniform(0.2, 0.8))
            run.fleet.check_running()
            terminated += terminate_backends(pg_admin, name)
        await asyncio.sleep(0.5)
        figures = await run.finish()
    assert terminated >= rounds, "the bot's connections were not found"
    return {"terminations": rounds, "connections_killed": terminated, **figures}


@pytest.mark.postgres
async def test_postgres_drops_connections_short(
    recording_emulator, postgres_database, pg_admin, tmp_path
):
    figures = await run_terminations(
        recording_emulator,
        postgres_database,
        pg_admin,
        tmp_path / "run",
        managers=10,
        rounds=4,
        seed=seed_from_env(7),
    )
    record("postgres_terminate_short", **figures)


@pytest.mark.slow
@pytest.mark.postgres
async def test_postgres_drops_connections_long(
    recording_emulator, postgres_database, pg_admin, tmp_path
):
    figures = await run_terminations(
        recording_emulator,
        postgres_database,
        pg_admin,
        tmp_path / "run",
        managers=100,
        rounds=60,
        seed=seed_from_env(70),
    )
    record("postgres_terminate_long", **figures)


async def run_unreachable(
    emulator, database, workdir, *, managers, outages, seed, down, gap=(0.2, 1.0)
):
    """The bot reaches PostgreSQL through a proxy that is cut `outages` times, for `down`
    seconds each, `gap` seconds apart (so that it catches up)."""
    params = conninfo_to_dict(PG_URL)
    proxy = CuttableProxy(str(params.get("host") or "127.0.0.1"), int(params.get("port") or 5432))
    await proxy.start()
    parts = urlsplit(postgres_url(database.schema or ""))
    user, at, _ = parts.netloc.rpartition("@")
    url = urlunsplit(parts._replace(netloc=f"{user}{at}127.0.0.1:{proxy.port}"))
    rng = random.Random(seed)
    health_down: list[int | None] = []
    try:
        async with Outage(emulator, database, url, workdir, managers=managers, seed=seed) as run:
            await run.answering()
            for n in range(outages):
                await asyncio.sleep(rng.uniform(*gap))
                run.fleet.check_running()
                reported = run.log_count("cannot connect to PostgreSQL")
                proxy.cut()
                await asyncio.sleep(down / 2)
                health_down.append(await run.bot.health())
                await asyncio.sleep(down / 2)
                proxy.restore()
                assert run.log_count("cannot connect to PostgreSQL") > reported, f"outage {n}"
            await asyncio.sleep(1.0)
            assert await run.bot.health() == 200
            figures = await run.finish()
    finally:
        await proxy.close()
    assert set(health_down) == {503}, health_down
    return {"outages": outages, "down_seconds": down, "refused": proxy.refused, **figures}


@pytest.mark.postgres
async def test_postgres_unreachable_short(recording_emulator, postgres_database, tmp_path):
    figures = await run_unreachable(
        recording_emulator,
        postgres_database,
        tmp_path / "run",
        managers=10,
        outages=2,
        seed=seed_from_env(8),
        down=1.0,
    )
    record("postgres_unreachable_short", **figures)


@pytest.mark.slow
@pytest.mark.postgres
async def test_postgres_unreachable_long(recording_emulator, postgres_database, tmp_path):
    figures = await run_unreachable(
        recording_emulator,
        postgres_database,
        tmp_path / "run",
        managers=100,
        outages=10,
        seed=seed_from_env(80),
        down=4.0,
        gap=(3.0, 6.0),
    )
    record("postgres_unreachable_long", **figures)


async def run_sqlite_locked(
    emulator, database, workdir, *, managers, locks, seed, held, gap=(0.2, 1.0)
):
    """Another process holds SQLite's write lock for `held` seconds, `locks` times, `gap`
    seconds apart (the bot waits for the lock meanwhile: it needs time to catch up)."""
    rng = random.Random(seed)
    assert database.path is not None
    async with Outage(
        emulator, database, database.url, workdir, managers=managers, seed=seed
    ) as run:
        await run.answering()
        for n in range(locks):
            await asyncio.sleep(rng.uniform(*gap))
            run.fleet.check_running()
            reported = run.log_count("database is locked")
            with closing(sqlite3.connect(database.path, isolation_level=None)) as other:
                other.execute("BEGIN EXCLUSIVE")
                await asyncio.sleep(held)  # the managers keep answering meanwhile
                other.execute("ROLLBACK")
            await asyncio.sleep(0.5)
            assert run.log_count("database is locked") > reported, f"lock {n}"
        await asyncio.sleep(0.5)
        figures = await run.finish()
    return {"locks": locks, "held_seconds": held, **figures}


async def test_sqlite_locked_short(recording_emulator, sqlite_database, tmp_path):
    figures = await run_sqlite_locked(
        recording_emulator,
        sqlite_database,
        tmp_path / "run",
        managers=10,
        locks=1,
        seed=seed_from_env(9),
        held=6.0,  # the bot's busy timeout is 5 s
    )
    record("sqlite_locked_short", **figures)


@pytest.mark.slow
async def test_sqlite_locked_long(recording_emulator, sqlite_database, tmp_path):
    figures = await run_sqlite_locked(
        recording_emulator,
        sqlite_database,
        tmp_path / "run",
        managers=100,
        locks=8,
        seed=seed_from_env(90),
        held=7.0,
        gap=(5.0, 10.0),
    )
    record("sqlite_locked_long", **figures)
