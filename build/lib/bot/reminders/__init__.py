"""Follow-up reminders: when they fall (schedule), and the kinds the bot schedules.

Reminders live in the storage (Storage.add_reminder, claim_due, ...): PTB's JobQueue keeps jobs
in memory only, so a restart would lose them. `schedule` turns a user's answers and time zone
into due instants; a dispatcher tick claims the due ones from storage and sends them.
"""

from __future__ import annotations

from enum import StrEnum


class Kind(StrEnum):
    """What a reminder is about; stored as its plain string value (Reminder.kind)."""

    NEXT_STEP = "next_step"  # a next step of the summary; ref: the next-step rule id
    TODO = "todo"  # a question answered "not yet"; ref: the question id
    PREP_SESSION = "prep_session"  # plan the preparation sessions; ref: "sessions"
    PREP_EVE = "prep_eve"  # the day before a preparation session; ref: "session-N"
    GO_NO_GO = "go_no_go"  # the end of the preparation window: decide; ref: "preparation"
    CHECKIN = "checkin"  # how is the alliance going; ref chosen by the caller
    REVIEW = "review"  # a periodic review with the partner; ref: "review-N"
    NUDGE = "nudge"  # an unfinished checklist; ref: "nudge-N"
