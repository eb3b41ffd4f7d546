"""Handlers: parse the update, call the conversations service, reply. No decisions here.

Updates we deliberately leave alone (see docs/telegram.md): channel posts, updates without a user,
and anything from a group beyond a pointer to the private chat.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from telegram import CallbackQuery, Update
from telegram import Message as TgMessage
from telegram.constants import ChatAction, ParseMode
from telegram.error import BadRequest, Forbidden, TelegramError

from bot.conversations import Session
from bot.dialogue.engine import EDIT, RESTART, Command, Input, Pick, Text
from bot.dialogue.views import Answered, Ask, Menu, Option, Say, ShowSummary, View
from bot.errors import DuplicateUpdate, StorageError
from bot.reminders import flow
from bot.telegram import (
    advisor_handlers,
    export_handlers,
    partner_handlers,
    project_handlers,
    reminder_handlers,
    render,
)
from bot.telegram.callbacks import (
    PROJECT_KINDS,
    REMINDER_KINDS,
    CallbackKind,
    decode,
    encode,
    reminder_event,
)
from bot.telegram.files import named_file
from bot.telegram.keyboards import strip_keyboard
from bot.telegram.leanbot import read_reply
from bot.telegram.priority import later, start_on_turn
from bot.telegram.retry import at_least_once
from bot.telegram.services import BotContext

logger = logging.getLogger(__name__)

_MENU_TARGETS = {"edit": EDIT, "restart": RESTART, EDIT: EDIT, RESTART: RESTART}
# chat_data key: (message id, question id, greeting above it) of the question shown last
PROMPT = "prompt"
NUDGED = "nudged"  # chat_data key: the day the nudges were last moved


async def start(update: Update, context: BotContext) -> None:
    """/start: welcome (or welcome back) and the question where the user stands; /start with
    an invitation token: the invitation (bot/telegram/partner_handlers.py)."""
    token = context.args[0] if context.args else ""
    if token and token != "group":
        await partner_handlers.open_link(update, context, token)
        return
    services = context.services
    session = await services.session(update)
    if session.user.blocked_at is not None:  # they came back: reminders may reach them again
        session.user = await services.conversations.storage.update_user(
            session.user.id, unblock=True
        )
    await services.reminders.stop_waiting(session)
    fresh = session.fresh or not session.answers
    views = services.conversations.engine_for(session).resume(
        session.state, session.answers, session.user.lang, _today(context, session), fresh=fresh
    )
    await show(update, context, session, views, greet=True)


async def command(update: Update, context: BotContext) -> None:
    """/help, /back, /skip, /summary, /edit, /restart: the core decides."""
    assert update.message is not None
    assert update.message.text is not None
    name, _, arg = update.message.text[1:].partition(" ")
    name = name.split("@")[0].lower()
    if name in ("summary", "edit", "restart"):  # say which project they act on
        session = await context.services.session(update)
        line = project_handlers.header(context, session)
        if line is not None:
            await project_handlers.send(update, context, render.escape(line))
    await apply(update, context, Command(name, arg.strip()))  # /pourquoi: the core knows it


async def text(update: Update, context: BotContext) -> None:
    """A typed answer (to the checklist, or to a date or time zone the reminders asked for)."""
    assert update.message is not None
    assert update.message.text is not None
    session = await context.services.session(update)
    if session.awaiting is not None and session.awaiting.what == "project":
        await project_handlers.typed(update, context, session, update.message.text)
        return
    if session.awaiting is not None and session.awaiting.what == "comment":
        await partner_handlers.typed_comment(update, context, session, update.message.text)
        return
    if session.awaiting is not None:
        await reminder_handlers.answer(update, context, session, flow.Typed(update.message.text))
        return
    await apply(update, context, Text(update.message.text), session)


async def not_text(update: Update, context: BotContext) -> None:
    """A photo, sticker, voice note, ... where an answer is expected: say so, ask again."""
    services = context.services
    session = await services.session(update)
    texts = services.texts(session.user.lang)
    views: tuple[View, ...] = (Say(texts.ui("telegram.media"), kind="error"),)
    views += services.conversations.engine_for(session).current(
        session.state, session.answers, session.user.lang, _today(context, session)
    )
    await show(update, context, session, views)


async def edited(update: Update, context: BotContext) -> None:
    """An edited message changes nothing recorded: point to /edit."""
    services = context.services
    session = await services.session(update)
    texts = services.texts(session.user.lang)
    assert update.edited_message is not None
    await update.edited_message.reply_text(texts.ui("telegram.edited"))


async def group(update: Update, context: BotContext) -> None:
    """Anything in a group: the bot works in a private chat. Nothing is recorded."""
    message = update.effective_message
    if message is None:
        return
    lang = context.services.lang_for(update)
    texts = context.services.texts(lang)
    link = f"https://t.me/{context.bot.username}?start=group"
    await message.reply_text(texts.ui("telegram.group_only", link=link), parse_mode=ParseMode.HTML)


async def callback(update: Update, context: BotContext) -> None:
    """A button. Always answered, so the phone stops its spinner; forged data changes nothing.
    A checklist button of a message already dealt with gets a pop-up notice, nothing more."""
    query = update.callback_query
    assert query is not None
    data = decode(query.data)
    event: Input | None = None
    if data is None:
        event = Pick("", "")  # the core answers "already dealt with"
    elif data.kind == CallbackKind.ANSWER:
        event = Pick(data.fields[0], data.fields[1])
    elif data.kind == CallbackKind.CONTROL:
        event = Command(data.fields[1], at=data.fields[0])
    elif data.kind == CallbackKind.MENU:
        event = Pick(_MENU_TARGETS.get(data.fields[0], ""), data.fields[1])
    elif data.kind in REMINDER_KINDS and reminder_event(data) is None:
        event = Pick("", "")  # one of ours in shape, not in content: forged
    if event is not None and update.effective_chat is not None:
        await apply(update, context, event)  # answers the query
        return
    await _answer(query)
    if update.effective_chat is None or data is None:  # under an inline message: none is ours
        return
    services = context.services
    kind, fields = data.kind, data.fields
    if kind in REMINDER_KINDS:
        reminder = reminder_event(data)
        assert reminder is not None  # forged ones went to the core above
        await reminder_handlers.on_event(update, context, reminder)
    elif kind in PROJECT_KINDS:
        await _on_project_button(update, context, kind, fields)
    elif kind == CallbackKind.WHY:
        session = await services.session(update)
        texts = services.conversations.engine_for(session).texts(session.user.lang)
        qid = fields[0]
        known = qid in services.conversations.engine_for(session).dialogue.questions
        help_text = texts.question(qid, "help") if known else texts.ui("help")
        await show(update, context, session, (Say(help_text, kind="help"),), keep_source=True)
    elif kind == CallbackKind.LANGUAGE:
        await set_language(update, context, fields[0])
    elif kind == CallbackKind.DELETE:
        await confirm_delete(update, context, fields[0] == "yes")
    elif kind == CallbackKind.ADVISOR:
        await advisor_handlers.withdraw(update, context, fields[0])
    else:  # CallbackKind.EXPORT
        await export_handlers.on_export(update, context, fields[0])


async def _on_project_button(
    update: Update, context: BotContext, kind: CallbackKind, fields: tuple[str, ...]
) -> None:
    """A button of the projects (bot/telegram/project_handlers.py, partner_handlers.py)."""
    first, second = fields
    if kind == CallbackKind.PROJECT:
        await project_handlers.on_project(update, context, first, second)
    elif kind == CallbackKind.INVITE:
        await partner_handlers.on_invite(update, context, first, second)
    elif kind == CallbackKind.CONSENT:
        await partner_handlers.on_consent(update, context, first, second)
    elif kind == CallbackKind.COMMENT:
        await partner_handlers.on_comment(update, context, first, second)
    else:  # CallbackKind.SESSIONS
        await partner_handlers.on_sessions(update, context, first, second)


async def _answer(query: CallbackQuery, notice: str | None = None) -> None:
    """Stop the phone's spinner, with a pop-up notice if there is one to give."""
    try:
        await query.answer(notice)
    except TelegramError as exc:  # it only stops the spinner: never lose the tap for it
        logger.warning("could not answer a callback query: %s", exc)


async def apply(
    update: Update, context: BotContext, event: Input, session: Session | None = None
) -> None:
    """Run one input through the core, committed before anything is shown; then the reminders
    it calls for (a "not yet", the end of the checklist). For a button, the callback query is
    answered here: with a pop-up notice when the button was stale."""
    services = context.services
    query = update.callback_query
    session = session or await services.session(update)
    # The "unfinished checklist" nudges move later, at most once a day per user, in the same
    # transaction as the answer.
    today = _today(context, session)
    # The partner gets no nudges: only the session reminders they accept.
    nudge = _chat_data(context).get(NUDGED) != today and session.role == "owner"
    extra = services.reminders.nudges if nudge else None
    engine = services.conversations.engine_for(session)
    if engine.may_finish(session.state, session.answers, event):
        # The end of a checklist follows: the answer too waits for other users' updates.
        await start_on_turn(context.application, services.turns)
    try:
        views = await services.conversations.handle(
            session, event, update_id=update.update_id, extra=extra
        )
    except DuplicateUpdate:
        logger.info("update %s already processed; ignored", update.update_id)
        if query is not None:
            await _answer(query)
        return
    except BaseException:
        if query is not None:
            await _answer(query)
        raise
    if session.scheduled:
        _chat_data(context)[NUDGED] = today
    if query is not None:
        stale = next((v for v in views if isinstance(v, Say) and v.kind == "stale"), None)
        await _answer(query, stale.text if stale is not None else None)
        if stale is not None:  # the question in chat is still the one to answer
            await strip_keyboard(update)
            return
    if not session.just_finished:
        await _reply(update, context, session, views)
        return
    # The end of the checklist (the summary, its charts, the review, the offers): after other
    # users' updates, a step at a time (priority.py).
    async with later(context.application, context.services.turns):
        await _reply(update, context, session, views)


async def _reply(
    update: Update, context: BotContext, session: Session, views: tuple[View, ...]
) -> None:
    """What `apply` shows once the input is committed, then the reminders it calls for."""
    if session.role == "partner":  # their walk has no next steps of its own to remind
        await show(update, context, session, views)
        if session.just_finished:
            await partner_handlers.after_walk(update, context, session)
        return
    try:
        await show(update, context, session, views)
    except Exception:
        if session.just_finished:  # the summary failed: schedule and offer the reminders anyway
            await reminder_handlers.answer(update, context, session, flow.Finished())
        raise
    for then in flow.after_checklist(session.last_writes, session.state.at, session.just_finished):
        await reminder_handlers.answer(update, context, session, then)
    if session.just_finished:
        await partner_handlers.after_walk(update, context, session)


# /language, /mydata, /delete ---------------------------------------------------------------------
async def language(update: Update, context: BotContext) -> None:
    """/language: choose French or English."""
    services = context.services
    session = await services.session(update)
    texts = services.texts(session.user.lang)
    options = (Option("fr", "Français"), Option("en", "English"))
    keyboard = render.choice_keyboard(
        [(o.label, encode(CallbackKind.LANGUAGE, o.value)) for o in options]
    )
    assert update.effective_chat is not None
    await context.bot.send_message(
        update.effective_chat.id, texts.ui("telegram.language.choose"), reply_markup=keyboard
    )


async def set_language(update: Update, context: BotContext, lang: str) -> None:
    services = context.services
    session = await services.session(update)
    if lang not in services.conversations.engine.dialogue.texts:
        lang = session.user.lang
    await services.conversations.set_language(session, lang)
    texts = services.texts(lang)
    await strip_keyboard(update)
    views: tuple[View, ...] = (Say(texts.ui("telegram.language.set")),)
    views += services.conversations.engine_for(session).current(
        session.state, session.answers, lang, _today(context, session)
    )
    await show(update, context, session, views, keep_source=True)


async def mydata(update: Update, context: BotContext) -> None:
    """/mydata: everything stored about the user, as a JSON file."""
    from bot.export.jsondata import to_json, user_data  # only when asked for

    services = context.services
    session = await services.session(update)
    texts = services.texts(session.user.lang)
    assert update.effective_chat is not None
    await context.bot.send_chat_action(update.effective_chat.id, ChatAction.UPLOAD_DOCUMENT)
    dialogue = services.conversations.engine.dialogue
    storage = services.conversations.storage
    payload = to_json(await user_data(storage, session.user, dialogue=dialogue))
    caption = texts.ui("telegram.mydata")
    line = project_handlers.header(context, session)
    await context.bot.send_document(
        update.effective_chat.id,
        named_file(payload, "alliance-bot-mydata.json"),
        caption=caption if line is None else f"{caption}\n{line}",
    )


async def delete(update: Update, context: BotContext) -> None:
    """/delete: ask for confirmation before erasing everything."""
    services = context.services
    session = await services.session(update)
    texts = services.texts(session.user.lang)
    keyboard = render.choice_keyboard(
        [
            (texts.ui("telegram.delete.yes"), encode(CallbackKind.DELETE, "yes")),
            (texts.ui("telegram.delete.no"), encode(CallbackKind.DELETE, "no")),
        ]
    )
    assert update.effective_chat is not None
    await context.bot.send_message(
        update.effective_chat.id, texts.ui("telegram.delete.confirm"), reply_markup=keyboard
    )


async def confirm_delete(update: Update, context: BotContext, confirmed: bool) -> None:
    services = context.services
    session = await services.session(update)
    texts = services.texts(session.user.lang)
    await strip_keyboard(update)
    assert update.effective_chat is not None
    if not confirmed:
        await context.bot.send_message(update.effective_chat.id, texts.ui("telegram.delete.kept"))
        return
    notices = await services.projects.before_erasing(session.user)
    await services.conversations.delete(session)
    services.forget(update)  # the update is then recorded without its erased sender
    await project_handlers.notify(context, notices)
    _chat_data(context).clear()
    await context.bot.send_message(update.effective_chat.id, texts.ui("telegram.delete.done"))


# Showing views -----------------------------------------------------------------------------------
async def show(
    update: Update,
    context: BotContext,
    session: Session,
    views: tuple[View, ...],
    *,
    keep_source: bool = False,
    greet: bool = False,
) -> None:
    """Send (or edit in place) what the core asked to show.

    With `greet` (/start), a greeting followed by a question is one message: the greeting
    above the question, kept there once the question is answered. The same words as two
    messages, and one message less to pace under Telegram's 30 a second.
    """
    chat = update.effective_chat
    assert chat is not None
    texts = context.services.texts(session.user.lang)
    query = update.callback_query
    source = query.message if query is not None and isinstance(query.message, TgMessage) else None
    source_done = keep_source
    greeting = ""
    first = views[0] if greet and _greeting_first(views) else None
    if isinstance(first, Say):
        greeting, views = render.escape(first.text), views[1:]
    for view in views:
        if isinstance(view, Answered):
            target = source.message_id if source is not None else _prompt_for(context, view)
            if target is not None:
                message = render.answered(view, _greeting_above(context, target))
                await _edit(context, chat.id, target, message)
                source_done = source_done or source is not None
        elif isinstance(view, Ask):
            if view.refresh and source is not None:
                message = render.question(view, texts, _greeting_above(context, source.message_id))
                await _edit(context, chat.id, source.message_id, message)
                source_done = True
                continue
            message = render.question(view, texts, greeting)
            if greeting and len(message.text) > render.MAX_TEXT:  # too long for one: two
                await context.bot.send_message(chat.id, greeting, parse_mode=ParseMode.HTML)
                greeting, message = "", render.question(view, texts)
            with read_reply():  # its id, to edit it once answered
                sent = await context.bot.send_message(
                    chat.id, message.text, parse_mode=ParseMode.HTML, reply_markup=message.keyboard
                )
            _chat_data(context)[PROMPT] = (sent.message_id, view.question_id, greeting)
            greeting = ""
        elif isinstance(view, Say):
            for part in render.split(render.escape(view.text)):
                await context.bot.send_message(chat.id, part, parse_mode=ParseMode.HTML)
        elif isinstance(view, Menu):
            message = render.menu(view)
            await context.bot.send_message(
                chat.id, message.text, parse_mode=ParseMode.HTML, reply_markup=message.keyboard
            )
        elif isinstance(view, ShowSummary) and session.role == "partner":
            # The partner's walk has no verdict: their own answers, then the gaps.
            from bot.divergence_report import render_own_answers  # only at the end of a walk
            from bot.report import Html

            own = render_own_answers(view.summary, texts, Html())
            for part in render.split(own):
                await context.bot.send_message(chat.id, part, parse_mode=ParseMode.HTML)
            if not session.just_finished:  # at the end, after_walk sends it to both sides
                compared = await partner_handlers.compared_for(update, context, session)
                await partner_handlers.report_for(update, context, session, compared)
        elif isinstance(view, ShowSummary):
            # No "typing..." first: the summary is written in a few milliseconds, the action
            # would be one more call the user never sees. The gaps with the partner, once
            # they answered, weigh in the verdict and the priorities (the project compared is
            # read once, for them and for the report below).
            from bot.report import Html, render_summary  # only at the end of a walk

            compared = await partner_handlers.compared_for(update, context, session)
            summary = partner_handlers.with_gaps(context, session, view.summary, compared)
            for part in render.split(render_summary(summary, texts, Html())):
                await context.bot.send_message(chat.id, part, parse_mode=ParseMode.HTML)
            # Drawn in a worker process (no GIL held here); awaited, so that the review and
            # the reminder offers (apply) come after them.
            await export_handlers.send_charts(update, context, session)
            # The gaps, or the offer to invite the partner; at the end of a walk, after_walk
            # sends the report to both sides.
            await partner_handlers.report_for(
                update, context, session, compared, report=not session.just_finished
            )
    if source is not None and not source_done:
        await strip_keyboard(update)


def _prompt_for(context: BotContext, view: Answered) -> int | None:
    prompt = _chat_data(context).get(PROMPT)
    if prompt and prompt[1] == view.question_id:
        message_id: int = prompt[0]
        return message_id
    return None


def _greeting_first(views: tuple[View, ...]) -> bool:
    """Whether views open with a greeting (a plain message) followed by a question."""
    return (
        len(views) > 1
        and isinstance(views[0], Say)
        and views[0].kind == "info"
        and isinstance(views[1], Ask)
        and not views[1].refresh
    )


def _greeting_above(context: BotContext, message_id: int) -> str:
    """The greeting sent above the question of message_id ("" if none, or not known: the
    question shown last is remembered, in memory)."""
    prompt = _chat_data(context).get(PROMPT)
    if prompt and prompt[0] == message_id:
        greeting: str = prompt[2]
        return greeting
    return ""


async def _edit(
    context: BotContext, chat_id: int, message_id: int, message: render.Message
) -> None:
    try:
        await context.bot.edit_message_text(
            message.text,
            chat_id=chat_id,
            message_id=message_id,
            parse_mode=ParseMode.HTML,
            reply_markup=message.keyboard,
        )
    except BadRequest as exc:  # too old, deleted, or unchanged: the new message says it all
        logger.debug("could not edit message %s: %s", message_id, exc)


def _chat_data(context: BotContext) -> dict[Any, Any]:
    assert context.chat_data is not None  # every handler here runs in a chat
    return context.chat_data


def _today(context: BotContext, session: Session) -> dt.date:
    return context.services.conversations.today(session.user)


# Errors ------------------------------------------------------------------------------------------
async def on_error(update: object, context: BotContext) -> None:
    """Log first (without the token: see bot/logging_setup.py), then apologise and re-ask."""
    error = context.error
    if isinstance(error, Forbidden) and isinstance(update, Update) and update.effective_user:
        services = context.services
        storage = services.conversations.storage
        user = await storage.get_user(f"tg:{update.effective_user.id}")
        if user is not None:
            await storage.update_user(user.id, blocked_at=dt.datetime.now(dt.UTC))
        logger.info("user blocked the bot; no more messages to them")
        return
    logger.error("error while handling an update", exc_info=error)
    if not isinstance(update, Update) or update.effective_chat is None:
        return
    if update.effective_chat.type != "private" or update.effective_user is None:
        return
    try:
        services = context.services
        session = await services.session(update)
        texts = services.texts(session.user.lang)
        views: tuple[View, ...] = (Say(texts.ui("telegram.error"), kind="error"),)
        views += services.conversations.engine_for(session).current(
            session.state, session.answers, session.user.lang, _today(context, session)
        )
        # Telegram failing again must not leave the user without a question (retry.py).
        await at_least_once(lambda: show(update, context, session, views, keep_source=True))
    except StorageError:  # the database is away: apologise all the same, without the question
        await _apologise_without_database(update, context)
    except Exception:  # the apology itself failed: the log has the first error
        logger.exception("could not apologise to the user")


async def _apologise_without_database(update: Update, context: BotContext) -> None:
    """Never silence: say the message could not be handled, in the user's Telegram language."""
    assert update.effective_chat is not None
    texts = context.services.texts(context.services.lang_for(update))
    try:
        await context.bot.send_message(update.effective_chat.id, texts.ui("telegram.unavailable"))
    except Exception:
        logger.exception("could not apologise to the user")
