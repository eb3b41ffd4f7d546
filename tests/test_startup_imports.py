"""Start-up stays light: `alliance-bot run` loads what serving needs, nothing more; plotting
and PDF libraries load only in the render workers, Alembic only when a schema is migrated."""

import asyncio
import subprocess
import sys

from tests.faults.process import bot_environment

# Loaded by nothing `run` does before its first getUpdates on a new SQLite database: charts
# and PDFs (worker processes), the web view's templates (WEB_ENABLED only), aiohttp (the
# webhook's server and the web view; the Bot API transport and /healthz while polling are on
# asyncio's own sockets), Alembic (a new database is created from the tables), PostgreSQL's
# dialect and driver, what the python-telegram-bot extras the bot does without would bring
# (webhook server, JobQueue), python-dotenv (read only when a .env file is there), and the
# reports: the summary's and the divergence report's text, the exports' content (read when a
# walk ends, a report or an export is asked for).
# aiolimiter is not listed: the development tools install it for the benchmark's
# ConversationHandler bot as shipped, and PTB imports it whenever it is installed.
NOT_AT_START = (
    "matplotlib",
    "fpdf",
    "PIL",
    "numpy",
    "jinja2",
    "aiohttp",
    "alembic",
    "psycopg",
    "sqlalchemy.dialects.postgresql",
    "tornado",
    "apscheduler",
    "multiprocessing",
    "concurrent.futures.process",
    "babel.dates",
    "dotenv",
    "bot.report",
    "bot.divergence_report",
    "bot.export.content",
    "bot.export.divergence",
    "argparse",  # `run` is handled without the command-line parser (bot/cli.py)
)

# The bot, started as `alliance-bot run` starts it; once the test has seen its first
# getUpdates it writes a line, and the bot answers with what it has loaded and whether its
# garbage collector runs (paused while it starts, it must run again once started: within 10 s
# of the first getUpdates here), then stops.
RUN_AND_REPORT = f"""
import gc, os, signal, sys, threading, time
from bot.cli import main

def report():
    sys.stdin.readline()
    watched = {NOT_AT_START!r}
    loaded = ",".join(name for name in watched if name in sys.modules)
    deadline = time.monotonic() + 10
    while not gc.isenabled() and time.monotonic() < deadline:
        time.sleep(0.01)
    print(loaded, "collector on" if gc.isenabled() else "collector off", flush=True)
    os.kill(os.getpid(), signal.SIGTERM)

threading.Thread(target=report, daemon=True).start()
sys.exit(main(["run"]))
"""


async def test_run_on_a_new_database_loads_only_what_serving_needs(emulator, tmp_path):
    env = bot_environment(emulator, f"sqlite:///{tmp_path / 'new.sqlite3'}")
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        RUN_AND_REPORT,
        cwd=tmp_path,
        env=env,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        await emulator.wait_for(lambda: emulator.calls_to("getUpdates"), timeout=60)
        out, err = await asyncio.wait_for(process.communicate(b"\n"), timeout=60)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 0, err.decode(errors="replace")[-2000:]
    assert out.decode().strip() == "collector on"
    assert b"stopped cleanly" in err


def test_building_the_bot_imports_neither_matplotlib_nor_fpdf(tmp_path):
    code = f"""
import sys
from bot.config import Settings
from bot.dialogue.engine import Engine
from bot.dialogue.loader import load_dialogue
from bot.storage.factory import open_storage
from bot.telegram.app import build_application
storage = open_storage("sqlite:///{tmp_path / "s.db"}")
import asyncio
asyncio.run(storage.migrate())
build_application(Settings(telegram_bot_token="1:x"), storage, Engine(load_dialogue()))
heavy = sorted(m for m in ("matplotlib", "fpdf", "PIL", "numpy") if m in sys.modules)
print(",".join(heavy))
"""
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == ""
