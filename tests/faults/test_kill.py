"""`kill -9` of the bot at random moments while managers answer.

Every answer the bot acknowledged (it replied with the next question) is in the database, and
after each restart every manager resumes at the question the recorded answers lead to. On
SQLite, `PRAGMA integrity_check` says ok after every kill.
"""

from __future__ import annotations

import asyncio
import dataclasses
import random

import pytest

from tests.faults.conftest import FaultDatabase, seed_from_env
from tests.faults.load import Fleet, RecordingEmulator
from tests.faults.process import CLEAN_STOP, BotProcess, bot_environment
from tests.faults.report import record

# Updates the bot may hold fetched and not handled (UPDATES_IN_HAND): what a kill can lose.
IN_HAND = 2


async def kill_loop(
    emulator: RecordingEmulator,
    database: FaultDatabase,
    workdir,
    *,
    managers: int,
    kills: int,
    seed: int,
    alive: tuple[float, float],
    settle: float,
    think: tuple[float, float] = (0.0, 0.0),
    eager: float = 1.0,
) -> dict:
    """Run the fleet against the bot, killing it `kills` times after `alive` seconds each."""
    rng = random.Random(seed)
    env = bot_environment(emulator, database.url, UPDATES_IN_HAND=IN_HAND)
    fleet = Fleet(emulator, database.url, managers=managers, seed=seed, think=think, eager=eager)
    bot = BotProcess(env, workdir, name="bot-0")
    await bot.start(emulator)
    fleet.bot_up()
    fleet.start()
    integrity: list[str] = []
    down_times: list[float] = []
    try:
        for kill in range(kills):
            await asyncio.sleep(rng.uniform(*alive))
            fleet.check_running()
            fleet.bot_down()
            assert await bot.kill() == -9
            integrity.append(database.integrity())
            assert integrity[-1] == "ok", f"after kill {kill + 1}: {integrity[-1]}"
            await asyncio.sleep(rng.uniform(0, 0.3))  # answers keep coming while it is down
            bot = BotProcess(env, workdir, name=f"bot-{kill + 1}")
            await bot.start(emulator)
            down_times.append(bot.ready_after)
            fleet.bot_up()
        await asyncio.sleep(settle)
        await fleet.stop()
        assert await bot.terminate() == 0, bot.log_tail()
        assert CLEAN_STOP in bot.log()
        figures = fleet.verify()
    finally:
        if bot.running:
            await bot.kill()
        fleet.close()
    assert database.integrity() == "ok"
    logs = "".join(p.read_text() for p in sorted(workdir.glob("bot-*.log")))
    assert "error while handling an update" not in logs
    assert figures.acknowledged >= managers, figures
    # Polling confirms a batch once queued: per kill, at most the updates in hand (fetched,
    # queued or being handled) were confirmed to Telegram and never handled (lanes.py).
    assert figures.unhandled <= IN_HAND * kills, figures
    assert figures.checked == len({(m.id, q) for m in fleet.managers for q in m.acked})
    return {
        "backend": database.backend,
        "seed": seed,
        "kills": kills,
        "restart_seconds_max": round(max(down_times, default=0), 2),
        **dataclasses.asdict(figures),
    }


async def test_kill_9_short(recording_emulator, sqlite_database, tmp_path):
    """The default suite's version: 2 kills, 10 managers, SQLite (PostgreSQL: make test-long)."""
    figures = await kill_loop(
        recording_emulator,
        sqlite_database,
        tmp_path / "run",
        managers=10,
        kills=2,
        seed=seed_from_env(1),
        alive=(0.6, 1.2),
        settle=0.3,
    )
    record("kill_9_short", **figures)
    assert figures["resumes"] >= 1


@pytest.mark.slow
async def test_kill_9_long(recording_emulator, fault_database, tmp_path):
    """make test-long: 12 kills, 120 managers, on each backend."""
    figures = await kill_loop(
        recording_emulator,
        fault_database,
        tmp_path / "run",
        managers=120,
        kills=12,
        seed=seed_from_env(100),
        alive=(5.0, 12.0),
        settle=3.0,
        # Most people read before they answer; a fifth answer as fast as the bot replies, so
        # that answers always wait for the bot when it dies. About 10 answers a second in all:
        # the bot's pace under Telegram's 30 requests a second (3 requests an answer).
        think=(3.0, 25.0),
        eager=0.2,
    )
    record("kill_9_long", **figures)
    assert figures["resumes"] >= 12
