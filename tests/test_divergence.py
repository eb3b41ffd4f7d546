"""Where two partners see their alliance differently, checked against the method.

The method asks the manager to check, during the preparation, that values converge and trust
grows *with the partner*, and that the five shares and the rules of the game are agreed
*together*: one side's view is not enough. Three pairs of answers, written from the method:

- a sawmill that sees the supplier deal as the joinery does (converging partners): nothing to
  flag, and the joinery's "ready" verdict stands;
- the same sawmill, not trusting the joinery yet (a trust gap): the joinery's "ready" becomes
  "settle these points first", and trust goes on the agenda of the next session;
- a distributor whose values pull away from the workshop's (a values gap), with the first
  working session already dated: the agenda item falls on that session.
"""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.dialogue.divergence import (
    COMMENT_MAX,
    MANAGER,
    PARTNER,
    READY,
    SHARED,
    THRESHOLD,
    WAITING,
    WITHDRAWN,
    Comment,
    divergence,
    new_comment,
    rating,
    with_divergence,
)
from bot.dialogue.engine import Engine
from bot.dialogue.loader import load_dialogue
from bot.dialogue.parsing import ParseError
from bot.dialogue.partner import partner_questions, shared_questions
from bot.dialogue.summary import build_summary
from tests.test_advice import HALF_PREPARED_DISTRIBUTOR, TODAY, WELL_PREPARED_SUPPLIER, day

DIALOGUE = load_dialogue()
ENGINE = Engine(DIALOGUE)

# The sawmill's own view of the supplier deal with the joinery: close on everything.
SAWMILL_CONVERGING = {
    "evolution_plan": "yes",
    "values_convergence": 4,
    "trust": 5,
    "fit_gaps": ["none"],
    "legal_form": "partnership",
    "shares_vision": 4,
    "shares_gains": 5,
    "shares_risks": 4,
    "shares_powers": 3,
    "shares_identity": 4,
    "rules_roles": "yes",
    "rules_practicalities": "yes",
}
# The same sawmill, burnt by a former customer: trust is not there yet.
SAWMILL_WARY = {**SAWMILL_CONVERGING, "trust": 2}
# The distributor: values far from the workshop's, doubts on its own skills and availability;
# like the workshop, it has not settled who does what yet.
DISTRIBUTOR_DIVERGING = {
    "evolution_plan": "notyet",
    "values_convergence": 2,
    "trust": 3,
    "fit_gaps": ["skills", "availability"],
    "legal_form": "partnership",
    "shares_vision": 4,
    "shares_gains": 3,
    "shares_risks": 4,
    "shares_powers": 3,
    "shares_identity": 4,
    "rules_roles": "notyet",
    "rules_practicalities": "yes",
}


def manager_diagnosis(answers, lang="fr"):
    path = ENGINE.walker.path(answers)
    texts = DIALOGUE.texts[lang]
    return build_summary(DIALOGUE, answers, path, texts, TODAY, complete=True).diagnosis


def gaps_by_id(comparison):
    return {gap.dimension: gap for gap in comparison.gaps}


# --- the scale ---------------------------------------------------------------------------------


def test_every_answer_type_lands_on_the_same_scale():
    questions = DIALOGUE.questions
    assert rating(questions["trust"], 4) == 4.0
    assert rating(questions["trust"], "notyet") is None  # not rated yet: nothing to compare
    assert [rating(questions["rules_roles"], v) for v in ("yes", "notyet", "no")] == [5, 2, 1]
    # The legal forms, from the simple partnership to the merger, as the sheet lists them.
    forms = [rating(questions["legal_form"], f) for f in questions["legal_form"].options]
    assert forms == [1.0, 2.0, 3.0, 4.0, 5.0]
    # The three questions: no doubt is 5, every doubt 1.
    fit = questions["fit_gaps"]
    assert rating(fit, ["none"]) == 5.0
    assert rating(fit, ["values"]) == 3.7
    assert rating(fit, ["values", "skills", "availability"]) == 1.0


# --- converging partners -----------------------------------------------------------------------


def test_converging_partners_have_nothing_flagged():
    comparison = divergence(DIALOGUE, WELL_PREPARED_SUPPLIER, SAWMILL_CONVERGING, "fr", TODAY)
    assert comparison.status == READY
    assert comparison.company == "Menuiserie Roux"
    assert comparison.partner == "Scierie des Vosges"
    assert comparison.flagged == ()
    assert comparison.next_steps == ()
    gaps = gaps_by_id(comparison)
    assert (gaps["trust"].manager, gaps["trust"].partner, gaps["trust"].gap) == (4.0, 5.0, 1.0)
    assert all(gap.gap is not None and gap.gap < THRESHOLD for gap in comparison.gaps)
    # Every dimension was rated by both: the joinery's tactical branch asks evolution_plan.
    assert all(gap.compared for gap in comparison.gaps)
    diagnosis = manager_diagnosis(WELL_PREPARED_SUPPLIER)
    assert with_divergence(DIALOGUE, diagnosis, comparison, DIALOGUE.texts["fr"], TODAY) == (
        diagnosis
    )


# --- a trust gap -------------------------------------------------------------------------------


def test_a_trust_gap_is_flagged_with_the_methods_reason():
    comparison = divergence(DIALOGUE, WELL_PREPARED_SUPPLIER, SAWMILL_WARY, "en", TODAY)
    [flagged] = comparison.flagged
    assert flagged.dimension == "trust"
    assert (flagged.manager, flagged.partner, flagged.gap) == (4.0, 2.0, 2.0)
    assert flagged.severity == "critical"
    assert flagged.source == "preparation · values and trust"
    assert "both ways" in flagged.reason
    [step] = comparison.next_steps
    assert step.text == 'Put "Trust" on the agenda of your next session'
    # The joinery's preparation is over (declaration signed): no session dated, two weeks.
    assert step.due == TODAY + dt.timedelta(days=14)


def test_a_trust_gap_holds_back_a_ready_manager():
    texts = DIALOGUE.texts["fr"]
    before = manager_diagnosis(WELL_PREPARED_SUPPLIER)
    assert before.verdict is not None
    assert before.verdict.id == "ready"
    comparison = divergence(DIALOGUE, WELL_PREPARED_SUPPLIER, SAWMILL_WARY, "fr", TODAY)
    after = with_divergence(DIALOGUE, before, comparison, texts, TODAY)
    assert after.verdict is not None
    assert after.verdict.id == "settle_first"
    assert "Écart important avec votre partenaire sur « Confiance »" in after.verdict.text
    assert after.priorities[0].key == "divergence.trust"
    assert after.priorities[0].why == comparison.flagged[0].reason
    assert "divergence.trust" in {flag.id for flag in after.red_flags}
    assert after.red_flags[0].severity == "critical"  # most severe first


# --- a values gap ------------------------------------------------------------------------------


def test_a_values_gap_goes_on_the_agenda_of_the_next_session():
    comparison = divergence(
        DIALOGUE, HALF_PREPARED_DISTRIBUTOR, DISTRIBUTOR_DIVERGING, "fr", TODAY
    )
    flagged = {gap.dimension for gap in comparison.flagged}
    assert flagged == {"values", "fit"}  # 4 against 2; no doubt against two (5 against 2.3)
    gaps = gaps_by_id(comparison)
    assert gaps["fit"].partner == 2.3
    assert gaps["rules"].gap == 0.0  # both: roles not yet, practicalities settled
    steps = {step.key: step for step in comparison.next_steps}
    # The workshop's first working session is in ten days: the plan's next session.
    assert steps["divergence.values"].due == dt.date.fromisoformat(day(10))
    assert comparison.next_steps[0].key == "divergence.values"  # critical before major


def test_a_values_gap_ranks_among_the_priorities_before_the_decision():
    texts = DIALOGUE.texts["fr"]
    before = manager_diagnosis(HALF_PREPARED_DISTRIBUTOR)
    comparison = divergence(
        DIALOGUE, HALF_PREPARED_DISTRIBUTOR, DISTRIBUTOR_DIVERGING, "fr", TODAY
    )
    after = with_divergence(DIALOGUE, before, comparison, texts, TODAY)
    assert "divergence.values" in [step.key for step in after.priorities]
    decision = next(s.due for s in after.next_steps if s.key == "decide_go_no_go")
    assert all(s.due < decision for s in after.next_steps if s.key.startswith("divergence."))
    assert after.verdict is not None
    assert before.verdict is not None
    assert after.verdict.level <= before.verdict.level


# --- who sees what -----------------------------------------------------------------------------


def test_a_private_rating_is_seen_only_by_the_side_that_gave_it():
    comparison = divergence(DIALOGUE, WELL_PREPARED_SUPPLIER, SAWMILL_WARY, "fr", TODAY)
    mine, theirs, shared = (comparison.view(v) for v in (MANAGER, PARTNER, SHARED))
    for view, manager, partner in ((mine, 4.0, None), (theirs, None, 2.0), (shared, None, None)):
        trust = gaps_by_id(view)["trust"]
        assert (trust.manager, trust.partner, trust.gap) == (manager, partner, None)
        assert trust.flagged
        assert trust.masked
        vision = gaps_by_id(view)["vision"]  # a shared element: both sides' ratings
        assert (vision.manager, vision.partner) == (4.0, 4.0)
    with pytest.raises(ValueError, match="cannot be viewed again"):
        shared.view(MANAGER)


# --- the partner not there ---------------------------------------------------------------------


def test_a_partner_who_has_not_answered_yet():
    comparison = divergence(DIALOGUE, WELL_PREPARED_SUPPLIER, None, "fr", TODAY)
    assert comparison.status == WAITING
    assert comparison.next_steps == ()
    assert not any(gap.compared for gap in comparison.gaps)


def test_a_partner_half_way_is_compared_on_what_both_rated():
    started = {"values_convergence": 2, "trust": 4}
    comparison = divergence(DIALOGUE, WELL_PREPARED_SUPPLIER, started, "fr", TODAY)
    assert comparison.status == READY
    assert {gap.dimension for gap in comparison.compared} == {"values", "trust"}
    assert [gap.dimension for gap in comparison.flagged] == ["values"]


def test_a_partner_who_withdrew():
    comparison = divergence(
        DIALOGUE, WELL_PREPARED_SUPPLIER, SAWMILL_WARY, "fr", TODAY, withdrawn=True
    )
    assert comparison.status == WITHDRAWN
    assert comparison.gaps == ()
    diagnosis = manager_diagnosis(WELL_PREPARED_SUPPLIER)
    texts = DIALOGUE.texts["fr"]
    assert with_divergence(DIALOGUE, diagnosis, comparison, texts, TODAY) == diagnosis


def test_the_partner_answers_the_questions_compared():
    """What the partner's walk asks covers every question a dimension compares on the
    manager's branch: no dimension stays empty for want of a question."""
    asked = set(partner_questions(DIALOGUE, HALF_PREPARED_DISTRIBUTOR))
    path = set(ENGINE.walker.path(HALF_PREPARED_DISTRIBUTOR))
    shared_on_path = {qid for qid in path if DIALOGUE.questions[qid].shared}
    assert shared_on_path == asked


# --- comments under a flagged gap --------------------------------------------------------------


def test_a_comment_goes_under_a_flagged_gap_only():
    comparison = divergence(DIALOGUE, WELL_PREPARED_SUPPLIER, SAWMILL_WARY, "fr", TODAY)
    said = new_comment(comparison, "trust", PARTNER, "  Un ancien client\r\nnous a déçus  ")
    assert said == Comment("trust", PARTNER, "Un ancien client\nnous a déçus")
    with pytest.raises(ValueError, match="not a flagged gap"):
        new_comment(comparison, "vision", MANAGER, "Tout va bien")  # close: nothing to comment
    with pytest.raises(ValueError, match="manager or the partner"):
        new_comment(comparison, "trust", "lawyer", "Avis")
    with pytest.raises(ParseError) as too_long:
        new_comment(comparison, "trust", MANAGER, "x" * (COMMENT_MAX + 1))
    assert too_long.value.reason == "too_long"
    with pytest.raises(ParseError) as empty:
        new_comment(comparison, "trust", MANAGER, " \n ")
    assert empty.value.reason == "empty"


# --- whatever the answers ----------------------------------------------------------------------


def _value(question):
    """Any answer a side may give to a shared question, "not yet" included."""
    if question.type == "scale":
        return st.one_of(st.integers(1, 5), st.just("notyet"))
    if question.type == "yesno":
        return st.sampled_from(["yes", "no", "notyet"])
    if question.type == "choice":
        return st.sampled_from([*question.options, "notyet"])
    plain = [o for o in question.options if o not in question.exclusive]
    return st.one_of(
        st.lists(st.sampled_from(plain), min_size=1, max_size=len(plain), unique=True),
        st.sampled_from([[o] for o in question.exclusive]),
    )


SIDE = st.fixed_dictionaries(
    {},
    optional={qid: _value(DIALOGUE.questions[qid]) for qid in shared_questions(DIALOGUE)},
)


@settings(max_examples=150, deadline=None)
@given(mine=SIDE, theirs=SIDE)
def test_gaps_are_symmetric_bounded_and_private_ratings_stay_private(mine, theirs):
    there = divergence(DIALOGUE, mine, theirs, "fr", TODAY)
    back = divergence(DIALOGUE, theirs, mine, "fr", TODAY)
    assert [(g.gap, g.flagged) for g in there.gaps] == [(g.gap, g.flagged) for g in back.gaps]
    for gap in there.gaps:
        for value in (gap.manager, gap.partner):
            assert value is None or 1.0 <= value <= 5.0
        assert gap.compared == (gap.manager is not None and gap.partner is not None)
        if gap.gap is not None:
            assert 0.0 <= gap.gap <= 4.0
            assert gap.flagged == (gap.gap >= THRESHOLD)
    assert len(there.next_steps) == len(there.flagged)
    for viewer, hidden in ((MANAGER, "partner"), (PARTNER, "manager"), (SHARED, "both")):
        for gap in there.view(viewer).gaps:
            if gap.private:
                sides = ("manager", "partner") if hidden == "both" else (hidden,)
                assert all(getattr(gap, side) is None for side in sides)
                assert gap.gap is None
