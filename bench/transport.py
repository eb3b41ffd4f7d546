"""Benchmark 7: the Bot API transport: httpx (PTB's HTTPXRequest), aiohttp
(bench/aiohttp_request.py) and the bot's own on asyncio's sockets (bot/telegram/transport.py,
"streams").

Each transport runs in a process of its own (``python -m bench.transport <kind> <url> <n>``)
that makes ``n`` sendMessage calls one after the other through PTB's whole path (Bot,
RequestData, the request class, JSON parsing of the returned Message) against the emulator in
the driver; its CPU time per call is the figure. A few calls first warm the connection up,
unmeasured.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from typing import Any

from bench.emulator import BenchEmulator
from bench.procs import ROOT

KINDS = ("httpx", "aiohttp", "streams")
WARM_UP = 50


def _request(kind: str) -> Any:
    if kind == "httpx":
        from telegram.request import HTTPXRequest

        return HTTPXRequest(connection_pool_size=8)
    if kind == "aiohttp":
        from bench.aiohttp_request import AiohttpRequest

        return AiohttpRequest(connection_pool_size=8)
    from bot.telegram.transport import StreamRequest

    return StreamRequest(connection_pool_size=8)


async def _client(kind: str, base_url: str, token: str, calls: int) -> dict[str, float]:
    from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup

    keyboard = InlineKeyboardMarkup(
        [
            [InlineKeyboardButton("Oui", callback_data="a|q|yes")],
            [InlineKeyboardButton("Non", callback_data="a|q|no")],
        ]
    )
    async with Bot(token, base_url=base_url, request=_request(kind)) as bot:
        for n in range(WARM_UP):
            await bot.send_message(7, f"warm-up {n}", reply_markup=keyboard)
        cpu = time.process_time()
        wall = time.perf_counter()
        for n in range(calls):
            await bot.send_message(
                7, f"<b>Question {n}</b> &amp; co", parse_mode="HTML", reply_markup=keyboard
            )
        cpu = time.process_time() - cpu
        wall = time.perf_counter() - wall
    return {"cpu_us_per_call": 1e6 * cpu / calls, "wall_us_per_call": 1e6 * wall / calls}


async def run_transports(calls: int) -> dict[str, dict[str, float]]:
    """One run of each transport, in a process of its own, against one emulator."""
    results: dict[str, dict[str, float]] = {}
    async with BenchEmulator() as emulator:
        for kind in KINDS:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bench.transport",
                kind,
                emulator.base_url,
                emulator.token,
                str(calls),
                cwd=ROOT,
                stdout=subprocess.PIPE,
            )
            out, _ = await process.communicate()
            if process.returncode != 0:
                raise RuntimeError(f"transport {kind} exited with {process.returncode}")
            results[kind] = json.loads(out)
            emulator.forget_history()
    return results


if __name__ == "__main__":
    kind, url, token, count = sys.argv[1:5]
    print(json.dumps(asyncio.run(_client(kind, url, token, int(count)))))
