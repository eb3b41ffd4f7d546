"""Reminders on Telegram: parse the update, call the reminder service, render what it returns.

The conversation itself (offers, "on which date?", time zone, follow-up questions, reviews) is
the pure flow in bot/reminders/flow/; what it waits for is stored with the conversation.
"""

from __future__ import annotations

import logging

from telegram import Message, Update
from telegram.constants import ParseMode
from telegram.error import BadRequest

from bot.conversations import Session
from bot.dialogue.views import Say
from bot.reminders import flow
from bot.telegram.keyboards import strip_keyboard
from bot.telegram.reminder_views import offer_message
from bot.telegram.render import escape
from bot.telegram.services import BotContext

logger = logging.getLogger(__name__)


async def on_event(update: Update, context: BotContext, event: flow.Event) -> None:
    """A reminder button, /reminders or /timezone: through the flow, then shown."""
    session = await context.services.session(update)
    await answer(update, context, session, event)


async def answer(update: Update, context: BotContext, session: Session, event: flow.Event) -> None:
    """Run one input through the reminder service (committed), then show its views.

    After a checklist input (a "not yet", the end of the checklist), the tapped message is the
    checklist's: its handler already edited it, so it is left alone here."""
    after_checklist = isinstance(event, flow.Finished | flow.NotYet)
    update_id = None if after_checklist else update.update_id
    outcome = await context.services.reminders.handle(session, event, update_id=update_id)
    await show(update, context, outcome, keep_source=after_checklist)


async def list_reminders(update: Update, context: BotContext) -> None:
    """/reminders: which project this is, then what is pending, in the user's time zone, each
    with move and cancel."""
    from bot.telegram import project_handlers  # it renders with the checklist's handlers

    session = await context.services.session(update)
    line = project_handlers.header(context, session)
    if line is not None:
        await project_handlers.send(update, context, escape(line))
    await answer(update, context, session, flow.ListReminders())


async def timezone(update: Update, context: BotContext) -> None:
    """/timezone [city or offset]: show or set the time zone reminders use."""
    assert update.message is not None
    assert update.message.text is not None
    _, _, arg = update.message.text.partition(" ")
    event = flow.TimezoneChoice(arg.strip()) if arg.strip() else flow.AskTimezone()
    await on_event(update, context, event)


async def show(
    update: Update, context: BotContext, outcome: flow.Outcome, *, keep_source: bool = False
) -> None:
    """Send the views; a note goes on the tapped message, whose buttons go unless kept (by the
    outcome, or by `keep_source`: the message is not the reminders' to change)."""
    chat = update.effective_chat
    assert chat is not None
    query = update.callback_query
    source = query.message if query is not None and isinstance(query.message, Message) else None
    noted = False
    for view in outcome.views:
        if isinstance(view, flow.Note) and source is not None:
            current = source.text_html or ""
            await _edit_source(update, f"{current}\n\n{escape(view.text)}")
            noted = True
        elif isinstance(view, flow.Offer):
            text, keyboard = offer_message(view)
            await context.bot.send_message(
                chat.id, text, parse_mode=ParseMode.HTML, reply_markup=keyboard
            )
        elif isinstance(view, flow.Note | Say):
            await context.bot.send_message(chat.id, escape(view.text), parse_mode=ParseMode.HTML)
    keep = noted or outcome.keep_source or keep_source
    if not keep:
        await strip_keyboard(update)


async def _edit_source(update: Update, text: str) -> None:
    """Replace the tapped message's text and drop its buttons."""
    query = update.callback_query
    assert query is not None
    try:
        await query.edit_message_text(text, parse_mode=ParseMode.HTML)
    except BadRequest as exc:
        logger.debug("could not edit a reminder message: %s", exc)
