"""Webhook mode and the health endpoint: real HTTP requests to the bot's own server."""

import aiohttp
import pytest

from bot.config import Settings
from bot.dialogue.engine import Engine
from bot.dialogue.loader import load_dialogue
from bot.storage.factory import open_storage
from bot.telegram.app import build_application
from bot.telegram.web import SECRET_HEADER, WebServer
from tests.support.emulator import TgChat, TgUser

SECRET = "s3cret-Webhook_token"


@pytest.fixture
async def webhook_bot(emulator, database_url, mini_dialogues):
    settings = Settings(
        telegram_bot_token=emulator.token,
        database_url=database_url,
        telegram_api_base_url=emulator.base_url,
        telegram_api_base_file_url=emulator.base_file_url,
        dialogues_dir=mini_dialogues,
    )
    storage = open_storage(database_url)
    await storage.migrate()
    app = build_application(settings, storage, Engine(load_dialogue(mini_dialogues)))
    handled = []
    original = app.process_update

    async def counting(update):
        handled.append(update)
        await original(update)

    async with app:
        await app.start()
        server = WebServer(
            app, storage, host="127.0.0.1", port=0, webhook_path="telegram", webhook_secret=SECRET
        )
        server.handled = handled
        object.__setattr__(server, "application", _Counting(app, counting))
        await server.start()
        try:
            yield server
        finally:
            await server.stop()
            await app.stop()
    await storage.close()


class _Counting:
    """The application, with process_update counted (PTB's Application has __slots__)."""

    def __init__(self, app, process):
        self._app = app
        self.process_update = process
        self.bot = app.bot


def message_update(update_id, user_id, text):
    user = TgUser(id=user_id, first_name="Ana", language_code="en")
    return {
        "update_id": update_id,
        "message": {
            "message_id": update_id,
            "date": 1_800_000_000,
            "chat": TgChat.private(user).to_dict(),
            "from": user.to_dict(),
            "text": text,
            **(
                {"entities": [{"type": "bot_command", "offset": 0, "length": len(text)}]}
                if text.startswith("/")
                else {}
            ),
        },
    }


async def post(server, payload, headers):
    url = f"http://127.0.0.1:{server.port}/telegram"
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, json=payload, headers=headers) as response,
    ):
        return response.status


async def test_health_answers_ok(webhook_bot):
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://127.0.0.1:{webhook_bot.port}/healthz") as response,
    ):
        assert response.status == 200
        assert (await response.json())["status"] == "ok"


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {SECRET_HEADER: ""},
        {SECRET_HEADER: "wrong"},
        {SECRET_HEADER: SECRET[:-1]},
        {SECRET_HEADER: SECRET + "x"},
        {SECRET_HEADER: SECRET.upper()},
        {"x-telegram-bot-api-secret": SECRET},
    ],
)
async def test_wrong_or_missing_secret_is_refused_before_any_handler(webhook_bot, headers):
    status = await post(webhook_bot, message_update(1, 501, "/start"), headers)
    assert status == 403
    assert webhook_bot.handled == []


async def test_many_near_miss_secrets_are_all_refused(webhook_bot):
    statuses = set()
    for i in range(200):
        near = SECRET[: i % len(SECRET)] + chr(33 + i % 90) + SECRET[i % len(SECRET) + 1 :]
        if near == SECRET:
            continue
        statuses.add(
            await post(webhook_bot, message_update(i + 1, 501, "/start"), {SECRET_HEADER: near})
        )
    assert statuses == {403}
    assert webhook_bot.handled == []


async def test_right_secret_processes_the_update_and_replies(webhook_bot, emulator, database_url):
    status = await post(webhook_bot, message_update(10, 502, "/start"), {SECRET_HEADER: SECRET})
    assert status == 200
    assert "Name? (en)" in emulator.last_bot_message(502).readable
    await post(webhook_bot, message_update(11, 502, "Acme"), {SECRET_HEADER: SECRET})
    assert "Kind? (en)" in emulator.last_bot_message(502).readable


async def test_the_same_update_delivered_twice_is_recorded_once(
    webhook_bot, emulator, database_url
):
    await post(webhook_bot, message_update(20, 503, "/start"), {SECRET_HEADER: SECRET})
    for _ in range(2):
        assert (
            await post(webhook_bot, message_update(21, 503, "Acme"), {SECRET_HEADER: SECRET})
            == 200
        )
    storage = open_storage(database_url)
    try:
        user = await storage.get_user("tg:503")
        history = await storage.answer_history((await storage.active_conversation(user.id)).id)
    finally:
        await storage.close()
    assert [a.value for a in history] == ["Acme"]
    kind_questions = [m for m in emulator.messages(503, from_bot=True) if "Kind?" in m.readable]
    assert len(kind_questions) == 1


async def test_not_an_update_is_refused(webhook_bot):
    url = f"http://127.0.0.1:{webhook_bot.port}/telegram"
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, data=b"not json", headers={SECRET_HEADER: SECRET}) as response,
    ):
        assert response.status == 400
