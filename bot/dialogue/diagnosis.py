"""Diagnosis from the answers: alliance type, readiness per stage, red flags, next steps, and
the verdict with its three priorities.

Every rule comes from checklist.yaml; this module only applies them. Only the questions on the
walk's current path count: an answer left behind by an edit that changed the branch is ignored.

Dating: a next step is due `days` after today (or on its milestone, `on:`), then moved so that
its order constraints hold (`before:` pulls it earlier, never before today; `after:` pushes it
later). Milestones are the preparation plan's next session, last session and decision.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from bot.dialogue import cldr
from bot.dialogue.conditions import NOT_YET
from bot.dialogue.model import (
    MILESTONES,
    SEVERITIES,
    Dialogue,
    Question,
    Rule,
    Texts,
    VerdictLevel,
)
from bot.dialogue.plan import PreparationPlan, plan_preparation

_COMPARE = {
    "lt": lambda a, b: a < b,
    "le": lambda a, b: a <= b,
    "gt": lambda a, b: a > b,
    "ge": lambda a, b: a >= b,
    "eq": lambda a, b: a == b,
}
NOT_YET_SCORE = 0.25
MAX_PRIORITIES = 3


@dataclass(frozen=True)
class StageScore:
    stage_id: str
    title: str
    score: int | None  # 0-100; None when the stage has nothing scored on this path


@dataclass(frozen=True)
class NextStep:
    key: str  # the next_steps rule id, or "todo.<question id>" for a "not yet"
    text: str
    due: dt.date
    question_id: str | None = None
    severity: str = "minor"
    stage: str | None = None  # the stage id it belongs to
    why: str | None = None  # why it would come first: the red flag it resolves, if any


@dataclass(frozen=True)
class RedFlag:
    id: str
    text: str
    severity: str


@dataclass(frozen=True)
class StepGroup:
    """The "then" steps of one stage, by due date."""

    stage_id: str
    title: str
    steps: tuple[NextStep, ...]


@dataclass(frozen=True)
class Verdict:
    id: str  # a verdicts level of checklist.yaml, the most worrying first
    level: int  # its index there: 0 is the most worrying
    title: str
    text: str  # why, in one or two sentences
    decision: dt.date | None  # when to decide, when known


@dataclass(frozen=True)
class Diagnosis:
    alliance_type: str | None  # "strategic", "tactical", or None when not yet known
    type_text: str
    reasons: tuple[str, ...]
    readiness: tuple[StageScore, ...]
    overall: int | None
    red_flags: tuple[RedFlag, ...]  # most severe first, then in the YAML's order
    next_steps: tuple[NextStep, ...]  # the priorities, then the others by due date
    priorities: tuple[NextStep, ...] = ()
    then: tuple[StepGroup, ...] = ()
    verdict: Verdict | None = None
    plan: PreparationPlan | None = None


def format_date(value: dt.date, texts: Texts) -> str:
    """A date as this language writes it in full words ("15 mars 2027", "March 15, 2027"):
    never ambiguous, whichever order the reader writes day and month in."""
    return cldr.long_date(value, texts.lang)


def score_answer(question: Question, value: Any) -> float | None:
    """How ready an answer shows the manager to be, from 0 to 1 (None: not scored)."""
    if question.weight <= 0 or value is None:
        return None
    rule = question.score
    if isinstance(rule, Mapping) and set(rule) <= set(_COMPARE) and value != NOT_YET:
        if not isinstance(value, int | float):
            return 0.0
        return 1.0 if all(_COMPARE[op](value, arg) for op, arg in rule.items()) else 0.0
    if isinstance(rule, Mapping):
        keys = value if isinstance(value, list) else [value]
        scores = [float(rule[str(k)]) for k in keys if str(k) in rule]
        if scores:
            return max(scores)
        if value == NOT_YET:
            return NOT_YET_SCORE
        return 0.0
    if value == NOT_YET:
        return NOT_YET_SCORE
    if question.type == "yesno":
        return 1.0 if value == "yes" else 0.0
    if question.type == "scale" and isinstance(value, int):
        low, high = question.minimum or 1, question.maximum or 5
        return max(0.0, min(1.0, (value - low) / (high - low)))
    return 1.0  # answered, and no rule says how well


def diagnose(
    dialogue: Dialogue,
    answers: Mapping[str, Any],
    path: Sequence[str],
    texts: Texts,
    today: dt.date,
) -> Diagnosis:
    """Apply checklist.yaml's rules to the answers on `path`."""
    on_path = {qid: answers[qid] for qid in path if qid in answers}
    kind, type_text, reasons = _alliance_type(dialogue, on_path, texts)
    readiness, overall = _readiness(dialogue, on_path, set(path), texts)

    def fits(rule: Rule) -> bool:
        return rule.alliance is None or rule.alliance == kind

    flags = []
    for rule in dialogue.red_flags:
        if fits(rule) and rule.when(on_path):
            severity = rule.severity
            if rule.raise_when is not None and rule.raise_when(on_path):
                severity = SEVERITIES[max(0, SEVERITIES.index(severity) - 1)]
            flags.append(RedFlag(rule.id, texts.get(f"red_flags.{rule.id}"), severity))
    flags.sort(key=lambda flag: SEVERITIES.index(flag.severity))  # stable: YAML order within
    fired = {flag.id: flag for flag in flags}

    plan = plan_preparation(on_path, today)
    rules = [rule for rule in dialogue.next_steps if fits(rule) and rule.when(on_path)]
    dates = _dates(rules, plan, today)
    steps = []
    for rule in rules:
        resolved = [fired[f] for f in rule.resolves if f in fired]
        severity = min([rule.severity, *(f.severity for f in resolved)], key=SEVERITIES.index)
        text = texts.get(f"next_steps.{rule.id}")
        quoted = on_path.get(rule.quote) if rule.quote else None
        if isinstance(quoted, str) and quoted != NOT_YET and quoted.strip():
            text = texts.ui("advice.quoted", text=text, answer=quoted.strip())
        steps.append(
            NextStep(
                rule.id,
                text,
                dates[rule.id],
                severity=severity,
                stage=rule.stage or _stage_of(dialogue, rule.questions),
                why=resolved[0].text if resolved else None,
            )
        )
    covered = {qid for rule in rules for qid in rule.questions}
    for qid in path:
        if on_path.get(qid) == NOT_YET and qid not in covered:
            question = dialogue.questions[qid]
            steps.append(
                NextStep(
                    f"todo.{qid}",
                    texts.ui("summary.todo", label=texts.question(qid, "label")),
                    today + dt.timedelta(days=question.todo_days),
                    question_id=qid,
                    stage=question.stage,
                )
            )
    priorities, rest, then = _rank(dialogue, steps, texts)
    decision_key = dialogue.verdicts.decision_step
    decision = next((step.due for step in steps if step.key == decision_key), None)
    if decision is None and plan is not None and plan.go_no_go >= today:
        decision = plan.go_no_go
    verdict = _verdict(dialogue, flags, overall, priorities, decision, texts)
    return Diagnosis(
        kind,
        type_text,
        reasons,
        readiness,
        overall,
        tuple(flags),
        (*priorities, *rest),
        priorities,
        then,
        verdict,
        plan,
    )


def rejudge(
    dialogue: Dialogue,
    diagnosis: Diagnosis,
    flags: Sequence[RedFlag],
    steps: Sequence[NextStep],
    texts: Texts,
    today: dt.date,
) -> Diagnosis:
    """The diagnosis with findings from outside the manager's answers added (the gaps with the
    partner, bot/dialogue/divergence.py): the red flags join the list by severity, the steps
    are ranked with the others (a step due after the decision is moved before it), and the
    verdict is judged again on every flag."""
    decision_key = dialogue.verdicts.decision_step
    decision = next((s.due for s in diagnosis.next_steps if s.key == decision_key), None)
    plan = diagnosis.plan
    if decision is None and plan is not None and plan.go_no_go >= today:
        decision = plan.go_no_go
    if decision is not None:
        latest = max(today, decision - dt.timedelta(days=1))
        steps = [step if step.due <= latest else replace(step, due=latest) for step in steps]
    all_flags = sorted(
        (*diagnosis.red_flags, *flags), key=lambda flag: SEVERITIES.index(flag.severity)
    )
    priorities, rest, then = _rank(dialogue, [*diagnosis.next_steps, *steps], texts)
    verdict = _verdict(dialogue, all_flags, diagnosis.overall, priorities, decision, texts)
    return replace(
        diagnosis,
        red_flags=tuple(all_flags),
        next_steps=(*priorities, *rest),
        priorities=priorities,
        then=then,
        verdict=verdict,
    )


def _rank(
    dialogue: Dialogue, steps: Sequence[NextStep], texts: Texts
) -> tuple[tuple[NextStep, ...], tuple[NextStep, ...], tuple[StepGroup, ...]]:
    """The priorities (most severe, then soonest, then in the YAML's order; never the decision
    step, which the verdict names), the other steps by due date, and those grouped by stage."""
    order = {step.key: index for index, step in enumerate(steps)}
    candidates = sorted(
        (step for step in steps if step.key != dialogue.verdicts.decision_step),
        key=lambda step: (SEVERITIES.index(step.severity), step.due, order[step.key]),
    )
    priorities = tuple(_with_why(step, texts) for step in candidates[:MAX_PRIORITIES])
    chosen = {step.key for step in priorities}
    rest = tuple(
        sorted(
            (step for step in steps if step.key not in chosen),
            key=lambda step: (step.due, order[step.key]),
        )
    )
    then = []
    for stage in dialogue.stages:
        grouped = tuple(step for step in rest if step.stage == stage.id)
        if grouped:
            then.append(StepGroup(stage.id, texts.get(f"stages.{stage.id}.title"), grouped))
    return priorities, rest, tuple(then)


def _with_why(step: NextStep, texts: Texts) -> NextStep:
    why = step.why or texts.ui(f"advice.why.{step.severity}")
    return NextStep(
        step.key, step.text, step.due, step.question_id, step.severity, step.stage, why
    )


def _stage_of(dialogue: Dialogue, questions: frozenset[str]) -> str:
    """The stage of the latest question a rule tests: where the step is done."""
    stages = [dialogue.questions[qid].stage for qid in questions if qid in dialogue.questions]
    if not stages:
        return dialogue.stages[-1].id
    return max(stages, key=dialogue.stage_index)


def _dates(
    rules: Sequence[Rule], plan: PreparationPlan | None, today: dt.date
) -> dict[str, dt.date]:
    """Each fired step's due date, with its order constraints applied; never before today.

    A constraint naming a step that did not fire, or a milestone the plan lacks, is ignored.
    """
    day = dt.timedelta(days=1)
    fixed: dict[str, dt.date] = {}
    if plan is not None:
        marks = {
            "next_session": plan.next_session(today),
            "last_session": plan.last_session(today),
            "decision": plan.go_no_go if plan.go_no_go >= today else None,
        }
        fixed = {name: when for name, when in marks.items() if when is not None}
    due: dict[str, dt.date] = {}
    for rule in rules:
        base = today + dt.timedelta(days=rule.days)
        if rule.on is not None and rule.on in fixed:
            base = fixed[rule.on]
        due[rule.id] = max(base, today)
    # "A before B" pairs among what is dated.
    known = set(due) | set(fixed)
    pairs = [(first, rule.id) for rule in rules for first in rule.after if first in known]
    pairs += [(rule.id, later) for rule in rules for later in rule.before if later in known]
    pairs += [(a, b) for a, b in itertools.pairwise(MILESTONES) if a in fixed and b in fixed]
    # Latest allowed dates, from the fixed milestones backwards (validate refused cycles, so
    # len(due) rounds settle everything).
    latest: dict[str, dt.date] = dict(fixed)
    for _ in range(len(due) + 1):
        for first, later in pairs:
            if later in latest and first in due:
                bound = max(today, latest[later] - day)
                if first not in latest or bound < latest[first]:
                    latest[first] = bound
    for key in due:
        if key in latest:
            due[key] = min(due[key], latest[key])
    # Then push later what must follow.
    for _ in range(len(due) + 1):
        moved = False
        for first, later in pairs:
            if later in due:
                start = due.get(first, fixed.get(first))
                if start is not None and due[later] <= start:
                    due[later] = start + day
                    moved = True
        if not moved:
            break
    return due


def _verdict(
    dialogue: Dialogue,
    flags: Sequence[RedFlag],
    overall: int | None,
    priorities: Sequence[NextStep],
    decision: dt.date | None,
    texts: Texts,
) -> Verdict | None:
    levels = dialogue.verdicts.levels
    if not levels:
        return None
    ids = {flag.id for flag in flags}
    counts = {severity: sum(f.severity == severity for f in flags) for severity in SEVERITIES}

    def holds(level: VerdictLevel) -> bool:
        return (
            level.unconditional
            or bool(ids & set(level.flags))
            or any(counts[severity] >= minimum for severity, minimum in level.counts.items())
            # nothing scored yet is no readiness at all
            or (level.below is not None and (overall or 0) < level.below)
        )

    index = next(i for i, level in enumerate(levels) if holds(level))  # the last always holds
    level = levels[index]
    when = decision or (max(step.due for step in priorities) if priorities else None)
    params = {
        "when": (
            texts.ui("advice.on_date", date=format_date(when, texts))
            if when is not None
            else texts.ui("advice.no_date")
        ),
        "critical": counts["critical"],
        "major": counts["major"],
        "count": len(priorities),
    }
    why = texts.get(f"verdicts.{level.id}.why", **params)
    for severity in SEVERITIES[:2]:  # the worst findings behind a verdict that holds back
        worst = [flag for flag in flags if flag.severity == severity]
        if worst and index < len(levels) - 1:
            separator = texts.ui("advice.separator")
            findings = separator.join(headline(flag.text) for flag in worst[:MAX_PRIORITIES])
            why += " " + texts.ui(f"advice.because.{severity}", findings=findings)
            break
    return Verdict(level.id, index, texts.get(f"verdicts.{level.id}.title", **params), why, when)


def headline(text: str) -> str:
    """The first sentence of a red flag's text, which names the finding, without its full stop."""
    first = text.split(". ", 1)[0].strip()
    return first[:-1] if first.endswith(".") else first


def _alliance_type(
    dialogue: Dialogue, answers: Mapping[str, Any], texts: Texts
) -> tuple[str | None, str, tuple[str, ...]]:
    criteria = dialogue.alliance_type.criteria
    met = [rule for rule in criteria if rule.when(answers)]
    inputs = set().union(*(rule.questions for rule in criteria))
    if not any(answers.get(qid) not in (None, NOT_YET) for qid in inputs):
        return None, texts.ui("summary.type_unknown"), ()
    kind = "strategic" if len(met) >= dialogue.alliance_type.threshold else "tactical"
    reasons = tuple(texts.get(f"alliance_type.criteria.{rule.id}") for rule in met)
    return kind, texts.get(f"alliance_type.{kind}"), reasons


def _readiness(
    dialogue: Dialogue, answers: Mapping[str, Any], path: set[str], texts: Texts
) -> tuple[tuple[StageScore, ...], int | None]:
    stages = []
    total_weight = total_score = 0.0
    for stage in dialogue.stages:
        weight = score = 0.0
        for question in stage.questions:
            if question.id not in path or question.weight <= 0:
                continue
            weight += question.weight
            score += question.weight * (score_answer(question, answers.get(question.id)) or 0.0)
        title = texts.get(f"stages.{stage.id}.title")
        stages.append(StageScore(stage.id, title, round(100 * score / weight) if weight else None))
        total_weight += weight
        total_score += score
    overall = round(100 * total_score / total_weight) if total_weight else None
    return tuple(stages), overall
