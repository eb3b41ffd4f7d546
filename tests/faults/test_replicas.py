"""Two replicas in webhook mode on one PostgreSQL; one is killed during a reminder burst.

Every reminder is sent: the survivor takes over the victim's claims once their lease runs out.
Duplicates are bounded by the sends the victim had in flight (sent, not yet recorded) when it
died: at most the dispatcher's max_in_flight (8) per kill, and only to chats whose reminder the
victim held at that moment. The emulator answers each sendMessage after a delay, so that the
victim always dies with sends in flight, and delivers it even when the client is gone, as
Telegram would.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import socket
from typing import Any

import pytest

from bot.reminders import Kind
from tests.faults.conftest import FaultDatabase
from tests.faults.load import RecordingEmulator
from tests.faults.process import CLEAN_STOP, BotProcess, bot_environment, free_port
from tests.faults.report import record
from tests.storage_fixtures import add_user
from tests.support.blocking_storage import BlockingStorage

MAX_IN_FLIGHT = 8  # Dispatcher's default max_in_flight: the duplicate bound per kill
LEASE = 5  # REMINDER_LEASE_SECONDS for the replicas: the survivor's wait before taking over
SEND_DELAY = 0.25  # the emulator answers each sendMessage this late (sends are in flight)
SECRET = "fault-replicas_secret"


def replica(emulator: RecordingEmulator, database: FaultDatabase, workdir: Any, name: str):
    env = bot_environment(
        emulator,
        database.url,
        WEBHOOK_URL="https://bot.example.com",
        WEBHOOK_SECRET=SECRET,
        WEBHOOK_LISTEN="127.0.0.1",
        WEBHOOK_PORT=free_port(),
        REMINDER_INTERVAL_SECONDS=1,
        REMINDER_LEASE_SECONDS=LEASE,
    )
    return BotProcess(env, workdir, webhook=True, name=name)


def worker(bot: BotProcess) -> str:
    return f"{socket.gethostname()}:{bot.pid}"


def add_burst(storage: BlockingStorage, first_user: int, count: int, round_: int) -> list[int]:
    """One due nudge for each of `count` new users; their chat ids."""
    due = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    chats = []
    for n in range(count):
        chat = first_user + n
        user = storage._wait(
            add_user(storage._storage, f"tg:{chat}", lang="fr", tz="Europe/Paris")
        )
        storage.add_reminder(user.id, kind=Kind.NUDGE, ref=f"round-{round_}", due_at=due)
        chats.append(chat)
    return chats


def claims(storage: BlockingStorage, chats: list[int]) -> dict[int, tuple[str, str | None]]:
    """chat -> (status, claimed_by) of this round's reminder."""
    found = {}
    for chat in chats:
        user = storage.get_user(f"tg:{chat}")
        assert user is not None
        pending = storage.pending_reminders(user.id)
        if pending:
            found[chat] = ("pending", pending[0].claimed_by)
        else:
            found[chat] = ("done", None)
    return found


def sends(emulator: RecordingEmulator, chat: int) -> int:
    """Messages the bot delivered to a chat (a send still in flight counts once delivered)."""
    return len(emulator.messages(chat, from_bot=True))


async def replica_rounds(emulator, database, workdir, *, rounds: int, burst: int) -> dict:
    storage = BlockingStorage(database.url)
    storage.migrate()
    emulator.slow_next("sendMessage", SEND_DELAY, count=10**9)
    bots = [replica(emulator, database, workdir, f"replica-{n}") for n in range(2)]
    await asyncio.gather(*(bot.start(emulator) for bot in bots))
    figures: dict[str, Any] = {
        "rounds": rounds,
        "reminders": 0,
        "kills": 0,
        "victim_claims_at_kill": 0,
        "in_flight_seen_at_kill": 0,
        "duplicates": 0,
        "duplicates_max_per_kill": 0,
    }
    loop = asyncio.get_running_loop()
    try:
        for round_ in range(rounds):
            chats = add_burst(storage, 900_000 + round_ * 10_000, burst, round_)
            figures["reminders"] += burst
            before = {chat: sends(emulator, chat) for chat in chats}
            # Kill the replica holding the most claims once a few of its sends are in flight.
            deadline = loop.time() + 20
            while True:
                state = claims(storage, chats)
                by = {worker(bot): bot for bot in bots}
                held = {w: [c for c, (s, cb) in state.items() if cb == w] for w in by}
                victim_worker = max(held, key=lambda w: len(held[w]))
                in_flight = {
                    call.chat_id
                    for call in emulator.in_flight_calls
                    if call.method == "sendMessage"
                }
                flying = in_flight & set(held[victim_worker])
                if len(flying) >= 2 or loop.time() > deadline:
                    break
                await asyncio.sleep(0.02)
            assert flying, f"round {round_}: no send in flight to kill during"
            victim = by[victim_worker]
            assert await victim.kill() == -9
            figures["kills"] += 1
            # What the victim held when it died (it writes nothing any more).
            state = claims(storage, chats)
            victim_claims = {c for c, (s, cb) in state.items() if cb == victim_worker}
            figures["victim_claims_at_kill"] += len(victim_claims)
            figures["in_flight_seen_at_kill"] += len(flying)  # a lower bound: more were on the way
            # The survivor sends everything, the victim's claims once their lease runs out.
            deadline = loop.time() + LEASE + 60
            while any(s == "pending" for s, _ in claims(storage, chats).values()):
                assert loop.time() < deadline, f"round {round_}: reminders left unsent"
                await asyncio.sleep(0.2)
            await emulator.wait_idle(timeout=10)
            counts = {chat: sends(emulator, chat) - before[chat] for chat in chats}
            unsent = [chat for chat, count in counts.items() if count == 0]
            assert not unsent, f"round {round_}: {len(unsent)} reminders never delivered"
            doubled = {chat: count - 1 for chat, count in counts.items() if count > 1}
            assert set(doubled) <= victim_claims, "a duplicate the victim did not hold"
            assert sum(doubled.values()) <= MAX_IN_FLIGHT, doubled
            figures["duplicates"] += sum(doubled.values())
            figures["duplicates_max_per_kill"] = max(
                figures["duplicates_max_per_kill"], sum(doubled.values())
            )
            index = bots.index(victim)
            if round_ + 1 < rounds:  # back to two replicas for the next burst
                bots[index] = replica(emulator, database, workdir, f"replica-{index}-{round_}")
                await bots[index].start(emulator)
        for bot in bots:
            if bot.running:  # the last victim stays dead
                assert await bot.terminate() == 0, bot.log_tail()
                assert CLEAN_STOP in bot.log()
    finally:
        for bot in bots:
            if bot.running:
                await bot.kill()
        emulator.clear_faults()
        storage.close()
    return figures


@pytest.mark.postgres
async def test_replica_killed_during_reminder_burst_short(
    recording_emulator, postgres_database, tmp_path
):
    figures = await replica_rounds(
        recording_emulator, postgres_database, tmp_path / "run", rounds=1, burst=120
    )
    record("replicas_short", **figures)


@pytest.mark.slow
@pytest.mark.postgres
async def test_replica_killed_during_reminder_burst_long(
    recording_emulator, postgres_database, tmp_path
):
    figures = await replica_rounds(
        recording_emulator, postgres_database, tmp_path / "run", rounds=6, burst=400
    )
    record("replicas_long", **figures)
