"""``python -m bench profile``: where an update's CPU goes, ours next to the usual way.

Each bot walks the checklist as in benchmark 1, once without a profiler (the CPU per update),
once under cProfile limited to the walk (bench/profiled.py, main thread CPU time). The
profile's shares, by package, are then scaled to the unprofiled CPU per update, which gives
an estimate in µs per update of what each part costs. Built-in functions (C code such as
sqlite3's execute or a socket send) count for the package that called them. cProfile makes
many small Python calls look dearer than they are: read the shares, not the µs, to the digit.
"""

from __future__ import annotations

import asyncio
import pstats
import shutil
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any

from bench import report
from bench.bots import ECHO, OURS, USUAL, BotSpec
from bench.procs import ROOT
from bench.update_cost import Load, run_bot

OURS_DIR = str(ROOT / "bot")
# Path fragment -> category, first match wins.
CATEGORIES = (
    (f"{OURS_DIR}/storage/", "ours: storage (Python side)"),
    (f"{OURS_DIR}/dialogue/", "ours: dialogue core"),
    (f"{OURS_DIR}/reminders/", "ours: reminders"),
    (f"{OURS_DIR}/telegram/transport.py", "HTTP client (ours: bot/telegram/transport.py)"),
    (f"{OURS_DIR}/telegram/", "ours: handlers and rendering"),
    (f"{OURS_DIR}/conversations.py", "ours: conversations service"),
    (f"{OURS_DIR}/", "ours: other"),
    (str(ROOT / "bench" / "baselines"), "baseline's own code"),
    ("/telegram/ext/", "PTB: application, handlers, updater"),
    ("/telegram/request/", "PTB: request layer"),
    ("/telegram/", "PTB: Bot API objects and calls"),
    ("/httpx/", "HTTP client (httpx, httpcore, h11, anyio)"),
    ("/httpcore/", "HTTP client (httpx, httpcore, h11, anyio)"),
    ("/h11/", "HTTP client (httpx, httpcore, h11, anyio)"),
    ("/anyio/", "HTTP client (httpx, httpcore, h11, anyio)"),
    ("/sniffio/", "HTTP client (httpx, httpcore, h11, anyio)"),
    ("/psycopg/", "PostgreSQL driver (psycopg)"),
    ("/sqlalchemy/", "SQLAlchemy Core"),
    ("/transitions/", "transitions"),
    ("/asyncio/", "asyncio event loop"),
    ("selectors.py", "asyncio event loop"),
    ("/json/", "json"),
    ("/logging/", "logging"),
    ("/aiolimiter/", "AIORateLimiter"),
    ("/apscheduler/", "JobQueue (APScheduler)"),
)
BUILTIN_CATEGORIES = (
    ("sqlite3", "SQLite engine (C)"),
    ("socket", "sockets (kernel)"),
    ("epoll", "asyncio event loop"),
)


def category(func: tuple[str, int, str]) -> str | None:
    """The category of a profiled function; None for built-ins (they go to their callers)."""
    filename, _, name = func
    if filename == "~":
        for fragment, label in BUILTIN_CATEGORIES:
            if fragment in name:
                return label
        return None
    for fragment, label in CATEGORIES:
        if fragment in filename:
            return label
    return "other Python (stdlib, libraries)"


def shares(path: Path) -> dict[str, float]:
    """Share of the profiled CPU per category (built-ins charged to their callers)."""
    raw: Any = pstats.Stats(str(path))
    stats = raw.stats  # func -> (cc, nc, tt, ct, callers)
    totals: dict[str, float] = defaultdict(float)
    for func, (_, _, tottime, _, callers) in stats.items():
        label = category(func)
        if label is not None:
            totals[label] += tottime
            continue
        charged = sum(entry[2] for entry in callers.values()) or 1.0
        for caller, entry in callers.items():
            caller_label = category(caller) or "other Python (stdlib, libraries)"
            totals[caller_label] += tottime * entry[2] / charged
        if not callers:
            totals["other Python (stdlib, libraries)"] += tottime
    whole = sum(totals.values()) or 1.0
    return {label: value / whole for label, value in totals.items()}


def top_functions(path: Path, fragment: str, count: int) -> list[tuple[str, float, float]]:
    """Our functions with the most cumulative CPU: (name, cumulative share, own share)."""
    raw: Any = pstats.Stats(str(path))
    stats = raw.stats
    whole = sum(entry[2] for entry in stats.values()) or 1.0
    ours = [
        (f"{Path(func[0]).name}:{func[2]}", entry[3] / whole, entry[2] / whole)
        for func, entry in stats.items()
        if fragment in func[0]
    ]
    ours.sort(key=lambda item: -item[1])
    return ours[:count]


async def _profile(managers: int, folder: Path) -> dict[str, Any]:
    size = Load(managers=managers, finishers=0, latency_seconds=0)
    found: dict[str, Any] = {}
    for spec in (BotSpec(ECHO), BotSpec(USUAL), BotSpec(OURS, "sqlite")):
        plain = await run_bot(
            spec, size, folder / f"{spec.name}-plain", database_url=_db(folder, spec, "plain")
        )
        path = folder / f"{spec.name}.prof"
        await run_bot(
            spec,
            size,
            folder / f"{spec.name}-profiled",
            database_url=_db(folder, spec, "profiled"),
            profile=path,
        )
        found[spec.name] = {"cpu_us": plain["cpu_us_per_update"], "profile": path}
    return found


def _db(folder: Path, spec: BotSpec, tag: str) -> str:
    return f"sqlite:///{folder / f'{spec.name}-{tag}.sqlite3'}"


def main(managers: int, out: Path) -> int:
    folder = Path(tempfile.mkdtemp(prefix="alliance-profile-"))
    try:
        found = asyncio.run(_profile(managers, folder))
        out.mkdir(parents=True, exist_ok=True)
        for name, entry in found.items():
            shutil.copyfile(entry["profile"], out / f"profile-{name}.prof")
        print(render(found, managers))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return 0


def render(found: dict[str, Any], managers: int) -> str:
    names = list(found)
    split = {name: shares(found[name]["profile"]) for name in names}
    labels = sorted(
        {label for s in split.values() for label in s},
        key=lambda label: -max(split[name].get(label, 0) for name in names),
    )
    lines = [
        f"CPU per update by part ({managers} managers; µs = profile share x unprofiled CPU):\n"
    ]
    rows = []
    for label in labels:
        row: list[str] = [label]
        for name in names:
            share = split[name].get(label, 0.0)
            row.append(f"{report.fmt(share * found[name]['cpu_us'], 0)} ({share:.0%})")
        rows.append(row)
    rows.append(["total (unprofiled)", *(report.fmt(found[n]["cpu_us"], 0) for n in names)])
    lines.append(report.table(["part", *names], rows))
    ours = f"{OURS}-sqlite"
    if ours in found:
        lines.append(f"\nOur functions by cumulative CPU ({ours}, share of the profiled walk):\n")
        rows = [
            [name, f"{cumulative:.1%}", f"{own:.1%}"]
            for name, cumulative, own in top_functions(found[ours]["profile"], OURS_DIR, 25)
        ]
        lines.append(report.table(["function", "cumulative", "own"], rows))
    return "\n".join(lines) + "\n"
