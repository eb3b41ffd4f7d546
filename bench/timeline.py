"""Run our bot with a timeline of its event loop, written when the process ends.

``python -m bench.timeline OUT MODULE``: runs MODULE as ``python -m MODULE`` would, recording
on ``time.perf_counter()`` (the machine's monotonic clock, the driver's too):

- ``callbacks``: the event loop's callbacks that ran over 1 ms, and every callback of the
  low-priority work (the end of a checklist, a PDF: bot/telegram/priority.py), as
  ``[start, seconds, low_priority]``;
- ``updates``: each update handled, as ``[lane, start, end]`` (the lane is the user's id);
- ``polls``: each getUpdates, as ``[asked, answered, updates]`` (asked once the updates in
  hand were handled, bot/telegram/lanes.py).

``bench/busy_timeline.py`` reads it beside the driver's samples. Only what the benchmark asks
for is recorded, and nothing is printed: the bot's own log is unchanged.
"""

from __future__ import annotations

import asyncio.events
import atexit
import json
import os
import runpy
import sys
import time
from typing import Any

#: Callbacks shorter than this are not recorded (but low-priority ones, all kept).
SLOW = 0.001


def install(out: str) -> None:
    """Record the timeline from now on; write it to `out` when the process ends."""
    from bot.telegram import lanes, priority

    callbacks: list[tuple[float, float, bool]] = []
    updates: list[tuple[int, float, float]] = []
    polls: list[tuple[float, float, int]] = []
    turns = priority._TURNS  # the low-priority work's context variable
    run = asyncio.events.Handle._run

    def timed_run(self: asyncio.events.Handle) -> None:
        started = time.perf_counter()
        run(self)
        spent = time.perf_counter() - started
        low = self._context.get(turns) is not None  # type: ignore[attr-defined]
        if spent > SLOW or low:
            callbacks.append((started, spent, low))

    process_update = lanes.UserLanes.do_process_update

    async def timed_update(self: lanes.UserLanes, update: object, coroutine: Any) -> None:
        started = time.perf_counter()
        try:
            await process_update(self, update, coroutine)
        finally:
            updates.append((lanes.lane_of(update), started, time.perf_counter()))

    request = lanes.PollingRequest.do_request

    async def timed_poll(self: lanes.PollingRequest, *args: Any, **kwargs: Any) -> Any:
        await self.queue.handled(self.linger)
        asked = time.perf_counter()
        status, payload = await request(self, *args, **kwargs)  # handled() again: at once
        polls.append((asked, time.perf_counter(), payload.count(b'"update_id"')))
        return status, payload

    def write() -> None:
        with open(out + ".part", "w") as file:
            json.dump({"callbacks": callbacks, "updates": updates, "polls": polls}, file)
        os.replace(out + ".part", out)

    asyncio.events.Handle._run = timed_run  # type: ignore[method-assign]
    lanes.UserLanes.do_process_update = timed_update  # type: ignore[method-assign]
    lanes.PollingRequest.do_request = timed_poll  # type: ignore[method-assign]
    atexit.register(write)


def main() -> None:
    out, module = sys.argv[1], sys.argv[2]
    install(out)
    sys.argv = [module, *sys.argv[3:]]
    runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
