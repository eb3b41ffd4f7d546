"""The reminder flow's data: what is awaited, the inputs, the writes, the views, the outcome.

Plain frozen dataclasses, stored (Awaiting) or shown (views) by the callers of ReminderFlow.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from bot.dialogue.conditions import NOT_YET
from bot.dialogue.engine import State
from bot.dialogue.model import DONE
from bot.dialogue.summary import Summary
from bot.dialogue.views import Say
from bot.reminders import planner
from bot.storage.base import ClosingStatus, Reminder

AWAITING_KEY = "awaiting"  # where Awaiting is kept in the conversation's stored state
PROJECT_AWAITED = ("project", "comment")  # what the projects await (bot/projects.py)
AWAITED = ("step", "todo", "move", "timezone", *PROJECT_AWAITED)
SNOOZES = ("d1", "w1", "m1")  # +1 day, +1 week, +1 month
STEP_CHOICES = ("sug", *SNOOZES)  # a next step: on its suggested date, or in a day/week/month


# State -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Awaiting:
    """What the next typed line answers.

    what: "step" (a date for next step `ref`, then the following step is offered), "todo" (a
    date for the step a "not yet" created), "move" (a new date for reminder id `ref`),
    "timezone"; or, for the projects (bot/projects.py, not this flow), "project" (the name of
    a new project) and "comment" (a comment on the gap `ref` of the divergence report).
    """

    what: str
    ref: str = ""

    def dump(self) -> dict[str, str]:
        return {"what": self.what, "ref": self.ref}

    @classmethod
    def load(cls, data: Any) -> Awaiting | None:
        """From the stored JSON; anything unreadable is "nothing awaited"."""
        if not isinstance(data, Mapping):
            return None
        what, ref = data.get("what"), data.get("ref", "")
        if what not in AWAITED or not isinstance(ref, str):
            return None
        return cls(what, ref)

    @property
    def date(self) -> bool:
        return self.what in ("step", "todo", "move")

    @property
    def for_projects(self) -> bool:
        """A line the projects await (bot/projects.py), not the reminder flow."""
        return self.what in PROJECT_AWAITED


# Inputs ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Finished:
    """The checklist was just completed."""


@dataclass(frozen=True)
class NotYet:
    """A question was just answered "not yet"."""

    question_id: str


@dataclass(frozen=True)
class OfferChoice:
    """The offer of reminders for the next steps: "all", "pick" (one by one) or "no"."""

    choice: str


@dataclass(frozen=True)
class StepChoice:
    """One next step: a choice of STEP_CHOICES, "date" (ask for one) or "no".

    chain: offer the following next step afterwards (one by one after the summary); False for
    the offer made right after a "not yet".
    """

    key: str
    choice: str
    chain: bool = True


@dataclass(frozen=True)
class PreparationChoice:
    yes: bool


@dataclass(frozen=True)
class ReminderAction:
    """A button of one reminder: done, stop, cancel, d1, w1, m1, move (offer dates) or date."""

    reminder_id: int
    action: str


@dataclass(frozen=True)
class FollowupAnswer:
    """An answer to a follow-up question carried by a check-in or review reminder."""

    reminder_id: int
    question_id: str
    value: str


@dataclass(frozen=True)
class AskTimezone:
    """/timezone without a zone: show it, offer common ones, wait for a typed one."""


@dataclass(frozen=True)
class TimezoneChoice:
    """A time zone typed after /timezone or tapped: a city, an IANA name or an offset."""

    zone: str


@dataclass(frozen=True)
class ListReminders:
    """/reminders: what is pending, each with move and cancel."""


@dataclass(frozen=True)
class Typed:
    """A line typed while something is awaited (see Awaiting)."""

    text: str


Event = (
    Finished
    | NotYet
    | OfferChoice
    | StepChoice
    | PreparationChoice
    | ReminderAction
    | FollowupAnswer
    | AskTimezone
    | TimezoneChoice
    | ListReminders
    | Typed
)


# Writes ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class AddReminder:
    """Store this reminder with the conversation (moves one of the same kind and ref)."""

    plan: planner.Plan


@dataclass(frozen=True)
class MoveReminder:
    reminder_id: int
    due_at: dt.datetime


@dataclass(frozen=True)
class CloseReminder:
    reminder_id: int
    status: ClosingStatus  # "done" or "cancelled"


@dataclass(frozen=True)
class CancelKinds:
    """Cancel the user's pending reminders of these kinds."""

    kinds: tuple[str, ...]


@dataclass(frozen=True)
class SetTimezone:
    zone: str


@dataclass(frozen=True)
class RecordFollowup:
    """A follow-up answer, stored with the project the reminder is about (answer history)."""

    conversation_id: int | None
    key: str  # "<kind>.<ref>.<question>", e.g. "checkin.session-2.trust_growing"
    value: Any


Write = AddReminder | MoveReminder | CloseReminder | CancelKinds | SetTimezone | RecordFollowup


# Views -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Button:
    label: str
    event: Event


@dataclass(frozen=True)
class Offer:
    """A message with choices. `question`, when set, follows `text` and stands out."""

    text: str
    rows: tuple[tuple[Button, ...], ...]
    question: str = ""


@dataclass(frozen=True)
class Note:
    """What a tap did: a front end adds it to the tapped message (whose buttons go)."""

    text: str


View = Say | Note | Offer


@dataclass(frozen=True)
class Outcome:
    awaiting: Awaiting | None
    writes: tuple[Write, ...] = ()
    views: tuple[View, ...] = ()
    keep_source: bool = False  # the tapped message keeps its buttons (a list, say)


@dataclass(frozen=True)
class Context:
    """What the flow needs to know, loaded by the caller."""

    lang: str
    tz: str
    now: dt.datetime  # aware
    state: State  # the checklist's
    answers: Mapping[str, Any]  # the checklist's
    reminder: Reminder | None = None  # the reminder the input (or Awaiting "move") is about
    followup_answers: Mapping[str, Any] = field(default_factory=dict)  # of its project
    pending: tuple[Reminder, ...] = ()  # for ListReminders
    # The checklist's summary of `state` and `answers` if one was built already (the end of
    # the checklist shows it): used when it was built for the same day and language.
    summary: Summary | None = None


def after_checklist(
    writes: tuple[tuple[str, Any], ...], at: str, finished: bool
) -> tuple[Event, ...]:
    """What the reminders say after a checklist input: an offer for each "not yet" it recorded
    (while the checklist goes on), and everything due at the end when it completed it."""
    events: list[Event] = [NotYet(qid) for qid, value in writes if value == NOT_YET and at != DONE]
    if finished:
        events.append(Finished())
    return tuple(events)


def reminder_id(text: str) -> int | None:
    """A reminder id written as text (a button, the stored state), or None if it is not one."""
    if text.isascii() and text.isdigit() and len(text) <= 18:
        return int(text)
    return None


def needs_reminder(awaiting: Awaiting | None, event: Event) -> int | None:
    """The id of the stored reminder the caller must load into Context.reminder, if any."""
    if isinstance(event, ReminderAction | FollowupAnswer):
        return event.reminder_id
    if isinstance(event, Typed) and awaiting is not None and awaiting.what == "move":
        return reminder_id(awaiting.ref)
    return None
