"""A bot under test as a separate process: start it, read its CPU time and memory, stop it.

CPU time and resident memory come from /proc/<pid> (Linux), so each bot is measured alone,
without the emulator and the simulated managers that run in the driver process.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
#: Shared libraries whose presence in a process means a heavy import (plotting, PDF, images).
HEAVY_LIBRARIES = ("matplotlib", "PIL", "fpdf", "kiwisolver", "numpy")


class BenchError(RuntimeError):
    """A benchmark could not run as designed (a bot died, a reply never came...)."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class BotProcess:
    """One bot, started with ``command`` in ``workdir``; stop() ends it with SIGTERM."""

    def __init__(
        self,
        name: str,
        command: Sequence[str],
        env: Mapping[str, str],
        workdir: Path,
    ) -> None:
        self.name = name
        self.workdir = workdir
        self.log_path = workdir / f"{name}.log"
        full_env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("TELEGRAM_", "DATABASE_", "WEBHOOK_", "BENCH_"))
        }
        full_env.update(env)
        full_env["PYTHONPATH"] = str(ROOT)
        # An installed bot starts from byte-code compiled at install time (`pip install .`
        # compiles, the image included); with PYTHONDONTWRITEBYTECODE inherited, every start
        # here would compile bot/ from source again (about 0.1 s), which production never
        # pays. The unmeasured first start of each bot writes the byte-code (__pycache__/).
        full_env.pop("PYTHONDONTWRITEBYTECODE", None)
        self._log = self.log_path.open("wb")
        #: time.perf_counter() just before the process was spawned (start-up is timed from it).
        self.spawned_at = time.perf_counter()
        self.popen = subprocess.Popen(
            [sys.executable, *command],
            cwd=workdir,
            env=full_env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def check_alive(self) -> None:
        if not self.alive():
            raise BenchError(f"{self.name} exited with {self.popen.returncode}: {self.tail()}")

    def cpu_seconds(self) -> float:
        """CPU time (user + system) of the process so far, all its threads.

        From the scheduler's nanosecond counters of each thread (/proc/<pid>/task/*/schedstat):
        /proc/<pid>/stat counts in clock ticks (10 ms), too coarse for one update. The bots
        never end a thread before they stop (asyncio's default executor keeps its threads),
        so the sum over live threads is the whole. Falls back to /proc/<pid>/stat where
        schedstat is missing.
        """
        total = 0
        try:
            for task in os.scandir(f"/proc/{self.pid}/task"):
                try:
                    total += int(Path(task.path, "schedstat").read_text().split()[0])
                except (FileNotFoundError, ProcessLookupError):
                    continue  # the thread ended meanwhile
        except FileNotFoundError:
            total = 0
        if total:
            return total / 1e9
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS

    def rss_mb(self) -> float:
        """Resident memory now, in MiB."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        raise BenchError(f"no VmRSS for {self.name}")

    def descendants(self) -> list[int]:
        """Process ids of every child of the bot, and their children (the render workers)."""
        found: list[int] = []
        todo = [self.pid]
        while todo:
            pid = todo.pop()
            try:
                tasks = list(os.scandir(f"/proc/{pid}/task"))
            except FileNotFoundError:
                continue
            for task in tasks:
                try:
                    children = Path(task.path, "children").read_text().split()
                except (FileNotFoundError, ProcessLookupError):
                    continue
                for child in map(int, children):
                    found.append(child)
                    todo.append(child)
        return found

    def descendants_rss_mb(self) -> float:
        """Resident memory of the bot's child processes (render workers), in MiB."""
        total = 0
        for pid in self.descendants():
            try:
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
            except (FileNotFoundError, ProcessLookupError):
                continue
        return total / 1024

    def heavy_libraries(self) -> list[str]:
        """Which of HEAVY_LIBRARIES have files mapped in the process (imported, in effect)."""
        maps = Path(f"/proc/{self.pid}/maps").read_text()
        return [name for name in HEAVY_LIBRARIES if f"/{name}" in maps]

    def tail(self, lines: int = 15) -> str:
        if not self._log.closed:
            self._log.flush()
        text = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])

    async def stop(self, timeout: float = 15.0) -> int:  # noqa: ASYNC109 (then SIGKILL)
        """SIGTERM, wait for a clean exit (SIGKILL after ``timeout``); return the exit code.

        Waits without blocking the event loop: the emulator, on the same loop, must keep
        answering while the bot shuts down.
        """
        try:
            if self.alive():
                self.popen.send_signal(signal.SIGTERM)
                deadline = time.monotonic() + timeout
                # A child's exit has no asyncio event here (Popen): look every 20 ms.
                while self.alive() and time.monotonic() < deadline:  # noqa: ASYNC110
                    await asyncio.sleep(0.02)
                if self.alive():
                    self.popen.kill()
                    self.popen.wait()
            return self.popen.returncode
        finally:
            self._log.close()

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[BotProcess]:
        """The bot's run: killed at once if the block fails; else stopped, and an exit other
        than a clean one raised with the end of its log."""
        try:
            yield self
        except BaseException:
            self.kill()
            raise
        code = await self.stop()
        if code != 0:
            raise RuntimeError(f"{self.name} exited with {code}: {self.tail()}")

    def kill(self) -> None:
        """End the process at once (on an error path)."""
        if self.alive():
            self.popen.kill()
            self.popen.wait()
        self._log.close()
