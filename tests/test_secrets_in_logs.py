"""The bot token never reaches a log line, a traceback or a reply, even at DEBUG."""

import logging

import pytest

from bot.logging_setup import configure_logging
from tests.telegram_fixtures import TOKEN, running_bot


@pytest.fixture
def debug_logging():
    root = logging.getLogger()
    names = ("httpx", "httpcore", "telegram", "bot", "aiohttp")
    saved = (root.level, list(root.handlers), {n: logging.getLogger(n).level for n in names})
    configure_logging("DEBUG", [TOKEN])
    for name in names:
        logging.getLogger(name).setLevel(logging.DEBUG)
    yield
    root.handlers[:] = saved[1]
    root.setLevel(saved[0])
    for name, level in saved[2].items():
        logging.getLogger(name).setLevel(level)


async def test_token_absent_from_debug_logs_and_replies(
    debug_logging, caplog, capfd, emulator, database_url, mini_dialogues
):
    caplog.set_level(logging.DEBUG)
    async with running_bot(emulator, database_url, mini_dialogues, raise_errors=False) as bot:
        ana = bot.user(language_code="en")
        await ana.send("/start")
        await ana.send("Acme")
        bot.emulator.fail_next("sendMessage", 500, count=1)
        await ana.send("1")
        await ana.tap_data("forged")
        replies = [m.readable for m in emulator.messages(ana.chat_id)]
    captured = capfd.readouterr()
    logged = caplog.text + captured.err + captured.out
    assert len(caplog.records) > 50  # DEBUG really was on, the Bot API calls' lines included
    assert any(r.name == "telegram.ext.ExtBot" for r in caplog.records)
    assert "Internal Server Error" in logged  # the failure was logged, with its traceback
    assert TOKEN not in logged
    assert TOKEN.split(":")[1] not in logged
    assert all(TOKEN not in reply for reply in replies)
