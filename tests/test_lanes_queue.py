"""The update queue of polling (bot/telegram/lanes.py): updates in hand are bounded, and the
poller asks for more once those in hand are handled, but for those waiting aside (a summary
waiting for its charts, a chat's next update for its PDF); once the bot stops, what Telegram
answers stays with Telegram."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

from telegram import Bot

from bot.telegram.lanes import (
    PollingRequest,
    UpdateQueue,
    replies_only,
    stop_taking,
    waiting_aside,
)
from tests.support.emulator import TgUser
from tests.telegram_fixtures import emulator  # noqa: F401 (fixture)


async def settled() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_the_poller_waits_for_updates_in_hand_but_not_for_those_waiting_aside():
    queue = UpdateQueue(in_hand=2)
    await queue.put("summary")
    poll = asyncio.ensure_future(queue.handled(linger=3600))
    await settled()
    assert not poll.done()  # the summary is being handled
    with queue.aside():  # ... now it waits for its charts
        await settled()
        assert poll.done()
        assert await queue.handled(linger=3600) is None  # at once
        await queue.put("help")
        again = asyncio.ensure_future(queue.handled(linger=3600))
        await settled()
        assert not again.done()  # another update being handled: waited for
        queue.get_nowait()
        queue.task_done()
        await settled()
        assert again.done()


async def test_updates_waiting_aside_still_count_among_those_in_hand():
    queue = UpdateQueue(in_hand=2)
    await queue.put("summary")
    await queue.put("pdf")
    with queue.aside(), queue.aside():
        third = asyncio.ensure_future(queue.put("help"))
        await settled()
        assert not third.done()  # a crash could lose two at most
        queue.get_nowait()
        queue.task_done()
        await settled()
        assert third.done()
    assert queue.taken == 2


async def test_an_update_with_only_replies_left_makes_room_for_another():
    class Application:
        update_queue = UpdateQueue(in_hand=2)

    app = Application()
    queue = app.update_queue
    await queue.put("the end of a checklist")
    await queue.put("an answer")
    with replies_only(app):  # the end's answer is committed: its replies go on
        assert queue.taken == 1
        await asyncio.wait_for(queue.put("another answer"), timeout=10)  # room at once
        poll = asyncio.ensure_future(queue.handled(linger=3600))
        with waiting_aside(app):  # its charts: it is not in hand, nothing changes
            await settled()
            assert not poll.done()  # the two answers are being handled
            assert queue.taken == 2
            for _ in range(2):
                queue.get_nowait()
                queue.task_done()
            await asyncio.wait_for(poll, timeout=10)
    queue.get_nowait()
    queue.task_done()  # the end is handled
    assert queue.taken == 0
    with replies_only(app):  # the webhook's updates are not in the queue: nothing to release
        assert queue.taken == 0
        await asyncio.wait_for(queue.put("an answer"), timeout=10)
    assert queue.taken == 1


def test_waiting_aside_outside_polling_changes_nothing():
    class Application:
        update_queue: asyncio.Queue[object] = asyncio.Queue()

    with waiting_aside(Application()), waiting_aside(object()):
        pass


async def test_once_the_bot_stops_taking_updates_telegram_keeps_those_it_answers(
    emulator,  # noqa: F811
):
    queue = UpdateQueue(in_hand=2)
    bot = Bot(
        emulator.token, base_url=emulator.base_url, get_updates_request=PollingRequest(queue)
    )
    ana = TgUser(5)
    first = emulator.push_message(ana, "/start")
    async with bot:
        assert [u.update_id for u in await bot.get_updates(timeout=0)] == [first]
        second = emulator.push_message(ana, "hello")
        stop_taking(SimpleNamespace(update_queue=queue))
        assert queue.closed
        # The poller asks on (confirming the first): the second comes back, and is dropped.
        assert await bot.get_updates(offset=first + 1, timeout=0) == ()
    assert emulator.pending_update_ids == [second]  # not confirmed: the next process gets it
