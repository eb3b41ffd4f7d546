"""Start-up stays light: plotting and PDF libraries load only when a chart or file is asked for."""

import subprocess
import sys


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
