"""SIGTERM while managers answer as fast as the bot replies.

The process finishes every update it took from Telegram, replies included, logs "stopped
cleanly" and exits with 0. Updates it had not taken stay with Telegram and the next process
handles them: at the end every update the managers sent was handled, and every acknowledged
answer is in the database.
"""

from __future__ import annotations

import asyncio
import dataclasses
import random

import aiohttp
import pytest

from bot.telegram.web import SECRET_HEADER
from tests.faults.conftest import FaultDatabase, seed_from_env
from tests.faults.load import Fleet, RecordingEmulator
from tests.faults.process import CLEAN_STOP, BotProcess, bot_environment, free_port
from tests.faults.report import record
from tests.support.blocking_storage import BlockingStorage
from tests.support.emulator import TgUser

WEBHOOK_SECRET = "fault-sigterm_secret"


async def sigterm_loop(
    emulator: RecordingEmulator,
    database: FaultDatabase,
    workdir,
    *,
    managers: int,
    stops: int,
    seed: int,
    alive: tuple[float, float],
    think: tuple[float, float] = (0.0, 0.0),
    eager: float = 1.0,
) -> dict:
    rng = random.Random(seed)
    env = bot_environment(emulator, database.url)
    fleet = Fleet(emulator, database.url, managers=managers, seed=seed, think=think, eager=eager)
    bot = BotProcess(env, workdir, name="bot-0")
    await bot.start(emulator)
    fleet.bot_up()
    fleet.start()
    stop_seconds: list[float] = []
    taken_unhandled: list[int] = []
    try:
        for n in range(stops):
            await asyncio.sleep(rng.uniform(*alive))
            fleet.check_running()
            loop = asyncio.get_running_loop()
            began = loop.time()
            # Replies keep coming while it stops: they count, so the fleet is told afterwards.
            code = await bot.terminate()
            stop_seconds.append(loop.time() - began)
            assert code == 0, f"exit code {code} after SIGTERM:\n{bot.log_tail()}"
            assert CLEAN_STOP in bot.log(), bot.log_tail()
            fleet.bot_down()
            # Every update the process took from the emulator (confirmed, no longer pending)
            # was handled before it left.
            pending = set(emulator.pending_update_ids)
            taken = [u for u in fleet.pushed if u not in pending]
            taken_unhandled.append(sum(not fleet.handled(u) for u in taken))
            assert taken_unhandled[-1] == 0, f"stop {n + 1}: updates taken and not handled"
            await asyncio.sleep(rng.uniform(0, 0.3))
            bot = BotProcess(env, workdir, name=f"bot-{n + 1}")
            await bot.start(emulator)
            fleet.bot_up()
        await asyncio.sleep(0.5)
        await fleet.stop()
        assert await bot.terminate() == 0, bot.log_tail()
        figures = fleet.verify()
    finally:
        if bot.running:
            await bot.kill()
        fleet.close()
    logs = "".join(p.read_text() for p in sorted(workdir.glob("bot-*.log")))
    assert logs.count(CLEAN_STOP) == stops + 1
    for line in logs.splitlines():
        assert " ERROR " not in line, line
        assert " CRITICAL " not in line, line
    assert "Traceback" not in logs
    assert figures.unhandled == 0, figures
    assert figures.acknowledged >= managers, figures
    return {
        "backend": database.backend,
        "seed": seed,
        "sigterms": stops,
        "stop_seconds_max": round(max(stop_seconds), 2),
        **dataclasses.asdict(figures),
    }


async def test_sigterm_short(recording_emulator, sqlite_database, tmp_path):
    """The default suite's version: 2 SIGTERMs, 10 managers."""
    figures = await sigterm_loop(
        recording_emulator,
        sqlite_database,
        tmp_path / "run",
        managers=10,
        stops=2,
        seed=seed_from_env(2),
        alive=(0.6, 1.2),
    )
    record("sigterm_short", **figures)


@pytest.mark.slow
async def test_sigterm_long(recording_emulator, fault_database, tmp_path):
    """make test-long: 10 SIGTERMs, 100 managers, per backend (the load of test_kill_9_long)."""
    figures = await sigterm_loop(
        recording_emulator,
        fault_database,
        tmp_path / "run",
        managers=100,
        stops=10,
        seed=seed_from_env(200),
        alive=(5.0, 12.0),
        think=(3.0, 25.0),
        eager=0.2,
    )
    record("sigterm_long", **figures)


async def test_sigterm_webhook_short(recording_emulator, sqlite_database, tmp_path):
    """Webhook mode: the requests in progress at the SIGTERM are handled and answered 200;
    those that come after are refused (Telegram sends them again later)."""
    emulator = recording_emulator
    port = free_port()
    env = bot_environment(
        emulator,
        sqlite_database.url,
        WEBHOOK_URL="https://bot.example.com",
        WEBHOOK_SECRET=WEBHOOK_SECRET,
        WEBHOOK_LISTEN="127.0.0.1",
        WEBHOOK_PORT=port,
    )
    bot = BotProcess(env, tmp_path / "run", webhook=True, name="bot")
    await bot.start(emulator)
    users = [TgUser(id=800_000 + n, first_name=f"M{n}", language_code="fr") for n in range(30)]
    updates = []
    for user in users:
        emulator.push_message(user, "/start")
        updates.append(dict(emulator.updates[-1]))
    url = f"http://127.0.0.1:{port}/telegram"
    headers = {SECRET_HEADER: WEBHOOK_SECRET}

    async def post(session: aiohttp.ClientSession, update: dict) -> int | None:
        try:
            async with session.post(url, json=update, headers=headers) as response:
                return response.status
        except aiohttp.ClientError:
            return None  # refused: Telegram keeps it and sends it again

    async with aiohttp.ClientSession() as session:
        posts = [asyncio.create_task(post(session, update)) for update in updates]
        await asyncio.sleep(0.3)  # the bot answers about 15 of them a second
        in_flight = sum(not task.done() for task in posts)
        code = await bot.terminate()
        statuses = await asyncio.gather(*posts)
    assert code == 0, bot.log_tail()
    assert CLEAN_STOP in bot.log()
    assert in_flight > 0
    storage = BlockingStorage(sqlite_database.url)
    try:
        for user, update, status in zip(users, updates, statuses, strict=True):
            assert status in (200, None), status
            if status == 200:  # accepted: handled, and answered, before the process left
                assert storage.load("", update["update_id"]).processed
                assert emulator.messages(user.id, from_bot=True)
    finally:
        storage.close()
    accepted = statuses.count(200)
    record(
        "sigterm_webhook_short",
        requests=len(updates),
        in_flight_at_sigterm=in_flight,
        accepted=accepted,
        refused=len(updates) - accepted,
    )
