"""Serving the web view: alone (`alliance-bot web`) or beside the bot (`alliance-bot run` with
WEB_ENABLED=1, sharing its storage and render workers)."""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web

from bot.advisors.service import Advisors
from bot.config import Settings
from bot.dialogue.engine import Engine
from bot.dialogue.loader import load_dialogue
from bot.export.pool import RenderPool
from bot.process import run_until_signal
from bot.storage.database import Storage
from bot.storage.factory import open_storage
from bot.web.app import create_app

logger = logging.getLogger(__name__)


class WebView:
    """The web view's HTTP site on host:port (port 0: any free port, read back after start)."""

    def __init__(self, app: web.Application, *, host: str, port: int) -> None:
        self.app = app
        self.host = host
        self.port = port
        self._runner: web.AppRunner | None = None

    @classmethod
    def for_services(
        cls, settings: Settings, storage: Storage, engine: Engine, renders: RenderPool
    ) -> WebView:
        app = create_app(
            Advisors(storage), engine, renders=renders, default_lang=settings.default_language
        )
        return cls(app, host=settings.web_listen, port=settings.web_port)

    async def start(self) -> None:
        # No access log: a login link's address carries its token.
        self._runner = web.AppRunner(self.app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        if self.port == 0:
            server = site._server
            assert server is not None
            sockets = getattr(server, "sockets", None) or []
            self.port = sockets[0].getsockname()[1]
        logger.info("web view listening on %s:%s", self.host, self.port)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


async def serve(settings: Settings, stop: asyncio.Event) -> None:
    """`alliance-bot web`: the web view alone, until `stop` is set."""
    engine = Engine(load_dialogue(settings.dialogues_dir))
    storage = open_storage(settings.database_url)
    renders = RenderPool(workers=settings.render_workers or None)
    try:
        await storage.migrate()
        view = WebView.for_services(settings, storage, engine, renders)
        await view.start()
        try:
            await stop.wait()
        finally:
            await view.stop()
    finally:
        renders.close()
        await storage.close()


def run(settings: Settings) -> int:
    """The blocking entry point of `alliance-bot web`."""
    return run_until_signal(settings, serve)
