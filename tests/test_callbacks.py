"""Callback data: named kinds with short wire values, reminder buttons there and back."""

import pytest

from bot.reminders import flow
from bot.telegram.callbacks import (
    MAX_BYTES,
    REMINDER_KINDS,
    CallbackKind,
    decode,
    encode,
    reminder_data,
    reminder_event,
)

REMINDER_BUTTONS = [
    flow.OfferChoice("all"),
    flow.OfferChoice("pick"),
    flow.OfferChoice("no"),
    flow.StepChoice("draft_intent_declaration", "sug"),
    flow.StepChoice("todo.prep_first_session", "date", chain=False),
    flow.PreparationChoice(True),
    flow.PreparationChoice(False),
    *(flow.ReminderAction(123456789, a) for a in ("done", "stop", "cancel", "d1", "move", "date")),
    flow.FollowupAnswer(42, "staff_mobilised", "5"),
    flow.TimezoneChoice("America/Toronto"),
]


def test_wire_values_never_change():
    """Buttons sent months ago (a reminder's) must keep their meaning."""
    assert {kind.name: kind.value for kind in CallbackKind} == {
        "ANSWER": "a",
        "WHY": "w",
        "CONTROL": "c",
        "MENU": "m",
        "LANGUAGE": "l",
        "DELETE": "x",
        "EXPORT": "e",
        "OFFER": "p",
        "STEP": "s",
        "TODO": "n",
        "PREPARATION": "q",
        "REMINDER": "r",
        "FOLLOWUP": "f",
        "TIMEZONE": "z",
        "PROJECT": "j",
        "INVITE": "i",
        "CONSENT": "k",
        "COMMENT": "g",
        "SESSIONS": "t",
        "ADVISOR": "v",
    }
    assert reminder_data(flow.ReminderAction(7, "d1")) == "r|7|d1"
    assert reminder_data(flow.StepChoice("plan", "w1", chain=False)) == "n|plan|w1"


@pytest.mark.parametrize("event", REMINDER_BUTTONS, ids=repr)
def test_reminder_buttons_there_and_back(event):
    data = reminder_data(event)
    assert len(data.encode()) <= MAX_BYTES
    callback = decode(data)
    assert callback is not None
    assert callback.kind in REMINDER_KINDS
    assert reminder_event(callback) == event


@pytest.mark.parametrize(
    "data",
    ["", "zz|x", "p", "p|all|extra", "a|company", "s||sug", "é" * 40, None],
)
def test_not_ours(data):
    assert decode(data) is None


@pytest.mark.parametrize(
    "data",
    ["r|abc|done", "r|²|done", "r|1|explode", "r|1234567890123456789|done", "p|maybe", "q|oui"],
)
def test_ours_in_shape_not_in_content(data):
    callback = decode(data)
    assert callback is not None
    assert reminder_event(callback) is None


def test_too_long_is_refused_when_built():
    with pytest.raises(ValueError, match="64 bytes"):
        encode(CallbackKind.STEP, "x" * 70, "sug")
