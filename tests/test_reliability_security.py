"""Issue 7, items 12 to 15: the webhook's secret, secrets in logs, one user's data out of
another's reach, and erasure. The real application, through the Bot API emulator.

Item 13's suite-wide check (every log record and every Bot API call of the whole run searched
for the token and the webhook secret, at DEBUG) lives in tests/limits_fixtures.py; the tests
here prove that check works. Item 15's "the SQLite file is created readable by its owner only"
is tests/test_storage_contract.py::test_sqlite_files_are_private.
"""

from __future__ import annotations

import asyncio
import hmac
import inspect
import io
import json
import logging
import random
import sqlite3
import string
from pathlib import Path

import pypdf
import pytest

import tests.limits_fixtures as limits
from bot.dialogue.loader import DEFAULT_DIR
from bot.storage.factory import open_storage
from bot.telegram import web
from bot.telegram.web import SECRET_HEADER
from tests.limits_fixtures import APP_SECRETS, CAPTURE, WEBHOOK_SECRET
from tests.reliability_support import keyboard_message, message_update, webhook_bot
from tests.reminder_fixtures import nearly_done
from tests.support.emulator import TgUser
from tests.telegram_fixtures import TOKEN, running_bot


# Item 12: the webhook's secret ----------------------------------------------------------------
def near_misses(rng: random.Random, count: int) -> list[dict[str, str]]:
    """Headers Telegram would never send: missing, empty, wrong, and one edit away."""
    secret = WEBHOOK_SECRET
    alphabet = string.ascii_letters + string.digits + "_-"
    fixed = [
        {},
        {SECRET_HEADER: ""},
        {SECRET_HEADER: " "},
        {SECRET_HEADER: secret.upper()},
        {SECRET_HEADER: secret.lower()},
        {SECRET_HEADER: secret + "="},
        {SECRET_HEADER: secret[:-1] + secret[-1].swapcase()},
        {SECRET_HEADER: secret * 2},
        {SECRET_HEADER: secret[::-1]},
        {SECRET_HEADER: TOKEN},
        {SECRET_HEADER: "x" * 4000},
        {"X-Telegram-Bot-Api-Secret": secret},
        {"Authorization": f"Bearer {secret}"},
        {SECRET_HEADER + "-2": secret},
    ]
    headers = list(fixed)
    while len(headers) < count:
        chars = list(secret)
        move = rng.randrange(4)
        at = rng.randrange(len(chars))
        if move == 0:  # one character replaced
            chars[at] = rng.choice([c for c in alphabet if c != chars[at]])
        elif move == 1:  # one dropped
            del chars[at]
        elif move == 2:  # one added
            chars.insert(at, rng.choice(alphabet))
        else:  # a prefix or a random string of the same length
            same_length = rng.choices(alphabet, k=len(secret))
            chars = list(secret[:at]) if rng.random() < 0.5 else same_length
        candidate = "".join(chars)
        if candidate != secret:
            headers.append({SECRET_HEADER: candidate})
    return headers


async def test_a_thousand_requests_without_the_right_secret_are_all_refused(
    emulator, database_url, mini_dialogues, monkeypatch
):
    compared = []
    real_compare = hmac.compare_digest

    def recording_compare(a, b):
        compared.append((a, b))
        return real_compare(a, b)

    monkeypatch.setattr(hmac, "compare_digest", recording_compare)
    user = TgUser(id=9500, first_name="Eve", language_code="en")
    headers = near_misses(random.Random(12), 1000)
    async with webhook_bot(emulator, database_url, mini_dialogues) as bot:
        calls_before = len(emulator.calls)
        update = message_update(emulator, user, "/start")
        statuses = []
        for batch in range(0, len(headers), 50):
            chunk = headers[batch : batch + 50]
            statuses += await asyncio.gather(*(_post(bot, update, h) for h in chunk))
        assert statuses == [403] * 1000
        assert bot.processed == []  # none reached the application
        assert bot.storage.get_user("tg:9500") is None
        assert emulator.calls[calls_before:] == []  # nothing was sent to anyone
        # Every refusal went through the constant-time comparison, secret against secret.
        assert len(compared) == 1000
        assert all(b == WEBHOOK_SECRET.encode() for _, b in compared)
        # The right secret is accepted, through the same comparison.
        assert await bot.post(update) == 200
        assert len(compared) == 1001
        assert bot.processed == [update["update_id"]]


async def _post(bot, update, headers):
    async with bot.session.post(bot.url, json=update, headers=headers) as response:
        await response.read()
        return response.status


def test_the_webhook_compares_the_secret_in_constant_time_before_anything_else():
    source = inspect.getsource(web.WebServer.webhook)
    body = source[source.index('"""') if '"""' in source else 0 :]
    first_lines = [line.strip() for line in body.splitlines() if line.strip()][:4]
    assert any("hmac.compare_digest(" in line for line in first_lines), first_lines
    assert "==" not in source.split("compare_digest")[0]  # no ordinary comparison before it


# Item 13: secrets never logged (the suite-wide check lives in tests/limits_fixtures.py) ----
def test_the_suite_logs_at_debug_with_every_record_searched():
    assert logging.getLogger().getEffectiveLevel() == logging.DEBUG
    assert logging.getLogger("httpx").getEffectiveLevel() == logging.DEBUG
    assert logging.getLogger("telegram.ext.ExtBot").getEffectiveLevel() == logging.DEBUG
    assert TOKEN in limits.SUITE_SECRETS
    assert WEBHOOK_SECRET in limits.SUITE_SECRETS
    assert TOKEN.split(":")[1] in limits.SUITE_SECRETS
    from tests.test_webhook import SECRET

    assert SECRET == WEBHOOK_SECRET  # the secret the webhook tests use is searched for


def test_the_search_sees_raw_records_not_what_a_handler_filter_made_of_them():
    """A record that bypasses the app's redaction is caught: the check relies on no filter."""
    before = len(CAPTURE.leaks)
    raw = logging.LogRecord(
        "httpx", logging.INFO, __file__, 1, "HTTP Request: POST %s", (f"/bot{TOKEN}/getMe",), None
    )
    logging.getLogger("httpx").handle(raw)  # built by hand: the record factory never saw it
    caught = CAPTURE.leaks[before:]
    del CAPTURE.leaks[before:]  # planted on purpose: not a leak of the suite
    assert len(caught) == 1
    assert "log record httpx" in caught[0].what


def test_records_are_redacted_as_they_are_created_whoever_handles_them():
    seen = []

    class Raw(logging.Handler):  # on a library logger, without any filter
        def emit(self, record):
            seen.append(logging.Formatter().format(record))

    handler = Raw()
    logger = logging.getLogger("telegram.ext.ExtBot")
    logger.addHandler(handler)
    try:
        logger.debug("Set Bot API URL: http://127.0.0.1:1/bot%s", TOKEN)
        try:
            raise RuntimeError(f"The token `{TOKEN}` was rejected; secret {WEBHOOK_SECRET}")
        except RuntimeError:
            logger.exception("failed with %s", WEBHOOK_SECRET)
    finally:
        logger.removeHandler(handler)
    assert len(seen) == 2
    for text in seen:
        assert all(secret not in text for secret in APP_SECRETS), text
    assert "RuntimeError: The token `<redacted>` was rejected" in seen[1]


async def test_errors_replies_and_exports_never_show_the_token(
    emulator, database_url, mini_dialogues
):
    """A failure's apology and a user's exports: the suite-wide search checks the calls too."""
    httpx_records = CAPTURE.by_logger["httpx"]
    async with running_bot(emulator, database_url, mini_dialogues, raise_errors=False) as bot:
        ana = bot.user(id=9510, language_code="en")
        await ana.send("/start")
        emulator.fail_next("sendMessage", 500)
        await ana.send("Acme")
        assert len(bot.errors) == 1  # logged with its traceback, then an apology
        await ana.send("/mydata")
        document = ana.last_document()
    assert "Sorry" in " ".join(m.readable for m in ana.messages())
    assert TOKEN not in document.data.decode()
    assert limits.payload_leaks(emulator, limits.SUITE_SECRETS, "here") == []
    assert CAPTURE.by_logger["httpx"] > httpx_records  # httpx's URL lines were searched


# Item 14: one user cannot reach another's data ---------------------------------------------
VICTIM, ATTACKER = 9601, 9602
MARK = "Victim-Zq7"  # in the victim's answers only


async def finish_mini(user, company):
    """A manager who went through the mini dialogue."""
    await user.send("/start")
    await user.send(company)
    await user.tap_data("a|kind|competitor")
    await user.tap_data("a|coop|no")
    await user.tap_data("a|picks|x")
    await user.tap_data("a|picks|__ok__")
    await user.tap_data("a|level|4")
    await user.send(f"Note {company}")
    await user.send("2027-03-15")
    await user.send("3")


def snapshot(storage, key):
    user = storage.get_user(key)
    conversations = storage.conversations(user.id)
    return {
        "user": user,
        "conversations": conversations,
        "answers": [storage.answer_history(c.id) for c in conversations],
        "reminders": sorted(
            (r.id, r.status, r.due_at, r.attempts) for r in storage.pending_reminders(user.id)
        ),
    }


def exported_text(document) -> str:
    if document.filename.endswith(".pdf"):
        reader = pypdf.PdfReader(io.BytesIO(document.data))
        return "".join(page.extract_text() for page in reader.pages)
    return document.data.decode()


async def finish_real(bot, database_url, user_id, company):
    """A manager who went through the real checklist and accepted every reminder offered."""
    nearly_done(database_url, user_id, lang="en")
    user = bot.user(id=user_id, language_code="en")
    await user.send("/start")
    await user.tap("Yes")
    await user.tap_data("p|all", message_id=keyboard_message(bot.emulator, user_id, "p|all"))
    await user.tap_data("q|yes", message_id=keyboard_message(bot.emulator, user_id, "q|yes"))
    await user.send("/edit")
    await user.tap_data("m|__edit__|company")
    await user.send(company)
    return user


async def test_forged_buttons_and_exports_never_reach_another_users_data(emulator, database_url):
    async with running_bot(emulator, database_url, DEFAULT_DIR) as bot:
        storage = bot.application.bot_data["services"].conversations.storage
        await finish_real(bot, database_url, VICTIM, MARK)
        before = snapshot(storage, f"tg:{VICTIM}")
        reminder_ids = [rid for rid, *_ in before["reminders"]]
        assert len(reminder_ids) >= 3
        victim_calls = len([c for c in emulator.calls if c.chat_id == VICTIM])

        nearly_done(database_url, ATTACKER, lang="en")  # her own project, all but finished
        eve = bot.user(id=ATTACKER, language_code="en")
        await eve.send("/start")
        some = [reminder_ids[0], reminder_ids[len(reminder_ids) // 2], reminder_ids[-1]]
        forged = [
            f"r|{rid}|{action}"
            for rid in some
            for action in ("cancel", "done", "stop", "d1", "w1", "m1", "move", "date")
        ]
        forged += [
            f"f|{rid}|{question}|{value}"
            for rid in some
            for question, value in (("evolving", "yes"), ("equity_kept", "no"), ("x", "1"))
        ]
        forged += [f"r|0{rid}|cancel" for rid in reminder_ids]
        forged += ["m|__edit__|company", "s|plan|sug", "s|plan|date", "q|yes", "p|all"]
        for data in forged:
            await eve.tap_data(data, message_id=eve.last_message().message_id)
            if data.endswith("|date") and "Which date?" in eve.last_text():
                await eve.send("2027-06-20")  # a typed date for whatever was awaited
        await eve.send("Eve Corp 2")  # answers the edit she opened: her own company
        for fmt in ("json", "md", "pdf", "ics", "../../etc/passwd"):
            await eve.tap_data(f"e|{fmt}")
        await eve.send("/mydata")
        documents = eve.documents()
        assert len(documents) == 5
        for document in documents:
            text = exported_text(document)
            assert MARK not in text, document.filename
            assert f"tg:{VICTIM}" not in text, document.filename
        assert "Eve Corp 2" in exported_text(documents[-1])
        await eve.send("/delete")
        await eve.tap_data("x|yes")
        after = snapshot(storage, f"tg:{VICTIM}")
        assert storage.get_user(f"tg:{ATTACKER}") is None
    assert after == before  # not one row of the victim changed
    assert len([c for c in emulator.calls if c.chat_id == VICTIM]) == victim_calls


# Item 15: erasure and the data-portability export -------------------------------------------
ERASED = 9701
SECRET_ANSWER = "Erase-Me-Qx81"


def rows_about(path: Path, user_id: int, key: str, conversation_ids, reminder_ids) -> list:
    """Every row of every table that belongs to or mentions the user."""
    found = []
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        for table in tables:
            columns = [r[1] for r in conn.execute(f"PRAGMA table_info({table})")]
            for row in conn.execute(f"SELECT * FROM {table}"):
                record = dict(zip(columns, row, strict=True))
                if (
                    (table == "users" and record.get("id") == user_id)
                    or record.get("user_id") == user_id
                    or record.get("conversation_id") in conversation_ids
                    or (table == "conversations" and record.get("id") in conversation_ids)
                    or (table == "reminders" and record.get("id") in reminder_ids)
                    or any(isinstance(v, str) and (key in v or SECRET_ANSWER in v) for v in row)
                ):
                    found.append((table, record))
    return found


async def test_delete_leaves_nothing_and_mydata_held_everything(
    emulator, database_url, mini_dialogues
):
    path = Path(database_url.removeprefix("sqlite:///"))
    key = f"tg:{ERASED}"
    async with running_bot(emulator, database_url, mini_dialogues) as bot:
        storage = bot.application.bot_data["services"].conversations.storage
        ana = bot.user(id=ERASED, language_code="en")
        await finish_mini(ana, SECRET_ANSWER)
        await ana.tap_data("p|all", message_id=ana.last_message().message_id)
        await ana.send("/restart")
        await ana.tap_data("m|__restart__|yes")  # an archived project too
        await ana.send(SECRET_ANSWER + " bis")
        await ana.send("/mydata")
        exported = json.loads(ana.last_document().data)
        user = storage.get_user(key)
        conversations = storage.conversations(user.id)
        conversation_ids = {c.id for c in conversations}
        reminders = storage.pending_reminders(user.id)
        reminder_ids = {r.id for r in reminders}
        before = rows_about(path, user.id, key, conversation_ids, reminder_ids)
        # /mydata held everything stored about her: every row above is in the JSON.
        assert exported["user"]["key"] == key
        assert exported["user"]["id"] == user.id
        assert {c["id"] for c in exported["conversations"]} == conversation_ids
        history = [
            (h["question_id"], h["value"]) for c in exported["conversations"] for h in c["history"]
        ]
        stored = [(r["question_id"], json.loads(r["value"])) for t, r in before if t == "answers"]
        assert sorted(map(repr, history)) == sorted(map(repr, stored))
        assert {r["id"] for r in exported["reminders"]} == {
            r["id"] for t, r in before if t == "reminders" and r["status"] == "pending"
        }
        assert len(before) > 20
        await ana.send("/delete")
        await ana.tap_data("x|yes")
        assert rows_about(path, user.id, key, conversation_ids, reminder_ids) == []
        # Nor in the files: the database and its write-ahead log, byte for byte.
        for file in path.parent.iterdir():
            if file.name.startswith(path.name):
                data = file.read_bytes()
                assert SECRET_ANSWER.encode() not in data, file.name
                assert key.encode() not in data, file.name
    storage = open_storage(database_url)
    try:
        assert storage.get_user(key) is None
        assert storage.all_pending() == []
    finally:
        storage.close()


@pytest.mark.xfail(
    strict=True,
    reason="Storage offers a user's pending reminders only: /mydata leaves out the reminders "
    "already sent, done or cancelled (bot/export/jsondata.py); see docs/reliability.md",
)
async def test_mydata_holds_the_reminders_already_sent_too(emulator, database_url, mini_dialogues):
    async with running_bot(emulator, database_url, mini_dialogues) as bot:
        storage = bot.application.bot_data["services"].conversations.storage
        ana = bot.user(id=9801, language_code="en")
        await ana.send("/start")
        user = storage.get_user("tg:9801")
        reminder = storage.add_reminder(user.id, kind="todo", ref="kind", due_at=user.created_at)
        storage.set_reminder_status(reminder.id, user_id=user.id, status="done")
        await ana.send("/mydata")
        exported = json.loads(ana.last_document().data)
    assert reminder.id in {r["id"] for r in exported["reminders"]}
