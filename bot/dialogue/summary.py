"""The summary: the answers by stage, the diagnosis and the next steps, in one language."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bot.dialogue import cldr
from bot.dialogue.conditions import NOT_YET
from bot.dialogue.diagnosis import Diagnosis, diagnose, format_date
from bot.dialogue.model import Dialogue, Question, Texts

__all__ = [
    "AnswerLine",
    "StageSummary",
    "Summary",
    "build_summary",
    "display",
    "echo_date",
    "format_date",
]


@dataclass(frozen=True)
class AnswerLine:
    question_id: str
    label: str
    display: str  # "—" style text when unanswered comes from ui.summary.unanswered
    answered: bool


@dataclass(frozen=True)
class StageSummary:
    stage_id: str
    title: str
    answers: tuple[AnswerLine, ...]
    score: int | None


@dataclass(frozen=True)
class Summary:
    lang: str
    company: str | None
    partner: str | None
    complete: bool  # the whole checklist was walked
    stages: tuple[StageSummary, ...]
    diagnosis: Diagnosis
    date: dt.date


def echo_date(value: dt.date, texts: Texts) -> str:
    """A date with its weekday ("mardi 8 décembre 2026"), to show how a typed date was read."""
    return cldr.full_date(value, texts.lang)


def display(question: Question, value: Any, texts: Texts) -> str:
    """An answer as a person reads it, in this language."""
    if value is None:
        return texts.ui("summary.unanswered")
    if value == NOT_YET:
        return texts.option(question, NOT_YET)
    if question.type in ("choice", "yesno"):
        return texts.option(question, str(value))
    if question.type == "multi" and isinstance(value, list):
        return ", ".join(texts.option(question, str(v)) for v in value)
    if question.type == "scale":
        return texts.ui("scale_value", value=value, max=question.maximum or 5)
    if question.type == "date":
        try:
            return format_date(dt.date.fromisoformat(str(value)), texts)
        except ValueError:
            return str(value)
    return str(value)


def build_summary(
    dialogue: Dialogue,
    answers: Mapping[str, Any],
    path: Sequence[str],
    texts: Texts,
    today: dt.date,
    *,
    complete: bool,
) -> Summary:
    """Everything a summary shows; the path decides which questions count."""
    diagnosis = diagnose(dialogue, answers, path, texts, today)
    scores = {s.stage_id: s.score for s in diagnosis.readiness}
    on_path = set(path)
    stages = []
    for stage in dialogue.stages:
        lines = tuple(
            AnswerLine(
                q.id,
                texts.question(q.id, "label"),
                display(q, answers.get(q.id), texts),
                q.id in answers,
            )
            for q in stage.questions
            if q.id in on_path
        )
        title = texts.get(f"stages.{stage.id}.title")
        stages.append(StageSummary(stage.id, title, lines, scores.get(stage.id)))

    def text_answer(qid: str) -> str | None:
        value = answers.get(qid)
        return value if isinstance(value, str) and value != NOT_YET else None

    return Summary(
        lang=texts.lang,
        company=text_answer("company"),
        partner=text_answer("partner"),
        complete=complete,
        stages=tuple(stages),
        diagnosis=diagnosis,
        date=today,
    )
