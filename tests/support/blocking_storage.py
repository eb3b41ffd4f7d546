"""The storage, called from synchronous test code.

The fault tests watch a bot that runs in another process: they read its database between
their own steps, from plain functions and predicates. `BlockingStorage` runs the storage's
coroutines on an event loop of its own, in a thread, and waits for each result.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

from bot.storage.factory import open_storage


class BlockingStorage:
    """Every Storage method, blocking until it is done; close() at the end."""

    def __init__(self, database_url: str) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._storage = self._wait(self._open(database_url))

    @staticmethod
    async def _open(database_url: str) -> Any:
        return open_storage(database_url)

    def _wait(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result()

    def __getattr__(self, name: str) -> Callable[..., Any]:
        method = getattr(self._storage, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            return self._wait(method(*args, **kwargs))

        return call

    def close(self) -> None:
        try:
            self._wait(self._storage.close())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join()
            self._loop.close()
