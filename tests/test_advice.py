"""The advice on three managers, checked against the practice sheet rather than against the output.

What the method says, and what these tests hold the advice to:
- every alliance rests on a strategy; a joint venture needs legal counsel; values and trust are
  checked during the preparation: missing any of them is a reason not to commit yet;
- the preparation is 4 or 5 working sessions within 3 months, concluded by a confidentiality
  letter and a declaration of intent; with a competitor, sensitive information is exchanged from
  the first working session on, so the letter comes before the next one;
- what a strategic alliance demands (growing integration, accepted interdependence, frequent
  reviews) is not demanded of a tactical one, about 90% of alliances.

Three managers: a risky joint venture with a direct competitor; a well-prepared one-year supplier
deal; a distributor deal, tactical and half prepared. Their verdicts are ordered that way.
"""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.dialogue.engine import Engine, State
from bot.dialogue.loader import load_dialogue
from bot.dialogue.model import DONE
from bot.dialogue.summary import build_summary
from bot.export.content import build_content
from bot.export.pictures import assessed_stages
from bot.report import Html, Plain, render_summary
from bot.telegram import render

TODAY = dt.date(2026, 12, 7)


def day(offset: int) -> str:
    return (TODAY + dt.timedelta(days=offset)).isoformat()


# A joint venture with a direct competitor: first working session in two days, no strategy, a
# long and thin preparation, doubtful trust, no lawyer, perfect balance sought, letters pending.
RISKY_JOINT_VENTURE = {
    "company": "Brasserie du Nord",
    "partner": "Brasseurs de l’Est",
    "partner_kind": "competitor",
    "new_identity": "yes",
    "objectives": ["cooperation", "development"],
    "posture": "offensive",
    "importance": 5,
    "involvement": 5,
    "duration": "long",
    "coop_vs_bigger": "yes",
    "coop_boundaries": "Nos bières de saison et la vente aux cafés",
    "has_strategy": "no",
    "interdependence": 3,
    "sharing_principle": "perfect_balance",
    "integration_level": 3,
    "prep_first_session": day(2),
    "prep_sessions": 2,
    "prep_months": 5,
    "values_convergence": 3,
    "trust": 2,
    "fit_gaps": ["availability"],
    "confidentiality_letter": "notyet",
    "intent_declaration": "notyet",
    "perimeter": "Une brasserie commune pour la région",
    "attractiveness": 4,
    "strengths": 3,
    "key_factors": "Prix, distribution",
    "activity_forecast": "no",
    "contract_stage": "not_started",
    "legal_form": "joint_venture",
    "legal_counsel": "no",
    "shares_vision": 3,
    "shares_gains": 3,
    "shares_risks": 2,
    "shares_powers": 2,
    "shares_identity": 3,
    "rules_roles": "notyet",
    "rules_practicalities": "notyet",
    "review_frequency": "yearly",
    "renegotiation": "yes",
    "staff_plus": 3,
    "integration_steps": "notyet",
}

# A one-year supplier deal, well prepared: sessions held, letters signed, forecast done, the
# contract being drafted with a lawyer. Little appetite for interdependence, as is natural for
# a one-year tactical deal.
WELL_PREPARED_SUPPLIER = {
    "company": "Menuiserie Roux",
    "partner": "Scierie des Vosges",
    "partner_kind": "supplier",
    "new_identity": "no",
    "objectives": ["secure_sector"],
    "posture": "defensive",
    "importance": 3,
    "involvement": 2,
    "duration": "short",
    "has_strategy": "yes",
    "interdependence": 2,
    "sharing_principle": "equity",
    "evolution_plan": "yes",
    "prep_first_session": day(-60),
    "prep_sessions": 4,
    "prep_months": 3,
    "values_convergence": 4,
    "trust": 4,
    "fit_gaps": ["none"],
    "confidentiality_letter": "yes",
    "intent_declaration": "yes",
    "perimeter": "Chêne et hêtre pour nos ateliers du Grand Est",
    "attractiveness": 4,
    "strengths": 4,
    "key_factors": "Qualité du bois, délais",
    "activity_forecast": "yes",
    "contract_stage": "drafting",
    "legal_form": "partnership",
    "legal_counsel": "yes",
    "shares_vision": 4,
    "shares_gains": 4,
    "shares_risks": 4,
    "shares_powers": 4,
    "shares_identity": 4,
    "rules_roles": "yes",
    "rules_practicalities": "yes",
    "review_frequency": "quarterly",
    "renegotiation": "yes",
    "staff_plus": 4,
}

# A distributor deal, tactical and half prepared: a strategy, but three sessions only, trust
# still building, and several "not yet" (letters, forecast, lawyer, rules, evolution).
HALF_PREPARED_DISTRIBUTOR = {
    "company": "Atelier Martin",
    "partner": "Dupont Distribution",
    "partner_kind": "distributor",
    "new_identity": "no",
    "objectives": ["secure_sector", "development"],
    "posture": "offensive",
    "importance": 4,
    "involvement": 3,
    "duration": "medium",
    "has_strategy": "yes",
    "interdependence": 3,
    "sharing_principle": "equity",
    "evolution_plan": "notyet",
    "prep_first_session": day(10),
    "prep_sessions": 3,
    "prep_months": 3,
    "values_convergence": 4,
    "trust": 3,
    "fit_gaps": ["none"],
    "confidentiality_letter": "notyet",
    "intent_declaration": "notyet",
    "perimeter": "Nos meubles dans l’Ouest",
    "attractiveness": 4,
    "strengths": 3,
    "key_factors": "notyet",
    "activity_forecast": "notyet",
    "contract_stage": "not_started",
    "legal_form": "partnership",
    "legal_counsel": "notyet",
    "shares_vision": 4,
    "shares_gains": 3,
    "shares_risks": 4,
    "shares_powers": 4,
    "shares_identity": 4,
    "rules_roles": "notyet",
    "rules_practicalities": "yes",
    "review_frequency": "quarterly",
    "renegotiation": "yes",
    "staff_plus": 4,
}

PROFILES = {
    "risky_joint_venture": RISKY_JOINT_VENTURE,
    "well_prepared_supplier": WELL_PREPARED_SUPPLIER,
    "half_prepared_distributor": HALF_PREPARED_DISTRIBUTOR,
}


@pytest.fixture(scope="module")
def engine():
    return Engine(load_dialogue())


def summary_of(engine, answers, lang="fr"):
    dialogue = engine.dialogue
    path = engine.walker.path(answers)
    return build_summary(dialogue, answers, path, dialogue.texts[lang], TODAY, complete=True)


def diagnosis_of(engine, answers, lang="fr"):
    return summary_of(engine, answers, lang).diagnosis


def keys(steps):
    return [step.key for step in steps]


def due(diagnosis, key):
    return next(step.due for step in diagnosis.next_steps if step.key == key)


# --- The verdicts ------------------------------------------------------------------------------
def test_the_risky_joint_venture_is_to_be_reconsidered(engine):
    d = diagnosis_of(engine, RISKY_JOINT_VENTURE)
    assert d.alliance_type == "strategic"
    assert d.verdict is not None
    assert d.verdict.id == "reconsider"
    # No strategy, a joint venture without counsel, trust missing: the sheet's blocking points.
    critical = {flag.id for flag in d.red_flags if flag.severity == "critical"}
    assert {"no_strategy", "no_legal_counsel", "trust_missing"} <= critical
    assert "no_confidentiality_letter" in critical  # sessions with a competitor have begun
    # The verdict says why: the blocking findings, in the words of their red flags.
    assert "Points bloquants : Pas de stratégie d’entreprise établie" in d.verdict.text


def test_the_well_prepared_supplier_is_ready(engine):
    d = diagnosis_of(engine, WELL_PREPARED_SUPPLIER)
    assert d.alliance_type == "tactical"
    assert d.verdict is not None
    assert d.verdict.id == "ready"
    assert not [flag for flag in d.red_flags if flag.severity in ("critical", "major")]


def test_the_half_prepared_distributor_sits_between_the_two(engine):
    levels = {name: diagnosis_of(engine, answers).verdict for name, answers in PROFILES.items()}
    assert all(verdict is not None for verdict in levels.values())
    assert levels["half_prepared_distributor"].id == "settle_first"
    assert "Points importants : Moins de 4 séances" in levels["half_prepared_distributor"].text
    assert "Points" not in levels["well_prepared_supplier"].text
    assert (
        levels["risky_joint_venture"].level
        < levels["half_prepared_distributor"].level
        < levels["well_prepared_supplier"].level
    )


def test_a_checklist_barely_begun_is_too_early_to_judge(engine):
    for answers in ({}, {"company": "Atelier Martin", "partner_kind": "supplier"}):
        d = diagnosis_of(engine, answers)
        assert d.verdict is not None
        assert d.verdict.id == "too_early"


MOIS = (
    "janvier",
    "février",
    "mars",
    "avril",
    "mai",
    "juin",
    "juillet",
    "août",
    "septembre",
    "octobre",
    "novembre",
    "décembre",
)


def test_the_verdict_names_the_decision_date_when_not_ready(engine):
    for answers in (RISKY_JOINT_VENTURE, HALF_PREPARED_DISTRIBUTOR):
        d = diagnosis_of(engine, answers)
        assert d.verdict is not None
        assert d.plan is not None
        assert d.verdict.decision == due(d, "decide_go_no_go")
        assert d.verdict.decision >= d.plan.sessions[-1]
        words = d.verdict.text
        day = d.verdict.decision
        assert f"décidez le {day.day} {MOIS[day.month - 1]} {day.year}" in words  # in words


# --- The three priorities ----------------------------------------------------------------------
def test_priorities_of_the_risky_joint_venture(engine):
    d = diagnosis_of(engine, RISKY_JOINT_VENTURE)
    # All three are blocking; the most urgent first: the letter before the session in two days,
    # then the strategy every alliance rests on, then counsel for the joint venture.
    assert keys(d.priorities) == ["sign_letter_before_session", "write_strategy", "consult_lawyer"]
    assert {step.severity for step in d.priorities} == {"critical"}
    assert all(step.why for step in d.priorities)


def test_priorities_of_the_well_prepared_supplier(engine):
    d = diagnosis_of(engine, WELL_PREPARED_SUPPLIER)
    # Prepared: what is left is to finalise and sign the contract, then run the alliance.
    assert keys(d.priorities)[0] == "finalise_contract"
    assert len(d.priorities) <= 3
    assert "decide_go_no_go" not in keys(d.next_steps)  # the declaration of intent is signed
    assert d.plan is None  # the preparation is concluded: no session is invented


def test_priorities_of_the_half_prepared_distributor(engine):
    d = diagnosis_of(engine, HALF_PREPARED_DISTRIBUTOR)
    # The method's preparation first: enough sessions, the letter, the declaration of intent.
    assert keys(d.priorities) == [
        "schedule_sessions",
        "sign_confidentiality_letter",
        "draft_intent_declaration",
    ]
    assert {step.severity for step in d.priorities} == {"major"}


@pytest.mark.parametrize("name", list(PROFILES))
def test_at_most_three_priorities_and_every_step_once(engine, name):
    d = diagnosis_of(engine, PROFILES[name])
    assert len(d.priorities) <= 3
    then = [step for group in d.then for step in group.steps]
    assert sorted(keys(d.next_steps)) == sorted(keys(d.priorities) + keys(then))
    for group in d.then:
        assert [step.due for step in group.steps] == sorted(step.due for step in group.steps)


# --- Dates -------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", list(PROFILES))
def test_no_step_is_dated_in_the_past(engine, name):
    d = diagnosis_of(engine, PROFILES[name])
    assert all(step.due >= TODAY for step in d.next_steps)
    if d.plan is not None:  # the manager's own first session may be past; no other one
        assert all(session >= TODAY for session in d.plan.sessions[1:])
        assert d.plan.go_no_go > TODAY


def test_the_letter_comes_before_the_next_session_with_a_competitor(engine):
    d = diagnosis_of(engine, RISKY_JOINT_VENTURE)
    assert d.plan is not None
    session = d.plan.next_session(TODAY)
    assert session == TODAY + dt.timedelta(days=2)
    assert due(d, "sign_letter_before_session") < session


def test_the_letter_comes_before_sensitive_figures_with_any_partner(engine):
    answers = {**HALF_PREPARED_DISTRIBUTOR, "attractiveness": 3}  # the grid is to be filled
    d = diagnosis_of(engine, answers)
    letter = due(d, "sign_confidentiality_letter")
    assert letter < due(d, "build_forecast")
    assert letter < due(d, "fill_grid")


@pytest.mark.parametrize("name", ["risky_joint_venture", "half_prepared_distributor"])
def test_the_declaration_of_intent_concludes_the_preparation(engine, name):
    d = diagnosis_of(engine, PROFILES[name])
    assert d.plan is not None
    intent = due(d, "draft_intent_declaration")
    assert intent > d.plan.sessions[-1]
    assert intent < due(d, "decide_go_no_go")


def test_the_plan_follows_the_method_and_says_what_it_changed(engine):
    d = diagnosis_of(engine, RISKY_JOINT_VENTURE)
    plan = d.plan
    assert plan is not None
    assert len(plan.sessions) in (4, 5)  # 2 were planned
    assert plan.go_no_go <= dt.date.fromisoformat(RISKY_JOINT_VENTURE["prep_first_session"]) + (
        dt.timedelta(days=92)
    )
    assert plan.changes == ("more_sessions", "shorter")


def test_forecast_and_counsel_come_before_the_contract(engine):
    answers = {
        **HALF_PREPARED_DISTRIBUTOR,
        "activity_forecast": "notyet",
        "contract_stage": "drafting",
    }
    d = diagnosis_of(engine, answers)
    sign = due(d, "finalise_contract")
    assert due(d, "build_forecast") < sign
    assert due(d, "consult_lawyer") < sign


# --- Rules that fit the alliance type ----------------------------------------------------------
@pytest.mark.parametrize("name", ["well_prepared_supplier", "half_prepared_distributor"])
def test_no_strategic_only_advice_on_a_tactical_alliance(engine, name):
    dialogue = engine.dialogue
    d = diagnosis_of(engine, PROFILES[name])
    assert d.alliance_type == "tactical"
    strategic_only = {
        rule.id
        for rule in (*dialogue.red_flags, *dialogue.next_steps)
        if rule.alliance == "strategic"
    }
    assert strategic_only  # integration, interdependence, frequent reviews
    fired = {flag.id for flag in d.red_flags} | set(keys(d.next_steps))
    assert not fired & strategic_only
    for lang, word in (("fr", "stratégique"), ("en", "strategic")):
        localized = diagnosis_of(engine, PROFILES[name], lang)
        for text in [flag.text for flag in localized.red_flags] + [
            step.text for step in localized.next_steps
        ]:
            # Only the tactical-to-strategic evolution may name the other type.
            assert word not in text or "tactique" in text or "tactical" in text, text


def test_a_strategic_alliance_gets_no_tactical_to_strategic_advice(engine):
    d = diagnosis_of(engine, {**RISKY_JOINT_VENTURE, "evolution_plan": "no"})
    assert d.alliance_type == "strategic"
    assert "no_evolution_plan" not in {flag.id for flag in d.red_flags}
    assert "plan_evolution" not in keys(d.next_steps)
    assert "plan_integration_steps" in keys(d.next_steps)


def test_low_interdependence_is_a_warning_only_for_a_strategic_alliance(engine):
    tactical = diagnosis_of(engine, WELL_PREPARED_SUPPLIER)  # interdependence 2
    assert "interdependence_refused" not in {flag.id for flag in tactical.red_flags}
    strategic = diagnosis_of(engine, {**RISKY_JOINT_VENTURE, "interdependence": 2})
    assert "interdependence_refused" in {flag.id for flag in strategic.red_flags}


def test_competition_grounds_become_rules_of_the_game(engine):
    d = diagnosis_of(engine, RISKY_JOINT_VENTURE)
    rules = next(group for group in d.then if group.stage_id == "rules")
    step = next(step for step in rules.steps if step.key == "set_competition_rules")
    # The manager's own words on where they stay competitors are carried into the step.
    assert "« Nos bières de saison et la vente aux cafés »" in step.text
    skipped = {k: v for k, v in RISKY_JOINT_VENTURE.items() if k != "coop_boundaries"}
    plain = next(s for s in diagnosis_of(engine, skipped).next_steps if s.key == step.key)
    assert "«" not in plain.text


# --- Readiness ---------------------------------------------------------------------------------
def test_readiness_comes_from_preparation_only(engine):
    d = diagnosis_of(engine, HALF_PREPARED_DISTRIBUTOR)
    scores = {stage.stage_id: stage.score for stage in d.readiness}
    assert scores["intro"] is None  # who the partner is shows no readiness
    assert scores["objectives"] is None  # nor what the manager seeks
    ready = diagnosis_of(engine, WELL_PREPARED_SUPPLIER)
    assert d.overall is not None
    assert ready.overall is not None
    assert d.overall < ready.overall
    risky = diagnosis_of(engine, RISKY_JOINT_VENTURE)
    assert risky.overall is not None
    assert risky.overall < d.overall


# --- Where the verdict is shown ----------------------------------------------------------------
@pytest.mark.parametrize("name", list(PROFILES))
def test_the_summary_opens_with_the_verdict(engine, name):
    summary = summary_of(engine, PROFILES[name])
    texts = engine.dialogue.texts["fr"]
    text = render_summary(summary, texts, Plain())
    verdict = summary.diagnosis.verdict
    assert verdict is not None
    assert text.index(verdict.title) < text.index(texts.ui("summary.answers"))
    assert text.index(verdict.title) < text.index(texts.ui("summary.diagnosis"))


@pytest.mark.parametrize("name", list(PROFILES))
def test_telegram_folds_the_then_steps_within_message_limits(engine, name):
    summary = summary_of(engine, PROFILES[name])
    texts = engine.dialogue.texts["fr"]
    parts = render.split(render_summary(summary, texts, Html()))
    assert all(len(part) <= render.MAX_TEXT for part in parts)
    for part in parts:  # every folded block opens and closes in the same message
        assert part.count("<blockquote expandable>") == part.count("</blockquote>")
    whole = "\n\n".join(parts)
    for group in summary.diagnosis.then:
        for step in group.steps:
            start = whole.index(render.escape(step.text))
            assert whole.rfind("<blockquote expandable>", 0, start) > whole.rfind(
                "</blockquote>", 0, start
            )
    for step in summary.diagnosis.priorities:  # the priorities stay in sight
        start = whole.index(render.escape(step.text))
        assert whole.rfind("<blockquote expandable>", 0, start) <= whole.rfind(
            "</blockquote>", 0, start
        )


# --- Any manager: the dating rules hold ----------------------------------------------------------
def _answer(question):
    """A strategy for one valid stored answer of a question of the real checklist."""
    notyet = [st.just("notyet")] if question.notyet else []
    if question.type in ("choice", "yesno"):
        return st.sampled_from(question.choices)
    if question.type == "multi":
        return st.lists(st.sampled_from(question.options), min_size=1, max_size=3, unique=True)
    if question.type == "scale":
        return st.integers(question.minimum or 1, question.maximum or 5)
    if question.type == "number":
        return st.one_of(st.integers(question.minimum or 1, question.maximum or 20), *notyet)
    if question.type == "date":
        days = st.integers(-200, 200).map(lambda n: day(n))
        return st.one_of(days, *notyet)
    return st.just("texte")


@st.composite
def managers(draw, dialogue):
    answers = {}
    for qid in dialogue.order:
        if draw(st.integers(0, 9)) > 0:  # now and then a question left unanswered
            answers[qid] = draw(_answer(dialogue.questions[qid]))
    return answers


REAL = load_dialogue()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(managers(REAL))
def test_for_any_manager_dates_are_ahead_and_in_order(answers):
    engine = Engine(REAL)
    d = diagnosis_of(engine, answers)
    assert d.verdict is not None
    assert len(d.priorities) <= 3
    dues = {step.key: step.due for step in d.next_steps}
    assert all(when >= TODAY for when in dues.values())
    for rule in REAL.next_steps:
        if rule.id not in dues:
            continue
        for first in rule.after:
            if first in dues:
                assert dues[first] < dues[rule.id], (first, rule.id)
        for later in rule.before:
            if later in dues:
                assert dues[rule.id] < dues[later], (rule.id, later)
    if d.plan is not None:
        marks = {"next_session": d.plan.next_session(TODAY), "last_session": None}
        if d.plan.sessions[-1] >= TODAY:
            marks["last_session"] = d.plan.sessions[-1]
        for rule in REAL.next_steps:
            if rule.id not in dues:
                continue
            for name in rule.after:
                if marks.get(name) is not None:
                    assert dues[rule.id] > marks[name], (rule.id, name)
            session = marks["next_session"]
            if "next_session" in rule.before and session is not None and session > TODAY:
                assert dues[rule.id] < session, rule.id


def test_the_readiness_chart_draws_only_assessed_stages(engine):
    content = build_content(
        engine,
        State(at=DONE),
        HALF_PREPARED_DISTRIBUTOR,
        lang="fr",
        tz="Europe/Paris",
        today=TODAY,
        uid_seed="0123456789abcdef0123",
    )
    drawn = [stage.stage_id for stage in assessed_stages(content)]
    assert drawn == ["risks", "preparation", "definition", "rules", "management"]
