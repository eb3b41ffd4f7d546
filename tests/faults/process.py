"""The real bot as a child process: `python -m bot.cli run [--webhook]`, aimed at the emulator.

The fault tests need what an in-process application cannot give: a process that dies on
`kill -9` with nothing flushed or cleaned up, and one that receives a real SIGTERM. The child
reads its whole configuration from the environment (no `.env`: it runs in an empty working
directory), logs to a file the test reads afterwards, and is stopped by its pid only.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import socket
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp

from bot.config import ENV_VARS
from tests.support.emulator import BotApiEmulator

REPO = Path(__file__).resolve().parents[2]
STARTUP_TIMEOUT = 30.0  # seconds: imports, migrations and post_init on a loaded machine
CLEAN_STOP = "stopped cleanly"


def free_port() -> int:
    """A TCP port nobody uses right now, for a child to listen on (again after each restart).

    Taken below the kernel's ephemeral range (32768 and up): a port the kernel handed out for
    an outgoing connection could be in use by one when a restarted child binds it again.
    """
    rng = random.SystemRandom()
    for _ in range(200):
        port = rng.randrange(20_000, 32_000)
        with socket.socket() as sock:
            try:
                sock.bind(("0.0.0.0", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port between 20000 and 32000")


def bot_environment(
    emulator: BotApiEmulator, database_url: str, **settings: str | int | float
) -> dict[str, str]:
    """The child's environment: ours without any bot setting, then the bot's settings.

    `settings` are environment variable names and values (`WEBHOOK_PORT=8443`...).
    """
    env = {name: value for name, value in os.environ.items() if name not in ENV_VARS}
    env["PYTHONPATH"] = os.pathsep.join(
        part for part in (str(REPO), env.get("PYTHONPATH", "")) if part
    )
    env["PTB_TIMEDELTA"] = "true"
    env.update(
        TELEGRAM_BOT_TOKEN=emulator.token,
        DATABASE_URL=database_url,
        TELEGRAM_API_BASE_URL=emulator.base_url,
        TELEGRAM_API_BASE_FILE_URL=emulator.base_file_url,
        HEALTH_PORT=str(free_port()),
        LOG_LEVEL="INFO",
    )
    env.update({name: str(value) for name, value in settings.items()})
    return env


class BotProcess:
    """One run of the bot; `start()` it, then `kill()` it or `terminate()` it.

    Args:
        env: the child's whole environment (see `bot_environment`).
        workdir: its working directory; its log goes to `workdir/bot-<n>.log`.
        webhook: run `run --webhook` (the environment must then hold WEBHOOK_URL, WEBHOOK_SECRET,
            WEBHOOK_LISTEN and WEBHOOK_PORT) instead of polling.
        name: shown in failure messages and the log file name.
    """

    def __init__(
        self, env: dict[str, str], workdir: Path, *, webhook: bool = False, name: str = "bot"
    ) -> None:
        self.env = env
        self.workdir = workdir
        self.webhook = webhook
        self.name = name
        self.proc: asyncio.subprocess.Process | None = None
        self.log_path = workdir / f"{name}.log"
        self.started_at = 0.0
        self.ready_after = 0.0  # seconds from spawn to ready (polling, or webhook server up)
        self._log: Any = None

    @property
    def pid(self) -> int:
        assert self.proc is not None, "not started"
        return self.proc.pid

    @property
    def returncode(self) -> int | None:
        return None if self.proc is None else self.proc.returncode

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.returncode is None

    def log(self) -> str:
        """Everything the child wrote so far (stdout and stderr)."""
        if not self.log_path.exists():
            return ""
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log().splitlines()[-lines:])

    async def start(self, emulator: BotApiEmulator) -> None:
        """Spawn the child and return once it serves: polling (a getUpdates reached the
        emulator) or, in webhook mode, its /healthz answers 200 and the webhook is set."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        mark = emulator.mark()
        self._log = self.log_path.open("ab")
        command = [
            sys.executable,
            "-m",
            "bot.cli",
            "run",
            *(["--webhook"] if self.webhook else []),
        ]
        self.started_at = time.monotonic()
        self.proc = await asyncio.create_subprocess_exec(
            *command,
            cwd=self.workdir,
            env=self.env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=self._log,
            stderr=self._log,
        )
        try:
            if self.webhook:
                await self._until(lambda: self._webhook_ready(emulator, mark), "its webhook")
            else:
                await self._until(lambda: self._polling(emulator, mark), "polling")
        except BaseException:
            await self.kill()
            raise
        self.ready_after = time.monotonic() - self.started_at

    async def _until(self, ready: Any, what: str) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while True:
            if self.returncode is not None:
                raise AssertionError(
                    f"{self.name} exited with {self.returncode} before {what}:\n{self.log_tail()}"
                )
            if await ready():
                return
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{self.name} not ready ({what}) after {STARTUP_TIMEOUT} s:\n{self.log_tail()}"
                )
            await asyncio.sleep(0.02)

    async def _polling(self, emulator: BotApiEmulator, mark: int) -> bool:
        return any(call.method == "getUpdates" for call in emulator.calls_since(mark))

    async def _webhook_ready(self, emulator: BotApiEmulator, mark: int) -> bool:
        if not any(c.method == "setWebhook" and c.ok for c in emulator.calls_since(mark)):
            return False
        return await self.health() == 200

    async def health(self) -> int | None:
        """The status of GET /healthz (webhook port, or HEALTH_PORT when polling); None if
        nothing answers."""
        port = self.env["WEBHOOK_PORT"] if self.webhook else self.env["HEALTH_PORT"]
        try:
            async with (
                aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as session,
                session.get(f"http://127.0.0.1:{port}/healthz") as response,
            ):
                return response.status
        except (aiohttp.ClientError, TimeoutError):
            return None

    async def kill(self) -> int | None:
        """`kill -9`, and wait until the child is gone; its exit code (-9)."""
        if self.proc is None:
            return None
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGKILL)
        code = await self.proc.wait()
        self._close_log()
        return code

    async def terminate(self, timeout: float = 30.0) -> int:  # noqa: ASYNC109
        """SIGTERM, then wait for the exit; its exit code. Kills it if it hangs (and fails)."""
        assert self.proc is not None, "not started"
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            code = await asyncio.wait_for(self.proc.wait(), timeout)
        except TimeoutError:
            await self.kill()
            raise AssertionError(
                f"{self.name} still running {timeout} s after SIGTERM:\n{self.log_tail()}"
            ) from None
        self._close_log()
        return code

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None
