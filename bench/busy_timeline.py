"""Where the busy latency's slow samples come from: one run, the busy phase cut in slices.

``python -m bench.busy_timeline [RUNS]``: ours on SQLite, the load of benchmark 1 and its
busy phase (other users' updates while 20 checklists end and 20 PDFs are exported), the bot
recording its event loop (bench/timeline.py). For each quarter of a second of the busy phase
it prints, beside the driver's samples pushed then (how many, how many slower than 1.5 times
the quiet p99): the bot's low-priority work (the ends, the PDFs) and its other callbacks over
1 ms, in ms of the event loop; the getUpdates answered and the updates they brought; the
longest wait for a getUpdates (from an answer to the next ask, while the updates in hand
were handled). A slice whose slow samples come with no low-priority work and long waits for
getUpdates points at the poller's cycle; one with much low-priority work, at the turns. About
40 s a run. The timeline costs the bot a little CPU (a clock read around each callback): read
the slices against each other, and take the figures of record from `make bench`.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import arguments
from bench.bots import OURS, BotSpec
from bench.update_cost import Load, run_bot

SLICE = 0.25  # seconds
#: A sample is slow above this many times the quiet loop's p99 (the target's bound).
SLOW_FACTOR = 1.5


@dataclass
class Slice:
    """A quarter of a second of the busy phase."""

    start: float  # seconds since the busy phase's first push
    samples: int = 0
    slow: int = 0
    low_priority_ms: float = 0.0
    other_callbacks_ms: float = 0.0  # over 1 ms, not low-priority
    polls: int = 0
    polled_updates: int = 0
    longest_poll_wait_ms: float = 0.0


async def measure(load: Load, folder: Path) -> tuple[dict[str, float], list[Slice]]:
    """One run: its figures, and the busy phase in slices."""
    timeline = folder / "timeline.json"
    busy: list[tuple[float, float]] = []
    metrics = await run_bot(
        BotSpec(OURS, "sqlite"),
        load,
        folder,
        database_url=f"sqlite:///{folder}/bot.sqlite3",
        timeline=timeline,
        busy_samples=busy,
    )
    recorded = json.loads(timeline.read_text())
    slow = SLOW_FACTOR * metrics["latency_p99_ms"] / 1000
    return metrics, slices(busy, recorded, slow)


def slices(busy: list[tuple[float, float]], recorded: dict[str, Any], slow: float) -> list[Slice]:
    """The busy phase's samples and the bot's timeline, slice by slice."""
    if not busy:
        return []
    start = busy[0][0]
    end = max(pushed + latency for pushed, latency in busy)
    cut = [Slice(i * SLICE) for i in range(int((end - start) / SLICE) + 1)]

    def at(moment: float) -> Slice | None:
        index = int((moment - start) / SLICE)
        return cut[index] if 0 <= index < len(cut) else None

    for pushed, latency in busy:
        part = at(pushed)
        if part is not None:
            part.samples += 1
            part.slow += latency > slow
    for began, seconds, low in recorded["callbacks"]:
        part = at(began)
        if part is not None:
            if low:
                part.low_priority_ms += 1000 * seconds
            else:
                part.other_callbacks_ms += 1000 * seconds
    previous_answer = None
    for asked, answered, count in recorded["polls"]:
        part = at(answered)
        if part is not None:
            part.polls += 1
            part.polled_updates += count
            if previous_answer is not None:
                wait = 1000 * (asked - previous_answer)
                part.longest_poll_wait_ms = max(part.longest_poll_wait_ms, wait)
        previous_answer = answered
    return cut


def table(metrics: dict[str, float], cut: list[Slice]) -> str:
    quiet, busy = metrics["latency_p99_ms"], metrics["busy_p99_ms"]
    lines = [
        f"quiet p99 {quiet:.1f} ms, busy p99 {busy:.1f} ms ({busy / quiet:.2f}x); slow: over "
        f"{SLOW_FACTOR * quiet:.1f} ms",
        "| from, s | samples | slow | low-priority work, ms | other callbacks over 1 ms, ms "
        "| getUpdates | updates | longest wait for getUpdates, ms |",
        "|---|---|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {s.start:.2f} | {s.samples} | {s.slow} | {s.low_priority_ms:.1f} "
        f"| {s.other_callbacks_ms:.1f} | {s.polls} | {s.polled_updates} "
        f"| {s.longest_poll_wait_ms:.1f} |"
        for s in cut
    ]
    return "\n".join(lines)


async def report(runs: int) -> None:
    for run in range(runs):
        folder = Path(tempfile.mkdtemp(prefix="alliance-busy-"))
        try:
            metrics, cut = await measure(Load(), folder)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        print(f"run {run + 1}/{runs}: " + table(metrics, cut) + "\n", flush=True)


def main(argv: list[str]) -> int:
    parser = arguments.parser("bench.busy_timeline", __doc__)
    parser.add_argument(
        "runs",
        nargs="?",
        type=arguments.count,
        default=1,
        help="new bots, one after the other (1)",
    )
    asyncio.run(report(parser.parse_args(argv).runs))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
