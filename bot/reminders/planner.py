"""Which reminders a manager's answers call for: pure, from the answers and the clock.

The Telegram layer offers these to the manager and stores the ones accepted
(Storage.add_reminder is idempotent per kind and ref, so offering twice never duplicates).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from bot.dialogue.diagnosis import NextStep
from bot.dialogue.plan import plan_preparation
from bot.reminders import Kind
from bot.reminders.schedule import (
    in_days,
    in_months,
    local_date,
    local_time,
    next_allowed,
    nudges,
    review_dates,
)

CHOICES = ("sug", "d1", "w1", "m1")  # suggested date, in a day, in a week, in a month


@dataclass(frozen=True)
class Plan:
    """A reminder to store: Storage.add_reminder(user_id, kind=..., ref=..., due_at=...)."""

    kind: str
    ref: str
    due_at: dt.datetime
    payload: dict[str, Any] = field(default_factory=dict)


def due_for(choice: str, now: dt.datetime, tz: str, hour: int, suggested: dt.date) -> dt.datetime:
    """When a reminder falls for a button choice (see CHOICES), at `hour` local time."""
    if choice == "d1":
        return in_days(now, 1, tz, hour)
    if choice == "w1":
        return in_days(now, 7, tz, hour)
    if choice == "m1":
        return in_months(now, 1, tz, hour)
    due = local_time(max(suggested, local_date(now, tz)), tz, hour)
    return due if due > now else next_allowed(now + dt.timedelta(hours=1), tz, hour=hour)


def on_date(day: dt.date, now: dt.datetime, tz: str, hour: int) -> dt.datetime:
    """A typed date: that day at `hour` local, or the next allowed hour if that is past."""
    due = local_time(day, tz, hour)
    return due if due > now else next_allowed(now + dt.timedelta(hours=1), tz, hour=hour)


def for_next_step(step: NextStep, due_at: dt.datetime) -> Plan:
    """The reminder of one next step of the summary (a "not yet" answer is a to-do)."""
    if step.question_id is not None:
        return Plan(Kind.TODO, step.question_id, due_at, {"question": step.question_id})
    return Plan(Kind.NEXT_STEP, step.key, due_at, {"step": step.key})


def preparation(
    answers: Mapping[str, Any], now: dt.datetime, tz: str, hour: int
) -> tuple[list[dt.date], list[Plan]]:
    """The working-session dates and their reminders, when the answers allow a plan.

    From the date of the first session, the number planned and the months of preparation, as
    the method plans them (bot.dialogue.plan: 4 or 5 sessions, three months at most).
    Reminders: the eve of each session, a short check-in the day after each one, and the
    go/no-go at the end of the window; only those still ahead of `now`.
    """
    if not isinstance(answers.get("prep_sessions"), int):
        return [], []
    # The same plan as the summary and the reports: 4 or 5 sessions within three months, the
    # sessions it adds never before today.
    plan = plan_preparation(answers, local_date(now, tz))
    if plan is None:
        return [], []
    sessions = list(plan.sessions)
    end = plan.go_no_go
    plans: list[Plan] = []
    for number, day in enumerate(sessions, start=1):
        ref = f"session-{number}"
        data = {"session": number, "date": day.isoformat()}
        plans.append(
            Plan(Kind.PREP_EVE, ref, local_time(day - dt.timedelta(days=1), tz, hour), data)
        )
        plans.append(
            Plan(Kind.CHECKIN, ref, local_time(day + dt.timedelta(days=1), tz, hour), data)
        )
    plans.append(
        Plan(Kind.GO_NO_GO, "preparation", local_time(end, tz, hour), {"date": end.isoformat()})
    )
    return sessions, [plan for plan in plans if plan.due_at > now]


def next_review(
    answers: Mapping[str, Any], since: dt.date, number: int, tz: str, hour: int
) -> Plan:
    """The next periodic alliance review (quarterly unless the manager chose a rhythm)."""
    frequency = answers.get("review_frequency")
    rhythm = frequency if frequency in ("monthly", "quarterly", "half_yearly", "yearly") else None
    due = review_dates(since, rhythm, 1, tz, hour)[0]
    return Plan(Kind.REVIEW, f"review-{number}", due, {"number": number})


def nudge_plans(last_activity: dt.datetime, tz: str, hour: int) -> list[Plan]:
    """At most two nudges for an unfinished checklist, then silence."""
    return [
        Plan(Kind.NUDGE, f"nudge-{number}", due, {})
        for number, due in enumerate(nudges(last_activity, tz, hour), start=1)
    ]
