"""What every report format shows, gathered once: the summary, the plan, the reminders, the words.

The PDF, Markdown and calendar writers only lay this out; none of them reads storage or runs the
dialogue rules again.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from bot.dialogue.conditions import NOT_YET
from bot.dialogue.engine import Engine, State
from bot.dialogue.model import Texts
from bot.dialogue.plan import PreparationPlan
from bot.dialogue.summary import Summary, format_date
from bot.export.divergence import DivergenceContent

# The five shares of a sound alliance, in the order the method lists them: question id -> the
# ui key of its short chart label.
SHARES = (
    ("shares_vision", "export.charts.share_vision"),
    ("shares_gains", "export.charts.share_gains"),
    ("shares_risks", "export.charts.share_risks"),
    ("shares_powers", "export.charts.share_powers"),
    ("shares_identity", "export.charts.share_identity"),
)
GRID = ("attractiveness", "strengths")  # the two axes of the attractiveness/strengths grid


class Reminder(NamedTuple):
    """A pending reminder: when it is due (aware) and what it says. A plain tuple works too."""

    due: dt.datetime
    text: str


@dataclass(frozen=True)
class Scale:
    """A scale answer with its bounds; value None when unanswered or "not yet"."""

    value: int | None
    minimum: int
    maximum: int


@dataclass(frozen=True)
class ReportContent:
    summary: Summary
    texts: Texts
    answers: Mapping[str, Any]  # the answers on the walk's current path only
    scales: Mapping[str, Scale]  # shares_* and the grid's questions, when the dialogue has them
    plan: PreparationPlan | None
    reminders: tuple[Reminder, ...]  # sorted by due time
    tz: ZoneInfo
    uid_seed: str  # stable for one conversation, unique across users: calendar UIDs start here
    # The comparison with the invited partner, as the manager sees it (view MANAGER), once the
    # partner has answered: the PDF and Markdown reports add it as a section.
    divergence: DivergenceContent | None = None

    @property
    def lang(self) -> str:
        return self.texts.lang

    @property
    def project(self) -> str:
        """ "Company with Partner", or the company alone, or a neutral title."""
        company, partner = self.summary.company, self.summary.partner
        if company and partner:
            return self.texts.ui("summary.subtitle", company=company, partner=partner)
        return company or partner or self.texts.ui("export.untitled")

    def date(self, day: dt.date) -> str:
        return format_date(day, self.texts)

    def moment(self, when: dt.datetime) -> str:
        """A date and time as the user reads it, in their time zone."""
        local = when.astimezone(self.tz)
        time = f"{local.hour:02d}:{local.minute:02d}"
        return self.texts.ui("export.datetime", date=self.date(local.date()), time=time)

    def plan_notes(self) -> list[str]:
        """The plan's introduction, then what it changed from the answers and why."""
        plan = self.plan
        if plan is None:
            return []
        ui = self.texts.ui
        notes = [
            ui(
                "export.plan_intro",
                count=len(plan.sessions),
                first=self.date(plan.sessions[0]),
                last=self.date(plan.sessions[-1]),
                decision=self.date(plan.go_no_go),
            )
        ]
        params = {
            "requested": plan.requested_sessions,
            "count": len(plan.sessions),
            "requested_months": plan.requested_months,
            "months": plan.months,
            "first": self.date(plan.first),
            "decision": self.date(plan.go_no_go),
        }
        notes += [ui(f"advice.plan.{change}", **params) for change in plan.changes]
        return notes

    def scale(self, question_id: str) -> int | None:
        known = self.scales.get(question_id)
        return known.value if known is not None else None


def build_content(
    engine: Engine,
    state: State,
    answers: Mapping[str, Any],
    *,
    lang: str,
    tz: str,
    today: dt.date,
    uid_seed: str,
    reminders: Iterable[tuple[dt.datetime, str]] = (),
    divergence: DivergenceContent | None = None,
    summary: Summary | None = None,
) -> ReportContent:
    """Everything a report shows for one conversation, in the user's language; `divergence`,
    the comparison with the partner as the manager sees it, adds its section. `summary`, the
    engine's summary of these answers if one was built already, is used when it was built for
    `today` in `lang` (the end of the checklist shows it before its charts).

    Raises:
        ValueError: a reminder's due time is naive.
    """
    if summary is None or summary.date != today or summary.lang != lang:
        summary = engine.summary(state, answers, lang, today)
    path = engine.walker.path(answers)
    on_path = {qid: answers[qid] for qid in path if qid in answers}
    scales = {}
    for qid in (*(qid for qid, _ in SHARES), *GRID):
        question = engine.dialogue.questions.get(qid)
        if question is None or question.type not in ("scale", "number"):
            continue
        value = on_path.get(qid)
        known = value if isinstance(value, int) and not isinstance(value, bool) else None
        scales[qid] = Scale(
            None if value == NOT_YET else known, question.minimum or 1, question.maximum or 5
        )
    pending = []
    for due, text in reminders:
        if due.tzinfo is None or due.utcoffset() is None:
            raise ValueError("a reminder's due time must be aware")
        pending.append(Reminder(due, text))
    pending.sort(key=lambda reminder: reminder.due)
    return ReportContent(
        summary=summary,
        texts=engine.texts(lang),
        answers=on_path,
        scales=scales,
        plan=summary.diagnosis.plan,
        reminders=tuple(pending),
        tz=ZoneInfo(tz),
        uid_seed=uid_seed,
        divergence=divergence,
    )


def uid_seed(user_key: str, conversation_id: int, created_at: dt.datetime) -> str:
    """A stable, opaque id for one conversation: the same on every export, and unique across
    users and databases without showing the user's Telegram id."""
    raw = f"{user_key}|{conversation_id}|{created_at.isoformat()}"
    return hashlib.sha256(raw.encode()).hexdigest()[:20]
