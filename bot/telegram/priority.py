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

An update that starts such work (the last answer of a checklist, /export and a format chosen)
starts on a turn too (`start_on_turn`), before its first step: twenty of them arriving together
are a few dozen milliseconds of the event loop, which the other users' updates fetched with them
or just after would otherwise wait for. Meanwhile it waits aside (lanes.py): the poller goes on
fetching, and the turns do not wait for it.

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


class Turns:
    """Heavy steps, one at a time, each once no other update is being handled (or after
    `patience` seconds)."""

    def __init__(self, queue: UpdateQueue | None = None, patience: float = PATIENCE) -> None:
        self.queue = queue
        self.patience = patience
        self._lock: asyncio.Lock | None = None

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
            remaining = deadline - loop.time()
            if self.queue is not None and remaining > 0:
                await self.queue.handled(remaining)


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


async def start_on_turn(application: Any, turns: Turns) -> None:
    """At the start of an update that starts heavy work: return once it may go on (a turn),
    waiting aside meanwhile (see the module docstring)."""
    from bot.telegram.lanes import waiting_aside  # see the imports above

    with waiting_aside(application):
        await turns.take()


async def take_turn() -> None:
    """In low-priority work, wait for a turn before going on (after a Bot API reply, a render
    worker's drawing); at once otherwise."""
    turns = _TURNS.get()
    if turns is not None:
        await turns.take()
