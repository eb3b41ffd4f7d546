"""Figures into tables: medians with min and max over the runs, and ratios to the baselines."""

from __future__ import annotations

import math
import os
import platform
import statistics
import subprocess
import sys
from collections.abc import Sequence
from typing import Any


def machine() -> dict[str, str]:
    """What the figures were measured on."""
    import sqlite3

    import telegram

    model = "unknown"
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    memory = ""
    try:
        with open("/proc/meminfo") as meminfo:
            memory = f"{int(meminfo.readline().split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    info = {
        "cpus (nproc)": str(os.cpu_count()),
        "cpu model": model,
        "memory": memory,
        "kernel": platform.release(),
        "python": sys.version.split()[0],
        "python-telegram-bot": telegram.__version__,
        "sqlite": sqlite3.sqlite_version,
    }
    try:
        import psycopg

        from bench.databases import PG_URL

        with psycopg.connect(PG_URL, connect_timeout=3) as conn:
            row = conn.execute("SHOW server_version").fetchone()
            info["postgresql"] = str(row[0]) if row else "?"
    except Exception:
        info["postgresql"] = "not reachable"
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    try:
        info["git commit"] = _git(root, "rev-parse", "--short", "HEAD")
        changed = _git(root, "status", "--porcelain", "--", "bot", "dialogues").splitlines()
        if changed:
            info["git commit"] += f" + uncommitted changes in {len(changed)} bot/dialogue files"
    except OSError:
        pass
    return info


def _git(root: str, *args: str) -> str:
    return subprocess.run(
        ["git", *args], capture_output=True, text=True, check=False, cwd=root
    ).stdout.strip()


def median(values: Sequence[float]) -> float:
    clean = [v for v in values if not math.isnan(v)]
    return statistics.median(clean) if clean else float("nan")


def fmt(value: float, digits: int | None = None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, float) and math.isinf(value):
        return "∞"
    if digits is None:
        magnitude = abs(value)
        digits = 0 if magnitude >= 100 else 1 if magnitude >= 10 else 2 if magnitude >= 1 else 3
    return f"{value:,.{digits}f}".replace(",", " ")


def spread(values: Sequence[float], digits: int | None = None) -> str:
    """ "median (min–max)", or the value alone for a single run."""
    clean = [v for v in values if not math.isnan(v)]
    if not clean:
        return "–"
    if len(clean) == 1:
        return fmt(clean[0], digits)
    return f"{fmt(median(clean), digits)} ({fmt(min(clean), digits)}–{fmt(max(clean), digits)})"


def ratio(values: Sequence[float], base: Sequence[float]) -> str:
    top, bottom = median(values), median(base)
    if math.isnan(top) or math.isnan(bottom) or bottom == 0:
        return "–"
    return f"{top / bottom:.2f}x"


def ratio_value(values: Sequence[float], base: Sequence[float]) -> float:
    top, bottom = median(values), median(base)
    if math.isnan(top) or math.isnan(bottom) or bottom == 0:
        return float("nan")
    return top / bottom


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A Markdown table."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)
