"""The records of handled updates, written together.

An update that changed nothing (a /start, an /export menu, a button that only shows something)
is recorded as handled after its replies (bot/telegram/once.py), so that Telegram delivering it
again after a crash does not make the bot reply twice. Written one by one, each record is a
transaction of its own, and on SQLite a sync to disk. `Records` writes the records of every
update whose handlers end in the same turn of the event loop in one transaction: when twenty
users tap or type at once, the bot spends its time on their replies rather than on twenty
syncs one after the other. Each update still waits for its own record before it counts as
handled; a record that cannot be written fails its update's wait, not the others'.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Protocol

from bot.errors import StorageError


class _Recorder(Protocol):
    async def mark_processed(self, update_id: int, user_id: int | None = None) -> bool: ...

    async def mark_processed_many(
        self, records: Sequence[tuple[int, int | None]]
    ) -> list[bool]: ...


class Records:
    """Records of handled updates, written in one transaction per turn of the event loop."""

    def __init__(self, storage: _Recorder) -> None:
        self.storage = storage
        self._pending: list[tuple[int, int | None, asyncio.Future[bool]]] = []
        self._writing: set[asyncio.Task[None]] = set()  # writes under way, kept referenced

    async def add(self, update_id: int, user_id: int | None) -> bool:
        """Record one update as handled, with the others of this turn of the event loop;
        False if it was recorded before. Raises StorageError if it could not be written."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[bool] = loop.create_future()
        done.add_done_callback(_retrieved)  # an update cancelled meanwhile leaves no warning
        self._pending.append((update_id, user_id, done))
        if len(self._pending) == 1:
            # The first of this turn: its write runs at the next turn, with every record
            # added until then (it takes them all before anything else).
            task = loop.create_task(self._write())
            self._writing.add(task)
            task.add_done_callback(self._writing.discard)
        return await asyncio.shield(done)  # a cancelled update leaves the others' write alone

    async def _write(self) -> None:
        batch, self._pending = self._pending, []
        try:
            results = await self.storage.mark_processed_many([(u, who) for u, who, _ in batch])
        except StorageError as exc:
            if len(batch) == 1:
                _settle(batch[0][2], exc)
                return
            # One bad record (a user erased meanwhile) must not cost the others theirs.
            for update_id, user_id, done in batch:
                try:
                    outcome: bool | BaseException = await self.storage.mark_processed(
                        update_id, user_id
                    )
                except StorageError as alone:
                    outcome = alone
                _settle(done, outcome)
            return
        except BaseException as exc:  # cancelled at shutdown: nobody is left without an answer
            for *_, done in batch:
                _settle(done, StorageError(f"the record was not written: {exc!r}"))
            raise
        for (*_, done), result in zip(batch, results, strict=True):
            _settle(done, result)


def _settle(done: asyncio.Future[bool], outcome: bool | BaseException) -> None:
    if done.done():
        return
    if isinstance(outcome, BaseException):
        done.set_exception(outcome)
    else:
        done.set_result(outcome)


def _retrieved(done: asyncio.Future[bool]) -> None:
    if not done.cancelled():
        done.exception()
