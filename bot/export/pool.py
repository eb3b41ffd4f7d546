"""Charts and PDFs drawn in worker processes, so the bot process never loads matplotlib or fpdf2.

Drawing the summary's charts (about 250 ms of CPU) or a PDF (about 1 s) in a thread of the bot
would hold the GIL, and every other user's update would wait meanwhile; it would also leave
matplotlib, numpy, Pillow and fpdf2 mapped in the bot for good (+70 MB). `RenderPool` sends the
gathered `ReportContent` (a plain, picklable value) to a small pool of processes instead:

* started on the first render, not before (start-up stays light);
* a worker that dies (killed, out of memory) is replaced and the render tried once more;
* drawings wait their turn (one per worker at a time, first come first served, but the charts
  a user waits for in the chat, after their summary, go before files); one that takes
  longer than `timeout` seconds once a worker has it is given up: its worker is killed (a new
  one starts with the next drawing) and `RenderFailed` tells the handler, which apologises to
  the user; the conversation goes on.

Each worker is a new interpreter (`python -m bot.export.worker`, bot/export/worker.py):
nothing of the bot's state (sockets, the database connection, threads) is copied into it. The
bot talks to it over a socket pair from the event loop (pickled requests and answers), not
through concurrent.futures' process pool, whose machinery (multiprocessing, a thread feeding
the workers and one reading their answers, each allocating in a malloc arena of its own)
stayed in the bot's memory once started: with it, the bot's RSS after the benchmark's
summaries and PDFs was 0.85 MiB higher (`bench.update_cost`, 4 alternated pairs), and each
worker's 10 MiB higher. The workers take only the CPU the bot leaves: they run at
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
import pickle
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any, TypeVar

from bot.errors import AllianceBotError
from bot.export.worker import HEADER, RESULT

if TYPE_CHECKING:
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
        self._idle: list[_Worker] = []  # started, and drawing nothing
        self._busy: set[_Worker] = set()
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
        """The process ids of the running workers (starting them if needed), once each has
        started (lowered its priority)."""

        async def pid() -> int:
            async with self._turns.turn(soon=True):
                return await self._draw(worker_pid)

        return set(await asyncio.gather(*(pid() for _ in range(self.workers))))

    def close(self) -> None:
        """Stop the workers (a render asked for later starts them again)."""
        workers = [*self._idle, *self._busy]
        self._idle.clear()
        self._busy.clear()
        for worker in workers:
            worker.close()

    async def _run(self, function: Callable[..., T], *args: Any, soon: bool = False) -> T:
        """`soon`: someone waits for it in the chat; it goes before the files waiting."""
        async with self._turns.turn(soon):  # the time-out counts from here: waiting is not drawing
            return await self._draw(function, *args)

    async def _draw(self, function: Callable[..., T], *args: Any) -> T:
        for attempt in (1, 2):
            worker = self._idle.pop() if self._idle else _Worker()
            self._busy.add(worker)
            try:
                raised, outcome = await asyncio.wait_for(worker.call(function, args), self.timeout)
            except _WorkerGone:
                worker.kill()
                logger.warning("render worker died (%s, attempt %s)", function.__name__, attempt)
                continue
            except TimeoutError:
                worker.kill()
                logger.error(
                    "render %s took longer than %.1f s: worker stopped",
                    function.__name__,
                    self.timeout,
                )
                raise RenderFailed(
                    f"{function.__name__} took longer than {self.timeout} s"
                ) from None
            except BaseException:  # cancelled mid-exchange: its answer would come unasked
                worker.kill()
                raise
            finally:
                self._busy.discard(worker)
            self._idle.append(worker)
            if raised:
                raise outcome
            result: T = outcome
            return result
        raise RenderFailed(f"{function.__name__}: the render worker died twice")


class _WorkerGone(Exception):
    """The worker process ended (killed, out of memory) before it answered."""


class _Worker:
    """One worker process and the bot's end of its socket pair (see bot/export/worker.py)."""

    def __init__(self) -> None:
        ours, theirs = socket.socketpair()
        # The bot's import path (an installed package, or the source tree it runs from).
        path = os.pathsep.join(entry or os.getcwd() for entry in sys.path)
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "bot.export.worker", str(theirs.fileno())],
                pass_fds=(theirs.fileno(),),
                stdin=subprocess.DEVNULL,
                env={**os.environ, "PYTHONPATH": path},
            )
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        ours.setblocking(False)
        self.connection = ours

    @property
    def pid(self) -> int:
        return self.process.pid

    async def call(self, function: Callable[..., Any], args: tuple[Any, ...]) -> tuple[bool, Any]:
        """`function(*args)` in the worker: (False, its result), or (True, the exception it
        raised).

        Raises:
            _WorkerGone: the process ended before it answered.
        """
        loop = asyncio.get_running_loop()
        request = pickle.dumps((function, args), pickle.HIGHEST_PROTOCOL)
        try:
            await loop.sock_sendall(self.connection, len(request).to_bytes(HEADER, "little"))
            await loop.sock_sendall(self.connection, request)
            del request
            header = await self._read(loop, 1 + HEADER)
            answer = await self._read(loop, int.from_bytes(header[1:], "little"))
        except OSError as exc:  # a broken pipe, a connection reset
            raise _WorkerGone from exc
        outcome = pickle.loads(answer)
        del answer
        return header[:1] != RESULT, outcome

    async def _read(self, loop: asyncio.AbstractEventLoop, size: int) -> bytearray:
        buffer = bytearray(size)
        view = memoryview(buffer)
        got = 0
        while got < size:
            count = await loop.sock_recv_into(self.connection, view[got:])
            if count == 0:
                raise _WorkerGone
            got += count
        return buffer

    def kill(self) -> None:
        """End the process at once."""
        self.connection.close()
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()

    def close(self, timeout: float = 10.0) -> None:
        """Let the process end once its drawing, if any, is done (killed after `timeout`)."""
        self.connection.close()  # it reads the end of its requests
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()


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
