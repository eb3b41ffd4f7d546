"""Charts and PDFs drawn in worker processes, so the bot process never loads matplotlib or fpdf2.

Drawing the summary's charts (about 250 ms of CPU) or a PDF (about 1 s) in a thread of the bot
would hold the GIL, and every other user's update would wait meanwhile; it would also leave
matplotlib, numpy, Pillow and fpdf2 mapped in the bot for good (+70 MB). `RenderPool` sends the
gathered `ReportContent` (a plain, picklable value) to a small pool of processes instead:

* started on the first render, not before (start-up stays light);
* a worker that dies (killed, out of memory) is replaced and the render tried once more;
* drawings wait their turn (one per worker at a time, first come first served, but the charts
  a user waits for in the chat, after their summary, go before files); one that takes
  longer than `timeout` seconds once a worker has it is given up: the pool's processes are
  killed (a new pool starts with the next drawing) and `RenderFailed` tells the handler, which
  apologises to the user; the conversation goes on.

Processes are started with "spawn": nothing of the bot's state (sockets, the database
connection, threads) is copied into them. They take only the CPU the bot leaves: they run at
the lowest priority (nice 19, and SCHED_IDLE on Linux: see `lower_priority`), and there are
as many as the machine has cores but one (at least one, at most four; `RENDER_WORKERS` says
otherwise), so that a burst of drawings leaves a core to the bot's updates.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import heapq
import itertools
import logging
import os
from collections.abc import AsyncIterator, Callable
from concurrent.futures import BrokenExecutor
from typing import TYPE_CHECKING, Any, TypeVar

from bot.errors import AllianceBotError

if TYPE_CHECKING:
    from concurrent.futures import ProcessPoolExecutor

    from bot.export.content import ReportContent
    from bot.export.divergence import DivergenceContent

logger = logging.getLogger(__name__)

T = TypeVar("T")

MAX_DEFAULT_WORKERS = 4
DEFAULT_TIMEOUT = 60.0  # seconds: a PDF takes about 1 s, 2 s the first time in a worker


class RenderFailed(AllianceBotError):
    """A chart or a document could not be drawn in time (or its worker kept dying)."""


# ---- what runs in a worker ------------------------------------------------------------------


def draw_charts(content: ReportContent) -> list[tuple[bytes, str]]:
    """The summary's charts as (PNG, caption); in a worker process."""
    from bot.export.pictures import summary_pictures

    return summary_pictures(content)


def draw_report(fmt: str, content: ReportContent, now: dt.datetime) -> bytes:
    """One report format (a PDF, in practice); in a worker process."""
    from bot.export import render

    return render(fmt, content, now=now)


def draw_divergence_chart(content: DivergenceContent) -> tuple[bytes, str] | None:
    """The two-polygon radar of the divergence report, with its caption; in a worker process."""
    from bot.export.divergence import divergence_picture

    return divergence_picture(content)


def draw_divergence_report(fmt: str, content: DivergenceContent, now: dt.datetime) -> bytes:
    """The divergence report ("pdf" or "md"), the partner-safe export included; in a worker."""
    from bot.export.divergence import render_divergence_file

    return render_divergence_file(fmt, content, now=now)


def default_workers() -> int:
    """The cores this process may run on but one, from 1 to `MAX_DEFAULT_WORKERS`."""
    try:
        cores = len(os.sched_getaffinity(0))  # a container's or taskset's share
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(MAX_DEFAULT_WORKERS, cores - 1))


def lower_priority() -> None:
    """Run in each worker as it starts: drawings yield the CPU to the bot's updates.

    Nice 19, and on Linux the SCHED_IDLE policy. At nice 19 alone, the bot woken by an update
    (a new update, Telegram's answer to a reply) may wait for the drawing's time
    slice when both share a core, and the scheduler counts the drawing's core as busy when it
    places the bot: under a burst of summaries and PDFs, other users' next questions waited
    meanwhile (the benchmark's busy p99, runs alternated on a shared 2-core machine: lower
    with SCHED_IDLE in 6 pairs of 8, the median about half). A SCHED_IDLE process is set
    aside at once by any other that wakes, and its core counts as free. It still gets the
    CPU nothing else wants (its weight is a fifth of nice 19's): a drawing misses its
    time-out only if other work keeps every core full for a minute, as at nice 19."""
    os.setpriority(os.PRIO_PROCESS, 0, 19)
    if hasattr(os, "SCHED_IDLE"):
        with contextlib.suppress(OSError):
            os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))


def worker_pid() -> int:
    """The worker's process id (tests and benchmarks look at the worker from outside)."""
    return os.getpid()


# ---- the bot's side -------------------------------------------------------------------------


class RenderPool:
    """A lazily started pool of `workers` processes; see the module docstring."""

    def __init__(self, *, workers: int | None = None, timeout: float = DEFAULT_TIMEOUT) -> None:
        """`workers`: how many processes draw at once (None: `default_workers()`)."""
        if workers is None:
            workers = default_workers()
        if workers < 1 or timeout <= 0:
            raise ValueError("a render pool needs a worker and a positive time-out")
        self.workers = workers
        self.timeout = timeout
        self._executor: ProcessPoolExecutor | None = None
        self._turns = _Turns(workers)  # one drawing per worker at a time

    async def charts(self, content: ReportContent) -> list[tuple[bytes, str]]:
        """The summary's charts with their captions.

        Raises:
            RenderFailed: not drawn within the time-out, or the worker died twice.
        """
        return await self._run(draw_charts, content, soon=True)

    async def report(self, fmt: str, content: ReportContent, *, now: dt.datetime) -> bytes:
        """A report file ("pdf", "md" or "ics").

        Raises:
            RenderFailed: not drawn within the time-out, or the worker died twice.
        """
        return await self._run(draw_report, fmt, content, now)

    async def divergence_chart(self, content: DivergenceContent) -> tuple[bytes, str] | None:
        """The radar of both sides' views with its caption (None: fewer than three dimensions
        both rated that the reader may see).

        Raises:
            RenderFailed: not drawn within the time-out, or the worker died twice.
        """
        return await self._run(draw_divergence_chart, content, soon=True)

    async def divergence_report(
        self, fmt: str, content: DivergenceContent, *, now: dt.datetime
    ) -> bytes:
        """The divergence report as a file ("pdf" or "md"): the reader's copy, or the
        partner-safe export when `content` holds `comparison.view(SHARED)`.

        Raises:
            RenderFailed: not drawn within the time-out, or the worker died twice.
        """
        return await self._run(draw_divergence_report, fmt, content, now)

    async def pids(self) -> set[int]:
        """The process ids of the running workers (starting the pool if needed)."""
        executor = self._running()
        futures = [executor.submit(worker_pid) for _ in range(self.workers * 4)]
        return set(await asyncio.gather(*(asyncio.wrap_future(f) for f in futures)))

    def close(self) -> None:
        """Stop the workers (a render asked for later starts them again)."""
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None

    async def _run(self, function: Callable[..., T], *args: Any, soon: bool = False) -> T:
        """`soon`: someone waits for it in the chat; it goes before the files waiting."""
        async with self._turns.turn(soon):  # the time-out counts from here: waiting is not drawing
            return await self._draw(function, *args)

    async def _draw(self, function: Callable[..., T], *args: Any) -> T:
        for attempt in (1, 2):
            executor = self._running()
            try:
                future = asyncio.wrap_future(executor.submit(function, *args))
                return await asyncio.wait_for(future, self.timeout)
            except BrokenExecutor:  # the pool's BrokenProcessPool: a worker died
                self._discard(executor)
                logger.warning("render worker died (%s, attempt %s)", function.__name__, attempt)
            except TimeoutError:
                self._discard(executor, kill=True)
                logger.error(
                    "render %s took longer than %.1f s: workers stopped",
                    function.__name__,
                    self.timeout,
                )
                raise RenderFailed(
                    f"{function.__name__} took longer than {self.timeout} s"
                ) from None
        raise RenderFailed(f"{function.__name__}: the render worker died twice")

    def _running(self) -> ProcessPoolExecutor:
        if self._executor is None:
            # multiprocessing's machinery is loaded with the first drawing (start-up and an
            # idle bot do without it: about 0.8 MiB).
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor

            self._executor = ProcessPoolExecutor(
                max_workers=self.workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=lower_priority,
            )
        return self._executor

    def _discard(self, executor: ProcessPoolExecutor, *, kill: bool = False) -> None:
        """Forget a broken or stuck pool; the next render starts a new one."""
        if self._executor is executor:
            self._executor = None
        if kill:
            processes: dict[int, Any] = getattr(executor, "_processes", None) or {}
            for process in list(processes.values()):
                process.kill()
        executor.shutdown(wait=False, cancel_futures=True)


class _Turns:
    """One drawing per worker at a time; among those waiting, those marked `soon` first, then
    in the order they came."""

    def __init__(self, slots: int) -> None:
        self._free = slots
        self._waiting: list[tuple[int, int, asyncio.Future[None]]] = []
        self._arrivals = itertools.count()

    @contextlib.asynccontextmanager
    async def turn(self, soon: bool) -> AsyncIterator[None]:
        if self._free > 0 and not self._waiting:
            self._free -= 1
        else:
            called: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            heapq.heappush(self._waiting, (0 if soon else 1, next(self._arrivals), called))
            try:
                await called
            except asyncio.CancelledError:
                if called.done() and not called.cancelled():
                    self._hand_over()  # given the turn just as it was cancelled: pass it on
                raise  # else it stays in the heap, cancelled, and is passed over
        try:
            yield
        finally:
            self._hand_over()

    def _hand_over(self) -> None:
        while self._waiting:
            _, _, called = heapq.heappop(self._waiting)
            if not called.done():
                called.set_result(None)
                return
        self._free += 1
