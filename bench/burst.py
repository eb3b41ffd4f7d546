"""Many new managers at the same instant: what an advisor meets who announces the bot to all.

``python -m bench.burst [MANAGERS] [ROUNDS]``: ours on SQLite (``alliance-bot run`` as in
benchmark 1, its rate limiter off: the burst measures the bot, not Telegram's 30 messages a
second) starts; MANAGERS new managers (default 200) send /start in the same millisecond, then,
once every one has their first question, all answer it in the same millisecond. For each of
the two bursts it prints the bot process's CPU per update, the time from the burst to the last
reply, and the median and p99 of the managers' latencies (push to the reply that carries their
next prompt). ROUNDS (default 1) new bots in a row, each figure then the median over them.
"""

from __future__ import annotations

import asyncio
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench import arguments, load
from bench.bots import OURS, BotSpec, start_bot, wait_started
from bench.emulator import BenchEmulator, quiet
from bench.update_cost import _percentile

#: Telegram user ids of the burst's managers (apart from the other benchmarks').
FIRST_ID = 700_000

Metrics = dict[str, float]


async def burst(managers: int) -> Metrics:
    """One bot, a burst of /start, then a burst of first answers."""
    folder = Path(tempfile.mkdtemp(prefix="alliance-burst-"))
    try:
        async with BenchEmulator() as emulator:
            spec = BotSpec(OURS, "sqlite")
            database_url = f"sqlite:///{folder / 'bot.sqlite3'}"
            process = start_bot(spec, emulator, folder, database_url)
            async with process.running():
                await wait_started(process, emulator)
                group = load.managers(emulator, managers, FIRST_ID, spec.protocol_factory())
                metrics: Metrics = {}
                for name in ("start", "answer"):
                    for manager in group:
                        manager.latencies.clear()
                    cpu = process.cpu_seconds()
                    began = time.perf_counter()
                    await asyncio.gather(*(m.act(_action(m, name)) for m in group))
                    seconds = time.perf_counter() - began
                    latencies = sorted(x for m in group for x in m.latencies)
                    metrics[f"{name}_cpu_us_per_update"] = (
                        1e6 * (process.cpu_seconds() - cpu) / managers
                    )
                    metrics[f"{name}_last_reply_ms"] = 1000 * seconds
                    metrics[f"{name}_p50_ms"] = 1000 * statistics.median(latencies)
                    metrics[f"{name}_p99_ms"] = 1000 * _percentile(latencies, 0.99)
                    await quiet(emulator, 0.3)
            return metrics
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _action(manager: load.Manager, name: str) -> load.Action:
    if name == "start":
        return manager.protocol.start()
    assert manager.prompt is not None  # the /start burst left every manager a question
    return manager.protocol.answer(manager.prompt)


def main(argv: list[str]) -> int:
    parser = arguments.parser("bench.burst", __doc__)
    parser.add_argument(
        "managers", nargs="?", type=arguments.count, default=200, help="new managers (200)"
    )
    parser.add_argument(
        "rounds", nargs="?", type=arguments.count, default=1, help="new bots in a row (1)"
    )
    args = parser.parse_args(argv)
    managers, rounds = args.managers, args.rounds
    runs = [asyncio.run(burst(managers)) for _ in range(rounds)]
    for name, title in (("start", "/start"), ("answer", "first answer")):
        figure = {
            key: statistics.median(r[f"{name}_{key}"] for r in runs)
            for key in ("cpu_us_per_update", "last_reply_ms", "p50_ms", "p99_ms")
        }
        print(
            f"{managers} x {title} at once: {figure['cpu_us_per_update']:.0f} µs CPU/update,"
            f" last reply after {figure['last_reply_ms']:.0f} ms,"
            f" latency p50 {figure['p50_ms']:.0f} ms, p99 {figure['p99_ms']:.0f} ms"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
