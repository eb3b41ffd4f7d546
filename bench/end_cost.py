"""The checklist's end alone: CPU of the bot process per last answer, optionally profiled.

``python -m bench.end_cost [MANAGERS] [PROFILE_OUT]``: ours on SQLite (``alliance-bot run`` as
in benchmark 1, its own process and render workers) walks MANAGERS managers (default 16) to their
last question, unmeasured; the first answers it alone (the render pool starts); then the others
answer it one after the other, each waiting for everything its end sends (summary, charts,
review, offers). It prints the bot process's CPU (all its threads; the render workers apart) and
the Bot API calls per end. With PROFILE_OUT, the bot runs under cProfile (bench/profiled.py,
main thread CPU) recording only those ends, and the statistics are written there: the figure is
then the profiled CPU, read the shares rather than the milliseconds.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import sys
import tempfile
from pathlib import Path

from bench import arguments, load
from bench.bots import OURS, BotSpec, start_bot, wait_started
from bench.emulator import BenchEmulator
from bench.update_cost import WALKERS_FIRST_ID, _Meter


async def end_cost(managers: int, profile: Path | None = None) -> tuple[float, float]:
    """(CPU ms, Bot API calls) per end, over managers - 1 ends after the first."""
    if managers < 2:
        raise ValueError("at least two managers: the first end is not measured")
    folder = Path(tempfile.mkdtemp(prefix="alliance-end-"))
    try:
        return await _measure(folder, managers, profile)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


async def _measure(folder: Path, managers: int, profile: Path | None) -> tuple[float, float]:
    spec = BotSpec(OURS, "sqlite")
    async with BenchEmulator() as emulator:
        database_url = f"sqlite:///{folder / 'bot.sqlite3'}"
        process = start_bot(spec, emulator, folder, database_url, profile=profile)
        async with process.running():
            await wait_started(process, emulator)
            walkers = load.managers(emulator, managers, WALKERS_FIRST_ID, spec.protocol_factory())
            await load.walk_all(walkers)
            await load.finish_all(walkers[:1], emulator, timeout=120)
            if profile is not None:
                process.popen.send_signal(signal.SIGUSR1)  # bench.profiled: start recording
            meter = _Meter(process, emulator)
            for walker in walkers[1:]:
                await load.finish_all([walker], emulator, timeout=120)
            measured = meter.read(managers - 1, "")
            if profile is not None:
                process.popen.send_signal(signal.SIGUSR2)  # stop and write the statistics
                while not os.path.exists(profile):  # noqa: ASYNC240 (a stat: microseconds)
                    process.check_alive()
                    await asyncio.sleep(0.05)
    return measured["cpu_us_per_update"] / 1000, measured["calls_per_update"]


def main(argv: list[str]) -> int:
    parser = arguments.parser("bench.end_cost", __doc__)
    parser.add_argument(
        "managers", nargs="?", type=arguments.count, default=16, help="checklists that end (16)"
    )
    parser.add_argument(
        "profile_out", nargs="?", type=Path, help="profile the ends into this file (cProfile)"
    )
    args = parser.parse_args(argv)
    managers = args.managers
    profile = None if args.profile_out is None else args.profile_out.resolve()
    cpu_ms, calls = asyncio.run(end_cost(managers, profile))
    profiled = " (profiled)" if profile is not None else ""
    print(f"the checklist's end: {cpu_ms:.2f} ms CPU{profiled}, {calls:.1f} Bot API calls")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
