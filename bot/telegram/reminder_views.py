"""The reminder flow's views as Telegram messages, and due reminders as the dispatcher sends them.

Buttons carry the flow's inputs as callback data (bot/telegram/callbacks.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.dialogue.model import DONE, Dialogue
from bot.reminders import Kind
from bot.reminders.dispatcher import Outgoing, RenderFn
from bot.reminders.flow import Offer, reminder_view
from bot.storage.base import Reminder, Storage, User
from bot.telegram.callbacks import reminder_data
from bot.telegram.render import escape


def offer_message(offer: Offer) -> tuple[str, InlineKeyboardMarkup]:
    """An offer as HTML text (its question in bold) and its inline keyboard."""
    parts = [escape(offer.text)] if offer.text else []
    if offer.question:
        parts.append(f"<b>{escape(offer.question)}</b>")
    keyboard = InlineKeyboardMarkup(
        [
            [InlineKeyboardButton(b.label, callback_data=reminder_data(b.event)) for b in row]
            for row in offer.rows
        ]
    )
    return "\n\n".join(parts), keyboard


def make_renderer(storage: Storage, dialogue: Dialogue) -> RenderFn:
    """The dispatcher's render function: a due reminder as the message to send, or None when
    there is nothing left to say (a Telegram-less user, a finished checklist for a nudge, ...)."""

    def render(reminder: Reminder, user: User) -> Outgoing | None:
        if not user.key.startswith("tg:"):
            return None
        answers: Mapping[str, Any] = {}
        if reminder.conversation_id is not None:
            conversation = next(
                (c for c in storage.conversations(user.id) if c.id == reminder.conversation_id),
                None,
            )
            if conversation is None:
                return None
            if reminder.kind == Kind.NUDGE and conversation.state.get("at") == DONE:
                return None
            answers = storage.current_answers(conversation.id)
        texts = dialogue.texts.get(user.lang) or dialogue.texts["fr"]
        offer = reminder_view(reminder, dialogue, texts, answers)
        if offer is None:
            return None
        text, keyboard = offer_message(offer)
        return Outgoing(chat_id=int(user.key[3:]), text=text, reply_markup=keyboard)

    return render
