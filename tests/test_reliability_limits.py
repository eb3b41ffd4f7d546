"""The guard that fails any test whose bot got an undeclared 4xx (see tests/limits_fixtures.py)
really catches over-limit payloads, and lets declared ones through."""

from __future__ import annotations

import pytest
import telegram
from telegram.error import BadRequest, Forbidden

from tests.limits_fixtures import ApiErrorGuard, describe
from tests.support.emulator import BotApiEmulator
from tests.telegram_fixtures import TOKEN


@pytest.fixture
async def plain():
    """An emulator outside the suite-wide guard, with a plain PTB bot on it."""
    async with BotApiEmulator(token=TOKEN) as emu:
        bot = telegram.Bot(emu.token, base_url=emu.base_url, base_file_url=emu.base_file_url)
        async with bot:
            yield emu, bot


async def test_over_limit_payloads_are_caught(plain):
    emu, bot = plain
    guard = ApiErrorGuard(emu)
    guard.install()
    await bot.send_message(42, "ok")
    refused = [
        {"text": "x" * 4097},
        {"text": "<b>unclosed", "parse_mode": "HTML"},
        {"text": "a & b", "parse_mode": "HTML"},
        {"text": " "},
        {
            "text": "buttons",
            "reply_markup": telegram.InlineKeyboardMarkup(
                [[telegram.InlineKeyboardButton("b", callback_data="d" * 65)]]
            ),
        },
    ]
    for kwargs in refused:
        with pytest.raises(BadRequest):
            await bot.send_message(42, **kwargs)
    found = [describe(c) for c in guard.unexpected()]
    assert len(found) == len(refused), found
    assert "sendMessage 400 Bad Request: message is too long" in found
    assert any("can't parse entities" in line for line in found)
    assert "sendMessage 400 Bad Request: BUTTON_DATA_INVALID" in found


async def test_declared_and_injected_errors_pass(plain):
    emu, bot = plain
    guard = ApiErrorGuard(emu)
    guard.install()
    emu.fail_next("sendMessage", 400, count=2)  # injected by the test: expected
    emu.block_user(7)  # every 403 to chat 7: expected
    emu.expected_errors.append(r"^sendMessage 400 Bad Request: message is too long$")
    for _ in range(2):
        with pytest.raises(BadRequest):
            await bot.send_message(42, "ok")
    with pytest.raises(Forbidden):
        await bot.send_message(7, "ok")
    with pytest.raises(BadRequest):
        await bot.send_message(42, "x" * 5000)
    assert guard.unexpected() == []
    with pytest.raises(BadRequest):  # one more 400 than injected: caught
        await bot.send_message(42, "")
    assert [describe(c) for c in guard.unexpected()] == [
        "sendMessage 400 Bad Request: message text is empty"
    ]


@pytest.mark.expected_api_errors(r"^sendMessage 400 Bad Request: message is too long$")
async def test_the_marker_declares_errors_for_the_emulator_fixture(emulator):
    bot = telegram.Bot(emulator.token, base_url=emulator.base_url)
    async with bot:
        with pytest.raises(BadRequest):
            await bot.send_message(42, "x" * 4097)
    # The suite-wide guard checks this test's emulator in its teardown, and finds it declared.
