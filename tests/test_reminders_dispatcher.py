"""The reminder dispatcher against the Bot API emulator (real HTTP, PTB's real request path),
a real storage and a fake clock.

Time is virtual (FakeTime): it moves only when every task that waits is waiting in the fake
sleep and no send is in flight, and then jumps straight to the earliest wake-up. The network
thus answers in zero virtual time, 2,000 reminders paced at 28/s take a minute of virtual time
and a few seconds of real time, and the emulator stamps each call (Call.time) with the same
virtual clock, so limits are checked on exactly what Telegram would have seen.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import json
import logging
import random
import sqlite3
from collections import Counter, defaultdict
from collections.abc import Callable
from contextlib import closing
from datetime import UTC, datetime, timedelta

import pytest
import telegram
from telegram import InlineKeyboardButton, InlineKeyboardMarkup
from telegram.ext import ApplicationBuilder
from telegram.request import HTTPXRequest

from bot.errors import StorageError
from bot.reminders import dispatcher as dispatcher_module
from bot.reminders import operators
from bot.reminders.dispatcher import (
    KEEP_PROCESSED,
    PRUNE_EVERY,
    Dispatcher,
    Outgoing,
    TickReport,
    Ticks,
    backoff,
)
from bot.storage import database
from bot.storage.database import sqlite_storage
from bot.telegram.limiter import SendLimiter
from tests.storage_fixtures import add_user


async def processed(storage, update_id):
    """Whether storage holds update_id as processed (the check Storage.load makes)."""
    return (await storage.load("", update_id)).processed


T0 = datetime(2030, 3, 4, 9, 0, tzinfo=UTC)
LEASE = timedelta(minutes=2)


class FakeTime:
    """A virtual clock and a sleep that advances it (see the module docstring)."""

    def __init__(self, start: datetime = T0) -> None:
        self.start = start
        self.micros = 0
        self.busy: list[Callable[[], bool]] = []  # true while a send is in flight
        self._sleepers: list[tuple[int, int, asyncio.Future[None]]] = []
        self._order = itertools.count()
        self._driver: asyncio.Task[None] | None = None

    def now(self) -> datetime:
        return self.start + timedelta(microseconds=self.micros)

    def monotonic(self) -> float:
        return self.micros / 1e6

    def jump(self, delta: timedelta) -> None:
        """Time passes with nothing running (the bot was down)."""
        self.micros += round(delta.total_seconds() * 1e6)

    async def sleep(self, seconds: float) -> None:
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        wake = self.micros + max(0, round(seconds * 1e6))
        heapq.heappush(self._sleepers, (wake, next(self._order), waiter))
        if self._driver is None or self._driver.done():
            self._driver = asyncio.create_task(self._drive())
        await waiter

    async def _drive(self) -> None:
        while self._sleepers:
            await self._settle()
            wake, _, waiter = heapq.heappop(self._sleepers)
            if not waiter.done():
                self.micros = max(self.micros, wake)
                waiter.set_result(None)

    async def _settle(self) -> None:
        """Let every task run until it sleeps; wait (real time) for sends in flight."""
        loop = asyncio.get_running_loop()
        give_up = loop.time() + 10
        while True:  # a few loop turns let a task that just woke reach its next await
            for _ in range(8):
                await asyncio.sleep(0)
            if not any(busy() for busy in self.busy):
                return
            assert loop.time() < give_up, "a send has been in flight for 10 s"


async def render(reminder, user):
    return Outgoing(
        chat_id=int(user.key.split(":")[1]), text=f"Reminder {reminder.kind} {reminder.ref}"
    )


async def nothing_to_send(reminder, user):
    return None


@pytest.fixture
def fake(emulator):
    clock = FakeTime()
    emulator.clock = clock.monotonic
    return clock


@pytest.fixture
async def tg(emulator):
    """A plain Bot on the emulator, with room for the dispatcher's concurrent sends."""
    bot = telegram.Bot(
        emulator.token,
        base_url=emulator.base_url,
        base_file_url=emulator.base_file_url,
        request=HTTPXRequest(connection_pool_size=16),
    )
    await bot.initialize()
    yield bot
    await bot.shutdown()


@pytest.fixture
async def db(tmp_path):
    storage = sqlite_storage(tmp_path / "bot.sqlite3")
    await storage.migrate()
    yield storage
    await storage.close()


def dispatcher(storage, bot, fake, *, worker="w1", render_fn=render, **options):
    made = Dispatcher(
        storage, bot, render_fn, worker=worker, clock=fake.now, sleep=fake.sleep, **options
    )
    fake.busy.append(lambda: made.in_flight > 0)
    return made


async def user(storage, chat_id, tz="Europe/Paris"):
    return await add_user(storage, f"tg:{chat_id}", lang="fr", tz=tz)


async def remind(storage, owner, ref, at, kind="todo"):
    return await storage.add_reminder(owner.id, kind=kind, ref=ref, due_at=at)


def sends(emulator, chat_id=None):
    return [
        c
        for c in emulator.calls_to("sendMessage")
        if chat_id is None or c.params.get("chat_id") == chat_id
    ]


def delivered(emulator):
    """How many times each text was delivered (answered 200)."""
    return Counter(c.params["text"] for c in sends(emulator) if c.ok)


async def status(storage, owner, reminder_id):
    return await storage.get_reminder(reminder_id, user_id=owner.id)


async def has_status(storage, owner, reminder_id, expected):
    return (await status(storage, owner, reminder_id)).status == expected


async def run_until(fake, dispatchers, done, *, interval=1.0, max_seconds=3600.0):
    """Tick every dispatcher every `interval` virtual seconds until done() or max_seconds;
    done() may be a coroutine function."""
    end = fake.monotonic() + max_seconds

    async def finished():
        result = done()
        return await result if asyncio.iscoroutine(result) else result

    async def loop(d):
        while not await finished() and fake.monotonic() < end:
            await d.tick()
            await fake.sleep(interval)

    await asyncio.gather(*(loop(d) for d in dispatchers))
    assert await finished(), "not done within the time allowed"


def max_in_window(times, width=1.0):
    """The most calls within any window [t, t + width)."""
    times = sorted(times)
    best, start = 0, 0
    for end, moment in enumerate(times):
        while moment - times[start] >= width - 1e-9:
            start += 1
        best = max(best, end - start + 1)
    return best


def min_gap_per_chat(calls):
    by_chat = defaultdict(list)
    for call in calls:
        by_chat[call.params["chat_id"]].append(call.time)
    gaps = [b - a for times in by_chat.values() for a, b in itertools.pairwise(sorted(times))]
    return min(gaps, default=float("inf"))


# ---- due or not ------------------------------------------------------------------------------


async def test_a_reminder_not_yet_due_is_not_sent(db, tg, emulator, fake):
    ana = await user(db, 101)
    reminder = await remind(db, ana, "later", T0 + timedelta(minutes=5))
    report = await dispatcher(db, tg, fake).tick()
    assert report == TickReport()
    assert sends(emulator) == []
    assert (await status(db, ana, reminder.id)).status == "pending"


async def test_a_due_reminder_is_sent_once_as_html_with_its_buttons(db, tg, emulator, fake):
    ana = await user(db, 101)
    reminder = await remind(db, ana, "q1", T0 - timedelta(minutes=1))
    buttons = InlineKeyboardMarkup([[InlineKeyboardButton("Fait", callback_data="rem:done:1")]])

    async def rich(r, u):
        return Outgoing(chat_id=101, text="<b>Rappel</b> &amp; suite", reply_markup=buttons)

    d = dispatcher(db, tg, fake, render_fn=rich)
    first = await d.tick()
    second = await d.tick()
    assert (first.claimed, first.sent) == (1, 1)
    assert second == TickReport()
    [call] = sends(emulator)
    assert call.params["parse_mode"] == "HTML"
    message = emulator.last_bot_message(101)
    assert message.text == "Rappel & suite"
    assert message.buttons() == ["Fait"]
    stored = await status(db, ana, reminder.id)
    assert (stored.status, stored.claimed_by, stored.attempts) == ("sent", None, 0)


async def test_reminders_missed_while_the_bot_was_down_are_sent_once(db, tg, emulator, fake):
    ana = await user(db, 101)
    for day in range(1, 4):
        await remind(db, ana, f"day-{day}", T0 + timedelta(days=day))
    fake.jump(timedelta(days=5))  # no tick for five days
    d = dispatcher(db, tg, fake)
    report = await d.tick()
    await d.tick()
    assert report.sent == 3
    assert delivered(emulator) == {f"Reminder todo day-{day}": 1 for day in range(1, 4)}
    assert min_gap_per_chat(sends(emulator)) >= 1.05 - 1e-6  # the same chat: spaced


async def test_a_restarted_dispatcher_sends_nothing_twice(db, tg, emulator, fake):
    ana, bob = await user(db, 101), await user(db, 102)
    await remind(db, ana, "a", T0 - timedelta(hours=1))
    await remind(db, bob, "b", T0 + timedelta(hours=1))
    await dispatcher(db, tg, fake).tick()
    restarted = dispatcher(db, tg, fake)  # a new process, same worker name, same database
    assert (await restarted.tick()).claimed == 0
    fake.jump(timedelta(hours=2))
    await restarted.tick()
    await dispatcher(db, tg, fake, worker="w2").tick()
    assert delivered(emulator) == {"Reminder todo a": 1, "Reminder todo b": 1}
    assert len(sends(emulator)) == 2


async def test_a_dead_workers_claim_is_taken_over_after_the_lease(db, tg, emulator, fake):
    ana = await user(db, 101)
    reminder = await remind(db, ana, "q1", T0 - timedelta(minutes=1))
    [claimed] = await db.claim_due(fake.now(), worker="dead", lease=LEASE, limit=10)
    d = dispatcher(db, tg, fake, lease=LEASE)
    fake.jump(LEASE - timedelta(seconds=1))
    assert (await d.tick()).claimed == 0
    assert sends(emulator) == []
    fake.jump(timedelta(seconds=1))
    assert (await d.tick()).sent == 1
    assert delivered(emulator) == {"Reminder todo q1": 1}
    assert (await status(db, ana, reminder.id)).status == "sent"
    assert claimed.claimed_by == "dead"


async def test_a_user_with_several_due_reminders_gets_them_spaced(db, tg, emulator, fake):
    ana, bob = await user(db, 101), await user(db, 102)
    for n in range(5):
        await remind(db, ana, f"a{n}", T0 - timedelta(minutes=10 - n))
        await remind(db, bob, f"b{n}", T0 - timedelta(minutes=10 - n))
    report = await dispatcher(db, tg, fake).tick()
    assert report.sent == 10
    assert min_gap_per_chat(sends(emulator)) >= 1.05 - 1e-6
    texts = [c.params["text"] for c in sends(emulator, 101)]
    assert texts == [f"Reminder todo a{n}" for n in range(5)]  # in due order
    assert fake.monotonic() < 5 * 1.05 + 0.5  # the two chats interleave


# ---- Telegram says no ------------------------------------------------------------------------


async def test_a_429_storm_pauses_every_send_then_delivers_each_once(db, tg, emulator, fake):
    owners = [await user(db, 200 + n) for n in range(20)]
    for n, owner in enumerate(owners):
        await remind(db, owner, f"r{n}", T0 - timedelta(seconds=n))
    emulator.fail_next("sendMessage", 429, retry_after=3, count=4)
    d = dispatcher(db, tg, fake)
    await run_until(fake, [d], lambda: len(delivered(emulator)) == 20)
    assert set(delivered(emulator).values()) == {1}
    calls = sends(emulator)
    refused = [c for c in calls if c.status == 429]
    assert len(refused) == 4
    for no in refused:
        early = [c for c in calls if no.time < c.time < no.time + 3 - 1e-6]
        assert early == [], f"a send {early[0].time - no.time:.3f} s after a 429 of 3 s"
    assert calls[-1].time - calls[0].time >= 4 * 3  # four pauses of 3 s


async def test_a_retry_after_longer_than_the_lease_leaves_reminders_for_later(
    db, tg, emulator, fake
):
    owners = [await user(db, 300 + n) for n in range(5)]
    for n, owner in enumerate(owners):
        await remind(db, owner, f"r{n}", T0 - timedelta(seconds=n))
    emulator.fail_next("sendMessage", 429, retry_after=400, count=1)
    d = dispatcher(db, tg, fake, lease=LEASE)
    first = await d.tick()
    assert (first.rate_limited, first.deferred, first.sent) == (1, 5, 0)
    assert d.paused_until is not None
    fake.jump(timedelta(seconds=200))  # the lease ran out, the pause did not
    assert (await d.tick()).claimed == 0
    await run_until(fake, [d], lambda: len(delivered(emulator)) == 5)
    calls = sends(emulator)
    assert calls[1].time - calls[0].time >= 400
    assert set(delivered(emulator).values()) == {1}


async def test_a_user_who_blocked_the_bot_is_marked_and_not_retried(db, tg, emulator, fake):
    ana, bob = await user(db, 101), await user(db, 102)
    kept = [await remind(db, ana, f"a{n}", T0 - timedelta(minutes=5 - n)) for n in range(3)]
    await remind(db, bob, "b", T0 - timedelta(minutes=1))
    emulator.block_user(101)
    d = dispatcher(db, tg, fake)
    report = await d.tick()
    assert (report.sent, report.blocked) == (1, 3)
    for _ in range(5):  # later ticks: the blocked user's reminders are not even claimed
        fake.jump(timedelta(hours=1))
        assert (await d.tick()).claimed == 0
    assert len(sends(emulator, 101)) == 1  # one 403, no retry loop
    assert (await db.get_user("tg:101")).blocked_at == T0
    for reminder in kept:  # not lost: pending, due as before, unclaimed
        stored = await status(db, ana, reminder.id)
        assert (stored.status, stored.due_at, stored.claimed_by) == (
            "pending",
            reminder.due_at,
            None,
        )
    # /start again (the bot's handler unblocks): everything waiting arrives.
    emulator.unblock_user(101)
    await db.update_user(ana.id, unblock=True)
    await run_until(fake, [d], lambda: len(delivered(emulator)) == 4)
    assert delivered(emulator)["Reminder todo a0"] == 1


async def test_a_chat_not_found_counts_as_unreachable(db, tg, emulator, fake):
    ghost = await user(db, 999)
    await remind(db, ghost, "q1", T0 - timedelta(minutes=1))
    emulator.require_known_chats = True
    report = await dispatcher(db, tg, fake).tick()
    assert report.blocked == 1
    assert (await db.get_user("tg:999")).blocked_at is not None


async def test_server_errors_are_retried_with_backoff_then_delivered(db, tg, emulator, fake):
    ana = await user(db, 101)
    reminder = await remind(db, ana, "q1", T0 - timedelta(minutes=1))
    emulator.fail_next("sendMessage", 502, count=2)
    d = dispatcher(db, tg, fake)
    await run_until(fake, [d], lambda: len(delivered(emulator)) == 1, interval=5.0)
    times = [c.time for c in sends(emulator)]
    assert len(times) == 3
    assert 30 <= times[1] - times[0] < 40  # first backoff: 30 s (next tick after it)
    assert 60 <= times[2] - times[1] < 70  # then 1 min
    stored = await status(db, ana, reminder.id)
    assert (stored.status, stored.attempts) == ("sent", 2)


async def test_a_reminder_is_given_up_after_max_attempts(db, tg, emulator, fake):
    ana = await user(db, 101)
    reminder = await remind(db, ana, "q1", T0 - timedelta(minutes=1))
    emulator.fail_next("sendMessage", 500, count=100)
    d = dispatcher(db, tg, fake, max_attempts=4)
    await run_until(fake, [d], lambda: has_status(db, ana, reminder.id, "failed"), interval=10.0)
    assert len(sends(emulator)) == 4
    assert (await status(db, ana, reminder.id)).attempts == 4
    assert [backoff(n).total_seconds() for n in range(9)] == [
        30,
        60,
        120,
        240,
        480,
        960,
        1920,
        3600,
        3600,
    ]


async def test_a_timed_out_send_is_retried(db, emulator, fake):
    """A time-out may hide a delivered message: the retry can duplicate it (documented)."""
    ana = await user(db, 101)
    await remind(db, ana, "q1", T0 - timedelta(minutes=1))
    impatient = telegram.Bot(
        emulator.token,
        base_url=emulator.base_url,
        request=HTTPXRequest(connection_pool_size=4, read_timeout=0.1),
    )
    await impatient.initialize()
    try:
        emulator.slow_next("sendMessage", 0.3)
        d = dispatcher(db, impatient, fake)
        assert (await d.tick()).retried == 1
        await emulator.wait_idle()
        fake.jump(timedelta(seconds=30))
        assert (await d.tick()).sent == 1
    finally:
        await impatient.shutdown()
    assert len(sends(emulator)) == 2


async def test_a_bad_request_is_marked_failed_without_a_retry_loop(db, tg, emulator, fake, caplog):
    ana = await user(db, 101)
    reminder = await remind(db, ana, "q1", T0 - timedelta(minutes=1))

    async def too_long(r, u):
        return Outgoing(chat_id=101, text="x" * 5000)

    d = dispatcher(db, tg, fake, render_fn=too_long)
    with caplog.at_level(logging.ERROR, logger="bot.reminders.dispatcher"):
        report = await d.tick()
    for _ in range(3):
        fake.jump(timedelta(hours=2))
        await d.tick()
    assert report.failed == 1
    assert len(sends(emulator)) == 1
    assert (await status(db, ana, reminder.id)).status == "failed"
    [record] = caplog.records
    assert f"reminder {reminder.id}" in record.getMessage()
    assert "5000 characters" in record.getMessage()
    assert "too long" in record.getMessage()
    assert emulator.token not in caplog.text


async def test_nothing_to_send_any_more_cancels_the_reminder(db, tg, emulator, fake):
    ana = await user(db, 101)
    reminder = await remind(db, ana, "q1", T0 - timedelta(minutes=1))
    report = await dispatcher(db, tg, fake, render_fn=nothing_to_send).tick()
    assert report.skipped == 1
    assert sends(emulator) == []
    assert (await status(db, ana, reminder.id)).status == "cancelled"


async def test_a_render_error_is_retried_later(db, tg, emulator, fake):
    ana = await user(db, 101)
    reminder = await remind(db, ana, "q1", T0 - timedelta(minutes=1))

    async def broken(r, u):
        raise KeyError("payload.step")

    report = await dispatcher(db, tg, fake, render_fn=broken).tick()
    assert report.retried == 1
    stored = await status(db, ana, reminder.id)
    assert (stored.attempts, stored.due_at) == (1, T0 + timedelta(seconds=30))


# ---- crashes and exactly-once ----------------------------------------------------------------


class FailingMarks:
    """A storage whose mark_sent fails: the process "dies" between a send and its record."""

    def __init__(self, inner):
        self._inner = inner

    def __getattr__(self, name):
        return getattr(self._inner, name)

    def mark_sent(self, reminder_id, *, worker):
        raise StorageError("the database went away")


async def test_a_crash_between_send_and_record_resends_once_after_the_lease(
    db, tg, emulator, fake
):
    ana = await user(db, 101)
    reminder = await remind(db, ana, "q1", T0 - timedelta(minutes=1))
    doomed = dispatcher(FailingMarks(db), tg, fake, lease=LEASE)
    with pytest.raises(StorageError):
        await doomed.tick()
    survivor = dispatcher(db, tg, fake, worker="w2", lease=LEASE)
    assert (await survivor.tick()).claimed == 0  # still leased to the dead worker
    fake.jump(LEASE)
    assert (await survivor.tick()).sent == 1
    assert delivered(emulator) == {"Reminder todo q1": 2}  # the documented duplicate
    assert (await status(db, ana, reminder.id)).status == "sent"


async def test_a_logged_tick_logs_errors_instead_of_raising(db, tg, emulator, fake, caplog):
    ana = await user(db, 101)
    await remind(db, ana, "q1", T0 - timedelta(minutes=1))
    d = dispatcher(FailingMarks(db), tg, fake)
    with caplog.at_level(logging.ERROR, logger="bot.reminders.dispatcher"):
        await d.logged_tick()  # the StorageError is logged, not raised
    assert "tick of worker w1 failed" in caplog.text
    assert "database went away" in caplog.text


class CountingClaims(FailingMarks):
    claims = 0

    async def mark_sent(self, reminder_id, *, worker):
        return await self._inner.mark_sent(reminder_id, worker=worker)

    async def claim_due(self, *args, **kwargs):
        self.claims += 1
        return await self._inner.claim_due(*args, **kwargs)


async def test_a_logged_tick_is_skipped_while_one_runs(db, tg, emulator, fake):
    ana = await user(db, 101)
    await remind(db, ana, "q1", T0 - timedelta(minutes=1))
    storage = CountingClaims(db)
    d = dispatcher(storage, tg, fake)
    emulator.slow_next("sendMessage", 0.2)
    first = asyncio.create_task(d.logged_tick())
    for _ in range(500):  # until the first tick is sending (real time: the send is slow)
        if d.in_flight:
            break
        await asyncio.sleep(0.001)
    await d.logged_tick()  # the first tick is still sending: skipped
    assert storage.claims == 1
    await first
    await d.logged_tick()
    assert storage.claims == 2
    assert delivered(emulator) == {"Reminder todo q1": 1}


async def test_ticks_run_with_the_applications_bot(db, emulator):
    """As the bot wires it: ticks started with the application, its ExtBot with the bot's
    rate limiter pacing the dispatcher, the real clock."""
    ana = await user(db, 101)
    await remind(db, ana, "q1", datetime.now(UTC) - timedelta(minutes=1))
    limiter = SendLimiter()
    app = (
        ApplicationBuilder()
        .token(emulator.token)
        .base_url(emulator.base_url)
        .base_file_url(emulator.base_file_url)
        .rate_limiter(limiter)
        .build()
    )
    d = Dispatcher(db, app.bot, render, worker="app", paced_by=limiter.chat_delay)
    ticks = d.every(0.05, first=0)
    async with app:
        await app.start()
        ticks.start()
        try:
            await emulator.wait_for(lambda: delivered(emulator), timeout=5)
            await asyncio.sleep(0.2)  # a few more ticks
        finally:
            await ticks.stop()
            await app.stop()
    assert delivered(emulator) == {"Reminder todo q1": 1}
    assert not ticks.running


async def test_ticks_go_on_after_a_failing_one_and_stop_cancels_the_one_running():
    calls: list[int] = []
    blocked = asyncio.Event()

    async def tick():
        calls.append(len(calls))
        if len(calls) == 1:
            raise RuntimeError("the first tick fails")
        if len(calls) == 3:
            blocked.set()
            await asyncio.Event().wait()  # a tick that never ends by itself

    ticks = Ticks(tick, 0.01, first=0)
    ticks.start()
    ticks.start()  # started once only
    await asyncio.wait_for(blocked.wait(), timeout=5)
    assert ticks.running
    await ticks.stop()  # cancels the third tick, which would never end
    assert calls == [0, 1, 2]
    assert not ticks.running
    await ticks.stop()  # stopping twice changes nothing


# ---- throughput and limits -------------------------------------------------------------------


def bulk_sqlite(path, chats, count, rng):
    """Users tg:<chat> and count reminders due over the last day, in one transaction."""
    stamp = T0.isoformat(timespec="microseconds")
    with closing(sqlite3.connect(path)) as conn, conn:
        conn.executemany(
            "INSERT INTO users (key, lang, tz, created_at) VALUES (?, 'fr', 'Europe/Paris', ?)",
            [(f"tg:{chat}", stamp) for chat in chats],
        )
        ids = [row[0] for row in conn.execute("SELECT id FROM users")]
        conn.executemany(
            "INSERT INTO reminders (user_id, kind, ref, payload, due_at, status, created_at,"
            " updated_at) VALUES (?, 'todo', ?, '{}', ?, 'pending', ?, ?)",
            [
                (
                    rng.choice(ids),
                    f"r{n}",
                    (T0 - timedelta(seconds=rng.randrange(86_400))).isoformat(
                        timespec="microseconds"
                    ),
                    stamp,
                    stamp,
                )
                for n in range(count)
            ],
        )


async def test_2000_reminders_at_the_rate_limit_without_a_single_429(
    db, tg, emulator, fake, tmp_path
):
    bulk_sqlite(str(tmp_path / "bot.sqlite3"), range(10_000, 10_400), 2000, random.Random(7))
    emulator.enforce_rate_limits(global_per_s=30, per_chat_per_s=1)
    d = dispatcher(db, tg, fake)
    await run_until(fake, [d], lambda: len(delivered(emulator)) == 2000)
    calls = sends(emulator)
    assert len(calls) == 2000  # no 429, no retry
    assert set(delivered(emulator).values()) == {1}
    times = [c.time for c in calls]
    rate = (len(times) - 1) / (times[-1] - times[0])
    print(f"\n2000 reminders, 400 chats, one dispatcher: {rate:.2f} messages/s")
    assert max_in_window(times) <= 30
    assert min_gap_per_chat(calls) >= 1.0
    assert rate > 26.0


# ---- several replicas (PostgreSQL) -----------------------------------------------------------


def bulk_reminders(backend, chats, per_chat):
    """Users tg:<chat> and per_chat due reminders each, inserted in two statements."""
    backend.execute(
        "INSERT INTO users (key, lang, tz, created_at)"
        f" SELECT 'tg:' || c, 'fr', 'Europe/Paris', now() FROM unnest(ARRAY{chats}) AS c"
    )
    backend.execute(
        "INSERT INTO reminders (user_id, kind, ref, payload, due_at, status, created_at,"
        " updated_at)"
        " SELECT u.id, 'todo', u.key || '-' || n, '{}',"
        f" TIMESTAMPTZ '{T0.isoformat()}' - (random() * interval '1 day'), 'pending', now(),"
        f" now() FROM users u, generate_series(1, {per_chat}) AS n"
    )


async def run_two_replicas(storage_backend, tg, emulator, fake, chats, per_chat):
    replicas = []
    for name in ("replica-a", "replica-b"):
        handle = storage_backend.open()  # a connection of its own
        await handle.migrate()
        replicas.append(dispatcher(handle, tg, fake, worker=name, global_rate=14.0))
    bulk_reminders(storage_backend, chats, per_chat)
    total = len(chats) * per_chat
    emulator.enforce_rate_limits(global_per_s=30, per_chat_per_s=1)
    await run_until(fake, replicas, lambda: len(delivered(emulator)) == total)
    calls = sends(emulator)
    counts = delivered(emulator)
    assert len(counts) == total
    assert set(counts.values()) == {1}  # every reminder exactly once
    rows = storage_backend.execute("SELECT status, count(*) FROM reminders GROUP BY status")
    assert rows == [("sent", total)]
    times = [c.time for c in calls]
    assert max_in_window(times) <= 30  # every call the emulator saw, refused ones included
    return calls


@pytest.mark.postgres
@pytest.mark.parametrize("storage_backend", ["postgres"], indirect=True)
async def test_two_replicas_send_each_reminder_once_within_the_limits(
    storage_backend, tg, emulator, fake
):
    calls = await run_two_replicas(
        storage_backend, tg, emulator, fake, list(range(50_000, 52_500)), 1
    )
    assert [c for c in calls if not c.ok] == []
    assert min_gap_per_chat(calls) >= 1.0
    times = [c.time for c in calls]
    rate = (len(times) - 1) / (times[-1] - times[0])
    print(f"\n2500 reminders, two replicas at 14/s each: {rate:.2f} messages/s")
    assert rate > 26.0


@pytest.mark.postgres
@pytest.mark.parametrize("storage_backend", ["postgres"], indirect=True)
async def test_two_replicas_and_users_with_several_reminders(storage_backend, tg, emulator, fake):
    """Per-chat pacing is per replica, so claim_due gives all of a user's due reminders to one
    replica and the other skips that user while the claim lives: no two replicas send to the
    same chat, so no per-chat 429. Still exactly once, and the global limit holds."""
    calls = await run_two_replicas(
        storage_backend, tg, emulator, fake, list(range(60_000, 60_200)), 4
    )
    refused = [c for c in calls if not c.ok]
    print(f"\n800 reminders, 200 users, two replicas: {len(refused)} per-chat 429s")
    assert refused == []
    assert min_gap_per_chat(calls) >= 1.0


# ---- the operator command ----------------------------------------------------------------------


async def test_a_tick_forgets_processed_updates_older_than_a_week_every_ten_minutes(db, tg, fake):
    # Recorded now (real time): more than a week before the fake clock's 2030.
    assert fake.now() - datetime.now(UTC) > KEEP_PROCESSED
    await db.mark_processed(1)
    d = dispatcher(db, tg, fake)
    await d.tick()
    assert not await processed(db, 1)
    await db.mark_processed(2)
    fake.jump(PRUNE_EVERY / 2)
    await d.tick()
    assert await processed(db, 2)  # pruned ten minutes ago: not yet again
    fake.jump(PRUNE_EVERY / 2)
    await d.tick()
    assert not await processed(db, 2)


async def test_a_backlog_of_processed_updates_is_forgotten_one_batch_per_tick(
    db, tg, fake, monkeypatch
):
    monkeypatch.setattr(dispatcher_module, "PRUNE_BATCH", 2)
    monkeypatch.setattr(database, "PRUNE_BATCH", 2)
    for update_id in range(1, 6):  # recorded now (real time): more than a week before 2030
        await db.mark_processed(update_id)
    d = dispatcher(db, tg, fake)
    left = []
    for _ in range(4):
        await d.tick()  # no time passes: a full batch makes the next tick prune again
        left.append(sum([await processed(db, n) for n in range(1, 6)]))
    assert left == [3, 1, 0, 0]
    await db.mark_processed(6)
    await d.tick()
    assert await processed(db, 6)  # the backlog is gone: ten minutes until the next batch
    fake.jump(PRUNE_EVERY)
    await d.tick()
    assert not await processed(db, 6)


async def test_pending_report_lists_due_times_in_utc_and_local_time(db):
    ana = await user(db, 101, tz="Europe/Paris")
    bob = await user(db, 102, tz="America/New_York")
    conversation = await db.start_conversation(ana.id, "alliance", {})
    await db.add_reminder(
        ana.id, kind="next_step", ref="grid", due_at=T0, conversation_id=conversation.id
    )
    await db.add_reminder(bob.id, kind="review", ref="review-1", due_at=T0 + timedelta(days=1))
    await db.update_user(bob.id, blocked_at=T0)
    rows = await operators.pending_report(db, now=T0 + timedelta(minutes=1))
    assert [(r["user"], r["kind"], r["ref"]) for r in rows] == [
        ("tg:101", "next_step", "grid"),
        ("tg:102", "review", "review-1"),
    ]
    first, second = rows
    assert first["project"] == conversation.id
    assert first["due_utc"] == "2030-03-04T09:00:00+00:00"
    assert first["due_local"] == "2030-03-04T10:00:00+01:00"
    assert (first["status"], first["state"], first["attempts"]) == ("pending", "due", 0)
    assert second["due_local"] == "2030-03-05T04:00:00-05:00"
    assert second["state"] == "blocked"
    table = operators.format_table(rows)
    assert "tg:101" in table
    assert "2030-03-04 10:00+01:00" in table
    assert operators.format_table([]) == "No pending reminders."


async def test_the_operator_command_prints_a_table_or_json(db, capsys):
    ana = await user(db, 101)
    await remind(db, ana, "q1", T0)
    assert await operators.main(False, db) == 0
    assert "tg:101" in capsys.readouterr().out
    assert await operators.main(True, db) == 0
    [row] = json.loads(capsys.readouterr().out)
    assert (row["user"], row["ref"]) == ("tg:101", "q1")
