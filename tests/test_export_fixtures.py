"""Shared fixtures and helpers of the export tests (no tests here).

The exports' dialogue (tests/fixtures/exports) is the mini dialogue plus the questions the exports
read: partner, the preparation plan, the five shares and the attractiveness/strengths grid.
"""

import datetime as dt
import shutil
from pathlib import Path

from bot.dialogue.conditions import NOT_YET
from bot.dialogue.engine import Engine, State
from bot.dialogue.loader import DEFAULT_DIR, load_dialogue
from bot.dialogue.model import DONE
from bot.export.content import build_content
from bot.storage.base import AnswerWrite
from bot.storage.factory import open_storage
from tests.storage_fixtures import add_user

EXPORTS = Path(__file__).parent / "fixtures" / "exports"
TODAY = dt.date(2026, 11, 26)
NOW = dt.datetime(2026, 11, 26, 9, 30, tzinfo=dt.UTC)
FIRST_SESSION = "2026-12-01"

# What a user may type: every one must reach every format, drawn or visibly replaced.
ACCENTS = "Société Générale d’Études — « Élan » œuvre à Ça‑Vaut‑Le‑Coup"
CURLY = "“Partenaires” et ‘associés’ de l’été"
EMOJI = "Équipe 🤝 projet 😀 ✅"
CJK = "中文合作伙伴 株式会社 한국"
ARABIC = "شركة الشرق للتجارة"
CYRILLIC = "ООО «Ромашка» Москва"
SAMPLES = (ACCENTS, CURLY, EMOJI, CJK, ARABIC, CYRILLIC)


def exports_dir(target: Path) -> Path:
    """A copy of the exports' dialogue with the real interface strings beside it."""
    shutil.copytree(EXPORTS, target)
    for lang in ("fr", "en"):
        shutil.copy(DEFAULT_DIR / f"ui.{lang}.yaml", target / f"ui.{lang}.yaml")
    return target


def load_engine(base):
    """An engine over a fresh copy of the exports' dialogue, in the folder `base`.

    Each test module makes its own (a module-scoped fixture), so that no fixture is imported
    from here: pytest would take an imported fixture for an unused, redefined name."""
    return Engine(load_dialogue(exports_dir(base / "exports")))


def answers_for(engine, values=None, *, text=None):
    """Answers along the walk's path until the end: `values` where given, else a default per
    type (text: `text(question)` or a short string)."""
    values = dict(values or {})
    answers = {}
    while True:
        path = engine.walker.path(answers)
        pending = [qid for qid in path if qid not in answers]
        if not pending:
            return answers
        question = engine.dialogue.questions[pending[0]]
        if question.id in values:
            answers[question.id] = values[question.id]
        else:
            answers[question.id] = default_answer(question, text)


def default_answer(question, text=None):
    kind = question.type
    if kind == "text":
        return text(question) if text else f"{question.id} answer"
    if kind == "choice":
        return question.options[-1]
    if kind == "multi":
        return list(question.options)
    if kind == "scale":
        return question.maximum or 5
    if kind == "yesno":
        return "no"
    if kind == "date":
        return FIRST_SESSION
    return min(max(question.minimum or 1, 4), question.maximum or 4)


def longest_text(question):
    """A text answer of exactly max_length characters mixing every script of SAMPLES."""
    pool = " ".join(SAMPLES) + " "
    body = (pool * (question.max_length // len(pool) + 1))[: question.max_length]
    return body[:-1] + "." if body.endswith(" ") else body


def content_for(engine, answers, *, lang="fr", tz="Europe/Paris", reminders=(), done=True):
    """The report content of one conversation, without storage."""
    state = State(at=DONE) if done else engine.new_state()
    return build_content(
        engine,
        state,
        answers,
        lang=lang,
        tz=tz,
        today=TODAY,
        uid_seed="0123456789abcdef0123",
        reminders=reminders,
    )


async def open_sqlite(tmp_path):
    """A migrated SQLite storage on a file, as the bot opens it."""
    storage = open_storage(f"sqlite:///{tmp_path}/alliance.db")
    await storage.migrate()
    return storage


async def record(
    storage, engine, answers, *, key="tg:4242", lang="fr", tz="Europe/Paris", done=True
):
    """A user whose active conversation holds `answers` (each written in its own step)."""
    user = await add_user(storage, key, lang=lang, tz=tz)
    state = engine.new_state()
    conversation = await storage.start_conversation(user.id, engine.dialogue.id, state.dump())
    version = conversation.version
    items = list(answers.items())
    for index, (qid, value) in enumerate(items):
        last = index == len(items) - 1
        at = DONE if last and done else (items[index + 1][0] if not last else qid)
        version = await storage.save_step(
            conversation.id,
            expected_version=version,
            state={"at": at, "return_to": None, "draft": None, "confirm": None},
            answers=[AnswerWrite(qid, value)],
            finished=last and done,
        )
    return await storage.get_user(key)


__all__ = [
    "ACCENTS",
    "ARABIC",
    "CJK",
    "CURLY",
    "CYRILLIC",
    "EMOJI",
    "FIRST_SESSION",
    "NOT_YET",
    "NOW",
    "SAMPLES",
    "TODAY",
    "answers_for",
    "content_for",
    "exports_dir",
    "load_engine",
    "longest_text",
    "open_sqlite",
    "record",
]
