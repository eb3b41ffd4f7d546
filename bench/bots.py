"""The bots the benchmarks compare, and how each is started against the emulator."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench.checklist import plan, updates_per_manager
from bench.emulator import BenchEmulator, quiet
from bench.load import ChecklistProtocol, EchoProtocol, OursProtocol, Protocol
from bench.procs import BenchError, BotProcess, free_port

ECHO = "echo"
USUAL = "usual"
OURS = "ours"
LABELS = {
    ECHO: "echo bot (PTB floor)",
    USUAL: "ConversationHandler + PicklePersistence",
    OURS: "alliance-bot",
}
#: Seconds a bot may take from spawn to its first getUpdates.
START_TIMEOUT = 60.0


@dataclass(frozen=True)
class BotSpec:
    """Which bot, on which database (ours only), as shipped or not: ours with its own rate
    limiter (`python -m bot.cli run` unchanged), the ConversationHandler bot with PTB's
    AIORateLimiter."""

    kind: str
    database: str = ""  # "sqlite" or "postgres" for ours
    rate_limiter: bool = False

    @property
    def name(self) -> str:
        limited = "-limited" if self.rate_limiter else ""
        if self.kind != OURS:
            return self.kind + limited
        return f"{OURS}-{self.database}{limited}"

    def protocol_factory(self) -> Callable[[], Protocol]:
        if self.kind == ECHO:
            updates = updates_per_manager()[0]
            return lambda: EchoProtocol(updates)
        if self.kind == USUAL:
            questions = plan()
            return lambda: ChecklistProtocol(questions)
        return OursProtocol


def start_bot(
    spec: BotSpec,
    emulator: BenchEmulator,
    workdir: Path,
    database_url: str = "",
    *,
    profile: Path | None = None,
    timeline: Path | None = None,
) -> BotProcess:
    """Spawn the bot; it polls the emulator. Ours needs ``database_url``. With ``profile``,
    the bot runs under bench.profiled: SIGUSR1 starts cProfile, SIGUSR2 writes the statistics
    to that file. With ``timeline`` (ours), under bench.timeline: its event loop's timeline is
    written to that file when it stops."""
    env = {
        "TELEGRAM_BOT_TOKEN": emulator.token,
        "TELEGRAM_API_BASE_URL": emulator.base_url,
        "TELEGRAM_API_BASE_FILE_URL": emulator.base_file_url,
    }
    if spec.kind == ECHO:
        command = ["-m", "bench.baselines.echo"]
    elif spec.kind == USUAL:
        command = ["-m", "bench.baselines.checklist"]
        env["BENCH_CHECKLIST"] = ",".join(q.code for q in plan())
        env["BENCH_PICKLE"] = str(workdir / "persistence.pickle")
        env["BENCH_RATE_LIMITER"] = "1" if spec.rate_limiter else "0"
    else:
        if not database_url:
            raise ValueError("our bot needs a database URL")
        env["DATABASE_URL"] = database_url
        env["HEALTH_PORT"] = str(free_port())
        if spec.rate_limiter:
            command = ["-m", "bot.cli", "run"]  # exactly the production entry point
        else:
            command = ["-m", "bench.ourbot"]
            env["BENCH_RATE_LIMITER"] = "0"
    if profile is not None:
        command = ["-m", "bench.profiled", str(profile), *command[1:]]
    elif timeline is not None:
        if spec.kind != OURS:
            raise ValueError("only our bot has a timeline")
        command = ["-m", "bench.timeline", str(timeline), *command[1:]]
    return BotProcess(spec.name, command, env, workdir)


async def wait_started(process: BotProcess, emulator: BenchEmulator) -> float:
    """Wait for the first getUpdates, then for the start-up calls to end; return the start-up
    time in seconds (spawn to first getUpdates)."""
    deadline = time.monotonic() + START_TIMEOUT
    while emulator.first_get_updates_at is None:
        process.check_alive()
        if time.monotonic() > deadline:
            raise BenchError(f"{process.name} did not poll within {START_TIMEOUT} s")
        await asyncio.sleep(0.005)
    started = emulator.first_get_updates_at - process.spawned_at
    await quiet(emulator, 0.3)
    return started
