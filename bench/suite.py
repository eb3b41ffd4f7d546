"""The whole benchmark: rounds in which every bot runs once (A B C A B C ...), then tables.

A round runs, one after the other, each its own process: the echo bot, the ConversationHandler
bot, ours on SQLite, ours on PostgreSQL, then as shipped, time-boxed, against Telegram's limits:
the ConversationHandler bot with PTB's AIORateLimiter, ours on SQLite and on PostgreSQL
(`python -m bot.cli run`, its own rate limiter on); then ours on the 100,000-conversation
database, the reminder delivery, the exports, and the three Bot API transports. Figures are the
median of the rounds with their min and max, and ratios of medians.
"""

from __future__ import annotations

import asyncio
import functools
import json
import math
import operator
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench import report
from bench.bots import ECHO, OURS, USUAL, BotSpec, start_bot, wait_started
from bench.checklist import plan, updates_per_manager
from bench.databases import pg_available, pg_schema
from bench.emulator import BenchEmulator
from bench.procs import ROOT
from bench.reminders import GLOBAL_PER_S, run_reminders
from bench.scale import scale_database
from bench.transport import KINDS, run_transports
from bench.update_cost import Load, run_bot

SQLITE = "sqlite"
POSTGRES = "postgres"
SCALE = "ours-sqlite-scale"
LIMITED = "ours-sqlite-limited"
LIMITED_PG = "ours-postgres-limited"
USUAL_LIMITED = "usual-limited"


@dataclass(frozen=True)
class Settings:
    """Sizes of one benchmark; ``quick()`` is the smoke run."""

    runs: int = 3
    load: Load = field(default_factory=Load)
    limited_seconds: float = 6.0
    #: Managers of the as-shipped runs: enough to reach Telegram's 30 messages/s overall.
    limited_managers: int = 60
    postgres: bool = True
    scale_stored: int = 100_000
    scale_active: int = 1_000
    reminders: int = 2_000
    reminder_users: int = 500
    export_repeats: int = 2
    warm_up: bool = True
    transport_calls: int = 1_000
    only: tuple[str, ...] = ("update", "scale", "reminders", "export", "transport")

    @classmethod
    def quick(cls) -> Settings:
        return cls(
            runs=1,
            load=Load(
                managers=3,
                finishers=2,
                latency_seconds=1.0,
                latency_managers=10,
                busy_enders=2,
                busy_exports=2,
            ),
            limited_seconds=2.0,
            limited_managers=3,
            scale_stored=2_000,
            scale_active=50,
            reminders=90,
            reminder_users=45,
            export_repeats=1,
            warm_up=False,
            transport_calls=100,
        )


Results = dict[str, list[dict[str, Any]]]


class Suite:
    """Runs the rounds and keeps every run's figures, by configuration name."""

    def __init__(self, settings: Settings, workdir: Path, log: Callable[[str], None]) -> None:
        self.settings = settings
        self.workdir = workdir
        self.log = log
        self.results: Results = {}
        self.notes: list[str] = []
        self.scale_info: dict[str, Any] = {}

    def record(self, name: str, metrics: dict[str, Any]) -> None:
        self.results.setdefault(name, []).append(metrics)

    async def run(self) -> Results:
        s = self.settings
        postgres = s.postgres and pg_available()
        if s.postgres and not postgres:
            self.notes.append("PostgreSQL not reachable: its runs were skipped.")
        scale_db = self.workdir / "scale.sqlite3"
        generated = None
        if "scale" in s.only:
            started = time.perf_counter()
            generated, cached = scale_database(
                scale_db, stored=s.scale_stored, active=s.scale_active, runs=s.runs
            )
            self.scale_info = {
                "stored": generated.stored,
                "answers": generated.answers,
                "active": s.scale_active,
                "prepared_s": time.perf_counter() - started,
                "from_cache": cached,
            }
            self.log(
                f"scale database: {generated.stored} conversations, {generated.answers} answers"
                f" ({'cache' if cached else 'generated'}, {self.scale_info['prepared_s']:.1f} s)"
            )
        if s.warm_up:
            await self.warm_up(postgres)
        for number in range(s.runs):
            self.log(f"round {number + 1}/{s.runs}")
            if "update" in s.only:
                for spec in (BotSpec(ECHO), BotSpec(USUAL), BotSpec(OURS, SQLITE)):
                    await self.update_run(spec, number)
                if postgres:
                    await self.update_run(BotSpec(OURS, POSTGRES), number)
                # As shipped, against Telegram's limits: the usual way with AIORateLimiter...
                await self.update_run(BotSpec(USUAL, rate_limiter=True), number)
                # ... and ours with its own rate limiter.
                await self.update_run(BotSpec(OURS, SQLITE, rate_limiter=True), number)
                if postgres:
                    await self.update_run(BotSpec(OURS, POSTGRES, rate_limiter=True), number)
            if generated is not None:
                if "update" not in s.only:  # the empty database the scale run is compared with
                    await self.update_run(BotSpec(OURS, SQLITE), number)
                await self.update_run(
                    BotSpec(OURS, SQLITE), number, scale=(scale_db, generated.active[number])
                )
            if "reminders" in s.only:
                await self.reminder_run(number)
            if "export" in s.only:
                self.export_run(number)
            if "transport" in s.only:
                await self.transport_run()
        return self.results

    async def transport_run(self) -> None:
        started = time.perf_counter()
        for kind, metrics in (await run_transports(self.settings.transport_calls)).items():
            self.record(f"transport-{kind}", metrics)
        self.log(f"  {'transports':<22} ({time.perf_counter() - started:.1f} s)")

    async def warm_up(self, postgres: bool) -> None:
        """Start each bot once, unmeasured: byte-code compiled, files in the page cache."""
        for spec in (BotSpec(ECHO), BotSpec(USUAL), BotSpec(OURS, SQLITE)):
            folder = self.workdir / "warm-up" / spec.name
            folder.mkdir(parents=True, exist_ok=True)
            async with BenchEmulator() as emulator:
                process = start_bot(spec, emulator, folder, f"sqlite:///{folder}/bot.sqlite3")
                try:
                    await wait_started(process, emulator)
                finally:
                    await process.stop()

    async def update_run(
        self,
        spec: BotSpec,
        number: int,
        *,
        scale: tuple[Path, Any] | None = None,
    ) -> None:
        s = self.settings
        name = SCALE if scale else spec.name
        folder = self.workdir / f"{name}-{number}"
        size = s.load
        if spec.rate_limiter:
            size = Load(managers=s.limited_managers, walk_seconds=s.limited_seconds)
        elif scale:
            size = Load(managers=s.load.managers, finishers=0, latency_seconds=0)
        started = time.perf_counter()
        if spec.database == POSTGRES:
            with pg_schema() as url:
                metrics = await run_bot(spec, size, folder, database_url=url)
        else:
            database = scale[0] if scale else folder / "bot.sqlite3"
            metrics = await run_bot(
                spec,
                size,
                folder,
                database_url=f"sqlite:///{database}",
                active=scale[1] if scale else (),
                run=number if scale else 0,
            )
        self.record(name, metrics)
        refused = f" {metrics['refused_429']:.0f} x 429" if spec.rate_limiter else ""
        self.log(
            f"  {name:<22} {metrics['cpu_us_per_update']:7.0f} µs CPU/update"
            f" {metrics['updates_per_s']:6.0f} updates/s{refused}"
            f"  ({time.perf_counter() - started:.1f} s)"
        )

    async def reminder_run(self, number: int) -> None:
        s = self.settings
        folder = self.workdir / f"reminders-{number}"
        started = time.perf_counter()
        metrics = await run_reminders(
            s.reminders, s.reminder_users, folder, f"sqlite:///{folder}/reminders.sqlite3"
        )
        self.record("reminders", metrics)
        self.log(
            f"  {'reminders':<22} {metrics['messages_per_s']:.1f} msg/s,"
            f" {metrics['refused_429']:.0f} x 429, {metrics['missing']:.0f} missing,"
            f" {metrics['duplicates']:.0f} duplicates  ({time.perf_counter() - started:.1f} s)"
        )

    def export_run(self, number: int) -> None:
        folder = self.workdir / f"export-{number}"
        folder.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        output = subprocess.run(
            [
                sys.executable,
                "-m",
                "bench.export_worker",
                str(folder / "export.sqlite3"),
                str(self.settings.export_repeats),
            ],
            cwd=folder,
            env={**_clean_env(), "PYTHONPATH": str(ROOT)},
            capture_output=True,
            text=True,
            check=True,
            timeout=300,
        )
        metrics = json.loads(output.stdout)
        self.record("export", metrics)
        self.log(f"  {'exports':<22} ({time.perf_counter() - started:.1f} s)")


def _clean_env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "DATABASE_"))}


# ---- tables ------------------------------------------------------------------------------


def _values(results: Results, name: str, key: str) -> list[float]:
    return [float(run[key]) for run in results.get(name, []) if key in run]


def render(suite: Suite, settings: Settings, elapsed: float, command: str) -> str:
    """Every table, as Markdown."""
    r = suite.results
    v = lambda name, key: _values(r, name, key)  # noqa: E731
    spread, ratio, fmt = report.spread, report.ratio, report.fmt
    walk_updates, _ = updates_per_manager()
    out: list[str] = []
    out.append(f"Command: `{command}` — {settings.runs} run(s) per figure, {elapsed:.0f} s.\n")
    out.append(report.table(["", ""], list(report.machine().items())))
    out.append(
        f"\nLoad: {settings.load.managers} managers per run walk the checklist from /start to"
        f" its last question ({len(plan())} questions, {walk_updates} updates each), then"
        f" {settings.load.finishers} of them answer the last one; the echo bot gets the same"
        " number of plain messages. Figures: median (min–max) over the runs; ratios: ours /"
        " baseline, of the medians."
    )
    configs = [
        ECHO,
        USUAL,
        f"{OURS}-{SQLITE}",
        f"{OURS}-{POSTGRES}",
        USUAL_LIMITED,
        LIMITED,
        LIMITED_PG,
        SCALE,
    ]
    configs = [c for c in configs if c in r]
    labels = {
        ECHO: "echo bot",
        USUAL: "ConversationHandler bot",
        f"{OURS}-{SQLITE}": "ours, SQLite",
        f"{OURS}-{POSTGRES}": "ours, PostgreSQL",
        USUAL_LIMITED: "ConversationHandler bot, as shipped (AIORateLimiter)",
        LIMITED: "ours, SQLite, as shipped (rate limiter on)",
        LIMITED_PG: "ours, PostgreSQL, as shipped (rate limiter on)",
        SCALE: f"ours, SQLite, {report.fmt(suite.scale_info.get('stored', 0), 0)} stored",
    }

    def base(key: str, name: str) -> list[str]:
        values = v(name, key)
        return [ratio(values, v(ECHO, key)), ratio(values, v(USUAL, key))]

    if any(c in r for c in configs):
        out.append("\n### 1. Update cost (walk, closed loop)\n")
        rows = []
        for c in configs:
            cpu = v(c, "cpu_us_per_update")
            rows.append(
                [
                    labels[c],
                    spread(cpu),
                    *base("cpu_us_per_update", c),
                    spread(v(c, "updates_per_s")),
                    fmt(1e6 / report.median(cpu)) if cpu else "–",
                    spread(v(c, "calls_per_update"), 2),
                    spread(v(c, "cpu_us_per_call")),
                    ratio(v(c, "cpu_us_per_call"), v(ECHO, "cpu_us_per_call")),
                    spread(v(c, "polls_per_update"), 2),
                ]
            )
        out.append(
            report.table(
                [
                    "bot",
                    "CPU µs/update",
                    "x echo",
                    "x usual",
                    "updates/s",
                    "updates/s per core (1/CPU)",
                    "API calls/update",
                    "CPU µs/API call",
                    "call x echo",
                    "getUpdates/update",
                ],
                rows,
            )
        )
        shipped_rows = [
            [
                labels[c],
                spread(v(c, "cpu_us_per_update")),
                ratio(v(c, "cpu_us_per_update"), v(USUAL_LIMITED, "cpu_us_per_update")),
                ratio(v(c, "cpu_us_per_update"), v(USUAL, "cpu_us_per_update")),
                spread(v(c, "updates_per_s")),
                ratio(v(c, "updates_per_s"), v(USUAL_LIMITED, "updates_per_s")),
                ratio(v(c, "updates_per_s"), v(USUAL, "updates_per_s")),
                spread(v(c, "sends_per_update"), 2),
                spread(v(c, "sends_per_s")),
                fmt(max(v(c, "refused_429")), 0) if v(c, "refused_429") else "–",
            ]
            for c in (USUAL_LIMITED, LIMITED, LIMITED_PG)
            if c in r
        ]
        if shipped_rows:
            out.append(
                f"\nAs shipped, side by side: {settings.limited_managers} new managers for"
                f" {fmt(settings.limited_seconds, 0)} s, the emulator refusing (429) beyond"
                ' 30 messages a second; "usual" is the ConversationHandler bot as shipped'
                ' (AIORateLimiter), "unpaced" the one of the rows above (no rate limiter):\n'
            )
            out.append(
                report.table(
                    [
                        "bot",
                        "CPU µs/update",
                        "x usual",
                        "x unpaced",
                        "updates/s",
                        "x usual",
                        "x unpaced",
                        "messages sent/update",
                        "messages/s",
                        "429 received (max)",
                    ],
                    shipped_rows,
                )
            )
        out.append("\nThe checklist's end (the last answer: summary, charts, reminder offers):\n")
        rows = [
            [
                labels[c],
                spread(v(c, "finish_first_cpu_ms")),
                spread(v(c, "finish_cpu_ms")),
                spread(v(c, "finish_calls"), 1),
            ]
            for c in configs
            if v(c, "finish_first_cpu_ms")
        ]
        out.append(
            report.table(
                ["bot", "first after start: CPU ms", "next ones: CPU ms", "API calls"], rows
            )
        )
        out.append("\n### 2. Latency at half the walk's rate (open loop)\n")
        rows = [
            [
                labels[c],
                spread(v(c, "latency_rate")),
                spread(v(c, "latency_p50_ms")),
                ratio(v(c, "latency_p50_ms"), v(ECHO, "latency_p50_ms")),
                spread(v(c, "latency_p99_ms")),
                ratio(v(c, "latency_p99_ms"), v(ECHO, "latency_p99_ms")),
                ratio(v(c, "latency_p99_ms"), v(USUAL, "latency_p99_ms")),
                fmt(sum(v(c, "latency_samples")), 0),
            ]
            for c in configs
            if v(c, "latency_p50_ms")
        ]
        out.append(
            report.table(
                ["bot", "updates/s", "p50 ms", "x echo", "p99 ms", "x echo", "x usual", "samples"],
                rows,
            )
        )
        rows = [
            [
                labels[c],
                spread(v(c, "busy_rate")),
                fmt(report.median(v(c, "busy_seconds")), 1),
                spread(v(c, "busy_p50_ms")),
                spread(v(c, "busy_p99_ms")),
                spread(v(c, "latency_p99_ms")),
                ratio(v(c, "busy_p99_ms"), v(c, "latency_p99_ms")),
                fmt(sum(v(c, "busy_samples")), 0),
            ]
            for c in configs
            if v(c, "busy_p99_ms")
        ]
        if rows:
            load_size = settings.load
            out.append(
                f"\nThe same open loop, other new managers, while {load_size.busy_enders}"
                f" checklists end (summary, charts) and {load_size.busy_exports} PDFs are"
                " exported:\n"
            )
            out.append(
                report.table(
                    [
                        "bot",
                        "updates/s",
                        "busy for, s",
                        "p50 ms",
                        "p99 ms",
                        "p99 of the quiet loop above, ms",
                        "x quiet p99",
                        "samples",
                    ],
                    rows,
                )
            )
    if SCALE in r:
        info = suite.scale_info
        out.append("\n### 3. Scale in stored data\n")
        out.append(
            f"{info['stored']:,} stored conversations ({info['answers']:,} answers, one processed"
            f" update per answer, 30% finished); each run, {info['active']:,} other stored"
            " managers, in the middle of their checklist, answer one typed question (after"
            " the walk)."
        )
        empty = f"{OURS}-{SQLITE}"
        rows = [
            [
                "walk: CPU µs/update",
                spread(v(empty, "cpu_us_per_update")),
                spread(v(SCALE, "cpu_us_per_update")),
                ratio(v(SCALE, "cpu_us_per_update"), v(empty, "cpu_us_per_update")),
            ],
            [
                "walk: updates/s",
                spread(v(empty, "updates_per_s")),
                spread(v(SCALE, "updates_per_s")),
                ratio(v(SCALE, "updates_per_s"), v(empty, "updates_per_s")),
            ],
            [
                "start-up s",
                spread(v(empty, "startup_s"), 2),
                spread(v(SCALE, "startup_s"), 2),
                ratio(v(SCALE, "startup_s"), v(empty, "startup_s")),
            ],
            [
                f"{info['active']} returning managers: CPU µs/update",
                "–",
                spread(v(SCALE, "active_cpu_us_per_update")),
                ratio(v(SCALE, "active_cpu_us_per_update"), v(empty, "cpu_us_per_update")),
            ],
        ]
        out.append(report.table(["", "empty database", "scale database", "ratio"], rows))
    if configs:
        out.append("\nResident memory (MiB), ratio to the idle echo bot:\n")
        echo_idle = v(ECHO, "rss_idle_mb")
        rows = []
        for c in configs:
            row = [labels[c]]
            for key in ("rss_idle_mb", "rss_walk_mb", "rss_finish_mb", "rss_busy_mb"):
                values = v(c, key)
                row.append(f"{spread(values)} = {ratio(values, echo_idle)}" if values else "–")
            workers = v(c, "rss_workers_mb")
            row.append(spread(workers) if workers else "–")
            values = v(c, "rss_active_mb")
            row.append(f"{spread(values)} = {ratio(values, echo_idle)}" if values else "–")
            rows.append(row)
        out.append(
            report.table(
                [
                    "bot",
                    "idle",
                    "after the walk",
                    "after the ends (charts)",
                    "after 20 more ends and 20 PDFs",
                    "its render workers, apart",
                    f"after {suite.scale_info.get('active', 0)} returns",
                ],
                rows,
            )
        )
    if "reminders" in r:
        n = settings.reminders
        out.append(
            f"\n### 4. Reminder throughput ({n} due reminders for {settings.reminder_users}"
            f" managers; emulator: {GLOBAL_PER_S} messages/s, 1/s per chat)\n"
        )
        name = "reminders"
        rows = [
            [
                "messages/s",
                spread(v(name, "messages_per_s"), 2),
                ratio(v(name, "messages_per_s"), [float(GLOBAL_PER_S)]) + " of the limit",
            ],
            ["429 received", spread(v(name, "refused_429"), 0), "aim: 0"],
            ["delivered", spread(v(name, "delivered"), 0), f"of {n}"],
            ["sent twice", spread(v(name, "duplicates"), 0), "aim: 0"],
            ["still pending after", spread(v(name, "still_pending"), 0), "aim: 0"],
            ["shortest gap in one chat, s", spread(v(name, "min_chat_gap_s"), 2), "limit: 1 s"],
            ["first sent, s after spawn", spread(v(name, "first_send_after_start_s"), 2), ""],
            [
                "CPU ms per reminder",
                spread(v(name, "cpu_ms_per_reminder"), 2),
                ratio(
                    v(name, "cpu_ms_per_reminder"), [x / 1000 for x in v(ECHO, "cpu_us_per_call")]
                )
                + " of an echo call",
            ],
        ]
        out.append(report.table(["", "value", "ratio / note"], rows))
    if configs:
        out.append("\n### 5. Start-up (spawn to first getUpdates)\n")
        rows = [
            [
                labels[c],
                spread(v(c, "startup_s"), 2),
                ratio(v(c, "startup_s"), v(ECHO, "startup_s")),
                ratio(v(c, "startup_s"), v(USUAL, "startup_s")),
                spread(v(c, "heavy_libraries_at_start"), 0),
            ]
            for c in configs
        ]
        out.append(
            report.table(
                ["bot", "seconds", "x echo", "x usual", "heavy libraries loaded (plot/PDF)"],
                rows,
            )
        )
    if "export" in r:
        out.append("\n### 6. Export of a finished checklist (ms)\n")
        echo_ms = report.median(v(ECHO, "cpu_us_per_update")) / 1000 if ECHO in r else 0
        rows = []
        for fmt_name in r["export"][0]:
            warm = [x for run in r["export"] for x in run[fmt_name]["warm_ms"]]
            cold = [run[fmt_name]["cold_ms"] for run in r["export"]]
            size = r["export"][0][fmt_name]["bytes"]
            equivalent = fmt(report.median(warm) / echo_ms, 0) if echo_ms else "–"
            rows.append([fmt_name, spread(warm), spread(cold), equivalent, f"{size:,}"])
        out.append(
            report.table(
                ["format", "warm", "first after start", "echo updates' worth", "bytes"], rows
            )
        )
    if any(f"transport-{kind}" in r for kind in KINDS):
        out.append(
            f"\n### 7. Bot API transport ({settings.transport_calls} sendMessage calls through"
            " PTB's Bot, one after the other, client process CPU)\n"
        )
        httpx_cpu = v("transport-httpx", "cpu_us_per_call")
        rows = [
            [
                kind,
                spread(v(f"transport-{kind}", "cpu_us_per_call")),
                ratio(v(f"transport-{kind}", "cpu_us_per_call"), httpx_cpu),
                spread(v(f"transport-{kind}", "wall_us_per_call")),
            ]
            for kind in KINDS
            if f"transport-{kind}" in r
        ]
        out.append(report.table(["transport", "CPU µs/call", "x httpx", "wall µs/call"], rows))
    out.append("\n### As shipped: the figures the bot's users meet\n")
    out.append(report.table(["figure", "measured", "target", "verdict"], shipped(suite)))
    out.append("\n### Targets\n")
    out.append(report.table(["target", "measured", "verdict"], targets(suite)))
    if suite.notes:
        out.append("\n" + "\n".join(f"- {note}" for note in suite.notes))
    return "\n".join(out) + "\n"


def targets(suite: Suite) -> list[list[str]]:
    r = suite.results
    v = lambda name, key: _values(r, name, key)  # noqa: E731
    rows: list[list[str]] = []

    def verdict(ok: bool, aim: bool | None = None) -> str:
        if not ok:
            return "missed"
        return "met" if aim is None or aim else "met (aim missed)"

    for c in (f"{OURS}-{SQLITE}", f"{OURS}-{POSTGRES}"):
        if c in r and USUAL in r:
            x = report.ratio_value(v(c, "cpu_us_per_update"), v(USUAL, "cpu_us_per_update"))
            rows.append(
                [
                    f"{c}: CPU/update ≤ 1.0x usual (aim 0.75x)",
                    f"{x:.2f}x",
                    verdict(x <= 1, x <= 0.75),
                ]
            )
        if c in r and ECHO in r:
            x = report.ratio_value(v(c, "cpu_us_per_call"), v(ECHO, "cpu_us_per_call"))
            rows.append([f"{c}: CPU/API call ≤ 1.1x echo", f"{x:.2f}x", verdict(x <= 1.1)])
    if SCALE in r:
        base = f"{OURS}-{SQLITE}"
        x = report.ratio_value(v(SCALE, "cpu_us_per_update"), v(base, "cpu_us_per_update"))
        rows.append(
            ["scale: CPU/update does not grow (≤ 1.1x empty)", f"{x:.2f}x", verdict(x <= 1.1)]
        )
    if ECHO in r:
        echo = v(ECHO, "rss_idle_mb")
        for c, key, what in (
            (f"{OURS}-{SQLITE}", "rss_idle_mb", "idle"),
            (f"{OURS}-{SQLITE}", "rss_finish_mb", "after summaries"),
            (SCALE, "rss_active_mb", f"{suite.scale_info.get('active', 0)} returning users"),
        ):
            if c in r:
                x = report.ratio_value(v(c, key), echo)
                rows.append([f"RSS {what} ≤ 1.3x idle echo (aim)", f"{x:.2f}x", verdict(x <= 1.3)])
    if "reminders" in r:
        rate = report.median(v("reminders", "messages_per_s"))
        rows.append(["reminders ≥ 28 messages/s (aim)", f"{rate:.2f}", verdict(rate >= 28)])
        refused = max(v("reminders", "refused_429"))
        rows.append(["reminders: 0 x 429 (aim)", f"{refused:.0f} (max)", verdict(refused == 0)])
        once = max(v("reminders", "duplicates")) == 0 and max(v("reminders", "missing")) == 0
        rows.append(["reminders: all delivered once", "yes" if once else "no", verdict(once)])
    for c in (f"{OURS}-{SQLITE}",):
        if c in r:
            heavy = max(v(c, "heavy_libraries_at_start"))
            rows.append(
                ["start-up: no plotting/PDF import", f"{heavy:.0f} loaded", verdict(heavy == 0)]
            )
    return rows


def shipped(suite: Suite) -> list[list[str]]:
    """The performance targets, each measured on what production runs."""
    r = suite.results
    v = lambda name, key: _values(r, name, key)  # noqa: E731
    rows: list[list[str]] = []

    def row(
        figure: str,
        value: float | None,
        target: str,
        ok: Callable[[float], bool] | None,
        unit: str = "x",
    ) -> None:
        if value is None or math.isnan(value):
            return  # not measured in this run
        verdict = "–" if ok is None else "met" if ok(value) else "missed"
        rows.append([figure, f"{value:.2f}{unit}", target, verdict])

    def rel(name: str, key: str, base: str, base_key: str | None = None) -> float | None:
        if name not in r or base not in r:
            return None
        return report.ratio_value(v(name, key), v(base, base_key or key))

    x = rel(LIMITED, "updates_per_s", USUAL_LIMITED)
    row(
        "updates/s, closed loop, as shipped vs ConversationHandler bot as shipped"
        " (AIORateLimiter)",
        x,
        "≥ 0.9x",
        lambda x: x >= 0.9,
    )
    x = rel(LIMITED, "updates_per_s", USUAL)
    row(
        "updates/s, closed loop, as shipped vs ConversationHandler bot unpaced (no rate limiter)",
        x,
        "≥ 0.9x",
        lambda x: x >= 0.9,
    )
    for name, what, goal in ((LIMITED, "SQLite", 0.80), (LIMITED_PG, "PostgreSQL", 0.90)):
        x = rel(name, "cpu_us_per_update", USUAL_LIMITED)
        row(
            f"CPU/update as shipped, {what}, vs ConversationHandler bot as shipped"
            " (AIORateLimiter)",
            x,
            f"≤ {goal:.2f}x",
            functools.partial(operator.ge, goal),
        )
        x = rel(name, "cpu_us_per_update", USUAL)
        row(
            f"CPU/update as shipped, {what}, vs ConversationHandler bot unpaced (no rate limiter)",
            x,
            f"≤ {goal:.2f}x",
            functools.partial(operator.ge, goal),
        )
    for name, who in (
        (LIMITED, "ours, SQLite"),
        (LIMITED_PG, "ours, PostgreSQL"),
        (USUAL_LIMITED, "ConversationHandler bot (AIORateLimiter)"),
    ):
        refused = max(v(name, "refused_429")) if v(name, "refused_429") else None
        target, ok = ("0", lambda x: x == 0) if name != USUAL_LIMITED else ("reported", None)
        row(f"as shipped: 429s received, {who} (max over runs)", refused, target, ok, "")
    for name, what, goal in (
        (f"{OURS}-{SQLITE}", "SQLite", 0.80),
        (f"{OURS}-{POSTGRES}", "PostgreSQL", 0.90),
    ):
        x = rel(name, "cpu_us_per_update", USUAL)
        row(
            f"CPU/update, unpaced walk, {what}, vs ConversationHandler bot",
            x,
            f"≤ {goal:.2f}x",
            functools.partial(operator.ge, goal),
        )
    for name in (f"{OURS}-{SQLITE}", f"{OURS}-{POSTGRES}"):
        x = rel(name, "busy_p99_ms", name, "latency_p99_ms")
        row(
            f"{name}: p99 of other users while 20 end and 20 PDFs, vs quiet p99",
            x,
            "≤ 1.5x",
            lambda x: x <= 1.5,
        )
    x = rel(f"{OURS}-{SQLITE}", "rss_busy_mb", ECHO, "rss_idle_mb")
    row(
        "RSS of the bot after summaries and PDFs vs idle echo bot (SQLite)",
        x,
        "≤ 1.4x",
        lambda x: x <= 1.4,
    )
    if f"{OURS}-{SQLITE}" in r:
        workers = (
            report.median(v(f"{OURS}-{SQLITE}", "rss_workers_mb"))
            if v(f"{OURS}-{SQLITE}", "rss_workers_mb")
            else None
        )
        row("its render workers' RSS, apart (MiB)", workers, "reported", None, " MiB")
    x = rel(LIMITED, "startup_s", ECHO)
    row("start-up as shipped vs echo bot", x, "≤ 1.5x", lambda x: x <= 1.5)
    if "reminders" in r:
        rate = report.median(v("reminders", "messages_per_s"))
        row("reminders/s at Telegram's caps, as shipped", rate, "≥ 28", lambda x: x >= 28, "")
        refused = max(v("reminders", "refused_429"))
        row("reminders: 429s (max over runs)", refused, "0", lambda x: x == 0, "")
        twice = max(v("reminders", "duplicates"))
        row("reminders: sent twice (max over runs)", twice, "0", lambda x: x == 0, "")
    x = rel("transport-streams", "cpu_us_per_call", "transport-httpx")
    row("transport: the bot's (streams) CPU/call vs httpx", x, "lower", lambda x: x < 1)
    x = rel("transport-streams", "cpu_us_per_call", "transport-aiohttp")
    row("transport: the bot's (streams) CPU/call vs aiohttp", x, "lower", lambda x: x < 1)
    return rows


def save(suite: Suite, markdown: str, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    (folder / f"{stamp}.json").write_text(
        json.dumps(
            {
                "settings": asdict(suite.settings),
                "scale": suite.scale_info,
                "results": suite.results,
                "notes": suite.notes,
            },
            indent=1,
            default=str,
        )
    )
    path = folder / f"{stamp}.md"
    path.write_text(markdown)
    shutil.copyfile(path, folder / "latest.md")
    return path


def new_workdir() -> Path:
    return Path(tempfile.mkdtemp(prefix="alliance-bench-"))


def run_suite(settings: Settings, log: Callable[[str], None]) -> tuple[Suite, float]:
    workdir = new_workdir()
    suite = Suite(settings, workdir, log)
    started = time.perf_counter()
    try:
        asyncio.run(suite.run())
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return suite, time.perf_counter() - started
