"""When reminders fall: local hours across daylight-saving changes, month ends, plans.

2030's changes: Paris (last Sundays) 31 March 2:00 -> 3:00 and 27 October 3:00 -> 2:00;
Montreal (second Sunday of March, first of November) 10 March 2:00 -> 3:00 and 3 November
2:00 -> 1:00. Tokyo has none.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.reminders import Kind
from bot.reminders.schedule import (
    NUDGE_AFTER_DAYS,
    Planned,
    add_months,
    in_days,
    in_months,
    local_date,
    local_time,
    next_allowed,
    nudges,
    preparation_end,
    preparation_plan,
    review_dates,
    session_dates,
    snooze,
    still_ahead,
)

PARIS = "Europe/Paris"
MONTREAL = "America/Montreal"
TOKYO = "Asia/Tokyo"


def at(tz, *fields):
    """An aware local datetime (fold=0)."""
    return datetime(*fields, tzinfo=ZoneInfo(tz))


def utc(*fields):
    return datetime(*fields, tzinfo=UTC)


def local(moment, tz):
    return moment.astimezone(ZoneInfo(tz))


def test_the_2030_changes_are_where_these_tests_expect_them():
    for tz, before, after in [
        (PARIS, date(2030, 3, 30), date(2030, 3, 31)),
        (PARIS, date(2030, 10, 26), date(2030, 10, 27)),
        (MONTREAL, date(2030, 3, 9), date(2030, 3, 10)),
        (MONTREAL, date(2030, 11, 2), date(2030, 11, 3)),
    ]:
        assert after.weekday() == 6  # a Sunday
        noon = [datetime.combine(d, time(12)) for d in (before, after)]
        offsets = [n.replace(tzinfo=ZoneInfo(tz)).utcoffset() for n in noon]
        assert offsets[0] != offsets[1], (tz, after)


# local_time


@pytest.mark.parametrize(
    ("day", "tz", "hour", "expected"),
    [
        (date(2030, 1, 15), PARIS, 9, utc(2030, 1, 15, 8)),  # CET, UTC+1
        (date(2030, 7, 15), PARIS, 9, utc(2030, 7, 15, 7)),  # CEST, UTC+2
        (date(2030, 3, 31), PARIS, 9, utc(2030, 3, 31, 7)),  # the change day, after it
        (date(2030, 10, 27), PARIS, 9, utc(2030, 10, 27, 8)),
        (date(2030, 1, 15), MONTREAL, 9, utc(2030, 1, 15, 14)),  # EST, UTC-5
        (date(2030, 7, 15), MONTREAL, 9, utc(2030, 7, 15, 13)),  # EDT, UTC-4
        (date(2030, 3, 10), MONTREAL, 9, utc(2030, 3, 10, 13)),
        (date(2030, 11, 3), MONTREAL, 9, utc(2030, 11, 3, 14)),
        (date(2030, 1, 15), TOKYO, 9, utc(2030, 1, 15, 0)),  # JST, UTC+9
        (date(2030, 7, 15), TOKYO, 9, utc(2030, 7, 15, 0)),
        (date(2030, 7, 15), TOKYO, 8, utc(2030, 7, 14, 23)),  # the previous UTC day
        (date(2030, 7, 15), MONTREAL, 23, utc(2030, 7, 16, 3)),  # the next UTC day
    ],
)
def test_local_time(day, tz, hour, expected):
    moment = local_time(day, tz, hour)
    assert moment == expected
    assert moment.tzinfo is UTC
    assert (local(moment, tz).date(), local(moment, tz).hour) == (day, hour)


def test_an_hour_in_the_spring_gap_moves_forward():
    # 2:00 does not exist on these days: the clocks jump from 2:00 to 3:00.
    paris = local_time(date(2030, 3, 31), PARIS, 2)
    assert paris == utc(2030, 3, 31, 1)
    assert local(paris, PARIS).hour == 3
    montreal = local_time(date(2030, 3, 10), MONTREAL, 2)
    assert montreal == utc(2030, 3, 10, 7)
    assert local(montreal, MONTREAL).hour == 3


def test_an_ambiguous_hour_takes_its_first_occurrence():
    # 2:00 occurs twice in Paris on 27 October (CEST, then CET); 1:00 twice in Montreal.
    paris = local_time(date(2030, 10, 27), PARIS, 2)
    assert paris == utc(2030, 10, 27, 0)  # 2:00 CEST, not 2:00 CET (01:00 UTC)
    montreal = local_time(date(2030, 11, 3), MONTREAL, 1)
    assert montreal == utc(2030, 11, 3, 5)  # 1:00 EDT, not 1:00 EST (06:00 UTC)


def test_bad_time_zone_or_hour_is_a_value_error():
    for tz in ("Nowhere/City", "", "Europe", "../etc/passwd", "/etc/localtime"):
        with pytest.raises(ValueError, match="time zone"):
            local_time(date(2030, 1, 1), tz, 9)
    for hour in (-1, 24):
        with pytest.raises(ValueError, match="hour"):
            local_time(date(2030, 1, 1), PARIS, hour)


def test_naive_datetimes_are_refused():
    naive = datetime(2030, 1, 1, 12)  # naive on purpose
    for call in (
        lambda: in_days(naive, 1, PARIS, 9),
        lambda: in_months(naive, 1, PARIS, 9),
        lambda: snooze(naive, days=1, tz=PARIS, hour=9),
        lambda: next_allowed(naive, PARIS),
        lambda: nudges(naive, PARIS, 9),
        lambda: local_date(naive, PARIS),
        lambda: still_ahead([], naive),
    ):
        with pytest.raises(ValueError, match="naive"):
            call()


# in_days, in_months: across the changes, the local hour holds


def test_in_days_across_the_paris_spring_change():
    friday = at(PARIS, 2030, 3, 29, 10, 0)  # CET
    due = in_days(friday, 3, PARIS, 9)
    assert due == utc(2030, 4, 1, 7)  # Monday 9:00 CEST; 72 hours on would be 11:00
    assert local(due, PARIS).hour == 9


def test_in_days_across_the_paris_autumn_change():
    due = in_days(at(PARIS, 2030, 10, 25, 18, 0), 3, PARIS, 9)
    assert due == utc(2030, 10, 28, 8)  # Monday 9:00 CET
    assert local(due, PARIS).hour == 9


def test_in_days_across_the_montreal_changes():
    spring = in_days(at(MONTREAL, 2030, 3, 8, 12, 0), 3, MONTREAL, 9)
    assert spring == utc(2030, 3, 11, 13)  # 9:00 EDT
    autumn = in_days(at(MONTREAL, 2030, 11, 1, 12, 0), 5, MONTREAL, 9)
    assert autumn == utc(2030, 11, 6, 14)  # 9:00 EST
    assert local(spring, MONTREAL).hour == local(autumn, MONTREAL).hour == 9


def test_in_days_counts_from_the_local_date_not_the_utc_one():
    # 23:30 UTC on 4 March is already 5 March, 8:30, in Tokyo.
    now = utc(2030, 3, 4, 23, 30)
    assert in_days(now, 1, TOKYO, 9) == utc(2030, 3, 6, 0)  # 6 March 9:00 JST
    # ...and still 4 March, 18:30, in Montreal.
    assert in_days(now, 1, MONTREAL, 9) == utc(2030, 3, 5, 14)
    assert in_days(now, 0, TOKYO, 9) == utc(2030, 3, 5, 0)  # today, 9:00 JST: still ahead


def test_in_days_refuses_the_past():
    with pytest.raises(ValueError, match="days"):
        in_days(utc(2030, 1, 1), -1, PARIS, 9)
    with pytest.raises(ValueError, match="months"):
        in_months(utc(2030, 1, 1), -1, PARIS, 9)


def test_in_months_clamps_to_the_month_end_and_keeps_the_local_hour():
    assert in_months(at(PARIS, 2030, 1, 31, 15), 1, PARIS, 9) == utc(2030, 2, 28, 8)
    assert in_months(at(PARIS, 2028, 1, 31, 15), 1, PARIS, 9) == utc(2028, 2, 29, 8)  # leap
    assert in_months(at(PARIS, 2030, 8, 31, 15), 1, PARIS, 9) == utc(2030, 9, 30, 7)
    assert in_months(at(PARIS, 2030, 11, 30, 15), 3, PARIS, 9) == utc(2031, 2, 28, 8)
    # Across the spring change: 15 February (CET) to 15 April (CEST), still 9:00.
    assert in_months(at(PARIS, 2030, 2, 15, 15), 2, PARIS, 9) == utc(2030, 4, 15, 7)
    assert in_months(at(MONTREAL, 2030, 9, 20, 15), 2, MONTREAL, 9) == utc(2030, 11, 20, 14)
    assert in_months(at(TOKYO, 2030, 12, 31, 15), 2, TOKYO, 9) == utc(2031, 2, 28, 0)


def test_add_months():
    assert add_months(date(2030, 1, 31), 1) == date(2030, 2, 28)
    assert add_months(date(2030, 1, 31), 13) == date(2031, 2, 28)
    assert add_months(date(2030, 3, 31), -1) == date(2030, 2, 28)
    assert add_months(date(2030, 12, 15), 1) == date(2031, 1, 15)
    assert add_months(date(2030, 1, 15), -1) == date(2029, 12, 15)
    assert add_months(date(2030, 5, 17), 0) == date(2030, 5, 17)


# snooze and next_allowed


def test_snooze():
    morning = at(PARIS, 2030, 6, 3, 7, 0)
    assert snooze(morning, days=0, tz=PARIS, hour=9) == at(PARIS, 2030, 6, 3, 9)  # later today
    evening = at(PARIS, 2030, 6, 3, 21, 0)
    assert snooze(evening, days=0, tz=PARIS, hour=9) == at(PARIS, 2030, 6, 4, 9)  # tomorrow
    assert snooze(evening, days=2, tz=PARIS, hour=9) == at(PARIS, 2030, 6, 5, 9)
    # Across the Montreal autumn change: a week later, still 9:00.
    week = snooze(at(MONTREAL, 2030, 10, 30, 9, 30), days=7, tz=MONTREAL, hour=9)
    assert week == utc(2030, 11, 6, 14)


@pytest.mark.parametrize(
    ("moment", "tz", "expected"),
    [
        (at(PARIS, 2030, 6, 3, 12, 0), PARIS, at(PARIS, 2030, 6, 3, 12, 0)),  # daytime
        (at(PARIS, 2030, 6, 3, 8, 0), PARIS, at(PARIS, 2030, 6, 3, 8, 0)),  # opens at 8:00
        (at(PARIS, 2030, 6, 3, 19, 59), PARIS, at(PARIS, 2030, 6, 3, 19, 59)),
        (at(PARIS, 2030, 6, 3, 20, 0), PARIS, at(PARIS, 2030, 6, 4, 9)),  # closed at 20:00
        (at(PARIS, 2030, 6, 3, 23, 30), PARIS, at(PARIS, 2030, 6, 4, 9)),
        (at(PARIS, 2030, 6, 3, 3, 0), PARIS, at(PARIS, 2030, 6, 3, 9)),  # this morning
        (at(PARIS, 2030, 6, 3, 7, 59), PARIS, at(PARIS, 2030, 6, 3, 9)),
        # Saturday night before the spring change: Sunday 9:00 CEST.
        (at(PARIS, 2030, 3, 30, 22, 0), PARIS, utc(2030, 3, 31, 7)),
        # Saturday night before the autumn change in Montreal: Sunday 9:00 EST.
        (at(MONTREAL, 2030, 11, 2, 23, 0), MONTREAL, utc(2030, 11, 3, 14)),
        # 13:00 UTC is 22:00 in Tokyo: the next Tokyo morning, 0:00 UTC.
        (utc(2030, 3, 4, 13, 0), TOKYO, utc(2030, 3, 5, 0)),
        # 2:00 UTC is 11:00 in Tokyo: fine as it is.
        (utc(2030, 3, 4, 2, 0), TOKYO, utc(2030, 3, 4, 2, 0)),
    ],
)
def test_next_allowed(moment, tz, expected):
    allowed = next_allowed(moment, tz)
    assert allowed == expected
    assert allowed.tzinfo is UTC
    assert allowed >= moment


def test_next_allowed_custom_window_and_bad_windows():
    night = at(TOKYO, 2030, 6, 3, 6, 30)
    assert next_allowed(night, TOKYO, earliest_hour=6, latest_hour=22, hour=7) == night
    assert next_allowed(night, TOKYO, earliest_hour=7, latest_hour=22, hour=10) == at(
        TOKYO, 2030, 6, 3, 10
    )
    for window in (
        {"earliest_hour": 9, "hour": 8},
        {"hour": 20},
        {"latest_hour": 25},
        {"earliest_hour": -1},
    ):
        with pytest.raises(ValueError, match="earliest_hour"):
            next_allowed(night, TOKYO, **window)


# The preparation plan


def test_session_dates_spread_over_the_window():
    first = date(2030, 1, 10)
    assert session_dates(first, 4, 3) == [
        date(2030, 1, 10),
        date(2030, 2, 1),
        date(2030, 2, 24),
        date(2030, 3, 18),
    ]  # every 22 or 23 days, the window being 90 days
    five = session_dates(first, 5, 3)
    assert five[0] == first
    assert len(set(five)) == 5
    assert five == sorted(five)
    assert five[-1] < preparation_end(first, 3) == date(2030, 4, 10)
    assert session_dates(first, 1, 2) == [first]


def test_the_window_is_clamped_to_three_months():
    first = date(2030, 1, 10)
    assert preparation_end(first, 12) == preparation_end(first, 3) == date(2030, 4, 10)
    assert session_dates(first, 4, 12) == session_dates(first, 4, 3)
    assert preparation_end(first, 1) == date(2030, 2, 10)
    with pytest.raises(ValueError, match="months"):
        session_dates(first, 4, 0)
    with pytest.raises(ValueError, match="count"):
        session_dates(first, 0, 3)
    with pytest.raises(ValueError, match="fit"):
        session_dates(date(2030, 2, 1), 29, 1)  # 28 days in that window


def test_preparation_plan_across_the_paris_spring_change():
    plan = preparation_plan(date(2030, 1, 10), 4, 3, PARIS, 9)
    assert all(isinstance(item, Planned) for item in plan)
    assert [(item.kind, item.ref) for item in plan] == [
        ("prep_eve", "session-1"),
        ("prep_eve", "session-2"),
        ("prep_eve", "session-3"),
        ("prep_eve", "session-4"),
        ("go_no_go", "preparation"),
    ]
    assert plan[0].kind == Kind.PREP_EVE
    assert plan[-1].kind == Kind.GO_NO_GO
    assert [item.due_at for item in plan] == [
        utc(2030, 1, 9, 8),  # the eve of 10 January, 9:00 CET
        utc(2030, 1, 31, 8),
        utc(2030, 2, 23, 8),
        utc(2030, 3, 17, 8),
        utc(2030, 4, 10, 7),  # 10 April, 9:00 CEST: after the change, still 9:00 local
    ]
    for item in plan:
        assert local(item.due_at, PARIS).hour == 9


def test_preparation_plan_in_montreal_and_tokyo():
    montreal = preparation_plan(date(2030, 9, 2), 5, 6, MONTREAL, 9)  # clamped to 3 months
    assert len(montreal) == 6
    assert montreal[-1] == Planned("go_no_go", "preparation", utc(2030, 12, 2, 14))  # EST
    assert montreal[0].due_at == utc(2030, 9, 1, 13)  # EDT
    assert [local(item.due_at, MONTREAL).hour for item in montreal] == [9] * 6
    assert [item.due_at for item in montreal] == sorted(item.due_at for item in montreal)
    tokyo = preparation_plan(date(2030, 3, 1), 4, 2, TOKYO, 18)
    assert tokyo[0].due_at == utc(2030, 2, 28, 9)  # 28 Feb 18:00 JST
    assert tokyo[-1].due_at == utc(2030, 5, 1, 9)


def test_still_ahead_drops_what_is_past():
    plan = preparation_plan(date(2030, 1, 10), 4, 3, PARIS, 9)
    now = at(PARIS, 2030, 2, 1, 12, 0)  # after the second eve
    assert [item.ref for item in still_ahead(plan, now)] == [
        "session-3",
        "session-4",
        "preparation",
    ]


# Periodic reviews


def test_review_dates_default_to_quarterly():
    start = date(2030, 1, 15)
    expected = [utc(2030, 4, 15, 7), utc(2030, 7, 15, 7), utc(2030, 10, 15, 7)]
    assert review_dates(start, None, 3, PARIS, 9) == expected
    assert review_dates(start, "quarterly", 3, PARIS, 9) == expected


def test_review_frequencies_and_month_ends():
    start = date(2030, 1, 31)
    monthly = review_dates(start, "monthly", 4, PARIS, 9)
    assert [local(d, PARIS).date() for d in monthly] == [
        date(2030, 2, 28),
        date(2030, 3, 31),  # no drift to the 28th: counted from the start
        date(2030, 4, 30),
        date(2030, 5, 31),
    ]
    assert monthly[1] == utc(2030, 3, 31, 7)  # the day of the change itself, 9:00 CEST
    half = review_dates(start, "half_yearly", 2, TOKYO, 9)
    assert half == [utc(2030, 7, 31, 0), utc(2031, 1, 31, 0)]
    yearly = review_dates(date(2028, 2, 29), "yearly", 2, MONTREAL, 9)
    assert yearly == [utc(2029, 2, 28, 14), utc(2030, 2, 28, 14)]
    assert review_dates(start, "monthly", 0, PARIS, 9) == []


def test_reviews_across_the_montreal_changes_keep_the_local_hour():
    reviews = review_dates(date(2030, 1, 15), "quarterly", 4, MONTREAL, 10)
    assert reviews == [
        utc(2030, 4, 15, 14),  # EDT
        utc(2030, 7, 15, 14),
        utc(2030, 10, 15, 14),
        utc(2031, 1, 15, 15),  # EST
    ]


def test_unknown_review_frequency():
    with pytest.raises(ValueError, match="frequency"):
        review_dates(date(2030, 1, 1), "weekly", 3, PARIS, 9)
    with pytest.raises(ValueError, match="count"):
        review_dates(date(2030, 1, 1), "monthly", -1, PARIS, 9)


# Nudges


def test_two_nudges_then_silence():
    last = at(PARIS, 2030, 3, 26, 22, 15)  # Tuesday evening, CET
    assert NUDGE_AFTER_DAYS == (3, 10)
    assert nudges(last, PARIS, 9) == [
        utc(2030, 3, 29, 8),  # Friday 9:00 CET
        utc(2030, 4, 5, 7),  # after the change: 9:00 CEST
    ]


def test_nudges_across_the_montreal_autumn_change_and_in_tokyo():
    assert nudges(at(MONTREAL, 2030, 10, 31, 16, 0), MONTREAL, 9) == [
        utc(2030, 11, 3, 14),  # the change day itself: 9:00 EST
        utc(2030, 11, 10, 14),
    ]
    assert nudges(utc(2030, 3, 4, 23, 30), TOKYO, 9) == [utc(2030, 3, 8, 0), utc(2030, 3, 15, 0)]


# Properties


# Lord Howe moves by 30 minutes; Sao Paulo used to change at midnight. (Not Pacific/Apia: it
# skipped 30 December 2011 entirely, so "a day later" can land two days later there.)
ZONES = st.sampled_from(
    [PARIS, MONTREAL, TOKYO, "UTC", "Australia/Lord_Howe", "America/Sao_Paulo"]
)
NOW = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2090, 1, 1), timezones=st.just(UTC)
)


@settings(max_examples=300, deadline=None)
@given(now=NOW, days=st.integers(0, 800), tz=ZONES, hour=st.integers(8, 20))
def test_in_days_lands_on_the_local_hour_of_the_right_day(now, days, tz, hour):
    due = in_days(now, days, tz, hour)
    landed = local(due, tz)
    assert landed.date() == local(now, tz).date() + timedelta(days=days)
    assert landed.hour == hour  # no daylight-saving change in these zones happens at 8-20h
    assert due.tzinfo is UTC
    if days >= 1:
        assert due > now


@settings(max_examples=300, deadline=None)
@given(moment=NOW, tz=ZONES)
def test_next_allowed_is_never_at_night_nor_earlier(moment, tz):
    allowed = next_allowed(moment, tz)
    assert allowed >= moment
    assert 8 <= local(allowed, tz).hour < 20
    assert allowed - moment <= timedelta(hours=14)  # 20:00 -> 9:00, + 1 h in autumn
