"""Removing the buttons of the message a user tapped, once the tap is handled."""

from __future__ import annotations

import logging

from telegram import Message, Update
from telegram.error import TelegramError

logger = logging.getLogger(__name__)


async def strip_keyboard(update: Update) -> None:
    """Remove the tapped message's buttons. No call when it had none. Telegram may still
    refuse: the tap carries its message as it was when tapped, and an earlier tap may have
    removed the buttons since; the user sees no difference, so it is only logged."""
    query = update.callback_query
    if query is None or not isinstance(query.message, Message):
        return
    if not query.message.reply_markup:
        return
    try:
        await query.edit_message_reply_markup(reply_markup=None)
    except TelegramError as exc:
        logger.debug("could not remove a keyboard: %s", exc)
