"""The preparation plan: when the working sessions fall and when to decide whether to go on.

The method: a preparation period of 4 or 5 working sessions over 3 months at most confirms the
shared intent, and ends with a go/no-go decision. The plan itself is the dialogue core's
(bot.dialogue.plan), which the diagnosis, the reports and the reminders all use; the date helpers
here are the reminders' own arithmetic (bot.reminders.schedule), and the core plan names the same
days (tests/test_export_preparation.py). Pure functions of dates: no clock, no I/O.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from bot.dialogue.plan import DEFAULT_SESSIONS, PreparationPlan
from bot.dialogue.plan import plan_preparation as core_plan
from bot.reminders import schedule

__all__ = [
    "DEFAULT_SESSIONS",
    "MAX_MONTHS",
    "PreparationPlan",
    "go_no_go_date",
    "plan_preparation",
    "session_dates",
    "window_months",
]

MAX_MONTHS = schedule.MAX_PREPARATION_MONTHS  # the method's longest preparation window


def window_months(months: int) -> int:
    """The preparation window actually planned: between 1 and MAX_MONTHS months."""
    return max(1, min(months, MAX_MONTHS))


def go_no_go_date(first: dt.date, months: int = MAX_MONTHS) -> dt.date:
    """The end of the preparation window, when to decide whether to go on: `months` calendar
    months after the first session (clamped to 1..MAX_MONTHS; a shorter month's end when the
    day does not exist)."""
    return schedule.preparation_end(first, window_months(months))


def session_dates(first: dt.date, count: int, months: int = MAX_MONTHS) -> list[dt.date]:
    """The working-session dates, spread evenly over the preparation window.

    The first session is on `first` (the date the manager gave); the others follow at equal
    intervals of window / count days (rounded down), so the last session leaves one interval
    before the go/no-go date to weigh the decision. There are never more sessions than days
    in the window, so dates never repeat.

    Args:
        first: the date of the first session.
        count: how many sessions in all (at least 1).
        months: the preparation window in months, clamped to 1..MAX_MONTHS.

    Returns:
        `count` dates (fewer only if the window has fewer days), in increasing order.

    Raises:
        ValueError: count is smaller than 1.
    """
    if count < 1:
        raise ValueError("at least one session")
    window = window_months(months)
    days = (go_no_go_date(first, window) - first).days
    return schedule.session_dates(first, min(count, days), window)


def plan_preparation(answers: Mapping[str, Any], today: dt.date) -> PreparationPlan | None:
    """The plan the diagnosis uses (bot.dialogue.plan): 4 or 5 sessions within 3 months from
    the first one, none added before `today`; None until the first session has a date."""
    return core_plan(answers, today)
