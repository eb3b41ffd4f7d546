"""How projects are named and listed (pure: bot/dialogue/projects.py)."""

from __future__ import annotations

import datetime as dt

import pytest

from bot.dialogue.engine import Engine, State
from bot.dialogue.model import DONE
from bot.dialogue.projects import (
    TITLE_MAX,
    clean_title,
    describe,
    listing,
    project_line,
    project_name,
)
from tests.telegram_chat import real_dialogue
from tests.test_advice import TODAY as ADVICE_TODAY
from tests.test_advice import WELL_PREPARED_SUPPLIER
from tests.test_divergence import SAWMILL_CONVERGING, SAWMILL_WARY

TODAY = dt.date(2026, 12, 7)


@pytest.fixture(scope="module")
def engine():
    return Engine(real_dialogue())


def test_a_project_is_named_by_its_title_then_its_partner_then_its_day(engine):
    texts = engine.texts("fr")
    day = dt.date(2026, 12, 6)
    assert project_name("Beta SA", {"partner": "Autre"}, day, texts) == "Beta SA"
    assert project_name(None, {"partner": " Martin & Fils "}, day, texts) == "Martin & Fils"
    assert project_name(None, {"partner": "notyet"}, day, texts) == "Projet du 6 décembre 2026"
    assert project_name(None, {}, day, engine.texts("en")) == "Project of December 6, 2026"


def test_a_typed_name_is_one_trimmed_line_of_limited_length():
    assert clean_title("  Beta \n SA  ") == "Beta SA"
    assert clean_title("   ") is None
    assert clean_title("x" * TITLE_MAX) == "x" * TITLE_MAX
    assert clean_title("x" * (TITLE_MAX + 1)) is None


def test_the_line_shows_progress_then_the_verdict_once_complete(engine):
    texts = engine.texts("en")
    first = engine.walker.first
    walking = project_line(
        project_id=1,
        name="Beta SA",
        partner_side=False,
        current=True,
        engine=engine,
        state=State(at=first).dump(),
        answers={first: "Acme"},
        texts=texts,
        today=TODAY,
    )
    assert walking.answered == 1
    assert walking.total > 30
    assert walking.verdict is None
    assert describe(walking, texts) == f"▶ Beta SA · 1/{walking.total} questions"

    done = project_line(
        project_id=2,
        name="Gamma",
        partner_side=False,
        current=False,
        engine=engine,
        state=State(at=DONE).dump(),
        answers={},
        texts=texts,
        today=TODAY,
    )
    assert done.complete
    assert done.verdict  # the verdict's title, whatever the answers make it
    assert describe(done, texts) == f"• Gamma · checklist complete · {done.verdict}"
    text = listing([walking, done], texts)
    assert text.startswith("Your alliance projects:")
    assert text.endswith("Tap a project to switch to it; /new starts another one.")


def test_the_partners_line_has_no_verdict_and_says_so(engine):
    texts = engine.texts("fr")
    line = project_line(
        project_id=3,
        name="Dupont SA",
        partner_side=True,
        current=False,
        engine=engine,
        state=State(at=DONE).dump(),
        answers={},
        texts=texts,
        today=TODAY,
    )
    assert line.verdict is None
    assert describe(line, texts).endswith("vous y êtes le partenaire invité")


def test_the_verdict_listed_weighs_the_gaps_with_the_partner(engine):
    texts = engine.texts("fr")

    def line(partner_answers):
        return project_line(
            project_id=4,
            name="Scierie",
            partner_side=False,
            current=True,
            engine=engine,
            state=State(at=DONE).dump(),
            answers=WELL_PREPARED_SUPPLIER,
            texts=texts,
            today=ADVICE_TODAY,
            partner_answers=partner_answers,
        )

    alone = line(None).verdict
    converging = line(SAWMILL_CONVERGING).verdict
    wary = line(SAWMILL_WARY).verdict  # a trust gap of 3 points: critical
    assert alone == converging
    assert wary != alone
    assert wary == texts.get("verdicts.settle_first.title")
