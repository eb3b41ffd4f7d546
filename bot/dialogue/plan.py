"""The preparation plan: when the working sessions fall and when to decide whether to go on.

The method: a preparation of 4 or 5 working sessions within 3 months from the first one confirms
the shared intent, and ends with a go/no-go decision. The plan keeps the manager's first session;
when the manager plans fewer or more sessions, or more months, it follows the method instead and
says what it changed (`changes`). A session it adds is never dated before `today`.

Pure: dates in, dates out; `today` is passed in.
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

MAX_MONTHS = 3  # the method's longest preparation window
MIN_SESSIONS, MAX_SESSIONS = 4, 5  # the method's usual count
DEFAULT_SESSIONS = MIN_SESSIONS  # when the manager has not said
MIN_GAP_DAYS = 7  # a session added after today leaves at least a week before the next one

# What the plan changed from the manager's answers, as the keys of the words explaining why.
MORE_SESSIONS = "more_sessions"  # fewer than 4 planned: 4
FEWER_SESSIONS = "fewer_sessions"  # more than 5 planned: 5
DEFAULT_COUNT = "default_count"  # not said: 4
SHORTER = "shorter"  # more than 3 months planned: 3
RESTARTED = "restarted"  # the window from the first session is (nearly) over: it runs from today


def add_months(day: dt.date, months: int) -> dt.date:
    """The same day `months` later, clamped to the month's last day (31 Jan + 1 = 28/29 Feb)."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    month += 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


@dataclass(frozen=True)
class PreparationPlan:
    """The plan drawn from the preparation answers."""

    first: dt.date  # the first session, as the manager gave it
    sessions: tuple[dt.date, ...]  # every session, the first included, in increasing order
    go_no_go: dt.date
    months: int  # the window planned, in months
    requested_months: int | None  # what the manager answered, when a number
    requested_sessions: int | None  # idem
    changes: tuple[str, ...] = ()  # what the plan changed, in the order worth reading

    @property
    def count_given(self) -> bool:
        return self.requested_sessions is not None

    @property
    def clamped(self) -> bool:
        """The manager planned a longer preparation than the method allows."""
        return SHORTER in self.changes

    def next_session(self, today: dt.date) -> dt.date | None:
        return next((day for day in self.sessions if day >= today), None)

    def last_session(self, today: dt.date) -> dt.date | None:
        return self.sessions[-1] if self.sessions[-1] >= today else None


def session_count(requested: int | None) -> tuple[int, tuple[str, ...]]:
    """How many sessions the method plans for the manager's answer, and what changed."""
    if requested is None or requested < 1:
        return DEFAULT_SESSIONS, (DEFAULT_COUNT,)
    if requested < MIN_SESSIONS:
        return MIN_SESSIONS, (MORE_SESSIONS,)
    if requested > MAX_SESSIONS:
        return MAX_SESSIONS, (FEWER_SESSIONS,)
    return requested, ()


def plan_preparation(answers: Mapping[str, Any], today: dt.date) -> PreparationPlan | None:
    """The plan from prep_first_session, prep_sessions and prep_months; None until the first
    session has a date, and once a preparation under way is concluded by the declaration of
    intent."""
    raw_first = answers.get("prep_first_session")
    try:
        first = dt.date.fromisoformat(raw_first) if isinstance(raw_first, str) else None
    except ValueError:
        first = None
    if first is None:
        return None
    if first < today and answers.get("intent_declaration") == "yes":
        return None  # begun and concluded by the declaration of intent: nothing left to plan
    requested_sessions = _whole(answers.get("prep_sessions"))
    requested_months = _whole(answers.get("prep_months"))
    count, changes = session_count(requested_sessions)
    months = MAX_MONTHS if requested_months is None else max(1, requested_months)
    if months > MAX_MONTHS:
        months = MAX_MONTHS
        changes += (SHORTER,)
    end = add_months(first, months)
    if first >= today:
        window = (end - first).days  # spread as the reminders' schedule does
        sessions = [first + dt.timedelta(days=index * window // count) for index in range(count)]
        return PreparationPlan(
            first, tuple(sessions), end, months, requested_months, requested_sessions, changes
        )
    # The first session is behind: the sessions still to hold are spread from today to the end
    # of the window, or over a new window from today when too little of it is left.
    remaining = count - 1
    if (end - today).days < (remaining + 1) * MIN_GAP_DAYS:
        end = add_months(today, months)
        changes += (RESTARTED,)
    span = (end - today).days
    later = [
        today + dt.timedelta(days=index * span // (remaining + 1)) for index in range(1, count)
    ]
    return PreparationPlan(
        first, (first, *later), end, months, requested_months, requested_sessions, changes
    )


def _whole(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return None
