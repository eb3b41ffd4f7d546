"""`alliance-bot run`: start the bot in polling or webhook mode, stop cleanly on SIGTERM."""

from __future__ import annotations

import asyncio
import gc
import logging
from typing import TYPE_CHECKING

from telegram import Update

from bot.config import Settings
from bot.dialogue.engine import Engine
from bot.dialogue.loader import load_dialogue
from bot.memory import limit_arenas, release_freed_memory
from bot.process import run_until_signal
from bot.storage.factory import open_storage
from bot.telegram.app import build_application, close_renders
from bot.telegram.health import HealthServer
from bot.telegram.lanes import stop_taking
from bot.telegram.services import Services

if TYPE_CHECKING:
    from bot.telegram.web import WebServer
    from bot.web.server import WebView

logger = logging.getLogger(__name__)


async def serve(settings: Settings, stop: asyncio.Event) -> None:
    """Run until `stop` is set; in-flight updates finish before the process leaves."""
    engine = Engine(load_dialogue(settings.dialogues_dir))  # an invalid dialogue stops us here
    storage = open_storage(settings.database_url)
    try:
        await storage.migrate()
        app = build_application(
            settings, storage, engine, dispatch_every=settings.reminder_interval_seconds
        )
        services: Services = app.bot_data["services"]
        async with app:
            await app.start()
            web: WebServer | HealthServer | None = None
            view: WebView | None = None
            try:
                if services.ticks is not None:  # due reminders, every few seconds
                    services.ticks.start()
                if settings.web_enabled:  # the advisors' web view, on the bot's services
                    from bot.web.server import WebView  # Jinja2 and the pages: only if served

                    view = WebView.for_services(settings, storage, engine, services.renders)
                    await view.start()
                if settings.webhook_enabled:
                    from bot.telegram.web import WebServer  # aiohttp's server: webhook only

                    web = WebServer(
                        app,
                        storage,
                        host=settings.webhook_listen,
                        port=settings.webhook_port,
                        webhook_path=settings.webhook_path,
                        webhook_secret=settings.webhook_secret,
                    )
                    await web.start()
                    await app.bot.set_webhook(
                        settings.webhook_endpoint,
                        secret_token=settings.webhook_secret,
                        allowed_updates=Update.ALL_TYPES,
                    )
                    logger.info("webhook mode: updates arrive at the configured URL")
                else:
                    web = HealthServer(storage, host="0.0.0.0", port=settings.health_port)
                    await web.start()
                    await app.bot.delete_webhook()
                    assert app.updater is not None
                    await app.updater.start_polling(allowed_updates=Update.ALL_TYPES)
                    logger.info("polling mode: asking Telegram for updates")
                # The command menu and descriptions (12 calls) once updates flow already:
                # the first user is not kept waiting for them. run_polling would call this
                # hook; we start by hand.
                if app.post_init is not None:
                    await app.post_init(app)
                settle_memory()
                await stop.wait()
                logger.info("stopping: finishing the updates in progress")
            finally:
                # Also when starting failed (a port taken...): stopped, the application shuts
                # down and the real error is reported, not "This Application is still running".
                if app.updater is not None and app.updater.running:
                    stop_taking(app)  # what Telegram answers now stays with it (lanes.py)
                    await app.updater.stop()
                if web is not None:
                    await web.stop()
                if view is not None:
                    await view.stop()
                if services.ticks is not None:
                    await services.ticks.stop()
                await app.stop()
                close_renders(app)
    finally:
        await storage.close()
    logger.info("stopped cleanly")


def settle_memory() -> None:
    """Once started: what start-up made (modules, the dialogue, SQLAlchemy's statements,
    PTB's handlers: most of the process's objects) is left out of the garbage collector's
    later passes. A full pass stops the event loop while it runs: it then goes through what
    was made since, not through all of that again (90 to 110 ms a pass, measured under load).
    The collector, paused while the bot starts (bot/cli.py), runs from here on; the pages the
    garbage of start-up held go back to the system (about 0.5 MiB)."""
    gc.collect()
    gc.freeze()
    release_freed_memory()
    gc.enable()


def run(settings: Settings) -> int:
    """The blocking entry point of `alliance-bot run`."""
    limit_arenas()  # before the storage's threads start (bot/memory.py)
    return run_until_signal(settings, serve)
