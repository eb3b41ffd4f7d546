"""Benchmarks 1, 2, 3 and 5: one bot process, its start-up, then the managers' load.

One run = one bot process against a fresh emulator, in this order:

1. start-up: spawn to first getUpdates; resident memory once idle; heavy libraries mapped;
2. walk (closed loop): ``managers`` managers answer the checklist from /start to its last
   question, each as soon as its prompt arrives: CPU per update, updates/s, Bot API calls;
3. finish: a few of them answer the last question (summary, charts, reminder offers): the
   first alone (what the first completion after a start costs), then the others;
4. latency (open loop): new managers' updates pushed at half the rate the walk reached (the
   driver's garbage collector paused meanwhile, see load.open_loop);
5. ours on SQLite only, busy latency: the same open loop with other new managers while 20
   checklists end (summaries and charts) and 20 PDFs are exported; then the memory of the bot
   and, apart, of its render workers;
6. scale only: 1,000 stored users, in the middle of their checklist, each answer a question.

A bot run as shipped (its rate limiter on: ours' own, or PTB's AIORateLimiter for the
ConversationHandler bot) walks for a time box only, against an emulator that enforces Telegram's
overall limit (30 messages a second) and the groups' (20 a minute), and answers 429 beyond:
the 429s it met are counted. The emulator does not hold a private chat to one message a
second there: the simulated managers answer within milliseconds, which no one on a phone does,
and a reply to each of them is what any conversational bot sends (the reminder benchmark,
bench/reminders.py, holds chats to that limit).
"""

from __future__ import annotations

import asyncio
import os
import resource
import signal
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import load
from bench.bots import OURS, BotSpec, start_bot, wait_started
from bench.checklist import real_dialogue, typed_answer
from bench.datagen import ActiveUser
from bench.emulator import BenchEmulator, quiet
from bench.procs import BotProcess
from tests.support.emulator import TgUser

Metrics = dict[str, float]

#: Bot API methods that create a message (the emulator's and Telegram's rate limits count these).
SENDS = ("sendMessage", "sendPhoto", "sendDocument", "sendMediaGroup")

WALKERS_FIRST_ID = 100_000
LATENCY_FIRST_ID = 200_000
BUSY_FIRST_ID = 300_000
ENDERS_FIRST_ID = 400_000
MANAGERS_PER_RUN = 5_000
UPDATE_IDS_PER_RUN = 10_000_000  # below bench.datagen.FIRST_STORED_UPDATE
#: Telegram's limits the emulator enforces on a bot run as shipped (see the module docstring).
SHIPPED_PER_S = 30
SHIPPED_GROUP_PER_MIN = 20
#: Per chat: not enforced (an unreachable rate; the emulator's buckets need one).
UNLIMITED_PER_CHAT = 1e9


@dataclass(frozen=True)
class Load:
    """The size of one run's load."""

    managers: int = 20  # walk the whole checklist
    finishers: int = 3  # of them, answer the last question too
    #: The quiet open loop's length (and the busy one's least): about 1,800 samples at ours' rate,
    #: so that its p99 is not the 8th slowest of some 760 (2.5 s), which one hiccup of the machine
    #: sets, against a busy p99 over some 2,600.
    latency_seconds: float = 6.0
    latency_managers: int = 60
    walk_seconds: float | None = None  # stop the walk after this long (rate-limited runs)
    busy_enders: int = 20  # ours: checklists that end while other users' latency is measured
    busy_exports: int = 20  # ours: PDFs exported meanwhile (by the walkers)


def _driver_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class _Meter:
    """CPU, calls and time between two points of a run."""

    def __init__(self, process: BotProcess, emulator: BenchEmulator) -> None:
        self.process, self.emulator = process, emulator
        self.cpu = process.cpu_seconds()
        self.calls = emulator.api_calls()
        self.sends = sum(emulator.counts[m] for m in SENDS)
        self.polls = emulator.counts["getUpdates"]
        self.refused = emulator.refusals[429]
        self.driver = _driver_cpu()
        self.started = time.perf_counter()

    def read(self, updates: int, prefix: str) -> Metrics:
        seconds = time.perf_counter() - self.started
        cpu = self.process.cpu_seconds() - self.cpu
        calls = self.emulator.api_calls() - self.calls
        polls = self.emulator.counts["getUpdates"] - self.polls
        sends = sum(self.emulator.counts[m] for m in SENDS) - self.sends
        updates = max(updates, 1)
        return {
            f"{prefix}updates": updates,
            f"{prefix}cpu_us_per_update": 1e6 * cpu / updates,
            f"{prefix}updates_per_s": updates / seconds,
            f"{prefix}calls_per_update": calls / updates,
            f"{prefix}cpu_us_per_call": 1e6 * cpu / max(calls, 1),
            f"{prefix}polls_per_update": polls / updates,
            f"{prefix}sends_per_update": sends / updates,
            f"{prefix}sends_per_s": sends / seconds,
            f"{prefix}refused_429": self.emulator.refusals[429] - self.refused,
            f"{prefix}bot_busy": cpu / seconds,
            f"{prefix}driver_busy": (_driver_cpu() - self.driver) / seconds,
        }


async def run_bot(
    spec: BotSpec,
    size: Load,
    workdir: Path,
    *,
    database_url: str = "",
    active: tuple[ActiveUser, ...] = (),
    profile: Path | None = None,
    run: int = 0,
    timeline: Path | None = None,
    busy_samples: list[tuple[float, float]] | None = None,
) -> Metrics:
    """One run of one bot; the bot process is stopped before this returns.

    ``run`` numbers the runs that share a database (the scale runs): each gets its own
    managers and update ids above the earlier runs', as Telegram's keep growing (the bot
    ignores an update id it has already handled). ``timeline``: see bench.bots.start_bot.
    ``busy_samples``: filled with the busy open loop's samples, as (pushed at, latency).
    """
    os.makedirs(workdir, exist_ok=True)
    async with BenchEmulator() as emulator:
        emulator.last_update_id = run * UPDATE_IDS_PER_RUN
        if spec.rate_limiter:
            emulator.enforce_rate_limits(SHIPPED_PER_S, UNLIMITED_PER_CHAT, SHIPPED_GROUP_PER_MIN)
        process = start_bot(
            spec, emulator, workdir, database_url, profile=profile, timeline=timeline
        )
        async with process.running():
            metrics = await _phases(
                spec, size, process, emulator, active, profile, run, busy_samples
            )
        return metrics


async def _phases(
    spec: BotSpec,
    size: Load,
    process: BotProcess,
    emulator: BenchEmulator,
    active: tuple[ActiveUser, ...],
    profile: Path | None = None,
    run: int = 0,
    busy_samples: list[tuple[float, float]] | None = None,
) -> Metrics:
    factory = spec.protocol_factory()
    metrics: Metrics = {"startup_s": await wait_started(process, emulator)}
    metrics["rss_idle_mb"] = process.rss_mb()
    metrics["heavy_libraries_at_start"] = len(process.heavy_libraries())
    emulator.forget_history()

    # Walk: the whole checklist, closed loop (or until the time box of a rate-limited run).
    first = WALKERS_FIRST_ID + run * MANAGERS_PER_RUN
    walkers = load.managers(emulator, size.managers, first, factory)
    if profile is not None:
        process.popen.send_signal(signal.SIGUSR1)  # bench.profiled: start recording
    meter = _Meter(process, emulator)
    until = None if size.walk_seconds is None else time.perf_counter() + size.walk_seconds
    await load.walk_all(walkers, until)
    metrics |= meter.read(sum(m.updates for m in walkers), "")
    if profile is not None:
        process.popen.send_signal(signal.SIGUSR2)  # stop and write the statistics
        # Written by a signal handler: no event to await; a stat costs microseconds.
        while not os.path.exists(profile):  # noqa: ASYNC240
            process.check_alive()
            await asyncio.sleep(0.05)
        return metrics
    metrics["rss_walk_mb"] = process.rss_mb()
    emulator.forget_history()
    if size.walk_seconds is not None:
        return metrics

    # Finish: the last answer (summary and what follows), the first one alone.
    finishers = walkers[: size.finishers]
    if finishers:
        meter = _Meter(process, emulator)
        await load.finish_all(finishers[:1], emulator, timeout=120)
        alone = meter.read(1, "")
        metrics["finish_first_cpu_ms"] = alone["cpu_us_per_update"] / 1000
        metrics["finish_calls"] = alone["calls_per_update"]
        if len(finishers) > 1:
            meter = _Meter(process, emulator)
            await load.finish_all(finishers[1:], emulator, timeout=120)
            rest = meter.read(len(finishers) - 1, "")
            metrics["finish_cpu_ms"] = rest["cpu_us_per_update"] / 1000
    metrics["rss_finish_mb"] = process.rss_mb()
    metrics["heavy_libraries_after"] = len(process.heavy_libraries())
    emulator.forget_history()

    # Latency: open loop at half the walk's rate.
    if size.latency_seconds > 0:
        rate = metrics["updates_per_s"] / 2
        first = LATENCY_FIRST_ID + run * MANAGERS_PER_RUN
        group = load.managers(emulator, size.latency_managers, first, factory)
        latencies, skipped = await load.open_loop(
            group, rate, size.latency_seconds, newcomer=_newcomers(emulator, group, first, factory)
        )
        latencies.sort()
        metrics["latency_rate"] = rate
        metrics["latency_p50_ms"] = 1000 * statistics.median(latencies)
        metrics["latency_p99_ms"] = 1000 * _percentile(latencies, 0.99)
        metrics["latency_samples"] = len(latencies)
        metrics["latency_skipped"] = skipped
        await quiet(emulator, 0.2)
        emulator.forget_history()

    # Busy latency: other users' updates while checklists end and PDFs are made.
    # On SQLite only: the drawing is the same on PostgreSQL, and this phase is the longest.
    busy = size.busy_enders + size.busy_exports
    if spec.kind == OURS and spec.database == "sqlite" and size.latency_seconds > 0 and busy:
        metrics |= await _busy_latency(
            emulator, walkers, size, factory, metrics, run, busy_samples
        )
        metrics["rss_busy_mb"] = process.rss_mb()
        metrics["rss_workers_mb"] = process.descendants_rss_mb()
        metrics["heavy_libraries_after"] = len(process.heavy_libraries())
        emulator.forget_history()

    # Scale: stored users in the middle of the checklist come back and answer one question.
    if active:
        assert spec.kind == OURS
        metrics |= await _active_users(process, emulator, active)
    return metrics


async def _busy_latency(
    emulator: BenchEmulator,
    walkers: list[load.Manager],
    size: Load,
    factory: Any,
    metrics: Metrics,
    run: int,
    samples: list[tuple[float, float]] | None,
) -> Metrics:
    """Open-loop latency of other users while checklists end and PDFs are exported."""
    enders = load.managers(
        emulator, size.busy_enders, ENDERS_FIRST_ID + run * MANAGERS_PER_RUN, factory
    )
    await load.walk_all(enders)  # to their last question, unmeasured
    await quiet(emulator, 0.2)
    first = BUSY_FIRST_ID + run * MANAGERS_PER_RUN
    group = load.managers(emulator, size.latency_managers, first, factory)
    started = time.perf_counter()
    work = asyncio.ensure_future(
        asyncio.gather(
            load.finish_all(enders, emulator, timeout=300, settle=False),
            load.export_pdfs(walkers[: size.busy_exports], emulator, timeout=300),
        )
    )
    rate = metrics["updates_per_s"] / 2
    # Until every summary and PDF has arrived: a manager who reaches the last question makes
    # way for a new one, so that the loop never runs out of managers before the end.
    latencies, skipped = await load.open_loop(
        group,
        rate,
        size.latency_seconds,
        until=work,
        newcomer=_newcomers(emulator, group, first, factory),
    )
    await work
    if samples is not None:
        samples += _samples(group)
    latencies.sort()
    await quiet(emulator, 0.2)
    return {
        "busy_rate": rate,
        "busy_seconds": time.perf_counter() - started,
        "busy_p50_ms": 1000 * statistics.median(latencies),
        "busy_p99_ms": 1000 * _percentile(latencies, 0.99),
        "busy_samples": len(latencies),
        "busy_skipped": skipped,
    }


async def _active_users(
    process: BotProcess, emulator: BenchEmulator, active: tuple[ActiveUser, ...]
) -> Metrics:
    questions = real_dialogue().questions
    group = [
        load.Manager(emulator, TgUser(id=a.telegram_id, first_name="A"), load.OursProtocol())
        for a in active
    ]
    meter = _Meter(process, emulator)
    await asyncio.gather(
        *(
            m.act(load.Action(text=typed_answer(questions[a.question])))
            for m, a in zip(group, active, strict=True)
        )
    )
    metrics = meter.read(len(group), "active_")
    metrics["rss_active_mb"] = process.rss_mb()
    return metrics


def _newcomers(
    emulator: BenchEmulator, group: list[load.Manager], first: int, factory: Any
) -> Callable[[], load.Manager]:
    """New managers for an open loop, with ids after the group's (which grows with them)."""

    def newcomer() -> load.Manager:
        if len(group) >= MANAGERS_PER_RUN:
            raise load.BenchError("an open loop used up the ids of its run's managers")
        return load.managers(emulator, 1, first + len(group), factory)[0]

    return newcomer


def _samples(group: list[load.Manager]) -> list[tuple[float, float]]:
    """(pushed at, latency) of every sample of the group, in the order pushed."""
    return sorted(pair for m in group for pair in zip(m.sent, m.latencies, strict=True))


def _percentile(values: list[float], share: float) -> float:
    """The value below which ``share`` of the sorted ``values`` fall (nearest rank)."""
    if not values:
        return float("nan")
    rank = min(len(values) - 1, max(0, round(share * len(values)) - 1))
    return values[rank]


def summarise(runs: list[Metrics]) -> dict[str, Any]:
    """Per metric: the values of every run."""
    keys = sorted({key for run in runs for key in run})
    return {key: [run[key] for run in runs if key in run] for key in keys}
