"""The preparation plan: session dates and the go/no-go date."""

import datetime as dt
import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.export.preparation import (
    DEFAULT_SESSIONS,
    MAX_MONTHS,
    go_no_go_date,
    plan_preparation,
    session_dates,
)
from bot.reminders import schedule
from bot.reminders.schedule import add_months

BEFORE = dt.date(2026, 11, 20)  # "today" in the plans below: before their first session
MONDAY = dt.date(2026, 11, 30)


def test_four_sessions_over_three_months_are_evenly_spread():
    dates = session_dates(MONDAY, 4)
    decision = go_no_go_date(MONDAY)
    assert decision == dt.date(2027, 2, 28)  # 3 months, clamped to February's end
    assert dates == [
        MONDAY,
        dt.date(2026, 12, 22),
        dt.date(2027, 1, 14),
        dt.date(2027, 2, 5),
    ]
    gaps = [(b - a).days for a, b in zip(dates, [*dates[1:], decision], strict=True)]
    assert max(gaps) - min(gaps) <= 1  # equal intervals, rounded to whole days


def test_the_window_is_clamped_to_three_months():
    assert go_no_go_date(MONDAY, 6) == go_no_go_date(MONDAY, 3)
    assert session_dates(MONDAY, 5, 12) == session_dates(MONDAY, 5, 3)
    assert go_no_go_date(MONDAY, 0) == go_no_go_date(MONDAY, 1)
    assert go_no_go_date(MONDAY, 1) < go_no_go_date(MONDAY, 2) < go_no_go_date(MONDAY, 3)


def test_same_days_as_the_reminders():
    for count, months in ((4, 3), (5, 2), (1, 1), (20, 3)):
        assert session_dates(MONDAY, count, months) == schedule.session_dates(
            MONDAY, count, months
        )
        assert go_no_go_date(MONDAY, months) == schedule.preparation_end(MONDAY, months)


def test_one_session_is_the_first_one():
    assert session_dates(MONDAY, 1) == [MONDAY]


def test_at_least_one_session():
    with pytest.raises(ValueError, match="at least one"):
        session_dates(MONDAY, 0)


def test_no_more_sessions_than_days():
    dates = session_dates(MONDAY, 200, 1)
    assert len(dates) == len(set(dates)) <= 30
    assert dates == sorted(dates)


@given(
    first=st.dates(min_value=dt.date(2000, 1, 1), max_value=dt.date(2100, 1, 1)),
    count=st.integers(min_value=1, max_value=40),
    months=st.integers(min_value=-2, max_value=30),
)
def test_sessions_stay_in_order_inside_the_window(first, count, months):
    dates = session_dates(first, count, months)
    decision = go_no_go_date(first, months)
    assert dates[0] == first
    assert all(a < b for a, b in itertools.pairwise(dates))
    assert dates[-1] < decision <= add_months(first, MAX_MONTHS)
    assert len(dates) == min(count, (decision - first).days)


def test_plan_from_answers():
    plan = plan_preparation(
        {"prep_first_session": "2026-11-30", "prep_sessions": 5, "prep_months": 2}, BEFORE
    )
    assert plan is not None
    assert plan.first == MONDAY
    assert len(plan.sessions) == 5
    assert plan.months == 2
    assert plan.count_given
    assert not plan.clamped
    assert plan.go_no_go == go_no_go_date(MONDAY, 2)


def test_plan_clamps_a_long_preparation_and_says_so():
    plan = plan_preparation(
        {"prep_first_session": "2026-11-30", "prep_sessions": 4, "prep_months": 8}, BEFORE
    )
    assert plan is not None
    assert (plan.months, plan.requested_months, plan.clamped) == (3, 8, True)
    assert plan.changes == ("shorter",)


@pytest.mark.parametrize("sessions", ["notyet", None])
def test_plan_without_a_session_count_plans_the_methods_default(sessions):
    answers = {"prep_first_session": "2026-11-30", "prep_months": "notyet"}
    if sessions is not None:
        answers["prep_sessions"] = sessions
    plan = plan_preparation(answers, BEFORE)
    assert plan is not None
    assert len(plan.sessions) == DEFAULT_SESSIONS
    assert plan.changes == ("default_count",)
    assert not plan.count_given
    assert plan.months == MAX_MONTHS


@pytest.mark.parametrize("first", [None, "notyet", "not a date", 20261130])
def test_no_plan_without_a_first_session_date(first):
    answers = {"prep_sessions": 4} if first is None else {"prep_first_session": first}
    assert plan_preparation(answers, BEFORE) is None


@pytest.mark.parametrize(
    ("asked", "planned", "change"),
    [
        (1, 4, "more_sessions"),
        (2, 4, "more_sessions"),
        (4, 4, None),
        (5, 5, None),
        (9, 5, "fewer_sessions"),
    ],
)
def test_the_plan_holds_4_or_5_sessions_and_says_what_it_changed(asked, planned, change):
    answers = {"prep_first_session": "2026-11-30", "prep_sessions": asked, "prep_months": 3}
    plan = plan_preparation(answers, BEFORE)
    assert plan is not None
    assert len(plan.sessions) == planned
    assert plan.changes == ((change,) if change else ())
    assert plan.sessions[-1] < plan.go_no_go <= add_months(MONDAY, 3)


@given(
    st.dates(dt.date(2026, 1, 1), dt.date(2027, 12, 31)),
    st.integers(0, 200),
    st.integers(1, 9),
    st.integers(1, 12),
)
def test_sessions_the_plan_adds_are_never_in_the_past(first, days_later, count, months):
    today = first + dt.timedelta(days=days_later)
    answers = {
        "prep_first_session": first.isoformat(),
        "prep_sessions": count,
        "prep_months": months,
    }
    plan = plan_preparation(answers, today)
    assert plan is not None
    assert plan.sessions[0] == first  # the manager's own first session is kept
    assert all(day >= today for day in plan.sessions[1:])
    assert all(a < b for a, b in itertools.pairwise(plan.sessions))
    assert plan.sessions[-1] < plan.go_no_go
    assert 4 <= len(plan.sessions) <= 5


@pytest.mark.parametrize(("count", "months"), list(itertools.product((4, 5), (1, 2, 3))))
def test_the_core_plan_names_the_reminders_days(count, months):
    answers = {"prep_first_session": MONDAY.isoformat(), "prep_sessions": count}
    plan = plan_preparation({**answers, "prep_months": months}, BEFORE)
    assert plan is not None
    assert list(plan.sessions) == schedule.session_dates(MONDAY, count, months)
    assert plan.go_no_go == schedule.preparation_end(MONDAY, months)
