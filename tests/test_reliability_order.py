"""Updates delivered twice and out of order, and a manager who taps thirty buttons in a second.
The real application, through the Bot API emulator.

Polling cannot deliver an old update_id again (the offset confirms it), so redelivery goes
through the webhook (bot/telegram/web.py), as Telegram does when it got no 200 in time.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter

import pytest

from bot.dialogue.engine import CONFIRM
from bot.dialogue.loader import DEFAULT_DIR
from bot.export.pool import RenderPool
from tests.reliability_support import (
    answers_of,
    callback_update,
    keyboard_message,
    message_update,
    webhook_bot,
)
from tests.reminder_fixtures import nearly_done
from tests.support.emulator import TgUser
from tests.telegram_fixtures import running_bot

# Telegram's answer when a callback query is answered a second time: a redelivered tap.
QUERY_ANSWERED_TWICE = r"^answerCallbackQuery 400 Bad Request: query is too old"

# One manager's walk through the mini dialogue: ("text", typed) or ("tap", callback data).
SCRIPT = (
    ("text", "/start"),
    ("text", "Acme {n}"),
    ("tap", "a|kind|beta"),
    ("tap", "a|picks|x"),
    ("tap", "a|picks|z"),
    ("tap", "a|picks|" + CONFIRM),
    ("tap", "a|level|4"),
    ("text", "/skip"),
    ("text", "2027-03-15"),
    ("text", "3"),
)


def expected_history(n):
    return [
        ("company", f"Acme {n}"),
        ("kind", "beta"),
        ("picks", ["z"]),
        ("level", 4),
        ("when_start", "2027-03-15"),
        ("sessions", 3),
    ]


def build(emulator, user, n, step):
    kind, value = SCRIPT[step]
    if kind == "text":
        return message_update(emulator, user, value.format(n=n))
    message_id = keyboard_message(emulator, user.id, value)
    assert message_id is not None, f"user {user.id}: no keyboard with {value!r} at step {step}"
    return callback_update(emulator, user, message_id, value)


async def deliver_shuffled(bot, rng, users, rounds_log, duplicate_rate, old_rate):
    """One round: each user's next update, plus duplicates, posted concurrently in a shuffled
    order across users. Returns how many extra (duplicate) deliveries were made."""
    deliveries = []
    extra = 0
    for user, _ in users:
        update = rounds_log[user.id][-1]
        deliveries.append(update)
        if rng.random() < duplicate_rate:  # delivered twice at once
            deliveries.append(update)
            extra += 1
        earlier = rounds_log[user.id][:-1]
        if earlier and rng.random() < old_rate:  # an old one, again
            deliveries.append(rng.choice(earlier))
            extra += 1
    rng.shuffle(deliveries)
    statuses = await asyncio.gather(*(bot.post(update) for update in deliveries))
    assert set(statuses) == {200}, statuses
    return extra


async def run_interleaved(emulator, database_url, mini_dialogues, *, seed, managers):
    rng = random.Random(seed)
    emulator.expected_errors.append(QUERY_ANSWERED_TWICE)
    users = [
        (TgUser(id=7000 + n, first_name=f"M{n}", language_code="en"), n) for n in range(managers)
    ]
    log = {user.id: [] for user, _ in users}
    figures = {"updates": 0, "duplicates": 0}
    async with webhook_bot(emulator, database_url, mini_dialogues) as bot:
        for step in range(len(SCRIPT)):
            for user, n in users:
                log[user.id].append(build(emulator, user, n, step))
            figures["updates"] += len(users)
            figures["duplicates"] += await deliver_shuffled(bot, rng, users, log, 0.5, 0.4)
        # Out of order across users: update ids of the users interleave in the processing order.
        assert bot.processed != sorted(bot.processed)
        assert not bot.overlaps, f"two updates of one user processed at once: {bot.overlaps}"
        assert not bot.app.errors, [e.error for e in bot.app.errors]
        for user, n in users:
            current, history = await answers_of(bot.storage, f"tg:{user.id}")
            assert history == expected_history(n), f"user {user.id}"
            assert current == dict(expected_history(n))
            texts = [m.readable for m in emulator.messages(user.id, from_bot=True)]
            for question in ("Kind?", "Picks?", "Level?", "Note?", "Start date?", "Sessions?"):
                asked = [t for t in texts if f"{question} (en)" in t]
                assert len(asked) == 1, f"user {user.id}: {question} asked {len(asked)} times"
            assert not any("Sorry" in t for t in texts), f"user {user.id} got an apology"
    return figures


@pytest.mark.parametrize("seed", [1, 2])
async def test_every_update_twice_and_out_of_order_records_each_answer_once(
    emulator, database_url, mini_dialogues, seed
):
    figures = await run_interleaved(emulator, database_url, mini_dialogues, seed=seed, managers=4)
    print(f"\nfigures: {figures}")
    assert figures["duplicates"] >= 10


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(10, 20))
async def test_every_update_twice_and_out_of_order_long(
    emulator, database_url, mini_dialogues, seed
):
    figures = await run_interleaved(emulator, database_url, mini_dialogues, seed=seed, managers=12)
    print(f"\nfigures: {figures}")
    assert figures["duplicates"] >= 40


async def test_a_stream_of_one_users_updates_is_processed_one_at_a_time_in_order(
    emulator, database_url, mini_dialogues
):
    """Requests of one user that arrive while an earlier one is processed wait their turn."""
    user = TgUser(id=7100, first_name="Ana", language_code="en")
    async with webhook_bot(emulator, database_url, mini_dialogues) as bot:
        assert await bot.post(message_update(emulator, user, "/start")) == 200
        updates = [message_update(emulator, user, text) for text in ("/help",) * 12]
        tasks = []
        for update in updates:  # a new request every 2 ms, while earlier ones are processed
            tasks.append(asyncio.create_task(bot.post(update)))
            await asyncio.sleep(0.002)
        assert set(await asyncio.gather(*tasks)) == {200}
        assert not bot.overlaps, "two updates of one user were processed at the same time"
        # In the order the server received them (the HTTP client may send them in another).
        ids = {u["update_id"] for u in updates}
        received = [i for i in bot.received if i in ids]
        assert sorted(received) == sorted(ids)
        assert [i for i in bot.processed if i in ids] == received


# Fast taps ---------------------------------------------------------------------------------
@pytest.mark.expected_api_errors(
    # A tap on a keyboard the bot has since edited away (a stale snapshot in the update).
    r"^editMessageText 400 Bad Request: message is not modified",
    r"^editMessageReplyMarkup 400 Bad Request: message is not modified",
)
async def test_thirty_taps_in_a_second_make_one_transition_per_question(
    emulator, database_url, mini_dialogues
):
    rng = random.Random(4)
    async with running_bot(emulator, database_url, mini_dialogues, raise_errors=False) as bot:
        ana = bot.user(id=7200, language_code="en")
        await ana.send("/start")
        await ana.send("Acme")
        tapped = []
        mark = emulator.mark()
        began = asyncio.get_running_loop().time()
        for _ in range(30):
            await asyncio.sleep(1 / 30)
            # What her phone shows now: mostly the latest keyboard, sometimes one further up.
            shown = [m for m in ana.messages() if m.has_inline_keyboard]
            if not shown:
                continue
            message = shown[-1] if rng.random() < 0.7 else rng.choice(shown)
            # Any button but back and skip, which legitimately answer a question again.
            buttons = [b for b in message.button_objects() if b["callback_data"][:2] != "c|"]
            data = rng.choice(buttons)["callback_data"]
            for _ in range(2 if rng.random() < 0.3 else 1):  # a double tap
                emulator.push_callback(ana.user, message.message_id, data)
                tapped.append(data)
        tapping = asyncio.get_running_loop().time() - began
        await bot.settle(timeout=30)
        assert not bot.errors, [e.error for e in bot.errors]
        storage = bot.application.bot_data["services"].conversations.storage
        _, history = await answers_of(storage, f"tg:{ana.id}")
    queries = [q for q in emulator.callback_queries.values() if q.user_id == ana.id]
    assert len(queries) >= 30
    assert all(q.answered for q in queries)
    questions = [qid for qid, _ in history]
    assert len(questions) == len(set(questions)), f"a question answered twice: {history}"
    assert len(questions) >= 3  # the taps did move the walk on
    sent = Counter(c.method for c in emulator.calls_since(mark) if c.chat_id == ana.id)
    answers = len(questions) - 1
    print(f"\nfigures: {len(tapped)} taps in {tapping:.2f} s, {answers} answers, {dict(sent)}")


async def test_thirty_simultaneous_taps_on_one_keyboard_through_the_webhook(
    emulator, database_url, mini_dialogues
):
    emulator.expected_errors.append(r"^editMessageReplyMarkup 400 Bad Request: message is not")
    user = TgUser(id=7300, first_name="Bo", language_code="en")
    async with webhook_bot(emulator, database_url, mini_dialogues) as bot:
        await bot.post(message_update(emulator, user, "/start"))
        await bot.post(message_update(emulator, user, "Acme"))
        kind = keyboard_message(emulator, user.id, "a|kind|alpha")
        taps = [
            callback_update(emulator, user, kind, f"a|kind|{choice}")
            for choice in ["alpha", "beta", "competitor"] * 10
        ]
        statuses = await asyncio.gather(*(bot.post(tap) for tap in taps))
        assert set(statuses) == {200}
        assert not bot.overlaps
        assert not bot.app.errors, [e.error for e in bot.app.errors]
        _, history = await answers_of(bot.storage, f"tg:{user.id}")
    assert [qid for qid, _ in history] == ["company", "kind"]
    assert all(emulator.callback_queries[t["callback_query"]["id"]].answered for t in taps)


# Other users do not wait -------------------------------------------------------------------
class GatedPool(RenderPool):
    """A render pool whose charts are drawn only once the test says so."""

    def __init__(self) -> None:
        super().__init__(workers=1)
        self.drawing = asyncio.Event()
        self.release = asyncio.Event()

    async def charts(self, content):
        self.drawing.set()
        await self.release.wait()
        return []


async def test_another_users_help_is_answered_while_a_summary_waits_for_its_charts(
    emulator, database_url
):
    """Polling: Ana's last answer waits for its charts; Bob's /help is answered meanwhile, and
    Ana's next message waits for her summary to be over (her updates stay in order)."""
    await nearly_done(database_url, 7301)
    pool = GatedPool()
    async with running_bot(emulator, database_url, DEFAULT_DIR, renders=pool) as bot:
        ana = bot.user(id=7301, language_code="fr")
        bob = bot.user(id=7302, language_code="en")
        await ana.send("/start")
        last = next(m for m in reversed(ana.messages()) if m.has_inline_keyboard)
        yes = next(b for b in last.button_objects() if b["text"] == "Oui")
        try:
            emulator.push_callback(ana.user, last.message_id, yes["callback_data"])
            await asyncio.wait_for(pool.drawing.wait(), timeout=10)
            before = len(emulator.messages(ana.id, from_bot=True))
            emulator.push_message(ana.user, "/help")  # behind her summary, in her lane
            emulator.push_message(bob.user, "/help")
            helped = lambda: any(  # noqa: E731
                "/restart" in m.readable for m in emulator.messages(bob.id, from_bot=True)
            )
            await emulator.wait_for(helped, 10)
            # Ana's summary still waits for its charts, and her /help for her summary.
            assert not pool.release.is_set()
            assert len(emulator.messages(ana.id, from_bot=True)) == before
        finally:
            pool.release.set()
        await bot.settle(timeout=20)
        assert not bot.errors, [e.error for e in bot.errors]
        after = emulator.messages(ana.id, from_bot=True)[before:]
    # Her /help was answered after everything her last answer brought (the review, the plan,
    # the reminder offer with its buttons), not in the middle of it.
    helped_at = next(i for i, m in enumerate(after) if "/restart" in m.readable)
    offered_at = max(i for i, m in enumerate(after) if m.has_inline_keyboard)
    assert offered_at < helped_at
