"""Helpers shared by tests/test_reliability_*.py: the bot in webhook mode, updates built on the
emulator, and reading what storage holds."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from bot.dialogue.engine import Engine
from bot.dialogue.loader import load_dialogue
from bot.storage.base import Storage
from bot.storage.factory import open_storage
from bot.telegram.app import build_application
from bot.telegram.web import SECRET_HEADER, WebServer
from tests.limits_fixtures import WEBHOOK_SECRET
from tests.support.emulator import BotApiEmulator, TgUser
from tests.support.harness import TrackingApplication
from tests.telegram_fixtures import make_settings


@dataclass
class WebhookBot:
    """The real application behind its own aiohttp webhook server, on the emulator."""

    server: WebServer
    app: TrackingApplication
    storage: Storage
    emulator: BotApiEmulator
    session: aiohttp.ClientSession
    in_flight: dict[int, int] = field(default_factory=dict)  # user id -> updates being processed
    overlaps: list[int] = field(default_factory=list)  # user ids seen processed twice at once
    processed: list[int] = field(default_factory=list)  # update ids, in processing order

    @property
    def received(self) -> list[int]:
        """Update ids in the order the webhook server received them."""
        assert isinstance(self.server, RecordingWebServer)
        return self.server.received

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.port}/telegram"

    async def post(self, update: Any, secret: str | None = WEBHOOK_SECRET) -> int:
        """POST one update (any JSON) as Telegram would; return the HTTP status."""
        headers = {SECRET_HEADER: secret} if secret is not None else {}
        async with self.session.post(self.url, json=update, headers=headers) as response:
            await response.read()
            return response.status


class RecordingWebServer(WebServer):
    """The bot's web server, noting the update ids it receives, in order."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.received: list[int] = []

    async def webhook(self, request: web.Request) -> web.Response:
        # The body is read once and kept by aiohttp; from here to the per-user lock in
        # WebServer.webhook nothing waits, so this is the order updates take their turn in.
        with contextlib.suppress(ValueError, KeyError, TypeError):  # not an update: refused
            self.received.append(int((await request.json())["update_id"]))
        return await super().webhook(request)


@asynccontextmanager
async def webhook_bot(
    emulator: BotApiEmulator, database_url: str, dialogues: Path
) -> AsyncIterator[WebhookBot]:
    """Start the application and its webhook server; stop both on exit."""
    storage = open_storage(database_url)
    storage.migrate()
    settings = make_settings(emulator, database_url, dialogues)
    app = build_application(
        settings,
        storage,
        Engine(load_dialogue(dialogues)),
        application_class=TrackingApplication,
        dispatch_every=None,
    )
    assert isinstance(app, TrackingApplication)
    server = RecordingWebServer(
        app,
        storage,
        host="127.0.0.1",
        port=0,
        webhook_path="telegram",
        webhook_secret=WEBHOOK_SECRET,
    )
    try:
        async with app, aiohttp.ClientSession() as session:
            await app.start()
            bot = WebhookBot(server, app, storage, emulator, session)
            _watch_overlaps(bot)
            await server.start()
            try:
                yield bot
            finally:
                await server.stop()
                await app.stop()
    finally:
        storage.close()


def _watch_overlaps(bot: WebhookBot) -> None:
    """Record, per user, whether two of their updates were ever processed at the same time."""
    app = bot.app
    original = app.process_update

    async def watched(update: object) -> None:
        user = getattr(update, "effective_user", None)
        key = user.id if user is not None else 0
        bot.in_flight[key] = bot.in_flight.get(key, 0) + 1
        if bot.in_flight[key] > 1:
            bot.overlaps.append(key)
        try:
            await original(update)
        finally:
            bot.in_flight[key] -= 1
            bot.processed.append(getattr(update, "update_id", -1))

    object.__setattr__(app, "process_update", watched)  # a TrackingApplication has a __dict__


def message_update(emulator: BotApiEmulator, user: TgUser, text: str) -> dict[str, Any]:
    """A text message from user, registered in the emulator (not delivered): its dict."""
    emulator.push_message(user, text)
    return _take_last(emulator)


def callback_update(
    emulator: BotApiEmulator, user: TgUser, message_id: int, data: str
) -> dict[str, Any]:
    """A tap on bot message message_id, registered in the emulator (not delivered)."""
    emulator.push_callback(user, message_id, data)
    return _take_last(emulator)


def _take_last(emulator: BotApiEmulator) -> dict[str, Any]:
    """The update just pushed (it also waits in getUpdates' queue, which nobody polls here)."""
    return dict(emulator.updates[-1])


def keyboard_message(emulator: BotApiEmulator, chat_id: int, data: str) -> int | None:
    """The id of the latest bot message whose keyboard carries callback data `data`."""
    for message in reversed(emulator.messages(chat_id, from_bot=True)):
        if any(b.get("callback_data") == data for b in message.button_objects()):
            return message.message_id
    return None


def answers_of(storage: Storage, key: str) -> tuple[dict[str, Any], list[tuple[str, Any]]]:
    """(current answers, the full history as (question, value)) of the user's active project."""
    user = storage.get_user(key)
    assert user is not None, f"no user {key}"
    conversation = storage.active_conversation(user.id)
    assert conversation is not None
    history = [(a.question_id, a.value) for a in storage.answer_history(conversation.id)]
    return storage.current_answers(conversation.id), history


async def gather_in_order(*coroutines: Any) -> list[Any]:
    """Run coroutines concurrently, each started only after the previous one is on its way."""
    tasks = []
    for coroutine in coroutines:
        tasks.append(asyncio.ensure_future(coroutine))
        await asyncio.sleep(0)
    return await asyncio.gather(*tasks)
