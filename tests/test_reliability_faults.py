"""Telegram answering 429, 5xx and too late, and a user who blocks the bot. The real
application and dispatcher, through the Bot API emulator.

What "every reply is eventually delivered" means here (docs/reliability.md):

* a 429 is waited out (the bot's rate limiter: retry_after, then again, 3 times), and no call
  reaches Telegram before retry_after has passed;
* a 502, a 503 or a refused connection is sent again (bot/telegram/retry.py): Telegram did
  nothing with it, so the reply arrives exactly once;
* a 500, a 504 or a read time-out is ambiguous (Telegram may have sent the message: the
  emulator's late answers do act), so it is not repeated: the answer is already committed, the
  handler stops, and the error handler apologises and shows the current question. The user may
  then see a question twice, never a question missing: after every update, the question the
  conversation stands at is on the screen, and every answer is recorded exactly once;
* reminders: the dispatcher gives a failed send back with a backoff; each is delivered, once
  unless a time-out made an attempt ambiguous.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import random
from collections import Counter
from dataclasses import dataclass

import pytest

import bot.telegram.app as app_module
from bot.dialogue.engine import CONFIRM
from bot.dialogue.loader import load_dialogue
from bot.reminders.dispatcher import Dispatcher, Outgoing
from bot.telegram.retry import RetryingRequest
from tests.reliability_support import answers_of, keyboard_message
from tests.storage_fixtures import add_user
from tests.support.emulator import ApiError, BotApiEmulator, Call
from tests.telegram_fixtures import TOKEN, running_bot

READ_TIMEOUT = 0.5  # the bot's read time-out in these tests (PTB's default is 5 s)
LATE = 0.7  # a late answer comes after the bot gave up, and the call takes effect all the same
DESCRIPTIONS = {
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}
AMBIGUOUS = {"500", "504", "late"}


class ChaosEmulator(BotApiEmulator):
    """Answers a share of calls (getUpdates aside) with 429, a 5xx, or too late, at random."""

    def __init__(self, seed: int, rate_429=0.10, rate_5xx=0.05, rate_late=0.02) -> None:
        super().__init__(token=TOKEN)
        self.rng = random.Random(seed)
        self.rates = (rate_429, rate_5xx, rate_late)
        self.active = False
        self.faults: list[tuple[Call, str]] = []  # the call and what was done to it

    async def _dispatch(self, call: Call):
        if self.active and call.method != "getUpdates":
            draw = self.rng.random()
            rate_429, rate_5xx, rate_late = self.rates
            if draw < rate_429:
                self.faults.append((call, "429"))
                raise ApiError(429, "Too Many Requests: retry after 1", retry_after=1)
            if draw < rate_429 + rate_5xx:
                status = self.rng.choice(sorted(DESCRIPTIONS))
                self.faults.append((call, str(status)))
                raise ApiError(status, DESCRIPTIONS[status])
            if draw < rate_429 + rate_5xx + rate_late:
                self.faults.append((call, "late"))
                await asyncio.sleep(LATE)
        return await super()._dispatch(call)

    def count(self) -> Counter[str]:
        return Counter(kind for _, kind in self.faults)


@pytest.fixture
async def emulator(request):
    """This module's emulator: a ChaosEmulator (inactive until a test turns it on)."""
    async with ChaosEmulator(getattr(request, "param", 0)) as emu:
        yield emu  # guarded like any emulator fixture (tests/limits_fixtures.py)


@pytest.fixture
def short_timeouts(monkeypatch):
    """The bot gives up on an answer after READ_TIMEOUT; 502/503 are retried quickly."""
    monkeypatch.setattr(
        app_module,
        "RetryingRequest",
        functools.partial(RetryingRequest, read_timeout=READ_TIMEOUT, backoff=0.05),
    )


def assert_waited_out_429s(emulator: ChaosEmulator, *, per_chat: bool = False) -> int:
    """No call (getUpdates aside; to the same chat if per_chat) reached the emulator before a
    429's retry_after (1 s) had passed. Returns how many 429s were checked."""
    calls = [c for c in emulator.calls if c.method != "getUpdates"]
    checked = 0
    for index, call in enumerate(calls):
        if call.status != 429:
            continue
        following = [c for c in calls[index + 1 :] if not per_chat or c.chat_id == call.chat_id]
        early = [c for c in following if c.time < call.time + 1.0]
        assert not early, f"{[describe(c) for c in early]} sent before retry_after of #{call.seq}"
        checked += 1
    return checked


def describe(call: Call) -> str:
    return f"#{call.seq} {call.method} {call.status}"


# Chat replies ------------------------------------------------------------------------------
# What the manager answers to each question of the mini dialogue (picks: ticks x, y, confirms).
PLAN = {
    "company": ("text", "Acme"),
    "kind": ("tap", "a|kind|competitor"),
    "coop": ("tap", "a|coop|no"),
    "level": ("tap", "a|level|5"),
    "note": ("text", "A note"),
    "when_start": ("text", "2027-03-15"),
    "sessions": ("text", "6"),
}
PICKS = ("x", "y")
INPUTS = len(PLAN) + len(PICKS) + 1  # each input exactly once when none is lost
EXPECTED = {
    "company": "Acme",
    "kind": "competitor",
    "coop": "no",
    "picks": ["x", "y"],
    "level": 5,
    "note": "A note",
    "when_start": "2027-03-15",
    "sessions": 6,
}


@dataclass
class Walk:
    inputs: int = 0  # answers, ticks and confirms sent
    pokes: int = 0  # times the current question was not on screen and the user wrote /start


def question_on_screen(user, texts, qid) -> bool:
    """Whether the latest question message shows question qid (with its buttons)."""
    asking = [m for m in user.messages() if m.has_inline_keyboard and "?" in m.readable]
    return bool(asking) and texts.question(qid) in asking[-1].readable


async def anything_pending(storage, keys) -> bool:
    """Whether any of these users has a pending reminder."""
    for key in keys:
        user = await storage.get_user(key)
        if await storage.pending_reminders(user.id):
            return True
    return False


async def conversation_state(storage, user_id) -> dict:
    user = await storage.get_user(f"tg:{user_id}")
    return (await storage.active_conversation(user.id)).state


async def walk_through_chaos(emulator, storage, texts, user) -> Walk:
    """Answer what is on screen, as a person would; poke the bot when nothing is."""
    walk = Walk()
    await user.send("/start")
    emulator.active = True
    for _ in range(4 * INPUTS):
        state = await conversation_state(storage, user.id)
        at = state["at"]
        if at == "done":
            break
        if not question_on_screen(user, texts, at):
            walk.pokes += 1
            await user.send("/start")
            continue
        if at == "picks":
            missing = [o for o in PICKS if o not in (state.get("draft") or ())]
            kind, value = "tap", f"a|picks|{missing[0] if missing else CONFIRM}"
        else:
            kind, value = PLAN[at]
        walk.inputs += 1
        if kind == "text":
            await user.send(value)
        else:
            await user.tap_data(value, message_id=keyboard_message(emulator, user.id, value))
    emulator.active = False
    await emulator.wait_idle()
    return walk


async def chaos_walks(emulator, database_url, mini_dialogues, managers):
    emulator.expected_errors.append(r"^\w+ 429 ")  # the injected ones
    # A keyboard removed by a late call that "failed": Telegram then says "not modified".
    emulator.expected_errors.append(r"^edit\w+ 400 Bad Request: message is not modified")
    texts = load_dialogue(mini_dialogues).texts["en"]
    figures = Counter()
    async with running_bot(emulator, database_url, mini_dialogues, raise_errors=False) as bot:
        storage = bot.application.bot_data["services"].conversations.storage
        for n in range(managers):
            user = bot.user(id=8000 + n, language_code="en")
            walk = await walk_through_chaos(emulator, storage, texts, user)
            figures["inputs"] += walk.inputs
            figures["pokes"] += walk.pokes
            assert walk.inputs == INPUTS, "an input was lost: the manager had to give it again"
            current, history = await answers_of(storage, f"tg:{user.id}")
            assert current == EXPECTED
            questions = [qid for qid, _ in history]
            assert len(questions) == len(set(questions)), f"an answer recorded twice: {history}"
            end = " ".join(m.readable for m in user.messages()[-6:])
            assert texts.ui("done") in end or texts.ui("done_already") in end
            reminders = await storage.pending_reminders(
                (await storage.get_user(f"tg:{user.id}")).id
            )
            assert "review" in {r.kind for r in reminders}, "finishing scheduled no review"
        figures["errors"] = len(bot.errors)
    figures.update(emulator.count())
    figures["calls"] = len([c for c in emulator.calls if c.method != "getUpdates"])
    figures["429 waits checked"] = assert_waited_out_429s(emulator)
    return figures


@pytest.mark.parametrize("emulator", [9], indirect=True)  # a seed with every kind of fault
async def test_replies_arrive_despite_429_5xx_and_time_outs(
    emulator, database_url, mini_dialogues, short_timeouts
):
    figures = await chaos_walks(emulator, database_url, mini_dialogues, managers=1)
    print(f"\nfigures: {dict(figures)}")
    assert figures["429"] >= 3
    assert sum(figures[k] for k in AMBIGUOUS) >= 2
    assert figures["502"] + figures["503"] >= 1
    assert figures["pokes"] == 0  # the question was on screen after every single update


@pytest.mark.slow
@pytest.mark.parametrize("emulator", range(20, 30), indirect=True)
async def test_replies_arrive_despite_faults_long(
    emulator, database_url, mini_dialogues, short_timeouts
):
    figures = await chaos_walks(emulator, database_url, mini_dialogues, managers=6)
    print(f"\nfigures: {dict(figures)}")
    assert figures["pokes"] == 0


@pytest.mark.parametrize("status", [502, 503])
async def test_a_send_telegram_did_not_act_on_is_sent_again(
    emulator, database_url, mini_dialogues, short_timeouts, status
):
    async with running_bot(emulator, database_url, mini_dialogues) as bot:
        ana = bot.user(language_code="en")
        await ana.send("/start")
        emulator.fail_next("sendMessage", status, count=2)
        replies = await ana.send("Acme")
        assert not bot.errors
    assert replies.count(next(r for r in replies if "Kind? (en)" in r)) == 1
    failed = [c for c in emulator.calls_to("sendMessage") if c.status == status]
    assert len(failed) == 2


async def test_an_ambiguous_failure_is_not_repeated_and_gets_an_apology(
    emulator, database_url, mini_dialogues, short_timeouts
):
    async with running_bot(emulator, database_url, mini_dialogues, raise_errors=False) as bot:
        ana = bot.user(language_code="en")
        await ana.send("/start")
        emulator.slow_next("sendMessage", LATE)
        replies = await ana.send("Acme")
        await emulator.wait_idle()
        assert len(bot.errors) == 1
    kinds = [m for m in ana.messages() if "Kind? (en)" in m.readable]
    assert len(kinds) == 2  # the late one, and the one shown with the apology
    assert any("Sorry" in r for r in replies)
    # the welcome above the first question, kind (late), sorry, kind
    assert len(emulator.calls_to("sendMessage")) == 4


# Reminders ---------------------------------------------------------------------------------
class Clock:
    """The dispatcher's clock and sleep: time moves only when the test or the pacing says."""

    def __init__(self) -> None:
        self.now = dt.datetime(2030, 3, 4, 9, 0, tzinfo=dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += dt.timedelta(seconds=seconds)
        await asyncio.sleep(0)


@pytest.mark.parametrize("emulator", [5], indirect=True)
async def test_reminders_arrive_despite_429_5xx_and_time_outs(
    emulator, database_url, mini_dialogues, short_timeouts
):
    emulator.expected_errors.append(r"^sendMessage 429 ")
    clock = Clock()
    async with running_bot(emulator, database_url, mini_dialogues, clock=clock) as bot:
        storage = bot.application.bot_data["services"].conversations.storage
        reminders = []
        for n in range(12):
            user = await add_user(storage, f"tg:{8100 + n}", lang="en", tz="UTC")
            for k in range(3):
                due = clock.now - dt.timedelta(minutes=k)
                reminders.append(
                    await storage.add_reminder(user.id, kind="todo", ref=f"r{k}", due_at=due)
                )
        texts = {r.id: f"Reminder {r.id}" for r in reminders}

        async def render(reminder, user):
            return Outgoing(chat_id=int(user.key[3:]), text=texts[reminder.id])

        dispatcher = Dispatcher(
            storage,
            bot.application.bot,
            render,
            worker="chaos",
            clock=clock,
            sleep=clock.sleep,
        )
        emulator.active = True
        ticks = 0
        while await anything_pending(storage, [f"tg:{8100 + n}" for n in range(12)]):
            ticks += 1
            assert ticks <= 30, "reminders still pending after 30 ticks"
            await dispatcher.tick()
            await emulator.wait_idle()
            clock.now += dt.timedelta(hours=1)  # past any backoff
        emulator.active = False
        statuses = Counter(
            [(await storage.get_reminder(r.id, user_id=r.user_id)).status for r in reminders]
        )
    assert statuses == {"sent": len(reminders)}
    received = Counter(m.readable for n in range(12) for m in emulator.messages(8100 + n))
    late = [call for call, kind in emulator.faults if kind == "late"]
    for reminder in reminders:  # each delivered; twice only after an attempt that came late
        assert 1 <= received[texts[reminder.id]] <= 1 + len(late)
    assert sum(received.values()) - len(reminders) <= len(late)
    figures = emulator.count()
    assert figures["429"] >= 2
    assert sum(figures[k] for k in ("500", "502", "503", "504")) >= 2
    assert assert_waited_out_429s(emulator, per_chat=True) == figures["429"]
    print(f"\nfigures: {dict(figures)}, ticks {ticks}, reminders {len(reminders)}")


# A user who blocks the bot ---------------------------------------------------------------
async def to_ana(reminder, user):
    return Outgoing(chat_id=8200, text="Reminder")


async def test_a_user_who_blocks_the_bot_gets_nothing_more_and_keeps_their_data(
    emulator, database_url, mini_dialogues
):
    clock = Clock()
    async with running_bot(
        emulator, database_url, mini_dialogues, raise_errors=False, clock=clock
    ) as bot:
        storage = bot.application.bot_data["services"].conversations.storage
        ana = bot.user(id=8200, language_code="en")
        await ana.send("/start")
        await ana.send("Acme")
        user = await storage.get_user("tg:8200")
        reminder = await storage.add_reminder(user.id, kind="todo", ref="kind", due_at=clock.now)
        emulator.block_user(8200)
        await ana.tap_data(
            "a|kind|beta", message_id=keyboard_message(emulator, 8200, "a|kind|beta")
        )
        # One call answered 403 (the first of the reply), no apology, no retry.
        to_her = [c for c in emulator.calls if c.chat_id == 8200 and c.status == 403]
        assert len(to_her) == 1
        assert (await storage.get_user("tg:8200")).blocked_at is not None
        calls_before = len(emulator.calls)
        dispatcher = Dispatcher(
            storage,
            bot.application.bot,
            to_ana,
            worker="t",
            clock=clock,
            sleep=clock.sleep,
        )
        for _ in range(3):  # later ticks do not even try
            report = await dispatcher.tick()
            assert report.claimed == 0
            clock.now += dt.timedelta(days=1)
        assert [c for c in emulator.calls[calls_before:] if c.chat_id == 8200] == []
        current, _ = await answers_of(storage, "tg:8200")
        assert current == {"company": "Acme", "kind": "beta"}  # the tap was committed first
        kept = await storage.get_reminder(reminder.id, user_id=user.id)
        assert (kept.status, kept.due_at) == ("pending", reminder.due_at)
        # She unblocks and comes back: /start clears the mark; the reminder is sent.
        emulator.unblock_user(8200)
        await ana.send("/start")
        assert "Picks? (en)" in ana.last_text()
        assert (await dispatcher.tick()).sent >= 1
        assert (await storage.get_reminder(reminder.id, user_id=user.id)).status == "sent"


# bot/telegram/retry.py on its own -------------------------------------------------------------
async def test_a_refused_connection_is_tried_again_then_reported(caplog):
    import socket

    from telegram.error import NetworkError

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    request = RetryingRequest(retries=2, backoff=0.01)
    await request.initialize()
    try:
        with pytest.raises(NetworkError, match="ConnectError"):
            await request.post(f"http://127.0.0.1:{port}/bot{TOKEN}/getMe")
    finally:
        await request.shutdown()
    tries = [r for r in caplog.records if "Telegram did not act on it" in r.getMessage()]
    assert [r.getMessage().split("; ")[1] for r in tries] == [
        "try 2 of 3 in 0.0 s",
        "try 3 of 3 in 0.0 s",
    ]
    assert all(TOKEN not in r.getMessage() for r in tries)


@pytest.mark.parametrize("status", [500, 504])
async def test_an_ambiguous_answer_is_not_tried_again(emulator, status):
    from telegram.error import NetworkError

    request = RetryingRequest(backoff=0.01)
    await request.initialize()
    try:
        emulator.fail_next("getMe", status)
        with pytest.raises(NetworkError):
            await request.post(f"{emulator.base_url}{TOKEN}/getMe")
    finally:
        await request.shutdown()
    assert [c.status for c in emulator.calls_to("getMe")] == [status]


async def test_at_least_once_repeats_after_network_failures_only():
    from telegram.error import BadRequest, TimedOut

    from bot.telegram.retry import at_least_once

    attempts = []

    async def flaky():
        attempts.append(1)
        if len(attempts) < 3:
            raise TimedOut

    await at_least_once(flaky, backoff=0.01)
    assert len(attempts) == 3

    async def refused():
        attempts.append(2)
        raise BadRequest("message is too long")

    with pytest.raises(BadRequest):
        await at_least_once(refused, backoff=0.01)
    assert attempts.count(2) == 1  # ours to fix: not repeated
