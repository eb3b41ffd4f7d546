"""The reminder flow's views as Telegram messages, and due reminders as the dispatcher sends them.

Buttons carry the flow's inputs as callback data (bot/telegram/callbacks.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.dialogue.model import DONE, Dialogue, Texts
from bot.dialogue.projects import project_name
from bot.reminders import Kind
from bot.reminders.dispatcher import Outgoing, RenderFn
from bot.reminders.flow import Offer, reminder_view
from bot.storage.base import Reminder, User
from bot.storage.database import Storage
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
        offer = reminder_view(reminder, dialogue, texts, answers)
        if offer is None:
            return None
        text, keyboard = offer_message(offer)
        line = await _project_line(storage, reminder, user, texts)
        if line is not None:
            text = f"{escape(line)}\n{text}"
        return Outgoing(chat_id=int(user.key[3:]), text=text, reply_markup=keyboard)

    return render


async def _project_line(
    storage: Storage, reminder: Reminder, user: User, texts: Texts
) -> str | None:
    """ "Project: <name>" above a reminder of a user who runs several projects; None with one."""
    if reminder.project_id is None:
        return None
    views = await storage.user_projects(user.id)
    view = next((v for v in views if v.project.id == reminder.project_id), None)
    if view is None or len(views) < 2:
        return None
    if view.role == "owner":
        named_by: Mapping[str, Any] = view.answers
    else:  # the partner: the project as the manager named it
        sides = await storage.project_sides(view.project.id)
        named_by = next((s.answers for s in sides if s.member.role == "owner"), {})
    project = view.project
    name = project_name(project.title, named_by, project.created_at.date(), texts)
    return texts.ui("projects.current", name=name)
