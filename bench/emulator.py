"""The Bot API emulator of the test suite, with what the benchmarks need on top.

Every request the bot makes is timed on arrival and handed to the listener of its chat, so a
simulated manager learns at once that its reply arrived (no polling of the call log); calls are
counted by method and errors by status; the first getUpdates is timed (start-up).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from tests.support.emulator import ApiError, BotApiEmulator, Call

TOKEN = "123456:BENCH-token"

#: listener(method, params, result, arrival time from time.perf_counter())
Listener = Callable[[str, dict[str, Any], Any, float], None]


class BenchEmulator(BotApiEmulator):
    """BotApiEmulator + per-chat listeners, call counters and a start-up mark."""

    def __init__(self) -> None:
        super().__init__(token=TOKEN)
        self.listeners: dict[int, Listener] = {}
        #: Successful calls by method, getUpdates included.
        self.counts: Counter[str] = Counter()
        #: Refused calls by HTTP status (429: rate limited).
        self.refusals: Counter[int] = Counter()
        self.first_get_updates_at: float | None = None
        #: Arrival time of the latest call other than getUpdates.
        self.last_call_at = 0.0
        #: When set, every successful sendMessage is appended as (arrival, chat id, markup).
        self.sent: list[tuple[float, int, Any]] | None = None

    async def _dispatch(self, call: Call) -> Any:
        arrived = time.perf_counter()
        if call.method == "getUpdates":
            if self.first_get_updates_at is None:
                self.first_get_updates_at = arrived
        else:
            self.last_call_at = arrived
        try:
            result = await super()._dispatch(call)
        except ApiError as error:
            self.refusals[error.status] += 1
            raise
        self.counts[call.method] += 1
        chat_id = call.params.get("chat_id")
        if self.sent is not None and call.method == "sendMessage" and isinstance(result, dict):
            markup = call.params.get("reply_markup")
            self.sent.append((arrived, int(result["chat"]["id"]), markup))
        if isinstance(chat_id, int):
            listener = self.listeners.get(chat_id)
            if listener is not None:
                listener(call.method, call.params, result, arrived)
        return result

    async def __aenter__(self) -> BenchEmulator:
        await self.start()
        return self

    def api_calls(self) -> int:
        """Successful calls other than getUpdates so far."""
        return sum(n for method, n in self.counts.items() if method != "getUpdates")

    def forget_history(self) -> None:
        """Drop the call log and the list of pushed updates (the driver keeps its own counts),
        so a long run does not slow the driver down."""
        self.calls.clear()
        self.updates.clear()


async def quiet(emulator: BenchEmulator, seconds: float) -> None:
    """Wait until no request but getUpdates arrived for ``seconds`` and none is in flight."""
    # Silence has no event to wait on: look again every 10 ms.
    while time.perf_counter() - emulator.last_call_at < seconds or emulator.in_flight:  # noqa: ASYNC110
        await asyncio.sleep(0.01)
