"""The benchmarks still run: every entry point of bench/ on a tiny load, numbers well formed.

No timing is asserted here (benchmarks measure, tests check behaviour): only that each bot
starts, answers the simulated managers, stops cleanly, and that every figure is a finite,
non-negative number in the tables. The runs go in parallel to keep the test short.
"""

import asyncio
import json
import math
import subprocess
import sys

import pytest

from bench import busy_timeline, profile, report
from bench.__main__ import build_parser, settings_from
from bench.bots import ECHO, OURS, USUAL, BotSpec
from bench.burst import burst
from bench.checklist import plan, updates_per_manager
from bench.databases import pg_available, pg_schema
from bench.datagen import generate_postgres, generate_sqlite
from bench.procs import ROOT, BotProcess
from bench.reminders import run_reminders
from bench.suite import LIMITED, SCALE, USUAL_LIMITED, Settings, Suite, render, shipped, targets
from bench.transport import run_transports
from bench.update_cost import Load, run_bot

TINY = Load(
    managers=1, finishers=1, latency_seconds=0.3, latency_managers=3, busy_enders=1, busy_exports=1
)
#: As shipped: a time box, the emulator holding Telegram's limits.
TINY_SHIPPED = Load(managers=3, walk_seconds=1.0)


def well_formed(metrics):
    assert metrics
    for key, value in metrics.items():
        assert isinstance(value, int | float), key
        assert math.isfinite(value), key
        assert value >= 0, key


def test_the_walk_covers_the_checklist():
    questions = plan()
    assert len(questions) == len({q.id for q in questions})
    assert len(questions) >= 40
    walk, finish = updates_per_manager()
    assert walk > len(questions)
    assert finish == 1


async def test_every_entry_point_on_a_tiny_load(tmp_path):
    scale_db = tmp_path / "scale.sqlite3"
    generated = generate_sqlite(str(scale_db), stored=40, active=3, runs=1)
    assert generated.stored == 40
    assert len(generated.active[0]) == 3

    async def ours_postgres():
        with pg_schema("smoke") as url:
            stored = generate_postgres(url, stored=20, active=2, runs=1)
            return await run_bot(
                BotSpec(OURS, "postgres"),
                TINY,
                tmp_path / "pg",
                database_url=url,
                active=stored.active[0],
            )

    async def exports():
        worker = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bench.export_worker",
            str(tmp_path / "export.sqlite3"),
            "0",  # the first (cold) call of each export only
            cwd=ROOT,
            stdout=asyncio.subprocess.PIPE,
        )
        out, _ = await worker.communicate()
        assert worker.returncode == 0
        return json.loads(out)

    jobs = {
        ECHO: run_bot(BotSpec(ECHO), TINY, tmp_path / "echo"),
        USUAL: run_bot(BotSpec(USUAL), TINY, tmp_path / "usual"),
        SCALE: run_bot(
            BotSpec(OURS, "sqlite"),
            TINY,
            tmp_path / "ours",
            database_url=f"sqlite:///{scale_db}",
            active=generated.active[0],
        ),
        "reminders": run_reminders(4, 2, tmp_path / "rem", f"sqlite:///{tmp_path / 'r.sqlite3'}"),
        "export": exports(),
        "profiled": run_bot(BotSpec(ECHO), TINY, tmp_path / "prof", profile=tmp_path / "e.prof"),
        USUAL_LIMITED: run_bot(
            BotSpec(USUAL, rate_limiter=True), TINY_SHIPPED, tmp_path / "usual-limited"
        ),
        LIMITED: run_bot(
            BotSpec(OURS, "sqlite", rate_limiter=True),
            TINY_SHIPPED,
            tmp_path / "ours-limited",
            database_url=f"sqlite:///{tmp_path / 'limited.sqlite3'}",
        ),
        "transport": run_transports(20),
        "burst": burst(3),
        "timeline": busy_timeline.measure(TINY, tmp_path / "timeline"),
    }
    if pg_available():
        jobs[f"{OURS}-postgres"] = ours_postgres()
    done = dict(zip(jobs, await asyncio.gather(*jobs.values()), strict=True))

    walk, _ = updates_per_manager()
    for name in (ECHO, USUAL, SCALE):
        metrics = done[name]
        well_formed(metrics)
        assert metrics["updates"] == walk, name
        assert metrics["latency_samples"] > 0, name
        assert metrics["heavy_libraries_at_start"] == 0, name
    assert done[ECHO]["calls_per_update"] == 1
    assert done[SCALE]["active_updates"] == 3
    if f"{OURS}-postgres" in done:
        well_formed(done[f"{OURS}-postgres"])
        assert done[f"{OURS}-postgres"]["active_updates"] == 2
    assert done[SCALE]["finish_calls"] > 3  # summary, charts, reminder offers
    # Other users' latency while a checklist ends and a PDF is made; the render workers apart.
    assert done[SCALE]["busy_samples"] > 0
    assert done[SCALE]["rss_workers_mb"] > 0
    assert done[SCALE]["heavy_libraries_after"] == 0  # drawn in the workers, not in the bot
    # Both bots as shipped: paced under Telegram's limits, no 429 at this size.
    for name in (USUAL_LIMITED, LIMITED):
        well_formed(done[name])
        assert done[name]["updates"] >= 3, name
        assert done[name]["sends_per_update"] > 0, name
        assert done[name]["refused_429"] == 0, name
    # Many new managers at once: both bursts measured, every manager answered.
    bursts = done.pop("burst")
    well_formed(bursts)
    assert {key.split("_", 1)[0] for key in bursts} == {"start", "answer"}
    assert bursts["start_last_reply_ms"] > 0
    assert bursts["answer_cpu_us_per_update"] > 0
    # The busy phase in slices, beside the bot's own timeline: every busy sample in a slice,
    # the end of the checklist and the PDF among the low-priority work, the polls counted.
    timed, cut = done.pop("timeline")
    well_formed(timed)
    assert sum(part.samples for part in cut) == timed["busy_samples"]
    assert sum(part.low_priority_ms for part in cut) > 0
    assert sum(part.polled_updates for part in cut) >= timed["busy_samples"]
    assert len(busy_timeline.table(timed, cut).splitlines()) == 3 + len(cut)
    transports = done.pop("transport")
    assert set(transports) == {"httpx", "aiohttp", "streams"}
    for figures in transports.values():
        well_formed(figures)
    reminders = done["reminders"]
    well_formed(reminders)
    assert reminders["delivered"] == 4
    assert reminders["duplicates"] == reminders["missing"] == reminders["still_pending"] == 0
    export = done["export"]
    assert set(export) == {"json", "md", "ics", "pdf", "charts"}
    for figures in export.values():
        assert figures["bytes"] > 0
        assert all(
            math.isfinite(ms) and ms >= 0 for ms in [figures["cold_ms"], *figures["warm_ms"]]
        )

    # The profile of a walk is read and split by package.
    well_formed(done.pop("profiled"))
    found = {ECHO: {"cpu_us": done[ECHO]["cpu_us_per_update"], "profile": tmp_path / "e.prof"}}
    assert sum(profile.shares(tmp_path / "e.prof").values()) == pytest.approx(1)
    assert "HTTP client" in profile.render(found, managers=1)

    # The tables are built from these runs without a gap or an error.
    suite = Suite(Settings.quick(), tmp_path, log=lambda line: None)
    suite.scale_info = {"stored": 40, "answers": generated.answers, "active": 3}
    for kind, figures in transports.items():
        suite.record(f"transport-{kind}", figures)
    for name, metrics in done.items():
        suite.record(f"{OURS}-sqlite" if name == SCALE else name, metrics)
        if name == SCALE:
            suite.record(SCALE, metrics)
    markdown = render(suite, Settings.quick(), elapsed=1.0, command="python -m bench --quick")
    assert "as shipped (AIORateLimiter)" in markdown
    for title in (
        "As shipped, side by side",
        "Update cost",
        "Latency",
        "while",
        "Scale",
        "Reminder",
        "Start-up",
        "Export",
        "transport",
        "As shipped",
        "Targets",
    ):
        assert title in markdown
    assert "nan" not in markdown.lower()
    assert all(row[1] not in ("nanx", "") for row in targets(suite))
    assert all("nan" not in row[1] for row in shipped(suite))


#: A stand-in bot: says it is ready, then waits; SIGTERM makes it exit with the code given.
STAND_IN = (
    "import signal, sys, time\n"
    "signal.signal(signal.SIGTERM, lambda *_: sys.exit({code}))\n"
    "print('ready', flush=True)\n"
    "time.sleep(60)\n"
)


async def started(process):
    while "ready" not in process.tail():
        process.check_alive()
        await asyncio.sleep(0.02)


async def test_a_bot_that_ends_badly_fails_its_run(tmp_path):
    process = BotProcess("stand-in", ["-c", STAND_IN.format(code=3)], {}, tmp_path)
    with pytest.raises(RuntimeError, match="stand-in exited with 3"):
        async with process.running():
            await started(process)


async def test_a_run_that_fails_kills_its_bot(tmp_path):
    process = BotProcess("stand-in", ["-c", STAND_IN.format(code=0)], {}, tmp_path)

    async def failing_run():
        async with process.running():
            await started(process)
            raise ValueError("the load failed")

    with pytest.raises(ValueError, match="the load failed"):
        await failing_run()
    assert not process.alive()
    assert process.popen.returncode == -9  # killed, not asked to stop


async def test_a_bot_that_stops_cleanly_ends_its_run(tmp_path):
    process = BotProcess("stand-in", ["-c", STAND_IN.format(code=0)], {}, tmp_path)
    async with process.running():
        await started(process)
    assert process.popen.returncode == 0


@pytest.mark.parametrize(
    ("values", "expected"), [([3.0, 1.0, 2.0], "2.00 (1.00–3.00)"), ([5.0], "5.00")]
)
def test_spread_reads_median_min_max(values, expected):
    assert report.spread(values) == expected


def test_command_line_settings():
    quick = settings_from(build_parser().parse_args(["--quick", "--only", "update,export"]))
    assert quick.runs == 1
    assert quick.only == ("update", "export")
    full = settings_from(build_parser().parse_args(["--managers", "300", "--no-postgres"]))
    assert full.runs >= 3
    assert full.load.managers == 300
    assert not full.postgres


@pytest.mark.parametrize(
    ("tool", "argv", "error"),
    [
        ("bench.busy_timeline", ["abc"], "argument runs: not a whole number: 'abc'"),
        ("bench.burst", ["200", "0"], "argument rounds: must be at least 1, not 0"),
        ("bench.end_cost", ["many"], "argument managers: not a whole number: 'many'"),
        ("bench.storage_walk", [], "the following arguments are required: database_url"),
    ],
)
def test_a_mistyped_tool_argument_gets_usage_not_a_traceback(tool, argv, error):
    done = subprocess.run(
        [sys.executable, "-m", tool, *argv], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert done.stderr.startswith(f"usage: python -m {tool} [-h]")
    assert done.stderr.rstrip().endswith(f"python -m {tool}: error: {error}")
    assert "Traceback" not in done.stderr
    assert done.stdout == ""
