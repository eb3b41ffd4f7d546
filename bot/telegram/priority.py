"""Heavy work after other users' updates: the end of a checklist, a PDF, take turns.

The end of a checklist sends a dozen replies (the summary, three charts, the review, the offers
of reminders), each costing the event loop a few milliseconds of CPU; a PDF is prepared and
sent from a task of its own. When twenty checklists end together, that is a quarter of a second
of work on the event loop, and asyncio runs every ready task in turn: another user's answer that
arrives then waits behind all of it, for a reply of a few milliseconds.

That work runs at a lower priority (`later`): it takes turns (`Turns.take`) before it starts,
and after each Bot API reply or drawing it waited for, before it goes on. A turn is given once
no update in hand is being handled (the update queue's count, bot/telegram/lanes.py, but for
those waiting aside), or once the step has waited `patience` seconds: under a steady flow of
other users the heavy work still moves on. One step at a time takes its turn, in the order they
asked. Each user's replies keep their order (a user's next update is still handled after the
previous one, its end included); only when the heavy ones go out changes, when others wait.

Heavy work also keeps to a share of the event loop (`SHARE`, a tenth): each step's time is
counted from its turn to the loop's next callback after it (the step's own CPU, and what was
ready before it), and once heavy work has used more than its share, with `BURST` seconds of it
at once, the next step waits until its share covers what was used. Without it, heavy steps of
3 to 4 ms each ran two or three in a row while the poller's getUpdates was on its way (no
update is in hand then): its answer was read 6 to 7 ms late, and under load that became a cycle
in which other users' replies took 20 to 40 ms instead of 5 (BENCHMARKS.md). Twenty ends then
take a few seconds to go out instead of half of one; as shipped, Telegram's 30 messages a second
spread their hundred and more messages over longer than that anyway. The share is not kept
while the updates in hand fill every place (`UpdateQueue.full`): the poller waits for them then,
and so does every other user.

An update that starts such work (the last answer of a checklist, /export and a format chosen)
starts on a turn too (`start_on_turn`), before its first step: twenty of them arriving together
are a few dozen milliseconds of the event loop, which the other users' updates fetched with them
or just after would otherwise wait for. Meanwhile it waits aside (lanes.py): the poller goes on
fetching, and the turns do not wait for it. /export and a format chosen carry no answer: while
they wait for their turn they do not count among the updates in hand either (`replies_only`),
so that twenty of them do not hold twenty of its places, and everyone's next update with them,
while heavy work keeps to its share. A crash meanwhile loses the request (its sender asks
again), as it loses the replies of an ended checklist; a last answer keeps its place, the bound
on the answers a crash can lose (docs/reliability.md).

The end of a checklist is the rest of an update whose answer is committed: from then on it no
longer counts among the updates in hand (`replies_only`, lanes.py), so that the poller takes
other users' updates in its place, however long the end waits for its turns. Outside polling
(the webhook, tests without the update queue), only the one-at-a-time order of the turns
applies.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # lanes.py imports the transport, which takes turns (take_turn)
    from bot.telegram.lanes import UpdateQueue

#: Seconds a heavy step waits, at most, for the other updates in hand to be handled.
PATIENCE = 0.25
#: The share of the event loop's time heavy work keeps to (see the module docstring).
SHARE = 0.1
#: Seconds of the event loop heavy work may take at once, beyond its share so far.
BURST = 0.005
#: Seconds a step waiting for its share sleeps at most before it looks at the queue again.
RECHECK = 0.01


class Turns:
    """Heavy steps, one at a time, each once no other update is being handled (or after
    `patience` seconds), within their `share` of the event loop."""

    def __init__(
        self,
        queue: UpdateQueue | None = None,
        patience: float = PATIENCE,
        *,
        share: float = SHARE,
        burst: float = BURST,
    ) -> None:
        if not 0 < share <= 1:
            raise ValueError("share must be above 0 and at most 1")
        self.queue = queue
        self.patience = patience
        self.share = share
        self.burst = burst
        self._lock: asyncio.Lock | None = None
        self._credit = burst  # seconds of the loop heavy work may still take at once
        self._counted: float | None = None  # when the credit was last brought up to date

    async def take(self) -> None:
        """Return when this heavy step may go on."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.patience
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            # What arrived meanwhile (another user's update, the reply a handler awaits) is
            # handed to its task first.
            await asyncio.sleep(0)
            while True:
                remaining = deadline - loop.time()
                if self.queue is not None and remaining > 0:
                    await self.queue.handled(remaining)
                self._earn(loop.time())
                if self._credit >= 0 or (self.queue is not None and self.queue.full()):
                    break
                # In slices: the updates in hand may fill every place meanwhile.
                await asyncio.sleep(min(-self._credit / self.share, RECHECK))
            # The step runs once this returns, until its first pause: the loop's next callback.
            loop.call_soon(self._spend, loop, loop.time())

    def _earn(self, now: float) -> None:
        if self._counted is not None:
            self._credit = min(self.burst, self._credit + self.share * (now - self._counted))
        self._counted = now

    def _spend(self, loop: asyncio.AbstractEventLoop, started: float) -> None:
        now = loop.time()
        self._earn(now)
        self._credit -= now - started


#: The turns the current task's heavy work takes (None: ordinary work, at once).
_TURNS: contextvars.ContextVar[Turns | None] = contextvars.ContextVar("turns", default=None)


@contextlib.asynccontextmanager
async def later(application: Any, turns: Turns, *, in_hand: bool = True) -> AsyncIterator[None]:
    """Within this block, the current task's work takes turns: once on entering, then after
    every Bot API reply and drawing it awaited (`take_turn`). `in_hand`: the block is the rest
    of an update the application is handling, its input committed (`replies_only`); else a
    task of its own."""
    from bot.telegram.lanes import replies_only  # see the imports above

    token = _TURNS.set(turns)
    try:
        with replies_only(application) if in_hand else contextlib.nullcontext():
            await turns.take()
            yield
    finally:
        _TURNS.reset(token)


async def start_on_turn(application: Any, turns: Turns, *, answer: bool = True) -> None:
    """At the start of an update that starts heavy work: return once it may go on (a turn),
    waiting aside meanwhile, or out of the updates in hand when it carries no `answer` (see
    the module docstring)."""
    from bot.telegram.lanes import replies_only, waiting_aside  # see the imports above

    with waiting_aside(application) if answer else replies_only(application):
        await turns.take()


async def take_turn() -> None:
    """In low-priority work, wait for a turn before going on (after a Bot API reply, a render
    worker's drawing); at once otherwise."""
    turns = _TURNS.get()
    if turns is not None:
        await turns.take()
