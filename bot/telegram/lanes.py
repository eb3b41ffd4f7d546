"""Updates of different users side by side, each user's one at a time in the order received.

A summary's charts or a PDF make their user's update wait for a render worker for a second or
more; other users should not wait behind it. `UserLanes` (a PTB update processor) runs the
updates of different users concurrently and those of one user one after the other, in the
order the poller queued them: a lane per user (the chat, for an update without a user), kept
while an update of theirs runs or waits. The webhook server uses the same lanes
(bot/telegram/web.py).

`UpdateQueue` bounds what a crash can lose. Polling confirms a batch to Telegram (the next
getUpdates offset) once it is queued, not once it is handled; the queue makes the poller wait
while `in_hand` updates are queued or running, so a `kill -9` loses at most that many updates
fetched and not handled (docs/reliability.md); the rest are fetched again by the next process.

`PollingRequest` asks Telegram for more updates once those in hand are handled, or `linger`
seconds later if some take longer: handled one at a time, the bot fetched many updates per
getUpdates, each of which costs about as much CPU as another Bot API call; fetching again at
once, as soon as a batch is queued, would ask once per update or so. An update that waits for
something other than the bot's CPU (a render worker drawing its charts, its chat's PDF) says
so (`waiting_aside`): the poller does not wait for it, else every other user's next update
would wait `linger` seconds while charts are drawn. It still counts among the updates in hand.

Stopping, the runner closes the queue (`stop_taking`) before it stops the poller: an answer to
getUpdates that comes back after that is dropped, its updates unconfirmed, so Telegram keeps
them for the next process. python-telegram-bot stops its poller in two steps (not running,
then the polling task cancelled): updates landing in between would otherwise be ignored with a
CRITICAL "Updater stopped unexpectedly" in the log, the same updates kept by Telegram all the
same.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
from collections.abc import AsyncIterator, Awaitable, Iterator
from contextlib import asynccontextmanager
from typing import Any

from telegram import Update
from telegram.ext import BaseUpdateProcessor
from telegram.request import RequestData

from bot.telegram.retry import RetryingRequest


def lane_of(update: object) -> int:
    """The lane of an update: its user's id, else its chat's, else 0."""
    if isinstance(update, Update):
        if update.effective_user is not None:
            return update.effective_user.id
        if update.effective_chat is not None:
            return update.effective_chat.id
    return 0


class Lanes:
    """One lock per lane, forgotten once no update holds it or waits for it."""

    def __init__(self) -> None:
        self._locks: dict[int, tuple[asyncio.Lock, int]] = {}  # lane -> lock, updates using it

    def __len__(self) -> int:
        return len(self._locks)

    @asynccontextmanager
    async def hold(self, lane: int) -> AsyncIterator[None]:
        """Wait for the lane's earlier updates (asyncio's locks wake their waiters in order),
        then hold it."""
        # The lock is forgotten only when no update holds it or waits for it: between a
        # release and the next waiter's wake-up it reads as unlocked, and an update arriving
        # then with a fresh lock would run beside that waiter.
        lock, users = self._locks.get(lane) or (asyncio.Lock(), 0)
        self._locks[lane] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[lane]
            if users == 1:
                del self._locks[lane]
            else:
                self._locks[lane] = (lock, users - 1)


class UserLanes(BaseUpdateProcessor):
    """PTB's update processor: different users' updates concurrently, each user's in order.

    `max_concurrent_updates` only caps PTB's tasks; how many updates are in hand is the
    queue's business (`UpdateQueue`), so updates waiting in their lane never keep another
    user's update from starting.
    """

    def __init__(self, max_concurrent_updates: int = 4096) -> None:
        super().__init__(max_concurrent_updates)
        self.lanes = Lanes()

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        async with self.lanes.hold(lane_of(update)):
            await coroutine

    async def initialize(self) -> None:
        """Nothing to open."""

    async def shutdown(self) -> None:
        """Nothing to close."""


class UpdateQueue(asyncio.Queue[object]):
    """The application's update queue: `put` waits while `in_hand` updates are queued or
    being handled (each is done when the application calls task_done)."""

    def __init__(self, in_hand: int) -> None:
        if in_hand < 1:
            raise ValueError("in_hand must be at least 1")
        super().__init__()
        self.in_hand = in_hand
        self._taken = 0  # put and not yet done
        self._aside = 0  # of them, waiting for something else than the bot (waiting_aside)
        self._room: asyncio.Event | None = None
        self._idle: asyncio.Event | None = None
        self._closed = False

    @property
    def closed(self) -> bool:
        """The bot is stopping: no more updates are taken from Telegram (`stop_taking`)."""
        return self._closed

    def close(self) -> None:
        """Take no more updates from Telegram: those it answers from now on stay with it."""
        self._closed = True

    @property
    def taken(self) -> int:
        """Updates queued or being handled."""
        return self._taken

    def full(self) -> bool:
        """Every place is taken: the poller waits for one (asyncio.Queue's own test too)."""
        return self._taken >= self.in_hand

    async def put(self, item: object) -> None:
        while self.full():
            if self._room is None:
                self._room = asyncio.Event()
            self._room.clear()
            await self._room.wait()
        self.put_nowait(item)

    def put_nowait(self, item: object) -> None:
        if self.full():
            raise asyncio.QueueFull
        super().put_nowait(item)
        self._taken += 1

    def task_done(self) -> None:
        super().task_done()
        self._taken -= 1
        if self._room is not None:
            self._room.set()
        self._check_idle()

    @contextlib.contextmanager
    def aside(self) -> Iterator[None]:
        """While in this block, an update in hand is not waited for by `handled`."""
        self._aside += 1
        self._check_idle()
        try:
            yield
        finally:
            self._aside -= 1

    @contextlib.contextmanager
    def released(self) -> Iterator[None]:
        """While in this block, an update in hand no longer counts among them: its input is
        committed, only replies are left to send (`replies_only`). Nothing is in hand outside
        polling (the webhook): nothing to release then."""
        if self._taken == 0:
            yield
            return
        self._taken -= 1
        if self._room is not None:
            self._room.set()
        self._check_idle()
        try:
            yield
        finally:
            self._taken += 1  # task_done takes it off again

    def _busy(self) -> bool:
        return self._taken > self._aside

    def _check_idle(self) -> None:
        if not self._busy() and self._idle is not None:
            self._idle.set()

    async def handled(self, linger: float) -> None:
        """Return once no update is queued or being handled (but those waiting aside), or
        after `linger` seconds."""
        if not self._busy():
            return
        if self._idle is None:
            self._idle = asyncio.Event()
        self._idle.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), linger)


#: Whether the current update already waits aside (an update counts once, however nested).
_ASIDE: contextvars.ContextVar[bool] = contextvars.ContextVar("aside", default=False)


@contextlib.contextmanager
def waiting_aside(application: Any) -> Iterator[None]:
    """Around what an update awaits that is not the bot's work (a render worker, a task of
    its own): the poller fetches the next updates meanwhile (see the module docstring)."""
    queue = getattr(application, "update_queue", None)
    if isinstance(queue, UpdateQueue) and not _ASIDE.get():
        token = _ASIDE.set(True)
        try:
            with queue.aside():
                yield
        finally:
            _ASIDE.reset(token)
    else:
        yield


@contextlib.contextmanager
def replies_only(application: Any) -> Iterator[None]:
    """Around the rest of an update whose input is committed, with only replies left to send
    (the end of a checklist, sent after other users' updates: priority.py): it no longer counts
    among the updates in hand, and the poller takes another in its place. A crash then loses
    those replies, not an answer (docs/reliability.md)."""
    queue = getattr(application, "update_queue", None)
    if isinstance(queue, UpdateQueue) and not _ASIDE.get():
        token = _ASIDE.set(True)  # what it awaits within is aside already
        try:
            with queue.released():
                yield
        finally:
            _ASIDE.reset(token)
    else:
        yield


def stop_taking(application: Any) -> None:
    """Before the poller stops: updates Telegram answers from now on stay with Telegram (see
    the module docstring). Nothing to do outside polling."""
    queue = getattr(application, "update_queue", None)
    if isinstance(queue, UpdateQueue):
        queue.close()


#: A getUpdates answer without updates: what the poller gets once the queue is closed.
NO_UPDATES = b'{"ok":true,"result":[]}'


class PollingRequest(RetryingRequest):
    """The getUpdates transport: each request waits for the updates in hand to be handled, at
    most `linger` seconds; once the queue is closed, the updates of an answer are dropped (see
    the module docstring)."""

    def __init__(self, queue: UpdateQueue, *args: Any, linger: float = 0.03, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.queue = queue
        self.linger = linger

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        *args: Any,
        **kwargs: Any,
    ) -> tuple[int, bytes]:
        await self.queue.handled(self.linger)
        status, payload = await super().do_request(url, method, request_data, *args, **kwargs)
        if self.queue.closed and status == 200:
            # Not confirmed (the next offset is not asked for): Telegram sends them again.
            return status, NO_UPDATES
        return status, payload
