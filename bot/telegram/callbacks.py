"""Callback data: what a button carries, encoded under Telegram's 64-byte limit.

Format: the kind's short wire value (`CallbackKind`), then fields separated by "|":
    a|<question>|<answer>        ANSWER: answer the question (or tick a multiple-choice option)
    w|<question>                 WHY: why this question?
    c|<question>|back|skip       CONTROL: a control of the question shown
    m|<target>|<value>           MENU: a menu pick (edit, restart)
    l|<lang>                     LANGUAGE
    x|yes|no                     DELETE: confirm /delete
    e|<format>                   EXPORT (bot/telegram/export_handlers.py)
    p|all|pick|no                OFFER: reminders for the next steps
    s|<step>|sug|w1|m1|date|no   STEP: one next step's reminder (then the following one)
    n|<step>|sug|w1|m1|date|no   TODO: the reminder offered right after a "not yet"
    q|yes|no                     PREPARATION: the preparation calendar
    r|<id>|<action>              REMINDER: done, stop, cancel, d1, w1, m1, move, date
    f|<id>|<question>|<answer>   FOLLOWUP: a follow-up question sent with a reminder
    z|<time zone>                TIMEZONE: a /timezone shortcut
    j|<action>|<project>         PROJECT: go (switch to it), del (ask), rm (delete), keep, new
    i|<action>|<project>         INVITE: revoke, renew (bot/telegram/project_handlers.py)
    k|yes|no|<token>             CONSENT: the invited partner accepts or declines
    g|<project>|<dimension>      COMMENT: comment on one gap of the divergence report
    t|yes|no|<project>           SESSIONS: the partner takes the project's session reminders
    v|<share id>                 ADVISOR: withdraw a share (bot/telegram/advisor_handlers.py)
The wire values never change: buttons sent long ago (a reminder's) must still mean the same.
Anything else is "forged": the handler answers politely and records nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from bot.reminders import flow

MAX_BYTES = 64


class CallbackKind(StrEnum):
    """What a button does; the value is what travels in the callback data."""

    ANSWER = "a"
    WHY = "w"
    CONTROL = "c"
    MENU = "m"
    LANGUAGE = "l"
    DELETE = "x"
    EXPORT = "e"
    OFFER = "p"
    STEP = "s"
    TODO = "n"
    PREPARATION = "q"
    REMINDER = "r"
    FOLLOWUP = "f"
    TIMEZONE = "z"
    PROJECT = "j"
    INVITE = "i"
    CONSENT = "k"
    COMMENT = "g"
    SESSIONS = "t"
    ADVISOR = "v"


_ARITY = {
    CallbackKind.ANSWER: 2,
    CallbackKind.WHY: 1,
    CallbackKind.CONTROL: 2,
    CallbackKind.MENU: 2,
    CallbackKind.LANGUAGE: 1,
    CallbackKind.DELETE: 1,
    CallbackKind.EXPORT: 1,
    CallbackKind.OFFER: 1,
    CallbackKind.STEP: 2,
    CallbackKind.TODO: 2,
    CallbackKind.PREPARATION: 1,
    CallbackKind.REMINDER: 2,
    CallbackKind.FOLLOWUP: 3,
    CallbackKind.TIMEZONE: 1,
    CallbackKind.PROJECT: 2,
    CallbackKind.INVITE: 2,
    CallbackKind.CONSENT: 2,
    CallbackKind.COMMENT: 2,
    CallbackKind.SESSIONS: 2,
    CallbackKind.ADVISOR: 1,
}
PROJECT_KINDS = frozenset(
    {
        CallbackKind.PROJECT,
        CallbackKind.INVITE,
        CallbackKind.CONSENT,
        CallbackKind.COMMENT,
        CallbackKind.SESSIONS,
    }
)
REMINDER_KINDS = frozenset(
    {
        CallbackKind.OFFER,
        CallbackKind.STEP,
        CallbackKind.TODO,
        CallbackKind.PREPARATION,
        CallbackKind.REMINDER,
        CallbackKind.FOLLOWUP,
        CallbackKind.TIMEZONE,
    }
)
_OFFER_CHOICES = ("all", "pick", "no")
_STEP_CHOICES = (*flow.STEP_CHOICES, "date", "no")
_ACTIONS = ("done", "stop", "cancel", *flow.SNOOZES, "move", "date")


@dataclass(frozen=True)
class Callback:
    kind: CallbackKind
    fields: tuple[str, ...]


def encode(kind: CallbackKind, *fields: str) -> str:
    data = "|".join((kind.value, *fields))
    if len(data.encode("utf-8")) > MAX_BYTES:
        raise ValueError(f"callback data over {MAX_BYTES} bytes: {data!r}")
    return data


def decode(data: str | None) -> Callback | None:
    """The button's meaning, or None when the data is not one of ours."""
    if not data or len(data.encode("utf-8")) > MAX_BYTES:
        return None
    wire, *fields = data.split("|")
    try:
        kind = CallbackKind(wire)
    except ValueError:
        return None
    if _ARITY[kind] != len(fields) or not all(fields):
        return None
    return Callback(kind, tuple(fields))


# Reminder buttons: the flow's inputs on the wire -------------------------------------------------
def reminder_data(event: flow.Event) -> str:
    """The callback data of a button of the reminder flow."""
    if isinstance(event, flow.OfferChoice):
        return encode(CallbackKind.OFFER, event.choice)
    if isinstance(event, flow.StepChoice):
        kind = CallbackKind.STEP if event.chain else CallbackKind.TODO
        return encode(kind, event.key, event.choice)
    if isinstance(event, flow.PreparationChoice):
        return encode(CallbackKind.PREPARATION, "yes" if event.yes else "no")
    if isinstance(event, flow.ReminderAction):
        return encode(CallbackKind.REMINDER, str(event.reminder_id), event.action)
    if isinstance(event, flow.FollowupAnswer):
        return encode(
            CallbackKind.FOLLOWUP, str(event.reminder_id), event.question_id, event.value
        )
    if isinstance(event, flow.TimezoneChoice):
        return encode(CallbackKind.TIMEZONE, event.zone)
    raise ValueError(f"no button carries {event!r}")


def reminder_event(callback: Callback) -> flow.Event | None:
    """The reminder flow's input a button carries; None when its fields make no sense."""
    kind, fields = callback.kind, callback.fields
    if kind == CallbackKind.OFFER and fields[0] in _OFFER_CHOICES:
        return flow.OfferChoice(fields[0])
    if kind in (CallbackKind.STEP, CallbackKind.TODO) and fields[1] in _STEP_CHOICES:
        return flow.StepChoice(fields[0], fields[1], chain=kind == CallbackKind.STEP)
    if kind == CallbackKind.PREPARATION and fields[0] in ("yes", "no"):
        return flow.PreparationChoice(fields[0] == "yes")
    reminder_id = flow.reminder_id(fields[0])
    if kind == CallbackKind.REMINDER and reminder_id is not None and fields[1] in _ACTIONS:
        return flow.ReminderAction(reminder_id, fields[1])
    if kind == CallbackKind.FOLLOWUP and reminder_id is not None:
        return flow.FollowupAnswer(reminder_id, fields[1], fields[2])
    if kind == CallbackKind.TIMEZONE:
        return flow.TimezoneChoice(fields[0])
    return None
