"""`alliance-bot run`'s serve(): starts polling, answers /healthz, stops cleanly; refuses an
invalid dialogue."""

import asyncio
import socket
from dataclasses import replace

import aiohttp
import pytest

from bot.errors import DialogueError
from bot.telegram.runner import serve
from tests.telegram_fixtures import make_settings


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_serve_polls_answers_health_and_stops(emulator, database_url, mini_dialogues):
    port = free_port()
    settings = replace(make_settings(emulator, database_url, mini_dialogues), health_port=port)
    stop = asyncio.Event()
    task = asyncio.create_task(serve(settings, stop))
    await emulator.wait_for(lambda: emulator.calls_to("getUpdates"), timeout=10)
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://127.0.0.1:{port}/healthz") as response,
    ):
        assert response.status == 200
    assert emulator.commands_for("fr")
    stop.set()
    await asyncio.wait_for(task, timeout=15)


async def test_an_invalid_dialogue_stops_the_start(emulator, database_url, tmp_path):
    settings = make_settings(emulator, database_url, tmp_path / "missing")
    with pytest.raises(DialogueError):
        await serve(settings, asyncio.Event())
    assert emulator.calls_to("getUpdates") == []


async def test_serve_with_the_web_view_signs_an_advisor_in(emulator, database_url, mini_dialogues):
    from bot.advisors.service import Advisors
    from bot.storage.factory import open_storage

    storage = open_storage(database_url)
    await storage.migrate()
    _, token = await Advisors(storage).add("Claire")
    await storage.close()
    health, port = free_port(), free_port()
    settings = replace(
        make_settings(emulator, database_url, mini_dialogues),
        health_port=health,
        web_enabled=True,
        web_listen="127.0.0.1",
        web_port=port,
    )
    stop = asyncio.Event()
    task = asyncio.create_task(serve(settings, stop))
    await emulator.wait_for(lambda: emulator.calls_to("getUpdates"), timeout=10)
    jar = aiohttp.CookieJar(unsafe=True)  # cookies of 127.0.0.1
    async with (
        aiohttp.ClientSession(cookie_jar=jar) as session,
        session.get(f"http://127.0.0.1:{port}/login/{token}") as response,
    ):
        assert response.status == 200
        assert "Projets partagés avec vous" in await response.text()
    stop.set()
    await asyncio.wait_for(task, timeout=15)
