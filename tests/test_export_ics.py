"""The calendar export, read back by an independent parser (icalendar)."""

import datetime as dt
import re

import icalendar
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.export.ics import escape_text, fold, render_ics
from bot.export.preparation import go_no_go_date, session_dates
from tests.test_export_fixtures import (
    CJK,
    CURLY,
    EMOJI,
    FIRST_SESSION,
    NOT_YET,
    NOW,
    answers_for,
    content_for,
    load_engine,
    longest_text,
)


@pytest.fixture(scope="module")
def export_engine(tmp_path_factory):
    return load_engine(tmp_path_factory.mktemp("dialogue"))


REMINDERS = (
    (dt.datetime(2026, 12, 3, 8, 0, tzinfo=dt.UTC), "Envoyer la lettre; signée, datée"),
    (
        dt.datetime(2026, 12, 10, 17, 30, tzinfo=dt.timezone(dt.timedelta(hours=1))),
        "Relancer\nle partenaire 🤝",
    ),
)


def parse(data):
    return icalendar.Calendar.from_ical(data)


def unescape(value):
    """RFC 5545 TEXT unescaping, for X- properties that icalendar leaves raw."""
    return re.sub(r"\\([\\;,nN])", lambda m: "\n" if m[1] in "nN" else m[1], str(value))


def events(calendar):
    return list(calendar.walk("VEVENT"))


@pytest.fixture
def answers(export_engine):
    return answers_for(
        export_engine,
        {
            "company": "Lumière, Fils & Cie; Lyon",
            "partner": f"{CURLY} {EMOJI}",
            "kind": "competitor",
            "coop": NOT_YET,
            "prep_sessions": 5,
            "prep_months": 3,
        },
    )


def test_calendar_header_and_event_count(export_engine, answers):
    content = content_for(export_engine, answers, reminders=REMINDERS)
    calendar = parse(render_ics(content, now=NOW))
    assert calendar["VERSION"] == "2.0"
    assert "alliance-bot" in str(calendar["PRODID"])
    assert calendar["CALSCALE"] == "GREGORIAN"
    steps = content.summary.diagnosis.next_steps
    assert len(steps) >= 1
    # 5 sessions, the go/no-go, the next steps, the reminders.
    assert len(events(calendar)) == 5 + 1 + len(steps) + len(REMINDERS)


def test_every_event_has_a_unique_uid_a_dtstamp_and_a_summary(export_engine, answers):
    content = content_for(export_engine, answers, reminders=REMINDERS + REMINDERS[:1])
    found = events(parse(render_ics(content, now=NOW)))
    uids = [str(event["UID"]) for event in found]
    assert len(uids) == len(set(uids))
    assert all(uid.endswith("@alliance-bot") for uid in uids)
    for event in found:
        assert event.decoded("DTSTAMP") == NOW
        assert str(event["SUMMARY"]).strip()


def test_uids_are_stable_across_exports(export_engine, answers):
    content = content_for(export_engine, answers, reminders=REMINDERS)
    first = [str(e["UID"]) for e in events(parse(render_ics(content, now=NOW)))]
    later = NOW + dt.timedelta(days=3)
    second = [str(e["UID"]) for e in events(parse(render_ics(content, now=later)))]
    assert first == second


def test_session_and_decision_dates_are_all_day_events(export_engine, answers):
    content = content_for(export_engine, answers)
    found = events(parse(render_ics(content, now=NOW)))
    first = dt.date.fromisoformat(FIRST_SESSION)
    expected = [*session_dates(first, 5, 3), go_no_go_date(first, 3)]
    days = [event.decoded("DTSTART") for event in found[: len(expected)]]
    assert days == expected
    for event in found[: len(expected)]:
        start, end = event.decoded("DTSTART"), event.decoded("DTEND")
        assert type(start) is dt.date
        assert end == start + dt.timedelta(days=1)
    assert "1/5" in str(found[0]["SUMMARY"])


def test_next_steps_fall_on_their_due_dates(export_engine, answers):
    content = content_for(export_engine, answers)
    found = events(parse(render_ics(content, now=NOW)))
    steps = content.summary.diagnosis.next_steps
    step_events = found[-len(steps) :]
    assert [e.decoded("DTSTART") for e in step_events] == [s.due for s in steps]
    assert all(s.text in str(e["SUMMARY"]) for s, e in zip(steps, step_events, strict=True))


def test_reminders_are_at_their_time_in_utc(export_engine, answers):
    content = content_for(export_engine, answers, reminders=REMINDERS)
    data = render_ics(content, now=NOW)
    found = events(parse(data))[-2:]
    assert found[0].decoded("DTSTART") == REMINDERS[0][0]
    assert found[1].decoded("DTSTART") == REMINDERS[1][0]  # 17:30 at UTC+1
    assert found[1].decoded("DTSTART").astimezone(dt.UTC).hour == 16
    assert b"DTSTART:20261210T163000Z\r\n" in data
    assert str(found[1]["DESCRIPTION"]) == "Relancer\nle partenaire 🤝"
    assert len(list(found[0].walk("VALARM"))) == 1


def test_text_survives_escaping(export_engine, answers):
    content = content_for(export_engine, answers, reminders=REMINDERS)
    calendar = parse(render_ics(content, now=NOW))
    name = unescape(calendar["X-WR-CALNAME"])
    assert name.endswith(f"Lumière, Fils & Cie; Lyon avec {CURLY} {EMOJI}")
    description = str(events(calendar)[0]["DESCRIPTION"])
    assert "Lumière, Fils & Cie; Lyon" in description
    assert str(events(calendar)[-2]["SUMMARY"]).endswith("Envoyer la lettre; signée, datée")


def test_lines_are_crlf_and_folded_at_75_octets(export_engine):
    answers = answers_for(export_engine, text=longest_text)
    data = render_ics(content_for(export_engine, answers, reminders=REMINDERS), now=NOW)
    assert data.endswith(b"\r\n")
    lines = data.split(b"\r\n")[:-1]
    assert all(b"\n" not in line and b"\r" not in line for line in lines)
    assert max(len(line) for line in lines) <= 75
    assert any(line.startswith(b" ") for line in lines)  # something was folded
    for line in lines:
        line.decode()  # a fold never cuts a character in two
    calendar = parse(data)
    assert CJK in unescape(calendar["X-WR-CALNAME"])


def test_no_plan_without_a_first_session(export_engine):
    answers = answers_for(export_engine, {"prep_first_session": NOT_YET})
    content = content_for(export_engine, answers)
    found = events(parse(render_ics(content, now=NOW)))
    assert len(found) == len(content.summary.diagnosis.next_steps)
    assert not any("1/" in str(event["SUMMARY"]) for event in found)


def test_now_must_be_aware(export_engine, answers):
    with pytest.raises(ValueError, match="aware"):
        render_ics(content_for(export_engine, answers), now=dt.datetime(2026, 11, 26, 9, 30))


@pytest.mark.parametrize(
    ("text", "escaped"),
    [
        ("a,b;c\\d", "a\\,b\\;c\\\\d"),
        ("line 1\nline 2\r\nline 3", "line 1\\nline 2\\nline 3"),
        ("bell\x07 and tab\t", "bell and tab\t"),
        ("Lumière “ok” 中文 😀", "Lumière “ok” 中文 😀"),
    ],
)
def test_escape_text(text, escaped):
    assert escape_text(text) == escaped


# A content line never holds a line break: escape_text turns them into "\\n" first.
@given(st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\r\n"), max_size=300))
def test_fold_keeps_every_octet_and_the_limit(line):
    folded = fold(line)
    physical = folded.split(b"\r\n")
    assert all(len(part) <= 75 for part in physical)
    assert all(part.startswith(b" ") for part in physical[1:])
    assert b"".join([physical[0], *(part[1:] for part in physical[1:])]) == line.encode()
