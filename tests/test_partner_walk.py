"""The invited partner's walk: the `shared: true` marker, its checks, and the walk itself.

The walk is driven through the ordinary Engine, as a partner would answer: buttons and typed
answers, until the end-of-walk message.
"""

import datetime as dt

import pytest

from bot.cli import main
from bot.dialogue.divergence import DIMENSIONS
from bot.dialogue.engine import Pick, State, Text
from bot.dialogue.loader import load_dialogue
from bot.dialogue.model import DONE
from bot.dialogue.partner import (
    PartnerWalks,
    invitation_text,
    partner_consent,
    partner_dialogue,
    partner_intro,
    partner_questions,
    shared_questions,
)
from bot.dialogue.views import Ask, Say
from tests.dialogue_fixtures import mini_dir
from tests.test_dialogue_validation import edit_text, refused

TODAY = dt.date(2026, 12, 7)
DIALOGUE = load_dialogue()
# The method's two-sided points: values and trust, the three questions, the five shares, the
# rules of the game, evolution and integration, the legal form wished.
TWO_SIDED = {
    "values_convergence",
    "trust",
    "fit_gaps",
    "shares_vision",
    "shares_gains",
    "shares_risks",
    "shares_powers",
    "shares_identity",
    "rules_roles",
    "rules_practicalities",
    "evolution_plan",
    "integration_level",
    "integration_steps",
    "legal_form",
}
# A strategic project (important, involving): integration is asked, the tactical evolution not.
STRATEGIC = {"importance": 5, "involvement": 4, "duration": "long"}
TACTICAL = {"importance": 2, "involvement": 2, "duration": "short"}


# --- the marker in checklist.yaml ------------------------------------------------------------


def test_the_two_sided_questions_are_marked_shared():
    assert set(shared_questions(DIALOGUE)) == TWO_SIDED
    order = list(DIALOGUE.questions)
    assert list(shared_questions(DIALOGUE)) == sorted(TWO_SIDED, key=order.index)


def test_every_dimension_compares_shared_questions():
    compared = {qid for dimension in DIMENSIONS for qid in dimension.questions}
    assert compared == TWO_SIDED


@pytest.fixture
def mini(tmp_path):
    return mini_dir(tmp_path / "mini")


def test_shared_must_be_true_or_false(mini):
    edit_text(
        mini,
        "checklist.yaml",
        "        type: scale\n",
        "        type: scale\n        shared: yes\n",
    )
    refused(mini, "checklist.yaml", "'shared' must be true or false", at=("shared: yes",))


def test_a_text_question_cannot_be_shared(mini):
    edit_text(mini, "checklist.yaml", "max_length: 20\n", "max_length: 20\n        shared: true\n")
    error = refused(mini, "checklist.yaml", "question 'company'", "cannot be compared")
    assert "scale, yesno, choice, multi" in error.message
    assert main(["validate", str(mini)]) == 1


def _share_level(mini):
    edit_text(
        mini,
        "checklist.yaml",
        "        type: scale\n",
        "        type: scale\n        shared: true\n",
    )


def test_a_stage_the_partner_walks_needs_an_introduction_for_them(mini):
    _share_level(mini)
    refused(mini, "fr.yaml", "'partner.stages.two.intro'", "is missing")


def _partner_block(mini, fr: str, en: str) -> None:
    for lang, block in (("fr", fr), ("en", en)):
        path = mini / f"{lang}.yaml"
        path.write_text(path.read_text(encoding="utf-8") + block, encoding="utf-8")


def test_the_partner_block_names_only_shared_questions(mini):
    _share_level(mini)
    block = (
        'partner:\n  stages:\n    two: {{intro: "Intro {0}"}}\n'
        '  questions:\n    company: {{help: "Help {0}"}}\n'
    )
    _partner_block(mini, block.format("fr"), block.format("en"))
    refused(mini, "fr.yaml", "'company' is not a shared question", at=("company: {help",))


def test_a_valid_marker_loads_and_validates(mini, capsys):
    _share_level(mini)
    block = 'partner:\n  stages:\n    two: {{intro: "Intro partenaire {0}"}}\n'
    _partner_block(mini, block.format("fr"), block.format("en"))
    dialogue = load_dialogue(mini)
    assert shared_questions(dialogue) == ("level",)
    walk = partner_dialogue(dialogue)
    assert list(walk.questions) == ["level"]
    assert walk.id == "mini_partner"
    assert walk.texts["fr"].get("stages.two.intro") == "Intro partenaire fr"
    assert main(["validate", str(mini)]) == 0


# --- the walk --------------------------------------------------------------------------------


def test_the_branch_follows_the_managers_answers():
    strategic = partner_questions(DIALOGUE, STRATEGIC)
    tactical = partner_questions(DIALOGUE, TACTICAL)
    assert "integration_level" in strategic
    assert "integration_steps" in strategic
    assert "evolution_plan" not in strategic
    assert "evolution_plan" in tactical
    assert "integration_level" not in tactical
    assert set(partner_questions(DIALOGUE, None)) == TWO_SIDED  # the branch not known yet


def test_the_engines_are_built_once_per_branch():
    walks = PartnerWalks(DIALOGUE)
    first = walks.engine(STRATEGIC)
    assert walks.engine({**STRATEGIC, "company": "Autre"}) is first
    assert walks.engine(TACTICAL) is not first


def _answer(engine, state, answers, step_input, lang):
    step = engine.handle(state, answers, step_input, lang, TODAY)
    for qid, value in step.writes:
        answers[qid] = value
    return step


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_a_partner_walks_the_shared_questions_only_and_is_thanked(lang):
    engine = PartnerWalks(DIALOGUE).engine(TACTICAL)
    texts = engine.texts(lang)
    state = engine.new_state()
    answers: dict = {}
    views = engine.resume(state, answers, lang, TODAY, fresh=True)
    assert views[0] == Say(texts.ui("partner.walk.welcome"))
    first = views[1]
    assert isinstance(first, Ask)
    # The first stage's introduction speaks to the partner, not to the manager.
    assert first.stage_intro == DIALOGUE.texts[lang].get("partner.stages.risks.intro")
    asked = []
    step = None
    for _ in range(40):
        if state.at == DONE:
            break
        question = engine.dialogue.questions[state.at]
        asked.append(question.id)
        if question.type == "multi":
            ticked = _answer(engine, state, answers, Pick(question.id, "none"), lang)
            step = _answer(engine, ticked.state, answers, Pick(question.id, "__ok__"), lang)
        elif question.type == "scale":
            step = _answer(engine, state, answers, Text("4"), lang)
        elif question.type == "yesno":
            step = _answer(engine, state, answers, Pick(question.id, "yes"), lang)
        else:
            step = _answer(engine, state, answers, Pick(question.id, question.options[0]), lang)
        state = step.state
    assert state == State(at=DONE)
    assert asked == list(partner_questions(DIALOGUE, TACTICAL))
    assert set(answers) == set(asked)
    assert step is not None
    assert step.finished
    assert Say(texts.ui("partner.walk.done")) in step.views


def test_a_strategic_projects_integration_help_speaks_to_the_partner():
    walk = partner_dialogue(DIALOGUE, STRATEGIC)
    for lang in ("fr", "en"):
        help_text = walk.texts[lang].question("integration_level", "help")
        assert help_text == DIALOGUE.texts[lang].get("partner.questions.integration_level.help")
        assert help_text != DIALOGUE.texts[lang].question("integration_level", "help")


# --- what the partner reads before consenting --------------------------------------------------


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_the_invitation_says_who_invites_for_what_and_what_is_shared(lang):
    intro = partner_intro(DIALOGUE, lang, inviter="Claire Dupont", project="Fours & Pains")
    assert "Claire Dupont" in intro
    assert "Fours & Pains" in intro
    consent = partner_consent(DIALOGUE, lang)
    texts = DIALOGUE.texts[lang]
    for dimension in DIMENSIONS:
        assert texts.ui(f"divergence.dimensions.{dimension.id}.label") in consent
    assert "/delete" in consent
    link = "https://t.me/alliance_bot?start=abc"
    forwarded = invitation_text(
        DIALOGUE, lang, inviter="Claire Dupont", project="Fours & Pains", link=link, days=14
    )
    assert link in forwarded
    assert "14" in forwarded
