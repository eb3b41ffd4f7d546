"""What a reminder says when it falls due, with its buttons, and the dates as people read them."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any
from zoneinfo import ZoneInfo

from bot.dialogue import cldr
from bot.dialogue.model import Dialogue, Question, Texts
from bot.dialogue.summary import format_date
from bot.reminders import Kind
from bot.reminders.flow.model import Button, FollowupAnswer, Offer, ReminderAction
from bot.reminders.texts import FOLLOWUP_KINDS, body
from bot.storage.base import Reminder


def followup_key(reminder: Reminder, question_id: str) -> str:
    """Where a follow-up answer is stored among the project's answers."""
    return f"{reminder.kind}.{reminder.ref}.{question_id}"


def next_followup_question(
    dialogue: Dialogue, reminder: Reminder, answers: Mapping[str, Any]
) -> Question | None:
    """The first follow-up question of this reminder not answered yet."""
    followup = FOLLOWUP_KINDS.get(reminder.kind)
    if followup is None:
        return None
    for question in dialogue.followups.get(followup, ()):
        if followup_key(reminder, question.id) not in answers:
            return question
    return None


def when_text(moment: dt.datetime, tz: str, texts: Texts) -> str:
    """ "lun. 15 mars 2027 à 09:00" in the user's time zone (weekday and date from the CLDR)."""
    local = moment.astimezone(ZoneInfo(tz))
    return texts.ui(
        "reminders.when",
        weekday=cldr.short_weekday(local.date(), texts.lang),
        date=format_date(local.date(), texts),
        time=local.strftime("%H:%M"),
    )


def reminder_view(
    reminder: Reminder, dialogue: Dialogue, texts: Texts, answers: Mapping[str, Any]
) -> Offer | None:
    """What a due reminder says, with its buttons; None when there is nothing to say any more."""
    text = body(reminder, dialogue, texts, answers)
    if text is None:
        return None
    if reminder.kind in FOLLOWUP_KINDS:
        question = next_followup_question(dialogue, reminder, answers)
        if question is None:
            return None
        return followup_offer(reminder, question, texts, intro=text)
    rid = reminder.id

    def button(action: str) -> Button:
        return Button(texts.ui(f"reminders.buttons.{action}"), ReminderAction(rid, action))

    if reminder.kind == Kind.NUDGE:
        return Offer(text, ((button("d1"), button("stop")),))
    return Offer(text, ((button("done"), button("stop")), (button("d1"), button("w1"))))


def followup_offer(reminder: Reminder, question: Question, texts: Texts, *, intro: str) -> Offer:
    followup = FOLLOWUP_KINDS[reminder.kind]
    asked = texts.get(f"followups.{followup}.questions.{question.id}.text")
    buttons = tuple(
        Button(
            _option_label(question, key, texts, followup),
            FollowupAnswer(reminder.id, question.id, key),
        )
        for key in question.choices
    )
    return Offer(intro, (buttons,), question=asked)


def _option_label(question: Question, key: str, texts: Texts, followup: str) -> str:
    if question.type == "choice":
        return texts.get(f"followups.{followup}.questions.{question.id}.options.{key}")
    return texts.option(question, key)
