"""/export and the summary's charts: files and pictures made off the event loop.

Callback data: e|pdf, e|md, e|json, e|ics. PDF and charts load matplotlib and fpdf2 on first use
only (start-up stays fast) and run in a worker thread, so other users are not kept waiting.
"""

from __future__ import annotations

import asyncio
import logging

from telegram import Update
from telegram.constants import ChatAction

from bot.conversations import Session
from bot.export import FORMATS, ExportError, export, report_content
from bot.telegram.callbacks import CallbackKind, encode
from bot.telegram.render import choice_keyboard
from bot.telegram.services import BotContext

logger = logging.getLogger(__name__)


async def export_menu(update: Update, context: BotContext) -> None:
    """/export: the formats as buttons."""
    services = context.services
    session = services.session(update)
    texts = services.texts(session.user.lang)
    keyboard = choice_keyboard(
        [
            (texts.ui(f"export.chat.buttons.{fmt}"), encode(CallbackKind.EXPORT, fmt))
            for fmt in FORMATS
        ]
    )
    assert update.effective_chat is not None
    await context.bot.send_message(
        update.effective_chat.id, texts.ui("export.chat.choose"), reply_markup=keyboard
    )


async def on_export(update: Update, context: BotContext, fmt: str) -> None:
    """A format was chosen: "sending a document", then the file."""
    services = context.services
    session = services.session(update)
    texts = services.texts(session.user.lang)
    chat = update.effective_chat
    assert chat is not None
    if fmt not in FORMATS:
        await context.bot.send_message(chat.id, texts.ui("errors.stale"))
        return
    await context.bot.send_chat_action(chat.id, ChatAction.UPLOAD_DOCUMENT)
    reminders = services.reminders
    try:
        name, data = await asyncio.to_thread(
            export,
            fmt,
            storage=services.conversations.storage,
            engine=services.conversations.engine,
            user=session.user,
            today=reminders.today(session.user),
            reminders=reminders.for_export(session),
        )
    except ExportError:
        await context.bot.send_message(chat.id, texts.ui("export.chat.nothing"))
        return
    await context.bot.send_document(
        chat.id, data, filename=name, caption=texts.ui(f"export.chat.captions.{fmt}")
    )


async def send_charts(update: Update, context: BotContext, session: Session) -> None:
    """The summary's charts as photos with captions (readiness, five shares, grid)."""
    from bot.export.pictures import summary_pictures  # loads matplotlib: only when needed

    services = context.services
    chat = update.effective_chat
    assert chat is not None
    try:
        content = report_content(
            storage=services.conversations.storage,
            engine=services.conversations.engine,
            user=session.user,
            today=services.reminders.today(session.user),
        )
    except ExportError:
        return
    await context.bot.send_chat_action(chat.id, ChatAction.UPLOAD_PHOTO)
    pictures = await asyncio.to_thread(summary_pictures, content)
    for png, caption in pictures:
        await context.bot.send_photo(chat.id, png, caption=caption)
