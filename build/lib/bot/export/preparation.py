"""The preparation plan: when the working sessions fall and when to decide whether to go on.

The method: a preparation period of 4 or 5 working sessions over 3 months at most confirms the
shared intent, and ends with a go/no-go decision. The date arithmetic is the reminders' own
(bot.reminders.schedule), so that the report, the calendar and the reminders the bot sends
always name the same days. Pure functions of dates: no clock, no I/O.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bot.reminders import schedule

MAX_MONTHS = schedule.MAX_PREPARATION_MONTHS  # the method's longest preparation window
DEFAULT_SESSIONS = 4  # the method's usual count, used when the manager has not said


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


@dataclass(frozen=True)
class PreparationPlan:
    """The plan drawn from the preparation answers."""

    first: dt.date
    sessions: tuple[dt.date, ...]
    go_no_go: dt.date
    months: int  # the window planned, in months (clamped to MAX_MONTHS)
    requested_months: int | None  # what the manager answered, when a number
    count_given: bool  # False: the manager has not said how many sessions; DEFAULT_SESSIONS used

    @property
    def clamped(self) -> bool:
        """The manager planned a longer preparation than the method allows."""
        return self.requested_months is not None and self.requested_months > self.months


def plan_preparation(answers: Mapping[str, Any]) -> PreparationPlan | None:
    """The plan from the answers prep_first_session, prep_sessions and prep_months.

    None until the first session has a date. An unknown number of sessions ("not yet") plans
    DEFAULT_SESSIONS; an unknown window plans MAX_MONTHS.
    """
    raw_first = answers.get("prep_first_session")
    try:
        first = dt.date.fromisoformat(raw_first) if isinstance(raw_first, str) else None
    except ValueError:
        first = None
    if first is None:
        return None
    count = _whole(answers.get("prep_sessions"))
    requested = _whole(answers.get("prep_months"))
    months = window_months(requested if requested is not None else MAX_MONTHS)
    given = count is not None and count >= 1
    sessions = session_dates(first, count if given and count else DEFAULT_SESSIONS, months)
    return PreparationPlan(
        first=first,
        sessions=tuple(sessions),
        go_no_go=go_no_go_date(first, months),
        months=months,
        requested_months=requested,
        count_given=given,
    )


def _whole(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return None
