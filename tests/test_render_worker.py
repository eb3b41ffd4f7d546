"""Charts and PDFs are drawn in worker processes: the bot never loads matplotlib or fpdf2, a
worker that dies is replaced, and a drawing that takes too long ends with a polite message while
the conversation goes on."""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import os
import signal
import subprocess
import sys
import textwrap
import time

import pypdf
import pytest

from bot.config import Settings
from bot.dialogue.engine import Engine
from bot.dialogue.loader import DEFAULT_DIR, load_dialogue
from bot.export.pool import RenderPool
from bot.storage.factory import open_storage
from bot.telegram.app import build_application
from tests.reminder_fixtures import nearly_done
from tests.telegram_fixtures import running_bot


def hang(*args: object) -> bytes:
    """A drawing that never ends (in the worker process)."""
    time.sleep(3600)
    return b""


def fail(*args: object) -> bytes:
    """A drawing that raises (in the worker process)."""
    raise ValueError("no such chart")


class HangingPool(RenderPool):
    """The real pool and its processes, with drawings that never finish."""

    async def report(self, fmt, content, *, now):
        return await self._run(hang, fmt, content, now)

    async def charts(self, content):
        return await self._run(hang, content)


def photos(user):
    return [m for m in user.messages() if m.photo is not None]


def pdf_text(document) -> str:
    return "".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(document.data)).pages)


async def test_a_killed_worker_is_replaced_and_the_next_pdf_arrives(emulator, database_url):
    await nearly_done(database_url, 6262)
    async with running_bot(emulator, database_url, DEFAULT_DIR) as bot:
        ana = bot.user(id=6262, language_code="fr")
        await ana.send("/start")
        await ana.tap("Oui")
        assert len(photos(ana)) == 3  # the summary's charts: the pool is running
        pool = bot.application.bot_data["services"].renders
        for pid in await pool.pids():
            os.kill(pid, signal.SIGKILL)
        await ana.send("/export")
        await ana.tap("📄 PDF")
        assert "Dupont SA" in pdf_text(ana.last_document())
        assert await pool.pids()  # new workers


async def test_a_drawing_that_takes_too_long_ends_with_a_message(emulator, database_url):
    await nearly_done(database_url, 6363)
    pool = HangingPool(workers=1, timeout=3.0)
    async with running_bot(emulator, database_url, DEFAULT_DIR, renders=pool) as bot:
        ana = bot.user(id=6363, language_code="fr")
        await ana.send("/start")
        await ana.tap("Oui")  # the last answer: the summary, its charts never come
        assert photos(ana) == []
        texts = ana.texts_since_last_send()
        assert any("graphiques n’ont pas pu être dessinés" in t for t in texts)
        await ana.send("/export")
        await ana.tap("📄 PDF")
        assert "Je n’ai pas réussi à préparer ce fichier" in ana.last_text()
        await ana.tap("📝 Markdown")  # the conversation goes on: another format still comes
        assert "Dupont SA" in ana.last_document().data.decode()


async def test_the_message_exists_in_english_too(emulator, database_url):
    await nearly_done(database_url, 6464, lang="en")
    pool = HangingPool(workers=1, timeout=3.0)
    async with running_bot(emulator, database_url, DEFAULT_DIR, renders=pool) as bot:
        bob = bot.user(id=6464, language_code="en")
        await bob.send("/export")
        await bob.tap("📄 PDF")
        assert "I couldn't prepare this file" in bob.last_text()


async def test_workers_run_at_the_lowest_priority():
    pool = RenderPool(workers=1)
    try:
        pids = await pool.pids()
        assert {os.getpriority(os.PRIO_PROCESS, pid) for pid in pids} == {19}
        if hasattr(os, "SCHED_IDLE"):  # Linux: set aside by any other process that wakes
            assert {os.sched_getscheduler(pid) for pid in pids} == {os.SCHED_IDLE}
    finally:
        pool.close()


async def test_a_drawings_error_is_raised_in_the_bot_and_its_worker_draws_the_next():
    pool = RenderPool(workers=1)
    try:
        before = await pool.pids()
        with pytest.raises(ValueError, match="no such chart"):
            await pool._run(fail)
        assert await pool.pids() == before
    finally:
        pool.close()


@pytest.mark.parametrize(("cores", "workers"), [(1, 1), (2, 1), (3, 2), (8, 4), (64, 4)])
def test_by_default_one_core_is_left_to_the_bot(monkeypatch, cores, workers):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(cores)), raising=False)
    assert RenderPool().workers == workers


def test_the_bot_process_never_loads_matplotlib_or_fpdf(tmp_path):
    """A summary with its charts and a PDF export, in a fresh interpreter: neither library
    is in its sys.modules afterwards (they were loaded by the workers only), nor
    multiprocessing (the bot talks to its workers over sockets)."""
    script = textwrap.dedent(
        f"""
        import asyncio, sys
        from bot.dialogue.loader import DEFAULT_DIR
        from tests.reminder_fixtures import nearly_done
        from tests.support.emulator import BotApiEmulator
        from tests.telegram_fixtures import TOKEN, running_bot

        async def main():
            url = "sqlite:///{tmp_path / "bot.sqlite3"}"
            await nearly_done(url, 6565)
            async with BotApiEmulator(token=TOKEN) as emulator:
                async with running_bot(emulator, url, DEFAULT_DIR) as bot:
                    ana = bot.user(id=6565, language_code="fr")
                    await ana.send("/start")
                    await ana.tap("Oui")
                    charts = [m for m in ana.messages() if m.photo is not None]
                    await ana.send("/export")
                    await ana.tap("📄 PDF")
                    pdf = ana.last_document().data
            heavy = ("matplotlib", "fpdf", "numpy", "PIL", "multiprocessing")
            loaded = sorted(m for m in heavy if m in sys.modules)
            print(len(charts), pdf[:5], loaded)

        asyncio.run(main())
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().splitlines()[-1] == "3 b'%PDF-' []"


class RecordingPool(RenderPool):
    """One worker's turns, drawn in this process: which drawing gets the worker, in order."""

    def __init__(self) -> None:
        super().__init__(workers=1)
        self.drawn: list[str] = []
        self.release = asyncio.Event()

    async def _draw(self, function, *args):
        self.drawn.append(function.__name__)
        await self.release.wait()
        return function.__name__


async def test_a_summarys_charts_go_before_the_files_waiting_for_a_worker():
    pool = RecordingPool()
    now = dt.datetime(2026, 12, 7, tzinfo=dt.UTC)
    first = asyncio.ensure_future(pool.report("pdf", None, now=now))
    await asyncio.sleep(0)
    waiting = [
        asyncio.ensure_future(pool.report("pdf", None, now=now)),
        asyncio.ensure_future(pool.divergence_report("pdf", None, now=now)),
        asyncio.ensure_future(pool.charts(None)),
    ]
    given_up = asyncio.ensure_future(pool.charts(None))
    await asyncio.sleep(0)
    given_up.cancel()  # its user's update ended meanwhile: its turn goes to the next
    pool.release.set()
    await asyncio.gather(first, *waiting)
    assert pool.drawn == ["draw_report", "draw_charts", "draw_report", "draw_divergence_report"]
    assert given_up.cancelled()


def test_render_workers_sets_the_bots_pool(tmp_path):
    storage = open_storage(f"sqlite:///{tmp_path / 'bot.sqlite3'}")
    engine = Engine(load_dialogue(DEFAULT_DIR))
    for setting, workers in ((3, 3), (0, RenderPool().workers)):
        settings = Settings(telegram_bot_token="1:x", render_workers=setting)
        app = build_application(settings, storage, engine, dispatch_every=None)
        assert app.bot_data["services"].renders.workers == workers
    asyncio.run(storage.close())
