"""The blocking entry points' shared frame: logging set up, then one service run until SIGINT or
SIGTERM asks it to stop (`alliance-bot run`, `alliance-bot web`)."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Callable

from bot.config import Settings
from bot.logging_setup import configure_logging

Serve = Callable[[Settings, asyncio.Event], Awaitable[None]]


def run_until_signal(settings: Settings, serve: Serve) -> int:
    """Run `serve(settings, stop)` until SIGINT or SIGTERM sets `stop`; the exit status."""
    configure_logging(settings.log_level, settings.secrets())

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await serve(settings, stop)

    asyncio.run(main())
    return 0
