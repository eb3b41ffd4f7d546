"""When follow-up reminders fall: date arithmetic on the user's local calendar.

Pure: nothing here reads the clock (``now`` is passed in) or touches storage. A reminder is
meant for a local wall-clock hour ("9:00 in Paris"), so days and months are counted on the
user's calendar, and only then turned into an instant: a reminder three days after a Friday
10:00 before the spring change still arrives at 9:00 on Monday, not at 10:00 or 8:00.

Every datetime taken must be aware; every datetime returned is aware and in UTC, ready for
Storage.add_reminder. Time zones are IANA names (``"Europe/Paris"``), as in User.tz.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from typing import NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.reminders import Kind

# The method: 4 or 5 working sessions over three months at most, then decide.
MAX_PREPARATION_MONTHS = 3
PREPARATION_REF = "preparation"  # the go/no-go reminder's ref

# Periodic reviews with the partner: months between two reviews, per answer to
# review_frequency. Quarterly when the manager has not chosen.
REVIEW_MONTHS = {"monthly": 1, "quarterly": 3, "half_yearly": 6, "yearly": 12}
DEFAULT_REVIEW_FREQUENCY = "quarterly"

# An unfinished checklist gets a nudge this many days after the last activity, then silence.
NUDGE_AFTER_DAYS = (3, 10)


class Planned(NamedTuple):
    """A reminder to schedule: Storage.add_reminder(user_id, kind=..., ref=..., due_at=...)."""

    kind: str
    ref: str
    due_at: datetime


def local_time(day: date, tz: str, hour: int) -> datetime:
    """The instant (UTC) when it is ``hour``:00 on ``day`` in the time zone ``tz``.

    On a daylight-saving change: an hour that does not exist that day (spring forward) is moved
    forward by the length of the gap (2:30 in a 2:00-3:00 gap becomes 3:30); an hour that
    occurs twice (fall back) is its first occurrence.

    Raises:
        ValueError: unknown time zone, or hour outside 0-23.
    """
    _check_hour(hour)
    # fold=0 is exactly the rule above: a gap time is read with the offset in force before
    # the change, which lands after it; an ambiguous time is read with the earlier offset.
    wall = datetime.combine(day, time(hour), tzinfo=_zone(tz))
    return wall.astimezone(UTC)


def local_date(moment: datetime, tz: str) -> date:
    """The calendar day it is at ``moment`` in the time zone ``tz``.

    Raises:
        ValueError: moment is naive, or the time zone is unknown.
    """
    _check_aware(moment)
    return moment.astimezone(_zone(tz)).date()


def add_months(day: date, months: int) -> date:
    """The same day ``months`` later (earlier if negative), clamped to the month's last day:
    31 January + 1 month is 28 (or 29) February."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    month += 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def in_days(now: datetime, days: int, tz: str, hour: int) -> datetime:
    """``hour``:00 local time, ``days`` calendar days after today's local date.

    With days=0 this is today, possibly already past (see snooze).

    Raises:
        ValueError: days is negative, now is naive, unknown time zone, hour outside 0-23.
    """
    _check_not_negative(days, "days")
    return local_time(local_date(now, tz) + timedelta(days=days), tz, hour)


def in_months(now: datetime, months: int, tz: str, hour: int) -> datetime:
    """``hour``:00 local time on the same day ``months`` later, clamped to the month's end.

    Raises:
        ValueError: months is negative, now is naive, unknown time zone, hour outside 0-23.
    """
    _check_not_negative(months, "months")
    return local_time(add_months(local_date(now, tz), months), tz, hour)


def snooze(now: datetime, *, days: int, tz: str, hour: int) -> datetime:
    """When a reminder put off by ``days`` comes back: ``hour``:00 local, ``days`` days on.

    Always after ``now``: with days=0 it is today at ``hour`` if that is still ahead,
    otherwise tomorrow.

    Raises:
        ValueError: days is negative, now is naive, unknown time zone, hour outside 0-23.
    """
    due = in_days(now, days, tz, hour)
    return due if due > now else in_days(now, days + 1, tz, hour)


def next_allowed(
    moment: datetime,
    tz: str,
    *,
    earliest_hour: int = 8,
    latest_hour: int = 20,
    hour: int = 9,
) -> datetime:
    """``moment`` if it falls in the local daytime [earliest_hour:00, latest_hour:00), else the
    next morning at ``hour``:00: the same day's if it is before earliest_hour, the following
    day's if it is latest_hour or later. Never earlier than ``moment``.

    Raises:
        ValueError: moment is naive, unknown time zone, or the hours are not
            0 <= earliest_hour <= hour < latest_hour <= 24.
    """
    if not 0 <= earliest_hour <= hour < latest_hour <= 24:
        raise ValueError(
            f"need 0 <= earliest_hour ({earliest_hour}) <= hour ({hour})"
            f" < latest_hour ({latest_hour}) <= 24"
        )
    _check_aware(moment)
    local = moment.astimezone(_zone(tz))
    if earliest_hour <= local.hour < latest_hour:
        return moment.astimezone(UTC)
    day = local.date() if local.hour < earliest_hour else local.date() + timedelta(days=1)
    return local_time(day, tz, hour)


def session_dates(first: date, count: int, months: int) -> list[date]:
    """``count`` working-session days spread evenly over the preparation window, the first on
    ``first``; the window runs ``months`` months from ``first``, at most three (longer is
    clamped: the method keeps the preparation short). The last session falls before the
    window's end, which is left for the go/no-go decision.

    Raises:
        ValueError: count or months is below 1, or count exceeds the window's days.
    """
    if count < 1:
        raise ValueError(f"count must be at least 1, not {count}")
    window = (preparation_end(first, months) - first).days
    if count > window:
        raise ValueError(f"{count} sessions do not fit in {window} days")
    return [first + timedelta(days=index * window // count) for index in range(count)]


def preparation_end(first: date, months: int) -> date:
    """The end of the preparation window: ``months`` (at most three) after ``first``.

    Raises:
        ValueError: months is below 1.
    """
    if months < 1:
        raise ValueError(f"months must be at least 1, not {months}")
    return add_months(first, min(months, MAX_PREPARATION_MONTHS))


def preparation_plan(
    first_session: date, count: int, months: int, tz: str, hour: int
) -> list[Planned]:
    """The preparation's reminders: the day before each session at ``hour`` local
    (kind prep_eve, ref "session-N", N from 1), then the go/no-go at the end of the window
    (kind go_no_go, ref "preparation"). In due order.

    Sessions are spread by session_dates (window clamped to three months). Reminders already
    past are included: the caller drops those before now.

    Raises:
        ValueError: see session_dates and local_time.
    """
    sessions = session_dates(first_session, count, months)
    plan = [
        Planned(Kind.PREP_EVE, f"session-{number}", local_time(day - timedelta(days=1), tz, hour))
        for number, day in enumerate(sessions, start=1)
    ]
    end = preparation_end(first_session, months)
    plan.append(Planned(Kind.GO_NO_GO, PREPARATION_REF, local_time(end, tz, hour)))
    return plan


def review_dates(
    start: date, frequency: str | None, count: int, tz: str, hour: int
) -> list[datetime]:
    """The next ``count`` periodic reviews after ``start``, at ``hour`` local: one, two, ...
    periods after it (``start`` itself excluded), each counted from ``start`` so that month
    ends do not drift (31 Jan monthly: 28 Feb, 31 Mar, 30 Apr).

    Args:
        frequency: "monthly", "quarterly", "half_yearly" or "yearly" (the answers to
            review_frequency); None means quarterly.

    Raises:
        ValueError: unknown frequency, negative count, unknown time zone, hour outside 0-23.
    """
    chosen = DEFAULT_REVIEW_FREQUENCY if frequency is None else frequency
    if chosen not in REVIEW_MONTHS:
        raise ValueError(f"unknown review frequency {frequency!r}; one of {list(REVIEW_MONTHS)}")
    _check_not_negative(count, "count")
    step = REVIEW_MONTHS[chosen]
    return [local_time(add_months(start, k * step), tz, hour) for k in range(1, count + 1)]


def nudges(last_activity: datetime, tz: str, hour: int) -> list[datetime]:
    """When to nudge a manager who left the checklist unfinished: ``hour``:00 local, 3 and
    then 10 days after the last activity; after that, silence. Schedule them as kind nudge,
    refs "nudge-1", "nudge-2": new activity re-adds them, which moves them (idempotent).

    Raises:
        ValueError: last_activity is naive, unknown time zone, hour outside 0-23.
    """
    return [in_days(last_activity, days, tz, hour) for days in NUDGE_AFTER_DAYS]


def still_ahead(plan: Iterable[Planned], now: datetime) -> list[Planned]:
    """The planned reminders due after ``now``, in the given order.

    Raises:
        ValueError: now is naive.
    """
    _check_aware(now)
    return [item for item in plan if item.due_at > now]


def _zone(tz: str) -> ZoneInfo:
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:  # OSError: "Europe", a folder
        raise ValueError(f"unknown time zone {tz!r}") from exc


def _check_aware(moment: datetime) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"naive datetime {moment!r}: pass an aware one")


def _check_hour(hour: int) -> None:
    if not 0 <= hour <= 23:
        raise ValueError(f"hour must be 0-23, not {hour}")


def _check_not_negative(value: int, name: str) -> None:
    if value < 0:
        raise ValueError(f"{name} must not be negative, not {value}")
