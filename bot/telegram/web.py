"""The webhook's HTTP server (aiohttp): the webhook endpoint and /healthz, in webhook mode.

While polling, /healthz alone is served by health.py, without aiohttp.

The webhook checks Telegram's secret header in constant time before anything else: a request
without the right secret gets 403 and never reaches a handler. An accepted update is processed
before the 200 is returned, so if the process dies mid-update Telegram delivers it again (and the
processed-update record makes that harmless). Updates of one user are processed one at a time.
"""

from __future__ import annotations

import hmac
import json
import logging
from typing import Any

from aiohttp import web
from telegram import Update
from telegram.ext import Application

from bot.storage.database import Storage
from bot.telegram.health import health
from bot.telegram.lanes import Lanes, lane_of
from bot.telegram.leanbot import without_tapped_buttons

logger = logging.getLogger(__name__)
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


class WebServer:
    """One aiohttp site: health always, the webhook route when a secret is given."""

    def __init__(
        self,
        application: Application[Any, Any, Any, Any, Any, Any],
        storage: Storage,
        *,
        host: str,
        port: int,
        webhook_path: str | None = None,
        webhook_secret: str = "",
    ) -> None:
        self.application = application
        self.storage = storage
        self.host = host
        self.port = port
        self.webhook_secret = webhook_secret.encode()
        self._lanes = Lanes()  # a user's requests one at a time, in order (lanes.py)
        self._runner: web.AppRunner | None = None
        self.app = web.Application(client_max_size=1024 * 1024)
        self.app.router.add_get("/healthz", self.health)
        if webhook_path is not None:
            if not webhook_secret:
                raise ValueError("a webhook needs a secret")
            self.app.router.add_post("/" + webhook_path.strip("/"), self.webhook)

    async def start(self) -> None:
        self._runner = web.AppRunner(self.app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        if self.port == 0:  # tests ask for any free port: remember which one we got
            server = site._server
            assert server is not None
            sockets = getattr(server, "sockets", None) or []
            self.port = sockets[0].getsockname()[1]
        logger.info("HTTP server listening on %s:%s", self.host, self.port)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def health(self, request: web.Request) -> web.Response:
        status, answer = await health(self.storage)
        return web.json_response(answer, status=status)

    async def webhook(self, request: web.Request) -> web.Response:
        given = request.headers.get(SECRET_HEADER, "").encode()
        if not hmac.compare_digest(given, self.webhook_secret):
            return web.Response(status=403, text="forbidden")
        try:
            data = await request.json()
            without_tapped_buttons(data)  # only whether it had any is read (leanbot.py)
            update = Update.de_json(data, self.application.bot)
            message = update.effective_message
            chatless = message is not None and message.chat is None  # PTB lets it through
            if type(update.update_id) is not int or chatless:
                raise ValueError("not an update id, or a message without its chat")
        except (json.JSONDecodeError, ValueError, TypeError, KeyError, AttributeError):
            logger.warning("webhook: a request that is not a Telegram update was refused")
            return web.Response(status=400, text="not an update")
        async with self._lanes.hold(lane_of(update)):  # one user's updates one at a time
            await self.application.process_update(update)
        return web.Response(text="ok")
