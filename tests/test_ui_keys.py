"""Every interface string the code asks for exists in both languages."""

import re
from pathlib import Path

import pytest

from bot.dialogue.loader import DEFAULT_DIR
from bot.dialogue.model import QUESTION_TYPES, Texts
from bot.dialogue.parsing import REASONS
from bot.dialogue.yamlsource import load_yaml
from bot.telegram.app import MENU_COMMANDS

ROOT = Path(__file__).resolve().parent.parent
STATIC = re.compile(r"""\bui\(\s*["']([a-z_.]+)["']""")


def texts(lang):
    return Texts(lang, load_yaml(DEFAULT_DIR / f"ui.{lang}.yaml"))


def keys_in_code():
    found = set()
    for path in (ROOT / "bot").rglob("*.py"):
        found |= set(STATIC.findall(path.read_text(encoding="utf-8")))
    return found


def dynamic_keys():
    keys = {f"errors.{reason}" for reason in REASONS | {"not_yesno", "invalid", "exclusive"}}
    keys |= {f"hints.{kind}" for kind in QUESTION_TYPES}
    keys |= {f"telegram.commands.{name}" for name in MENU_COMMANDS}
    keys |= {"answers.yes", "answers.no", "answers.notyet"}
    return keys


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_every_key_the_code_uses_exists(lang):
    catalog = texts(lang)
    used = keys_in_code() | dynamic_keys()
    assert len(used) > 40
    missing = sorted(key for key in used if not catalog.has("ui." + key))
    assert missing == []


def test_telegram_limits_of_descriptions():
    for lang in ("fr", "en"):
        catalog = texts(lang)
        assert len(catalog.ui("telegram.description")) <= 512
        assert len(catalog.ui("telegram.short_description")) <= 120
        for name in MENU_COMMANDS:
            assert 3 <= len(catalog.ui(f"telegram.commands.{name}")) <= 256
