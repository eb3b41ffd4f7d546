"""The bot's rate limiter against the emulator holding Telegram's limits (30 messages a second
overall, 1 a second per chat, 20 a minute per group): messages sent are paced and none is
refused, edits and button answers are not queued behind them, a 429 is waited out."""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

from telegram.ext import ApplicationBuilder

from bot.reminders.dispatcher import Dispatcher, Outgoing
from bot.storage.factory import open_storage
from bot.telegram.limiter import SendLimiter, not_replying
from bot.telegram.retry import RetryingRequest
from tests.storage_fixtures import add_user
from tests.support.emulator import TgUser
from tests.telegram_fixtures import emulator  # noqa: F401 (fixture)

GROUP = -4001


@asynccontextmanager
async def shipped_bot(emulator):  # noqa: F811
    """The application's bot with the shipped rate limiter and request class; what the test
    sends is not a reply to an update being handled (paced per chat)."""
    not_replying()
    app = (
        ApplicationBuilder()
        .token(emulator.token)
        .base_url(emulator.base_url)
        .base_file_url(emulator.base_file_url)
        .request(RetryingRequest())
        .rate_limiter(SendLimiter())
        .build()
    )
    async with app:
        yield app


def refused(emulator):  # noqa: F811
    return [c for c in emulator.calls if c.status == 429]


def min_gap_per_chat(calls):
    times: dict[object, list[float]] = {}
    for call in calls:
        times.setdefault(call.chat_id, []).append(call.time)
    gaps = [b - a for t in times.values() for a, b in itertools.pairwise(t)]
    return min(gaps)


async def test_a_burst_of_messages_to_many_chats_and_a_group_gets_no_429(emulator):  # noqa: F811
    emulator.enforce_rate_limits(global_per_s=30, per_chat_per_s=1, group_per_min=20)
    chats = range(1000, 1035)
    async with shipped_bot(emulator) as app:
        await asyncio.gather(
            *(app.bot.send_message(chat, f"news {chat} {n}") for n in range(2) for chat in chats),
            *(app.bot.send_message(GROUP, f"group {n}") for n in range(3)),
        )
    sends = emulator.calls_to("sendMessage")
    assert refused(emulator) == []
    assert len(sends) == 73
    assert set(Counter(c.params["text"] for c in sends).values()) == {1}
    assert min_gap_per_chat(sends) >= 1.0


async def test_edits_and_button_answers_pass_a_queue_of_sends(emulator):  # noqa: F811
    emulator.enforce_rate_limits()
    ana = TgUser(77)
    async with shipped_bot(emulator) as app:
        question = await app.bot.send_message(ana.id, "Which partner?")
        query = emulator.push_callback(ana, question.message_id, "a|partner")
        broadcast = asyncio.gather(
            *(app.bot.send_message(chat, "reminder") for chat in range(2000, 2090))
        )
        # The overall burst is spent: the remaining sends wait their turn, about 30 a second.
        await emulator.wait_for(lambda: len(emulator.calls_to("sendMessage")) >= 25)
        await app.bot.answer_callback_query(query)
        await app.bot.edit_message_text("Which partner? ✅", ana.id, question.message_id)
        await app.bot.send_chat_action(ana.id, "typing")
        answered = max(
            c.seq
            for c in emulator.calls
            if c.method in {"answerCallbackQuery", "editMessageText", "sendChatAction"}
        )
        await broadcast
    reminders = [c for c in emulator.calls_to("sendMessage") if c.params["text"] == "reminder"]
    assert len(reminders) == 90
    waiting = [c for c in reminders if c.seq > answered]
    assert len(waiting) >= 30  # the three went through while most of the broadcast waited
    assert refused(emulator) == []
    assert emulator.callback_queries[query].answered
    assert emulator.messages(ana.id)[-1].text == "Which partner? ✅"


async def test_a_429_is_waited_out_and_holds_every_send_meanwhile(emulator):  # noqa: F811
    emulator.fail_next("sendMessage", 429, retry_after=1)
    async with shipped_bot(emulator) as app:
        first = asyncio.create_task(app.bot.send_message(10, "first"))
        limiter = app.bot.rate_limiter
        assert isinstance(limiter, SendLimiter)
        while not limiter.chat_delay(11):  # noqa: ASYNC110 (the 429 came back: sends paused)
            await asyncio.sleep(0.01)
        second = await app.bot.send_message(11, "second")
        await first
    refusal = refused(emulator)[0]
    later = [c for c in emulator.calls_to("sendMessage") if c.seq > refusal.seq]
    assert sorted(c.params["text"] for c in later if c.ok) == ["first", "second"]
    assert all(c.time - refusal.time >= 1.0 for c in later)  # nothing before retry_after
    assert second.text == "second"


async def test_an_edit_refused_with_429_is_sent_again_after_the_wait(emulator):  # noqa: F811
    async with shipped_bot(emulator) as app:
        message = await app.bot.send_message(12, "draft")
        emulator.fail_next("editMessageText", 429, retry_after=1)
        await app.bot.edit_message_text("final", 12, message.message_id)
    edits = emulator.calls_to("editMessageText")
    assert [c.status for c in edits] == [429, 200]
    assert edits[1].time - edits[0].time >= 1.0
    assert emulator.messages(12)[-1].text == "final"


class Departures(RetryingRequest):
    """The shipped request class, noting when each message leaves the bot (once the limiter
    let it go)."""

    def __init__(self) -> None:
        super().__init__()
        self.times: list[float] = []

    async def do_request(self, url, method, request_data=None, *args, **kwargs):
        if url.endswith("/sendMessage"):
            self.times.append(asyncio.get_running_loop().time())
        return await super().do_request(url, method, request_data, *args, **kwargs)


def fits_telegram_overall_limit(times: list[float], per_second: float = 30) -> bool:
    """Whether messages leaving at these times stay within Telegram's overall limit (a bucket
    of `per_second` tokens, refilled at that rate: the emulator's)."""
    tokens, last = per_second, min(times)
    for time in sorted(times):
        tokens = min(per_second, tokens + (time - last) * per_second)
        last = time
        if tokens < 1:
            return False
        tokens -= 1
    return True


async def test_reminders_and_replies_share_one_pace(emulator, tmp_path):  # noqa: F811
    """The dispatcher paced by the application's limiter, as build_application wires them,
    while replies to other users go out through the same limiter.

    The overall pace is checked where the bot sets it, when messages leave: the emulator reads
    them in this process, later by however long the machine keeps the process from running (a
    burst read late together with the messages that followed it can make a 429, which the
    limiter waits out). Messages to one chat are spaced from Telegram's answer to the previous
    one: that spacing holds at arrival."""
    emulator.enforce_rate_limits()
    storage = open_storage(f"sqlite:///{tmp_path / 'bot.sqlite3'}")
    await storage.migrate()
    due = datetime.now(UTC) - timedelta(minutes=1)
    for chat in range(3000, 3020):
        owner = await add_user(storage, f"tg:{chat}", lang="fr", tz="Europe/Paris")
        for n in range(3):
            await storage.add_reminder(owner.id, kind="todo", ref=f"q{n}", due_at=due)
    limiter = SendLimiter()

    async def render(reminder, user):
        return Outgoing(chat_id=int(user.key.split(":")[1]), text=f"todo {reminder.ref}")

    try:
        app = (
            ApplicationBuilder()
            .token(emulator.token)
            .base_url(emulator.base_url)
            .request(departures := Departures())
            .rate_limiter(limiter)
            .build()
        )
        async with app:
            dispatcher = Dispatcher(
                storage, app.bot, render, worker="test", paced_by=limiter.chat_delay
            )
            replies = [app.bot.send_message(chat, "reply") for chat in range(4000, 4030)]
            report, *_ = await asyncio.gather(dispatcher.tick(), *replies)
    finally:
        await storage.close()
    sends = [c for c in emulator.calls_to("sendMessage") if c.ok]
    assert report.sent == 60
    assert len(sends) == 90
    assert set(Counter((c.chat_id, c.params["text"]) for c in sends).values()) == {1}
    assert len(departures.times) == len(emulator.calls_to("sendMessage"))
    assert fits_telegram_overall_limit(departures.times)
    assert min_gap_per_chat(sends) >= 1.0
