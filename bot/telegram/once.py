"""Each update is handled once, even when Telegram delivers it again after a crash.

In polling mode the bot confirms a batch of updates to Telegram only once it has queued the
whole batch (see app.py), and in webhook mode Telegram sends an update again until it gets a
200: a process killed mid-batch therefore gets some updates it already handled a second time,
after its restart. Answers are safe on their own (`Storage.save_step` records the update id in
the same transaction as the answer), but a second /start, /export or language choice would
reply twice. So the application checks the processed-update record before any handler
(`skip_handled`, group -1) and adds to it after them (`record_handled`, group 1). A crash
between a handler's reply and that record can still repeat one reply; nothing is ever lost.

The records of updates handled in the same turn of the event loop are written in one
transaction (bot/telegram/records.py).
"""

from __future__ import annotations

import logging

from telegram import Update
from telegram.ext import ApplicationHandlerStop

from bot.errors import StorageError
from bot.telegram.services import BotContext

logger = logging.getLogger(__name__)

BEFORE = -1  # handler group of skip_handled: before every handler
AFTER = 1  # handler group of record_handled: after every handler


async def skip_handled(update: Update, context: BotContext) -> None:
    """Stop an update that was already handled before it reaches any handler.

    The same read loads the sender's session for the handlers (Services.load): one read per
    update.
    """
    try:
        loaded = await context.services.load(update)
    except StorageError:
        return  # the handler meets the outage too, and apologises
    if loaded.processed:
        context.services.forget(update)
        logger.info("update %s was already handled; delivered again, ignored", update.update_id)
        raise ApplicationHandlerStop


async def record_handled(update: Update, context: BotContext) -> None:
    """Record the update as handled, unless its handler did (answers do, with their effect)."""
    services = context.services
    loaded = services.loaded(update)
    services.forget(update)
    session = loaded.session if loaded is not None else None
    if session is not None and session.recorded == update.update_id:
        return
    try:
        user_id = loaded.user_id if loaded is not None else None
        await services.records.add(update.update_id, user_id)
    except StorageError as exc:
        # Handled all the same: at worst, a delivery after a crash is answered twice.
        logger.warning("update %s: could not record it as handled: %s", update.update_id, exc)
