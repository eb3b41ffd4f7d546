"""Projects on Telegram: /projects, /new, switching and deleting; /invite and the partner's
consent. Parse the update, call the projects service (bot/projects.py), show what it returns.
"""

from __future__ import annotations

import datetime as dt
import logging
from zoneinfo import ZoneInfo

from telegram import InlineKeyboardMarkup, Update
from telegram.constants import ParseMode
from telegram.error import TelegramError

from bot.conversations import Session
from bot.dialogue import cldr
from bot.dialogue.projects import TITLE_MAX, ProjectLine, clean_title, listing
from bot.dialogue.views import Say, View
from bot.projects import Notice
from bot.telegram import render
from bot.telegram.callbacks import CallbackKind, encode
from bot.telegram.keyboards import strip_keyboard
from bot.telegram.render import choice_keyboard, escape
from bot.telegram.services import BotContext

logger = logging.getLogger(__name__)


# /projects, /new, switching, deleting ------------------------------------------------------------
async def projects(update: Update, context: BotContext) -> None:
    """/projects: every project with its progress and verdict; a button switches to one."""
    services = context.services
    session = await services.session(update)
    texts = services.texts(session.user.lang)
    lines = await services.projects.lines(session)
    buttons = [
        (
            ("▶ " if line.current else "") + line.name,
            encode(CallbackKind.PROJECT, "go", str(line.id)),
        )
        for line in lines
    ]
    buttons.append((texts.ui("projects.buttons.new"), encode(CallbackKind.PROJECT, "new", "0")))
    if any(not line.partner_side for line in lines):
        buttons.append(
            (texts.ui("projects.buttons.delete"), encode(CallbackKind.PROJECT, "del", "0"))
        )
    await send(update, context, escape(listing(lines, texts)), choice_keyboard(buttons))


def _marked(line: ProjectLine) -> str:
    return ("▶ " if line.current else "") + line.name


async def new(update: Update, context: BotContext) -> None:
    """/new [name]: start a project; without a name, ask for it."""
    assert update.message is not None
    assert update.message.text is not None
    _, _, arg = update.message.text.partition(" ")
    session = await context.services.session(update)
    if arg.strip():
        await _start_project(update, context, session, arg)
        return
    await _ask_title(update, context, session)


async def typed(update: Update, context: BotContext, session: Session, line: str) -> None:
    """A typed line the projects were waiting for: a new project's name, or a comment."""
    assert session.awaiting is not None
    if session.awaiting.what == "project":
        await _start_project(update, context, session, line)


async def on_project(update: Update, context: BotContext, action: str, ref: str) -> None:
    """A /projects button: go (switch), new, del (choose), rm (confirmed), keep."""
    services = context.services
    session = await services.session(update)
    texts = services.texts(session.user.lang)
    await strip_keyboard(update)
    project_id = int(ref) if ref.isdigit() else 0
    if action == "new":
        await _ask_title(update, context, session)
    elif action == "go":
        switched = await services.projects.switch(session, project_id, update.update_id)
        if switched is None:
            await send(update, context, escape(texts.ui("projects.unknown")))
            return
        services.replace_session(update, switched)
        name = services.projects.current_name(switched) or ""
        views: tuple[View, ...] = (Say(texts.ui("projects.switched", name=name)),)
        views += _current_question(context, switched)
        await show(update, context, switched, views)
    elif action == "del":
        await _choose_deletion(update, context, session)
    elif action == "ask":
        await _confirm_deletion(update, context, session, project_id)
    elif action == "rm":
        await _delete_project(update, context, session, project_id)
    else:  # keep
        await send(update, context, escape(texts.ui("projects.delete.kept")))


async def _ask_title(update: Update, context: BotContext, session: Session) -> None:
    services = context.services
    texts = services.texts(session.user.lang)
    await services.projects.ask_title(session, update.update_id)
    await send(update, context, escape(texts.ui("projects.new.ask", max=TITLE_MAX)))


async def _start_project(update: Update, context: BotContext, session: Session, line: str) -> None:
    services = context.services
    texts = services.texts(session.user.lang)
    title = clean_title(line)
    if title is None:
        await send(update, context, escape(texts.ui("projects.new.invalid", max=TITLE_MAX)))
        return
    started = await services.projects.start(session, title, update.update_id)
    services.replace_session(update, started)
    engine = services.conversations.engine
    views: tuple[View, ...] = (Say(texts.ui("projects.new.started", name=title)),)
    views += engine.current(
        started.state, started.answers, started.user.lang, _today(context, started)
    )
    await show(update, context, started, views)


async def _choose_deletion(update: Update, context: BotContext, session: Session) -> None:
    services = context.services
    texts = services.texts(session.user.lang)
    own = [line for line in await services.projects.lines(session) if not line.partner_side]
    buttons = [
        ("🗑 " + line.name, encode(CallbackKind.PROJECT, "ask", str(line.id))) for line in own
    ]
    buttons.append((texts.ui("projects.delete.no"), encode(CallbackKind.PROJECT, "keep", "0")))
    await send(
        update, context, escape(texts.ui("projects.delete.choose")), choice_keyboard(buttons)
    )


async def _confirm_deletion(
    update: Update, context: BotContext, session: Session, project_id: int
) -> None:
    services = context.services
    texts = services.texts(session.user.lang)
    line = next((x for x in await services.projects.lines(session) if x.id == project_id), None)
    if line is None or line.partner_side:
        await send(update, context, escape(texts.ui("projects.unknown")))
        return
    keyboard = choice_keyboard(
        [
            (texts.ui("projects.delete.yes"), encode(CallbackKind.PROJECT, "rm", str(line.id))),
            (texts.ui("projects.delete.no"), encode(CallbackKind.PROJECT, "keep", "0")),
        ]
    )
    text = texts.ui("projects.delete.confirm", name=line.name)
    await send(update, context, escape(text), keyboard)


async def _delete_project(
    update: Update, context: BotContext, session: Session, project_id: int
) -> None:
    services = context.services
    texts = services.texts(session.user.lang)
    line = next((x for x in await services.projects.lines(session) if x.id == project_id), None)
    notices = await services.projects.delete(session, project_id) if line is not None else None
    if line is None or notices is None:
        await send(update, context, escape(texts.ui("projects.unknown")))
        return
    await send(update, context, escape(texts.ui("projects.delete.done", name=line.name)))
    await notify(context, notices)
    fresh = await services.conversations.find(session.user.key)
    if fresh is None:
        services.forget_session(update)
        await send(update, context, escape(texts.ui("projects.delete.none_left")))
        return
    services.replace_session(update, fresh)
    name = services.projects.current_name(fresh) or ""
    views: tuple[View, ...] = (Say(texts.ui("projects.switched", name=name)),)
    views += _current_question(context, fresh)
    await show(update, context, fresh, views)


# Telling the other side --------------------------------------------------------------------------
async def notify(context: BotContext, notices: list[Notice]) -> None:
    """Send each notice to its user's chat, in their language; a chat that cannot be reached
    (blocked the bot, gone) is logged and skipped."""
    for notice in notices:
        chat_id = chat_of(notice.user.key)
        if chat_id is None:
            continue
        texts = context.services.texts(notice.user.lang)
        try:
            text = escape(texts.ui(notice.key, **notice.params))
            await context.bot.send_message(chat_id, text, parse_mode=ParseMode.HTML)
        except TelegramError as exc:
            logger.info("could not tell the other side of a project: %s", exc)


def chat_of(key: str) -> int | None:
    """The private chat of a Telegram user's key ("tg:<id>"); None for other front ends."""
    prefix, _, number = key.partition(":")
    if prefix != "tg" or not number.lstrip("-").isdigit():
        return None
    return int(number)


def header(context: BotContext, session: Session) -> str | None:
    """ "Project: <name>", the line commands start with to say which project they act on."""
    name = context.services.projects.current_name(session)
    if name is None:
        return None
    return context.services.texts(session.user.lang).ui("projects.current", name=name)


# Helpers -----------------------------------------------------------------------------------------
def _current_question(context: BotContext, session: Session) -> tuple[View, ...]:
    engine = context.services.conversations.engine_for(session)
    return engine.current(
        session.state, session.answers, session.user.lang, _today(context, session)
    )


async def show(
    update: Update, context: BotContext, session: Session, views: tuple[View, ...]
) -> None:
    from bot.telegram.handlers import show  # the checklist's renderer

    await show(update, context, session, views, keep_source=True)


async def send(
    update: Update, context: BotContext, html: str, keyboard: InlineKeyboardMarkup | None = None
) -> None:
    """Send html (split under Telegram's limit), the keyboard under its last part."""
    chat = update.effective_chat
    assert chat is not None
    parts = render.split(html)
    for number, part in enumerate(parts, start=1):
        markup = keyboard if number == len(parts) else None
        await context.bot.send_message(
            chat.id, part, parse_mode=ParseMode.HTML, reply_markup=markup
        )


def _today(context: BotContext, session: Session) -> dt.date:
    return context.services.conversations.today(session.user)


def local_date(session: Session, moment: dt.datetime) -> str:
    """A moment as the day it is where the user lives, in words."""
    day = moment.astimezone(ZoneInfo(session.user.tz)).date()
    return cldr.long_date(day, session.user.lang)
