"""The end of a checklist and a PDF give way to other users' updates (bot/telegram/priority.py):
what each user sees, and the turns themselves."""

from __future__ import annotations

import asyncio

import pytest

from bot.dialogue.loader import DEFAULT_DIR
from bot.export.pool import RenderPool
from bot.telegram.lanes import UpdateQueue, waiting_aside
from bot.telegram.priority import Turns, later, start_on_turn, take_turn
from tests.reminder_fixtures import nearly_done
from tests.telegram_fixtures import running_bot


class GatedPool(RenderPool):
    """A render pool whose charts are drawn (none) only once the test says so."""

    def __init__(self) -> None:
        super().__init__(workers=1)
        self.drawing = asyncio.Event()
        self.release = asyncio.Event()

    async def charts(self, content):
        self.drawing.set()
        await self.release.wait()
        return []


def _with_buttons(user):
    """The user's latest message that has buttons."""
    return next(m for m in reversed(user.messages()) if m.has_inline_keyboard)


def _tap_yes(emulator, user):
    """Tap "Oui" under the user's latest question (the last one of the checklist here)."""
    last = _with_buttons(user)
    yes = next(b for b in last.button_objects() if b["text"] == "Oui")
    emulator.push_callback(user.user, last.message_id, yes["callback_data"])


async def _ana_and_bob(bot, ana_id):
    """Ana (ana_id) and Bob (the next id), each past /start; the end of a checklist waits as
    long as another user's update runs."""
    bot.application.bot_data["services"].turns.patience = 60
    ana = bot.user(id=ana_id, language_code="fr")
    bob = bot.user(id=ana_id + 1, language_code="fr")
    await ana.send("/start")
    await bob.send("/start")
    return ana, bob


def _sent_to(calls, chat_id):
    """Positions, in the order Telegram received them, of the messages sent to one chat."""
    return [
        i
        for i, call in enumerate(calls)
        if call.method in ("sendMessage", "sendPhoto", "sendDocument")
        and call.params.get("chat_id") == chat_id
    ]


async def test_another_users_next_question_comes_before_the_rest_of_a_checklists_end(
    emulator, database_url
):
    """Ana's last answer ends her checklist; while her charts are drawn, Bob answers his first
    question, and Telegram is slow to take his answered question. The rest of Ana's end (the
    review, the plan, the reminder offers) waits: Bob's next question reaches him first. Then
    Ana gets all of her end, in its usual order."""
    await nearly_done(database_url, 7401)
    pool = GatedPool()
    async with running_bot(emulator, database_url, DEFAULT_DIR, renders=pool) as bot:
        services = bot.application.bot_data["services"]
        services.turns.patience = 60  # the end waits as long as Bob's update runs
        ana = bot.user(id=7401, language_code="fr")
        bob = bot.user(id=7402, language_code="fr")
        await ana.send("/start")
        await bob.send("/start")
        try:
            _tap_yes(emulator, ana)
            await asyncio.wait_for(pool.drawing.wait(), timeout=10)  # her summary is sent
            mark = emulator.mark()
            emulator.slow_next("editMessageText", 1.0)
            emulator.push_message(bob.user, "Acme")  # his first question asks the company
            edited = lambda: any(  # noqa: E731
                c.method == "editMessageText" and c.params.get("chat_id") == bob.id
                for c in emulator.calls_since(mark)
            )
            await emulator.wait_for(edited, 10)
        finally:
            pool.release.set()
        await bot.settle(timeout=30)
        assert not bot.errors, [e.error for e in bot.errors]
        calls = emulator.calls_since(mark)
    bob_question = _sent_to(calls, bob.id)
    assert len(bob_question) == 1  # his next question, after his answered one
    rest_of_end = _sent_to(calls, ana.id)
    assert len(rest_of_end) >= 2, [calls[i].method for i in rest_of_end]
    assert bob_question[0] < rest_of_end[0]
    # Her end is whole all the same: the reminder offers close it.
    offers = _with_buttons(ana)
    assert any(b["callback_data"] == "p|all" for b in offers.button_objects())


async def test_another_users_answer_fetched_with_an_export_gets_its_reply_first(
    emulator, database_url
):
    """Ana's /export and Bob's answer reach the bot together, Ana's first: Bob's next question
    is sent before Ana's menu of formats, which she gets all the same."""
    async with running_bot(emulator, database_url, DEFAULT_DIR) as bot:
        ana, bob = await _ana_and_bob(bot, 7411)
        mark = emulator.mark()
        emulator.push_message(ana.user, "/export")
        emulator.push_message(bob.user, "Acme")  # his first question asks the company
        await bot.settle(timeout=30)
        assert not bot.errors, [e.error for e in bot.errors]
        calls = emulator.calls_since(mark)
    bob_question, ana_menu = _sent_to(calls, bob.id), _sent_to(calls, ana.id)
    assert len(bob_question) == 1
    assert len(ana_menu) == 1
    assert bob_question[0] < ana_menu[0]
    menu = ana.messages()[-1]
    assert any(b["callback_data"] == "e|pdf" for b in menu.button_objects())


async def test_another_users_answer_fetched_with_a_last_answer_gets_its_reply_first(
    emulator, database_url
):
    """Ana's last answer and Bob's answer reach the bot together, Ana's first: Bob's next
    question is sent before anything of Ana's end (even the answer to her tap); then she gets
    all of her end."""
    await nearly_done(database_url, 7421)
    pool = GatedPool()
    pool.release.set()  # the charts (none) are drawn at once
    async with running_bot(emulator, database_url, DEFAULT_DIR, renders=pool) as bot:
        ana, bob = await _ana_and_bob(bot, 7421)
        mark = emulator.mark()
        _tap_yes(emulator, ana)
        emulator.push_message(bob.user, "Acme")
        await bot.settle(timeout=30)
        assert not bot.errors, [e.error for e in bot.errors]
        calls = emulator.calls_since(mark)
    bob_question = _sent_to(calls, bob.id)
    assert len(bob_question) == 1
    ana_first = next(
        i
        for i, call in enumerate(calls)
        if call.params.get("chat_id") == ana.id or call.method == "answerCallbackQuery"
    )
    assert bob_question[0] < ana_first, [c.method for c in calls]
    offers = _with_buttons(ana)
    assert any(b["callback_data"] == "p|all" for b in offers.button_objects())


async def settled() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_a_heavy_step_waits_for_the_updates_being_handled():
    queue = UpdateQueue(in_hand=4)
    turns = Turns(queue, patience=3600)
    await queue.put("answer")  # another user's update, being handled
    step = asyncio.ensure_future(turns.take())
    await settled()
    assert not step.done()
    queue.get_nowait()
    queue.task_done()
    await settled()
    assert step.done()


async def test_a_heavy_step_does_not_wait_for_updates_waiting_aside():
    class Application:
        update_queue = UpdateQueue(in_hand=4)

    app = Application()
    turns = Turns(app.update_queue, patience=3600)
    charts = asyncio.Event()

    async def summary() -> None:  # an update waiting for its charts
        await app.update_queue.put("summary")
        with waiting_aside(app):
            await charts.wait()

    async def end() -> None:  # an update at the end of a checklist, its steps in their turn
        await app.update_queue.put("end")
        async with later(app, turns):
            await take_turn()
            with waiting_aside(app):  # nested: the update still counts once
                await take_turn()
            await take_turn()

    waiting = asyncio.ensure_future(summary())
    await settled()
    await asyncio.wait_for(end(), timeout=10)
    assert app.update_queue.taken == 2
    charts.set()
    await waiting


async def test_an_update_starting_on_a_turn_waits_aside_for_the_updates_being_handled():
    class Application:
        update_queue = UpdateQueue(in_hand=4)

    app = Application()
    turns = Turns(app.update_queue, patience=3600)
    await app.update_queue.put("answer")  # another user's update, being handled
    await app.update_queue.put("export")  # this one
    start = asyncio.ensure_future(start_on_turn(app, turns))
    await settled()
    assert not start.done()
    # The poller does not wait for it: only for the other user's update.
    poller = asyncio.ensure_future(app.update_queue.handled(linger=3600))
    await settled()
    assert not poller.done()
    app.update_queue.get_nowait()
    app.update_queue.task_done()
    await asyncio.wait_for(asyncio.gather(start, poller), timeout=10)


async def test_under_a_steady_flow_of_updates_heavy_steps_still_go_on_one_at_a_time():
    queue = UpdateQueue(in_hand=4)
    turns = Turns(queue, patience=0.01)
    await queue.put("an update that never ends")
    order: list[str] = []

    async def step(name: str) -> None:
        await turns.take()
        order.append(name)

    await asyncio.wait_for(asyncio.gather(step("first"), step("second"), step("third")), 10)
    assert order == ["first", "second", "third"]


async def test_outside_heavy_work_a_turn_is_given_at_once():
    queue = UpdateQueue(in_hand=4)
    turns = Turns(queue, patience=3600)

    class Application:
        update_queue = queue

    async with later(Application(), turns, in_hand=False):  # a task of its own, a PDF
        await queue.put("answer")  # another user's update, being handled
        step = asyncio.ensure_future(take_turn())
        await settled()
        assert not step.done()
        queue.get_nowait()
        queue.task_done()
        await asyncio.wait_for(step, timeout=10)
    await queue.put("another")
    await asyncio.wait_for(take_turn(), timeout=10)  # ordinary work: nothing to wait for


def _spin(seconds: float) -> None:
    """Hold the event loop (a heavy step's CPU)."""
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    while loop.time() < end:
        pass


async def test_heavy_steps_keep_to_their_share_of_the_event_loop():
    # Half the loop, 4 ms at once: five steps of 4 ms each (20 ms) cannot all have run
    # before (20 - 4) / 0.5 = 32 ms; from the third on, each waits about as long as it runs.
    turns = Turns(share=0.5, burst=0.004)
    loop = asyncio.get_running_loop()
    began: list[float] = []
    for _ in range(5):
        await turns.take()
        began.append(loop.time())
        _spin(0.004)
        await asyncio.sleep(0)  # the step's first pause: a Bot API call, say
    assert began[-1] - began[0] >= 0.027  # four steps and the waits between them
    assert began[2] - began[1] >= 0.004 + 0.003  # the second step's 4 ms and a wait


async def test_heavy_work_does_not_keep_to_its_share_while_every_place_in_hand_is_taken():
    queue = UpdateQueue(in_hand=1)
    # A share so small that keeping to it would take hours after a step of a millisecond.
    turns = Turns(queue, patience=0.01, share=1e-7, burst=0.0)
    await turns.take()
    _spin(0.001)
    await asyncio.sleep(0)
    waiting = asyncio.ensure_future(turns.take())
    await settled()
    assert not waiting.done()  # a place is free: the next step keeps to its share
    await queue.put("an update that takes long")  # the poller now waits for a place
    await asyncio.wait_for(waiting, timeout=60)


def test_a_share_of_nothing_or_more_than_the_whole_loop_is_refused():
    for share in (0.0, 1.5):
        with pytest.raises(ValueError, match="share"):
            Turns(share=share)


@pytest.mark.parametrize(
    ("update", "answer", "taken_while_waiting"),
    [
        # /export or a format chosen carries no answer: the poller takes another update meanwhile.
        ("export", False, 1),
        # A last answer keeps its place: a crash must not lose more answers than are in hand.
        ("last answer", True, 2),
    ],
)
async def test_an_update_waiting_for_its_first_turn_keeps_its_place_in_hand_if_an_answer(
    update, answer, taken_while_waiting
):
    class Application:
        update_queue = UpdateQueue(in_hand=2)

    app = Application()
    queue = app.update_queue
    turns = Turns(queue, patience=3600)
    await queue.put("answer")  # another user's update, being handled
    await queue.put(update)  # this one
    start = asyncio.ensure_future(start_on_turn(app, turns, answer=answer))
    await settled()
    assert not start.done()
    assert queue.taken == taken_while_waiting
    assert queue.full() == (taken_while_waiting == 2)
    queue.get_nowait()
    queue.task_done()  # the other user's update is handled: this one's turn
    await asyncio.wait_for(start, timeout=10)
    assert queue.taken == 1  # it counts while it runs
