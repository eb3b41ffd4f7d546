"""/export and the summary's charts: files and pictures made off the event loop.

Callback data: e|pdf, e|md, e|json, e|ics. The PDF and the charts are drawn in worker processes
(bot/export/pool.py): the bot never loads matplotlib or fpdf2, and other users are not kept
waiting; if a drawing fails or takes too long, the user is told so and carries on. The light
formats (Markdown, JSON, calendar) are written in a thread.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from typing import Any

from telegram import Update
from telegram.constants import ChatAction

from bot.conversations import Session
from bot.export import FORMATS, ExportError, export, render, report_parts
from bot.export.pool import RenderFailed
from bot.telegram import partner_handlers, project_handlers
from bot.telegram.callbacks import CallbackKind, encode
from bot.telegram.files import named_file
from bot.telegram.lanes import waiting_aside
from bot.telegram.limiter import not_replying
from bot.telegram.priority import later, start_on_turn, take_turn
from bot.telegram.render import choice_keyboard
from bot.telegram.services import BotContext, send_later

logger = logging.getLogger(__name__)


async def export_menu(update: Update, context: BotContext) -> None:
    """/export: the formats as buttons (after other users' updates: priority.py)."""
    services = context.services
    await start_on_turn(context.application, services.turns, answer=False)
    session = await services.session(update)
    texts = services.texts(session.user.lang)
    # The partner's side has the report on the gaps and their data; the manager's, also their
    # private report and calendar, and the partner-safe report to forward.
    formats = ("json",) if session.role == "partner" else FORMATS
    buttons = [
        (texts.ui(f"export.chat.buttons.{fmt}"), encode(CallbackKind.EXPORT, fmt))
        for fmt in formats
    ]
    buttons += await partner_handlers.export_buttons(context, session, texts)
    choose = texts.ui(
        "invitations.partner_export" if session.role == "partner" else "export.chat.choose"
    )
    line = project_handlers.header(context, session)
    text = choose if line is None else f"{line}\n{choose}"
    assert update.effective_chat is not None
    await context.bot.send_message(
        update.effective_chat.id, text, reply_markup=choice_keyboard(buttons)
    )


async def on_export(update: Update, context: BotContext, fmt: str) -> None:
    """A format was chosen: "sending a document", then the file (after other users' updates:
    priority.py)."""
    services = context.services
    await start_on_turn(context.application, services.turns, answer=False)
    session = await services.session(update)
    texts = services.texts(session.user.lang)
    chat = update.effective_chat
    assert chat is not None
    if fmt in partner_handlers.GAP_FORMATS:
        await partner_handlers.send_file(update, context, session, fmt)
        return
    if fmt not in FORMATS or (session.role == "partner" and fmt != "json"):
        await context.bot.send_message(chat.id, texts.ui("errors.stale"))
        return
    await context.bot.send_chat_action(chat.id, ChatAction.UPLOAD_DOCUMENT)
    # Made and sent in a task of its own: a PDF takes a second in a worker process, and the
    # next users' updates are handled meanwhile (errors still reach the error handler).
    send_later(update, context, _send_export(update, context, fmt))


async def _send_export(update: Update, context: BotContext, fmt: str) -> None:
    not_replying()  # a task of its own: paced one message a second, like any other
    # Prepared and sent after other users' updates, a step at a time (priority.py).
    async with later(context.application, context.services.turns, in_hand=False):
        await _make_export(update, context, fmt)


async def _make_export(update: Update, context: BotContext, fmt: str) -> None:
    services = context.services
    session = await services.session(update)
    texts = services.texts(session.user.lang)
    chat = update.effective_chat
    assert chat is not None
    reminders = services.reminders
    arguments: dict[str, Any] = {
        "storage": services.conversations.storage,
        "engine": services.conversations.engine,
        "user": session.user,
        "today": reminders.today(session.user),
        "reminders": await reminders.for_export(session),
    }
    try:
        if fmt in ("pdf", "md"):  # with the gaps with the partner, once they answered
            name, content = await report_parts(fmt, **arguments)
            content = await partner_handlers.with_report(update, context, session, content)
            now = dt.datetime.now(dt.UTC)
            if fmt == "pdf":  # drawn in a worker process
                data = await services.renders.report(fmt, content, now=now)
                await take_turn()  # after other users' updates (priority.py)
            else:
                data = await asyncio.to_thread(render, fmt, content, now=now)
        else:
            name, data = await export(fmt, **arguments)
    except ExportError:
        await context.bot.send_message(chat.id, texts.ui("export.chat.nothing"))
        return
    except RenderFailed:
        await context.bot.send_message(chat.id, texts.ui("export.chat.render_failed"))
        return
    await context.bot.send_document(
        chat.id, named_file(data, name), caption=texts.ui(f"export.chat.captions.{fmt}")
    )


async def send_charts(update: Update, context: BotContext, session: Session) -> None:
    """The summary's charts as photos with captions (readiness, five shares, grid)."""
    from bot.export.content import build_content, uid_seed  # only at the end of a checklist

    services = context.services
    chat = update.effective_chat
    assert chat is not None
    user, conversation = session.user, session.conversation
    # The session's conversation and answers are the active ones, as just written: no read;
    # and its summary, just shown, is not built again.
    content = build_content(
        services.conversations.engine,
        session.state,
        session.answers,
        lang=user.lang,
        tz=user.tz,
        today=services.reminders.today(user),
        uid_seed=uid_seed(user.key, conversation.id, conversation.created_at),
        summary=session.summary,
    )
    await context.bot.send_chat_action(chat.id, ChatAction.UPLOAD_PHOTO)
    try:
        with waiting_aside(context.application):
            pictures = await services.renders.charts(content)
    except RenderFailed:
        await take_turn()
        await context.bot.send_message(
            chat.id, services.texts(session.user.lang).ui("export.chat.charts_failed")
        )
        return
    await take_turn()  # at the end of a checklist, after other users' updates (priority.py)
    for png, caption in pictures:
        await context.bot.send_photo(chat.id, png, caption=caption)
