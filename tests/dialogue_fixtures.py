"""Fixtures for the dialogue core: the small test dialogue and an engine over it."""

import datetime as dt
import shutil
from pathlib import Path

import pytest

from bot.dialogue.engine import Engine
from bot.dialogue.loader import DEFAULT_DIR, load_dialogue

MINI = Path(__file__).parent / "fixtures" / "mini"
TODAY = dt.date(2026, 11, 26)


def mini_dir(target: Path) -> Path:
    """A copy of the mini dialogue with the real interface strings beside it."""
    shutil.copytree(MINI, target)
    for lang in ("fr", "en"):
        shutil.copy(DEFAULT_DIR / f"ui.{lang}.yaml", target / f"ui.{lang}.yaml")
    return target


@pytest.fixture(scope="session")
def mini_engine(tmp_path_factory):
    return Engine(load_dialogue(mini_dir(tmp_path_factory.mktemp("d") / "mini")))
