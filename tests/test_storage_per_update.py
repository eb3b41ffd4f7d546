"""What one update costs the database, and who waits when the database does.

The real application behind its webhook server, on the Bot API emulator: an answer costs one
read and one write transaction, committed before the reply; a SQLite write lock held by another
process makes the update that needs to write wait, not another user's /help.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import sqlite3
import threading
from contextlib import contextmanager

from sqlalchemy import event

from bot.dialogue.loader import DEFAULT_DIR
from bot.storage.base import hash_token
from bot.storage.database import sqlite_storage
from tests.reliability_support import (
    answers_of,
    callback_update,
    keyboard_message,
    message_update,
    webhook_bot,
)
from tests.reminder_fixtures import nearly_done
from tests.support.emulator import TgUser


@contextmanager
def counting_transactions(storage):
    """The transactions begun on storage's connections meanwhile: for each, the first word of
    each statement it ran (SELECT, INSERT, UPDATE)."""
    begun = []

    def on_begin(connection):
        begun.append([])

    def on_statement(connection, cursor, statement, parameters, context, executemany):
        begun[-1].append(statement.split(None, 1)[0].upper())

    listeners = (("begin", on_begin), ("before_cursor_execute", on_statement))
    for name, listener in listeners:
        event.listen(storage.engine, name, listener)
    try:
        yield begun
    finally:
        for name, listener in listeners:
            event.remove(storage.engine, name, listener)


async def test_a_typed_answer_and_a_tap_cost_one_read_and_one_write_each(
    emulator, database_url, mini_dialogues
):
    ana = TgUser(id=7400, first_name="Ana", language_code="en")
    async with webhook_bot(emulator, database_url, mini_dialogues) as bot:
        with counting_transactions(bot.storage) as started:
            assert await bot.post(message_update(emulator, ana, "/start")) == 200
        with counting_transactions(bot.storage) as typed:
            assert await bot.post(message_update(emulator, ana, "Acme")) == 200
        kind = keyboard_message(emulator, ana.id, "a|kind|beta")
        with counting_transactions(bot.storage) as tapped:
            assert await bot.post(callback_update(emulator, ana, kind, "a|kind|beta")) == 200
        current, _ = await answers_of(bot.storage, f"tg:{ana.id}")
        assert not bot.app.errors, [e.error for e in bot.app.errors]
    assert current == {"company": "Acme", "kind": "beta"}
    # A new user: the read finds nobody (and the update not processed), one write creates the
    # user, their first project (its owner, their current one) and their conversation, with
    # nothing to look up first, and the update is recorded once replied.
    assert started == [
        ["SELECT", "SELECT"],
        ["INSERT", "INSERT", "INSERT", "UPDATE", "INSERT"],
        ["INSERT"],
    ]
    # The read (user, conversation and processed update; answers), then the write: the update
    # recorded, the state, the answer, and for the day's first answer the two "unfinished
    # checklist" nudges moved later. The answers read show the question unanswered: no earlier
    # answer to supersede, no UPDATE for it.
    assert typed == [
        ["SELECT", "SELECT"],
        ["INSERT", "UPDATE", "INSERT"] + ["INSERT"] * 2,
    ]
    # The next update: the answers as the last write left them are kept in memory (same
    # conversation version), so the read is one statement.
    assert tapped == [["SELECT"], ["INSERT", "UPDATE", "INSERT"]]
    replies = [m.readable for m in emulator.messages(ana.id, from_bot=True)]
    assert any("Kind?" in text for text in replies)


async def test_the_partners_answer_costs_one_read_and_one_write_too(emulator, database_url):
    await nearly_done(database_url, 7600, "fr")
    bob = TgUser(id=7601, first_name="Bob", language_code="en")
    token = "t" * 32
    async with webhook_bot(emulator, database_url, DEFAULT_DIR) as bot:
        ana = await bot.storage.get_user("tg:7600")
        await bot.storage.create_invitation(
            ana.current_project_id,
            user_id=ana.id,
            token_hash=hash_token(token),
            expires_at=dt.datetime.now(dt.UTC) + dt.timedelta(days=1),
        )
        assert await bot.post(message_update(emulator, bob, f"/start {token}")) == 200
        consent = keyboard_message(emulator, bob.id, f"k|yes|{token}")
        assert await bot.post(callback_update(emulator, bob, consent, f"k|yes|{token}")) == 200
        question = emulator.messages(bob.id, from_bot=True)[-1]
        data = next(
            b["callback_data"]
            for b in question.button_objects()
            if b.get("callback_data", "").startswith("a|")
        )
        with counting_transactions(bot.storage) as tapped:
            assert await bot.post(callback_update(emulator, bob, question.message_id, data)) == 200
        assert not bot.app.errors, [e.error for e in bot.app.errors]
    # The read (user, current project, walk and processed update; the manager's answers, which
    # decide the partner's branch; the partner's own answers are kept in memory since the
    # previous update), then the write: no nudges for a partner.
    assert tapped == [["SELECT", "SELECT"], ["INSERT", "UPDATE", "INSERT"]]


class WriteLock:
    """Another process's write lock on the SQLite file: BEGIN IMMEDIATE in a thread of its own
    (sqlite3 blocks), held until release()."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.taken = threading.Event()
        self._release = threading.Event()
        self._thread = threading.Thread(target=self._hold)

    def _hold(self) -> None:
        conn = sqlite3.connect(self.path, isolation_level=None)
        try:
            conn.execute("BEGIN IMMEDIATE")
            self.taken.set()
            self._release.wait()
            conn.execute("ROLLBACK")
        finally:
            conn.close()

    def __enter__(self) -> WriteLock:
        self._thread.start()
        assert self.taken.wait(30), "could not take the write lock"
        return self

    def release(self) -> None:
        self._release.set()
        self._thread.join()

    def __exit__(self, *exc: object) -> None:
        self.release()


async def test_another_users_help_is_answered_while_a_write_lock_is_held(
    emulator, tmp_path, mini_dialogues
):
    path = str(tmp_path / "bot.sqlite3")
    # The locked write waits as long as the lock lasts: the test does not race a timeout.
    storage = sqlite_storage(path, busy_timeout=600)
    ana = TgUser(id=7500, first_name="Ana", language_code="en")
    bob = TgUser(id=7501, first_name="Bob", language_code="en")
    async with webhook_bot(emulator, f"sqlite:///{path}", mini_dialogues, storage=storage) as bot:
        for user in (ana, bob):
            assert await bot.post(message_update(emulator, user, "/start")) == 200
        before = len(emulator.messages(bob.id, from_bot=True))
        with WriteLock(path) as lock:
            # Ana's answer must be written: it waits for the lock, without holding anybody up.
            answer = asyncio.create_task(bot.post(message_update(emulator, ana, "Acme")))
            help_ = asyncio.create_task(bot.post(message_update(emulator, bob, "/help")))
            # Bob gets his help (recording that /help was handled waits for the lock, after
            # the reply) ...
            await emulator.wait_for(
                lambda: len(emulator.messages(bob.id, from_bot=True)) > before, timeout=120
            )
            assert not answer.done()  # ... while Ana's answer still waits for the lock
            current, _ = await answers_of(bot.storage, f"tg:{ana.id}")  # reading works too
            assert current == {}
            lock.release()
            assert await answer == 200
            assert await help_ == 200
        current, history = await answers_of(bot.storage, f"tg:{ana.id}")
        assert not bot.app.errors, [e.error for e in bot.app.errors]
    assert current == {"company": "Acme"}
    assert history == [("company", "Acme")]
    replies = [m.readable for m in emulator.messages(ana.id, from_bot=True)]
    assert any("Kind?" in text for text in replies)  # then she got the next question


async def test_the_last_answer_reads_the_project_once_and_the_answers_never_again(
    emulator, database_url
):
    """The end of a checklist (summary, charts, review, offers) builds on what the answer's
    read and write left: the summary's charts read no answers again, and the project compared
    with its partner is read once, for the summary and the invitation offer under it."""
    last = await nearly_done(database_url, 7700, "en")
    ana = TgUser(id=7700, first_name="Ana", language_code="en")
    data = f"a|{last}|yes"
    async with webhook_bot(emulator, database_url, DEFAULT_DIR) as bot:
        assert await bot.post(message_update(emulator, ana, "/start")) == 200
        question = keyboard_message(emulator, ana.id, data)
        with counting_transactions(bot.storage) as ended:
            assert await bot.post(callback_update(emulator, ana, question, data)) == 200
        assert not bot.app.errors, [e.error for e in bot.app.errors]
        photos = [m for m in emulator.messages(ana.id, from_bot=True) if m.photo is not None]
    assert photos  # the charts were drawn, from the content the end gathered
    # The read (the answers kept from the previous update), the answer's write; the project
    # compared, once: its sides with their answers, the project, the comments on gaps; the
    # reminders' write (no more nudges, the first review). The update was recorded with the
    # answer: not a second time.
    assert ended == [
        ["SELECT"],
        ["INSERT", "UPDATE", "INSERT"],
        ["SELECT", "SELECT"],
        ["SELECT"],
        ["SELECT"],
        ["UPDATE", "UPDATE", "INSERT"],
    ]
