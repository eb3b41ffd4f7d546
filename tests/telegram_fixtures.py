"""Fixtures that run the real bot against the Bot API emulator, over real HTTP."""

from __future__ import annotations

from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from bot.config import Settings
from bot.dialogue.engine import Engine
from bot.dialogue.loader import load_dialogue
from bot.storage.factory import open_storage
from bot.telegram.app import build_application, close_renders
from bot.telegram.limiter import SendLimiter
from tests.support.emulator import BotApiEmulator
from tests.support.harness import BotHarness, TrackingApplication

TOKEN = "123456:TEST-token_that-must-never-leak"


def conversation_limiter() -> SendLimiter:
    """The shipped rate limiter without its one-message-a-second-per-chat pace: a test manager
    answers within milliseconds, a person does not, and each walk would last a minute.
    Pacing per chat is tested on its own (test_rate_limiter.py)."""
    return SendLimiter(chat_interval=0)


def make_settings(emulator: BotApiEmulator, database_url: str, dialogues: Path) -> Settings:
    return Settings(
        telegram_bot_token=emulator.token,
        database_url=database_url,
        telegram_api_base_url=emulator.base_url,
        telegram_api_base_file_url=emulator.base_file_url,
        dialogues_dir=dialogues,
    )


@asynccontextmanager
async def running_bot(
    emulator: BotApiEmulator,
    database_url: str,
    dialogues: Path,
    *,
    raise_errors: bool = True,
    clock=None,
    renders=None,
):
    """The bot, started on this database, polling the emulator; stopped on exit."""
    settings = make_settings(emulator, database_url, dialogues)
    storage = open_storage(database_url)
    await storage.migrate()
    engine = Engine(load_dialogue(dialogues))
    extra = {"clock": clock} if clock is not None else {}
    extra["dispatch_every"] = None  # tests tick the dispatcher themselves
    if renders is not None:
        extra["renders"] = renders
    app = build_application(
        settings,
        storage,
        engine,
        application_class=TrackingApplication,
        rate_limiter=conversation_limiter(),
        **extra,
    )
    try:
        async with BotHarness(emulator, app, raise_bot_errors=raise_errors) as harness:
            yield harness
    finally:
        close_renders(app)
        await storage.close()


@pytest.fixture
async def emulator():
    async with BotApiEmulator(token=TOKEN) as emu:
        yield emu


@pytest.fixture
def database_url(tmp_path):
    return f"sqlite:///{tmp_path / 'bot.sqlite3'}"


@pytest.fixture
def mini_dialogues(tmp_path):
    from tests.dialogue_fixtures import mini_dir

    return mini_dir(tmp_path / "mini")


@pytest.fixture
async def bot(emulator, database_url, mini_dialogues):
    """The bot over the small test dialogue."""
    async with running_bot(emulator, database_url, mini_dialogues) as harness:
        yield harness
