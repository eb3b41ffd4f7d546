"""Diagnosis from the answers: alliance type, readiness per stage, red flags, next steps.

Every rule comes from checklist.yaml; this module only applies them. Only the questions on the
walk's current path count: an answer left behind by an edit that changed the branch is ignored.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bot.dialogue.conditions import NOT_YET
from bot.dialogue.model import Dialogue, Question, Texts

_COMPARE = {
    "lt": lambda a, b: a < b,
    "le": lambda a, b: a <= b,
    "gt": lambda a, b: a > b,
    "ge": lambda a, b: a >= b,
    "eq": lambda a, b: a == b,
}
NOT_YET_SCORE = 0.25


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


@dataclass(frozen=True)
class Diagnosis:
    alliance_type: str | None  # "strategic", "tactical", or None when not yet known
    type_text: str
    reasons: tuple[str, ...]
    readiness: tuple[StageScore, ...]
    overall: int | None
    red_flags: tuple[tuple[str, str], ...]  # (id, text)
    next_steps: tuple[NextStep, ...]


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
    flags = tuple(
        (rule.id, texts.get(f"red_flags.{rule.id}"))
        for rule in dialogue.red_flags
        if rule.when(on_path)
    )
    steps = [
        NextStep(rule.id, texts.get(f"next_steps.{rule.id}"), today + dt.timedelta(days=rule.days))
        for rule in dialogue.next_steps
        if rule.when(on_path)
    ]
    covered = {qid for rule in dialogue.next_steps if rule.when(on_path) for qid in rule.questions}
    for qid in path:
        if on_path.get(qid) == NOT_YET and qid not in covered:
            question = dialogue.questions[qid]
            steps.append(
                NextStep(
                    f"todo.{qid}",
                    texts.ui("summary.todo", label=texts.question(qid, "label")),
                    today + dt.timedelta(days=question.todo_days),
                    question_id=qid,
                )
            )
    steps.sort(key=lambda step: step.due)  # stable: rules keep their YAML order on the same day
    return Diagnosis(kind, type_text, reasons, readiness, overall, flags, tuple(steps))


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
