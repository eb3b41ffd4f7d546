"""What the web view shows of a shared project: a row of the list, the whole project.

Built from storage's `SharedProject` by the engine, in the advisor's language: the same summary,
diagnosis and report content as the bot's /summary and exports, nothing computed twice.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, replace
from zoneinfo import ZoneInfo

from bot.dialogue.diagnosis import NextStep
from bot.dialogue.divergence import (
    READY,
    SHARED,
    Divergence,
    Gap,
    divergence,
    with_divergence,
)
from bot.dialogue.engine import Engine, State
from bot.dialogue.model import DONE
from bot.dialogue.summary import Summary, format_date
from bot.divergence_report import Row, rows, sides, status_text
from bot.export.content import ReportContent, build_content, uid_seed
from bot.export.divergence import divergence_content
from bot.reminders import texts as reminder_texts
from bot.storage.base import Reminder, SharedProject

SORT_KEYS = ("company", "partner", "stage", "verdict", "flags", "activity", "due")


@dataclass(frozen=True)
class ProjectRow:
    id: int  # the project's id
    company: str
    partner: str
    stage_number: int  # 1..stages; stages + 1 once finished
    stage_text: str  # "3/7 · Préparation" or "Terminé"
    finished: bool
    verdict_id: str
    verdict_level: int  # 0 is the most worrying; a large number when not known yet
    verdict_title: str
    red_flags: int
    last_activity: dt.datetime
    last_activity_text: str
    next_due: dt.date | None
    next_step: str  # "12 décembre 2026 · Signer la lettre de confidentialité"


def today_for(tz: str, now: dt.datetime) -> dt.date:
    return now.astimezone(ZoneInfo(tz)).date()


def project_state(project: SharedProject, engine: Engine) -> State:
    """Where the manager's walk stands (a project without one reads as not started)."""
    if project.conversation is None:
        return engine.new_state()
    state = project.conversation.state
    return State.load(state) if "at" in state else State(at=DONE)


def row(project: SharedProject, engine: Engine, *, lang: str, now: dt.datetime) -> ProjectRow:
    """One line of the list of shared projects."""
    texts = engine.texts(lang)
    state = project_state(project, engine)
    summary = manager_summary(project, engine, lang=lang, now=now)
    stages = engine.dialogue.stages
    walk = project.conversation
    finished = walk is not None and (walk.finished_at is not None or state.at == DONE)
    if finished:
        number, stage_text = len(stages) + 1, texts.ui("web.list.finished")
    else:
        question = engine.dialogue.questions.get(state.at)
        ids = [stage.id for stage in stages]
        number = ids.index(question.stage) + 1 if question is not None else 1
        title = texts.get(f"stages.{ids[number - 1]}.title")
        stage_text = texts.ui("web.list.stage_at", number=number, total=len(stages), title=title)
    verdict = summary.diagnosis.verdict
    steps = sorted(summary.diagnosis.next_steps, key=lambda step: step.due)
    first = steps[0] if steps else None
    activity = walk.updated_at if walk is not None else project.project.updated_at
    return ProjectRow(
        id=project.project.id,
        company=summary.company or texts.ui("web.list.unnamed"),
        partner=summary.partner or project.project.title or "",
        stage_number=number,
        stage_text=stage_text,
        finished=finished,
        verdict_id=verdict.id if verdict is not None else "",
        verdict_level=verdict.level if verdict is not None else 99,
        verdict_title=verdict.title if verdict is not None else texts.ui("web.list.no_verdict"),
        red_flags=len(summary.diagnosis.red_flags),
        last_activity=activity,
        last_activity_text=moment(activity, project.owner.tz, texts_lang=lang, engine=engine),
        next_due=first.due if first is not None else None,
        next_step=(
            texts.ui("web.list.next_step", date=format_date(first.due, texts), step=first.text)
            if first is not None
            else ""
        ),
    )


def sort_rows(rows: Sequence[ProjectRow], key: str, descending: bool) -> list[ProjectRow]:
    """The rows sorted by one column (unknown keys sort by last activity, latest first)."""
    far = dt.date.max
    keys = {
        "company": lambda r: r.company.casefold(),
        "partner": lambda r: r.partner.casefold(),
        "stage": lambda r: r.stage_number,
        "verdict": lambda r: r.verdict_level,
        "flags": lambda r: r.red_flags,
        "activity": lambda r: r.last_activity,
        "due": lambda r: r.next_due or far,
    }
    if key not in keys:
        return sorted(rows, key=lambda r: r.last_activity, reverse=True)
    return sorted(rows, key=keys[key], reverse=descending)


def filter_rows(
    rows: Sequence[ProjectRow], *, text: str = "", verdict: str = "", state: str = ""
) -> list[ProjectRow]:
    """The rows whose company or partner contains `text`, with this verdict id, and "open" or
    "finished" as `state` asks (empty: any)."""
    needle = text.strip().casefold()
    return [
        r
        for r in rows
        if (not needle or needle in r.company.casefold() or needle in r.partner.casefold())
        and (not verdict or r.verdict_id == verdict)
        and (not state or (state == "finished") == r.finished)
    ]


def moment(when: dt.datetime, tz: str, *, texts_lang: str, engine: Engine) -> str:
    """A date and time as read where the manager lives."""
    texts = engine.texts(texts_lang)
    local = when.astimezone(ZoneInfo(tz))
    time = f"{local.hour:02d}:{local.minute:02d}"
    return texts.ui("export.datetime", date=format_date(local.date(), texts), time=time)


@dataclass(frozen=True)
class ProjectPage:
    project: SharedProject
    row: ProjectRow
    content: ReportContent  # the manager's report, with the partner-safe comparison section
    comparison: PartnerComparison | None  # None: no partner was ever invited in

    @property
    def summary(self) -> Summary:
        return self.content.summary


def page(
    project: SharedProject,
    engine: Engine,
    reminders: Sequence[Reminder],
    *,
    lang: str,
    now: dt.datetime,
) -> ProjectPage:
    """The whole project: the report's content (answers by stage, diagnosis, next steps and
    this project's pending reminders) in the advisor's language."""
    texts = engine.texts(lang)
    dialogue = engine.dialogue
    walk = project.conversation
    pending = [
        (r.due_at, reminder_texts.short(r, dialogue, texts, project.answers))
        for r in reminders
        if r.project_id == project.project.id
    ]
    seed = (
        uid_seed(project.owner.key, walk.id, walk.created_at)
        if walk is not None
        else uid_seed(project.owner.key, 0, project.project.created_at)
    )
    content = build_content(
        engine,
        project_state(project, engine),
        project.answers,
        lang=lang,
        tz=project.owner.tz,
        today=today_for(project.owner.tz, now),
        uid_seed=seed,
        reminders=pending,
    )
    comparison = partner_comparison(project, engine, lang=lang, now=now)
    section = None
    if comparison is not None and comparison.status is None:
        section = divergence_content(comparison.view, texts)
    content = replace(
        content, summary=manager_summary(project, engine, lang=lang, now=now), divergence=section
    )
    return ProjectPage(project, row(project, engine, lang=lang, now=now), content, comparison)


@dataclass(frozen=True)
class PartnerComparison:
    """The divergence report between the manager and their invited partner, in its partner-safe
    view (no side's private rating): what either side may hand to an advisor."""

    columns: tuple[str, str]
    rows: tuple[Row, ...]
    status: str | None  # instead of the report while there is nothing to compare
    flagged: tuple[Gap, ...]
    next_steps: tuple[NextStep, ...]
    masked: bool  # some ratings are private and not shown (with `status`: nothing is shown)
    view: Divergence  # the partner-safe view itself, for the reports' section


def compared(
    project: SharedProject, engine: Engine, *, lang: str, now: dt.datetime
) -> Divergence | None:
    """The full comparison with the invited partner, for computing only (show its views);
    None when no partner was ever in the project."""
    left = project.project.partner_left_at is not None
    if project.partner_answers is None and not left:
        return None
    return divergence(
        engine.dialogue,
        project.answers,
        project.partner_answers or None,
        lang,
        today_for(project.owner.tz, now),
        withdrawn=project.partner_answers is None and left,
    )


def both_done(project: SharedProject) -> bool:
    """The manager and the invited partner both walked all their questions: the report on
    their gaps is out (before, neither side sees it, nor does the advisor)."""
    mine = project.conversation.state if project.conversation is not None else None
    return (
        project.partner_answers is not None
        and mine is not None
        and mine.get("at") == DONE
        and project.partner_state is not None
        and project.partner_state.get("at") == DONE
    )


def manager_summary(
    project: SharedProject, engine: Engine, *, lang: str, now: dt.datetime
) -> Summary:
    """The manager's summary as the manager reads it: once the partner has answered, the gaps
    between them weigh in the verdict, the red flags and the priorities."""
    today = today_for(project.owner.tz, now)
    summary = engine.summary(project_state(project, engine), project.answers, lang, today)
    comparison = compared(project, engine, lang=lang, now=now)
    if comparison is None or comparison.status != READY or not both_done(project):
        return summary
    diagnosis = with_divergence(
        engine.dialogue, summary.diagnosis, comparison, engine.texts(lang), today
    )
    return replace(summary, diagnosis=diagnosis)


def partner_comparison(
    project: SharedProject, engine: Engine, *, lang: str, now: dt.datetime
) -> PartnerComparison | None:
    """What the advisor sees of the comparison: its partner-safe view; None without a
    partner."""
    comparison = compared(project, engine, lang=lang, now=now)
    if comparison is None:
        return None
    texts = engine.texts(lang)
    view = comparison.view(SHARED)
    waiting = project.partner_answers is not None and not both_done(project)
    return PartnerComparison(
        columns=sides(view, texts),
        rows=tuple(rows(view, texts)),
        status=texts.ui("divergence.waiting") if waiting else status_text(view, texts),
        flagged=view.flagged,
        next_steps=view.next_steps,
        masked=any(gap.masked for gap in view.gaps),
        view=view,
    )
