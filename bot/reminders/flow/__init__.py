"""The reminder conversation, pure like `Engine.handle`: state and input in, writes and views out.

Covers what the bot says about reminders around the checklist: the offers after the summary
(every next step on its date, or one by one), the offer right after a "not yet" answer, the
preparation calendar, "on which date?" and its typed answer, the time zone, the buttons of a
reminder (done, snooze, stop, move), its follow-up questions and the chaining of reviews.

No Telegram, no storage, no clock: the caller passes `Context.now` and whatever stored data the
input is about (the reminder a button names, the pending list), applies `Outcome.writes` and
stores `Outcome.awaiting` with the conversation, and only then shows `Outcome.views`.
`Awaiting` is the flow's whole state: what a typed line answers, when the bot asked for a date
or a time zone. Stored with the conversation, it survives a restart and is shared by replicas.
"""

from bot.reminders.flow.core import COMMON_ZONES, ReminderFlow
from bot.reminders.flow.messages import (
    followup_key,
    next_followup_question,
    reminder_view,
    when_text,
)
from bot.reminders.flow.model import (
    AWAITING_KEY,
    SNOOZES,
    STEP_CHOICES,
    AddReminder,
    AskTimezone,
    Awaiting,
    Button,
    CancelKinds,
    CloseReminder,
    Context,
    Event,
    Finished,
    FollowupAnswer,
    ListReminders,
    MoveReminder,
    Note,
    NotYet,
    Offer,
    OfferChoice,
    Outcome,
    PreparationChoice,
    RecordFollowup,
    ReminderAction,
    SetTimezone,
    StepChoice,
    TimezoneChoice,
    Typed,
    View,
    Write,
    after_checklist,
    needs_reminder,
    reminder_id,
)

__all__ = [
    "AWAITING_KEY",
    "COMMON_ZONES",
    "SNOOZES",
    "STEP_CHOICES",
    "AddReminder",
    "AskTimezone",
    "Awaiting",
    "Button",
    "CancelKinds",
    "CloseReminder",
    "Context",
    "Event",
    "Finished",
    "FollowupAnswer",
    "ListReminders",
    "MoveReminder",
    "NotYet",
    "Note",
    "Offer",
    "OfferChoice",
    "Outcome",
    "PreparationChoice",
    "RecordFollowup",
    "ReminderAction",
    "ReminderFlow",
    "SetTimezone",
    "StepChoice",
    "TimezoneChoice",
    "Typed",
    "View",
    "Write",
    "after_checklist",
    "followup_key",
    "needs_reminder",
    "next_followup_question",
    "reminder_id",
    "reminder_view",
    "when_text",
]
