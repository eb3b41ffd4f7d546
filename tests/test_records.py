"""Handled updates recorded together: one transaction for the records of one turn of the
event loop, and a record that cannot be written fails its own update only."""

from __future__ import annotations

import asyncio

import pytest
import sqlalchemy

from bot.errors import StorageError
from bot.telegram.records import Records
from tests.storage_fixtures import add_user


async def processed(storage, update_id):
    return (await storage.load("", update_id)).processed


class Begun:
    """Counts the storage's transactions while in the block."""

    def __init__(self, storage):
        self.engine, self.count = storage.engine, 0

    def _begin(self, _conn):
        self.count += 1

    def __enter__(self):
        sqlalchemy.event.listen(self.engine, "begin", self._begin)
        return self

    def __exit__(self, *exc):
        sqlalchemy.event.remove(self.engine, "begin", self._begin)


async def test_updates_handled_in_the_same_turn_share_one_transaction(storage):
    user = await add_user(storage, "tg:1", lang="fr", tz="Europe/Paris")
    records = Records(storage)
    with Begun(storage) as begun:
        results = await asyncio.gather(
            records.add(1, user.id), records.add(2, None), records.add(3, user.id)
        )
    assert results == [True, True, True]
    assert begun.count == 1
    assert [await processed(storage, n) for n in (1, 2, 3, 4)] == [True, True, True, False]


async def test_updates_handled_one_after_the_other_are_each_recorded(storage):
    records = Records(storage)
    with Begun(storage) as begun:
        assert await records.add(1, None) is True
        assert await records.add(1, None) is False  # delivered again: recorded before
        assert await records.add(2, None) is True
    assert begun.count == 3
    assert [await processed(storage, n) for n in (1, 2)] == [True, True]


async def test_a_record_that_cannot_be_written_fails_only_its_own_update(storage):
    user = await add_user(storage, "tg:1", lang="fr", tz="Europe/Paris")
    records = Records(storage)
    gone = user.id + 1000  # a user erased meanwhile: their id is nobody's
    results = await asyncio.gather(
        records.add(1, user.id), records.add(2, gone), records.add(3, None), return_exceptions=True
    )
    assert results[0] is True
    assert results[2] is True
    assert isinstance(results[1], StorageError)
    assert [await processed(storage, n) for n in (1, 2, 3)] == [True, False, True]


async def test_an_update_cancelled_while_it_waits_leaves_the_others_recorded(storage):
    records = Records(storage)
    first = asyncio.ensure_future(records.add(1, None))
    second = asyncio.ensure_future(records.add(2, None))
    await asyncio.sleep(0)  # both wait for the write
    first.cancel()
    assert await second is True
    with pytest.raises(asyncio.CancelledError):
        await first
    await asyncio.sleep(0)
    assert [await processed(storage, n) for n in (1, 2)] == [True, True]
