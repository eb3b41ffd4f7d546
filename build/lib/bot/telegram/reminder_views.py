"""Reminders as Telegram messages: what each kind says, and its buttons.

Callback data (see bot/telegram/callbacks.py):
    r|<reminder id>|done|stop|d1|w1|m1|cancel|move|date   act on one reminder
    f|<reminder id>|<question>|<answer>                   answer a follow-up question
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any
from zoneinfo import ZoneInfo

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.dialogue.model import DONE, Dialogue, Question, Texts
from bot.dialogue.summary import format_date
from bot.reminders import Kind
from bot.reminders.dispatcher import Outgoing, RenderFn
from bot.reminders.texts import FOLLOWUP_KINDS, body
from bot.storage.base import Reminder, User
from bot.storage.database import Storage
from bot.telegram.callbacks import encode
from bot.telegram.render import escape


def when_text(moment: dt.datetime, tz: str, texts: Texts) -> str:
    """ "lun. 15/03/2027 à 09:00" in the user's time zone."""
    local = moment.astimezone(ZoneInfo(tz))
    weekday = texts.ui("reminders.weekdays").split(",")[local.weekday()]
    return texts.ui(
        "reminders.when",
        weekday=weekday,
        date=format_date(local.date(), texts),
        time=local.strftime("%H:%M"),
    )


def followup_key(reminder: Reminder, question_id: str) -> str:
    """Where a follow-up answer is stored among the project's answers."""
    return f"{reminder.kind}.{reminder.ref}.{question_id}"


def next_followup_question(
    dialogue: Dialogue, reminder: Reminder, answers: Mapping[str, Any]
) -> Question | None:
    followup = FOLLOWUP_KINDS.get(reminder.kind)
    if followup is None:
        return None
    for question in dialogue.followups.get(followup, ()):
        if followup_key(reminder, question.id) not in answers:
            return question
    return None


def followup_question(
    reminder: Reminder, question: Question, texts: Texts
) -> tuple[str, InlineKeyboardMarkup]:
    followup = FOLLOWUP_KINDS[reminder.kind]
    text = texts.get(f"followups.{followup}.questions.{question.id}.text")
    buttons = [
        InlineKeyboardButton(
            _option_label(question, key, texts, followup),
            callback_data=encode("f", str(reminder.id), question.id, key),
        )
        for key in question.choices
    ]
    return f"<b>{escape(text)}</b>", InlineKeyboardMarkup([buttons])


def _option_label(question: Question, key: str, texts: Texts, followup: str) -> str:
    if question.type == "choice":
        return texts.get(f"followups.{followup}.questions.{question.id}.options.{key}")
    return texts.option(question, key)


def reminder_message(
    reminder: Reminder,
    dialogue: Dialogue,
    texts: Texts,
    answers: Mapping[str, Any],
) -> tuple[str, InlineKeyboardMarkup] | None:
    """The message a due reminder sends, or None when there is nothing to say any more."""
    text = body(reminder, dialogue, texts, answers)
    if text is None:
        return None
    if reminder.kind in FOLLOWUP_KINDS:
        question = next_followup_question(dialogue, reminder, answers)
        if question is None:
            return None
        asked, keyboard = followup_question(reminder, question, texts)
        return f"{escape(text)}\n\n{asked}", keyboard
    return escape(text), actions_keyboard(reminder, texts, nudge=reminder.kind == Kind.NUDGE)


def actions_keyboard(
    reminder: Reminder, texts: Texts, *, nudge: bool = False
) -> InlineKeyboardMarkup:
    """Done / snooze / stop, on every reminder."""

    def button(action: str) -> InlineKeyboardButton:
        return InlineKeyboardButton(
            texts.ui(f"reminders.buttons.{action}"),
            callback_data=encode("r", str(reminder.id), action),
        )

    if nudge:
        return InlineKeyboardMarkup([[button("d1"), button("stop")]])
    return InlineKeyboardMarkup([[button("done"), button("stop")], [button("d1"), button("w1")]])


def _date(value: Any, texts: Texts) -> str:
    try:
        return format_date(dt.date.fromisoformat(str(value)), texts)
    except ValueError:
        return ""


def make_renderer(storage: Storage, dialogue: Dialogue) -> RenderFn:
    """The dispatcher's render function: a due reminder as the message to send, or None when
    there is nothing left to say (a Telegram-less user, a finished checklist for a nudge, ...)."""

    async def render(reminder: Reminder, user: User) -> Outgoing | None:
        if not user.key.startswith("tg:"):
            return None
        answers: Mapping[str, Any] = {}
        if reminder.conversation_id is not None:
            conversations = await storage.conversations(user.id)
            conversation = next(
                (c for c in conversations if c.id == reminder.conversation_id), None
            )
            if conversation is None:
                return None
            if reminder.kind == Kind.NUDGE and conversation.state.get("at") == DONE:
                return None
            answers = await storage.current_answers(conversation.id)
        texts = dialogue.texts.get(user.lang) or dialogue.texts["fr"]
        message = reminder_message(reminder, dialogue, texts, answers)
        if message is None:
            return None
        text, keyboard = message
        return Outgoing(chat_id=int(user.key[3:]), text=text, reply_markup=keyboard)

    return render
