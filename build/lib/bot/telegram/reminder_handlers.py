"""Reminders on Telegram: offers after the summary, /reminders, /timezone, reminder buttons.

Callback data (bot/telegram/callbacks.py):
    p|all|pick|no            the offer of reminders for the next steps
    s|<step>|sug|w1|m1|date|no   one next step's reminder (then the following one is offered)
    n|<step>|sug|w1|m1|date|no   the reminder offered right after a "not yet" answer
    q|yes|no                 the preparation calendar
    r|<id>|<action>          one reminder: done, stop, d1, w1, m1, cancel, move, date
    f|<id>|<question>|<answer>   a follow-up question sent with a reminder
    z|<time zone>            /timezone shortcut
A typed date or time zone that the bot asked for is remembered in chat_data["awaiting"].
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any
from zoneinfo import ZoneInfo

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.constants import ParseMode
from telegram.error import BadRequest

from bot.conversations import Session
from bot.dialogue import parsing
from bot.dialogue.model import Texts
from bot.dialogue.summary import display, format_date
from bot.reminders import Kind
from bot.reminders import texts as reminder_texts
from bot.reminders.planner import CHOICES
from bot.reminders.timezones import resolve_timezone
from bot.storage.base import Reminder
from bot.telegram import reminder_views
from bot.telegram.callbacks import encode
from bot.telegram.render import escape
from bot.telegram.services import BotContext

logger = logging.getLogger(__name__)
AWAITING = "awaiting"
COMMON_ZONES = ("Europe/Paris", "Europe/Brussels", "Europe/Zurich", "America/Toronto")


def _chat_data(context: BotContext) -> dict[Any, Any]:
    assert context.chat_data is not None
    return context.chat_data


async def _say(context: BotContext, update: Update, text: str, keyboard: Any = None) -> None:
    assert update.effective_chat is not None
    await context.bot.send_message(
        update.effective_chat.id, text, parse_mode=ParseMode.HTML, reply_markup=keyboard
    )


async def _edit_source(update: Update, text: str) -> None:
    """Replace the tapped message's text and drop its buttons."""
    query = update.callback_query
    if query is None or not isinstance(query.message, Message):
        return
    try:
        await query.edit_message_text(text, parse_mode=ParseMode.HTML)
    except BadRequest as exc:
        logger.debug("could not edit a reminder message: %s", exc)


def _buttons(texts: Texts, rows: list[list[tuple[str, str]]]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(label, callback_data=data) for label, data in row] for row in rows]
    )


# After the summary ---------------------------------------------------------------------------
async def after_finish(update: Update, context: BotContext, session: Session) -> None:
    """The checklist was just completed: review scheduled, then reminders offered."""
    services = context.services
    reminders = services.reminders
    texts = services.texts(session.user.lang)
    review = await reminders.on_finished(session)
    await _say(
        context,
        update,
        escape(
            texts.ui(
                "reminders.review_scheduled",
                when=reminder_views.when_text(review.due_at, session.user.tz, texts),
            )
        ),
    )
    await offer_preparation(update, context, session)
    await offer_next_steps(update, context, session)


async def offer_next_steps(update: Update, context: BotContext, session: Session) -> None:
    services = context.services
    texts = services.texts(session.user.lang)
    steps = services.reminders.next_steps(session)
    if not steps:
        return
    ui = texts.ui
    keyboard = _buttons(
        texts,
        [
            [(ui("reminders.buttons.all"), encode("p", "all"))],
            [
                (ui("reminders.buttons.pick"), encode("p", "pick")),
                (ui("reminders.buttons.no"), encode("p", "no")),
            ],
        ],
    )
    await _say(context, update, escape(ui("reminders.offer", count=len(steps))), keyboard)


async def offer_preparation(update: Update, context: BotContext, session: Session) -> None:
    services = context.services
    texts = services.texts(session.user.lang)
    sessions, plans = services.reminders.preparation(session)
    if not plans:
        return
    ui = texts.ui
    lines = "\n".join(
        ui("reminders.plan_session", number=n, date=format_date(day, texts))
        for n, day in enumerate(sessions, start=1)
    )
    end = next((p.payload["date"] for p in plans if p.kind == Kind.GO_NO_GO), None)
    partner = session.answers.get("partner")
    text = ui(
        "reminders.plan",
        partner=partner if isinstance(partner, str) else ui("reminders.partner"),
        sessions=lines,
        end=format_date(dt.date.fromisoformat(end), texts) if end else "—",
    )
    keyboard = _buttons(
        texts,
        [
            [
                (ui("reminders.buttons.yes"), encode("q", "yes")),
                (ui("reminders.buttons.no"), encode("q", "no")),
            ]
        ],
    )
    await _say(context, update, escape(text), keyboard)


async def offer_step(update: Update, context: BotContext, session: Session, after: str) -> None:
    """Offer the next step that follows `after` ("" for the first one)."""
    services = context.services
    texts = services.texts(session.user.lang)
    steps = services.reminders.next_steps(session)
    keys = [s.key for s in steps]
    index = keys.index(after) + 1 if after in keys else 0
    if index >= len(steps):
        await _say(context, update, escape(texts.ui("reminders.offer_done")))
        return
    step = steps[index]
    ui = texts.ui
    text = ui("reminders.offer_step", text=step.text, date=format_date(step.due, texts))

    def b(choice: str) -> tuple[str, str]:
        return ui(f"reminders.buttons.{choice}"), encode("s", step.key, choice)

    keyboard = _buttons(texts, [[b("sug"), b("w1"), b("m1")], [b("date"), b("no")]])
    await _say(context, update, escape(text), keyboard)


async def offer_todo(update: Update, context: BotContext, session: Session, qid: str) -> None:
    """A "not yet" answer: offer a reminder to settle that point."""
    services = context.services
    step = services.reminders.step_for_question(session, qid)
    if step is None:
        return
    texts = services.texts(session.user.lang)
    ui = texts.ui

    def b(choice: str) -> tuple[str, str]:
        return ui(f"reminders.buttons.{choice}"), encode("n", step.key, choice)

    text = ui("reminders.offer_todo", text=step.text, date=format_date(step.due, texts))
    keyboard = _buttons(texts, [[b("sug"), b("w1"), b("m1")], [b("date"), b("no")]])
    await _say(context, update, escape(text), keyboard)


async def on_offer(update: Update, context: BotContext, choice: str) -> None:
    services = context.services
    session = await services.session(update)
    texts = services.texts(session.user.lang)
    await _strip_keyboard(update)
    if choice == "all":
        count = await services.reminders.schedule_all_steps(session)
        await _say(context, update, escape(texts.ui("reminders.all_scheduled", count=count)))
    elif choice == "pick":
        await offer_step(update, context, session, "")
    else:
        await _say(context, update, escape(texts.ui("reminders.offer_done")))


async def on_step(
    update: Update, context: BotContext, key: str, choice: str, *, chain: bool = True
) -> None:
    """One next step's reminder was chosen; offer the following step when going one by one."""
    services = context.services
    session = await services.session(update)
    texts = services.texts(session.user.lang)
    if choice == "date":
        _chat_data(context)[AWAITING] = ("step" if chain else "todo", key)
        await _strip_keyboard(update)
        await _say(context, update, escape(texts.ui("reminders.ask_date")))
        return
    if choice in CHOICES:
        reminder = await services.reminders.schedule_step(session, key, choice)
        note = _scheduled_text(reminder, session, texts)
    else:
        note = texts.ui("reminders.skipped")
    await _append_to_source(update, note)
    if chain:
        await offer_step(update, context, session, key)


async def on_preparation(update: Update, context: BotContext, yes: bool) -> None:
    services = context.services
    session = await services.session(update)
    texts = services.texts(session.user.lang)
    await _strip_keyboard(update)
    if yes:
        count = await services.reminders.schedule_preparation(session)
        await _say(context, update, escape(texts.ui("reminders.plan_done", count=count)))
    else:
        await _say(context, update, escape(texts.ui("reminders.offer_done")))


# One reminder ----------------------------------------------------------------------------------
async def _own_reminder(
    update: Update, context: BotContext, session: Session, rid: str
) -> Reminder | None:
    """The user's reminder with this id (never another user's), or say it is gone."""
    reminders = context.services.reminders
    reminder = await reminders.get(session.user, int(rid)) if rid.isdigit() else None
    if reminder is None:
        texts = context.services.texts(session.user.lang)
        await _strip_keyboard(update)
        await _say(context, update, escape(texts.ui("reminders.gone")))
    return reminder


async def on_reminder(update: Update, context: BotContext, rid: str, action: str) -> None:
    services = context.services
    session = await services.session(update)
    texts = services.texts(session.user.lang)
    reminders = services.reminders
    reminder = await _own_reminder(update, context, session, rid)
    if reminder is None:
        return
    ui = texts.ui
    if action in ("done", "stop", "cancel"):
        closed = await reminders.close(session.user, reminder.id, action)
        key = {"done": "reminders.done", "stop": "reminders.stopped"}.get(
            action, "reminders.cancelled"
        )
        await _append_to_source(update, ui(key))
        if closed is not None and closed.kind == Kind.REVIEW and action == "done":
            await _next_review(update, context, session, closed)
    elif action in ("d1", "w1", "m1"):
        moved = await reminders.snooze(session.user, reminder.id, action)
        when = reminder_views.when_text(moved.due_at, session.user.tz, texts) if moved else ""
        await _append_to_source(update, ui("reminders.snoozed", when=when))
    elif action == "move":
        keyboard = _buttons(
            texts,
            [
                [
                    (ui(f"reminders.buttons.{a}"), encode("r", str(reminder.id), a))
                    for a in ("d1", "w1", "m1")
                ],
                [(ui("reminders.buttons.date"), encode("r", str(reminder.id), "date"))],
            ],
        )
        await _say(context, update, escape(ui("reminders.ask_date")), keyboard)
    elif action == "date":
        _chat_data(context)[AWAITING] = ("move", str(reminder.id))
        await _strip_keyboard(update)
        await _say(context, update, escape(ui("reminders.ask_date")))


async def on_followup(
    update: Update, context: BotContext, rid: str, question_id: str, value: str
) -> None:
    services = context.services
    session = await services.session(update)
    texts = services.texts(session.user.lang)
    reminders = services.reminders
    reminder = await _own_reminder(update, context, session, rid)
    if reminder is None:
        return
    dialogue = services.conversations.engine.dialogue
    answers = await reminders.followup_answers(session, reminder)
    question = reminder_views.next_followup_question(dialogue, reminder, answers)
    if question is None or question.id != question_id or value not in question.choices:
        await _strip_keyboard(update)
        await _say(context, update, escape(texts.ui("errors.stale")))
        return
    answer: Any = int(value) if question.type == "scale" else value
    await reminders.record_followup(session, reminder, question, answer)
    shown = display(question, answer, texts)
    await _append_to_source(update, texts.ui("reminders.followup_answered", answer=shown))
    answers = await reminders.followup_answers(session, reminder)
    following = reminder_views.next_followup_question(dialogue, reminder, answers)
    if following is not None:
        text, keyboard = reminder_views.followup_question(reminder, following, texts)
        await _say(context, update, text, keyboard)
        return
    await reminders.close(session.user, reminder.id, "done")
    followup = reminder_views.FOLLOWUP_KINDS[reminder.kind]
    await _say(context, update, escape(texts.get(f"followups.{followup}.done")))
    if reminder.kind == Kind.REVIEW:
        await _next_review(update, context, session, reminder, announce=False)


async def _next_review(
    update: Update,
    context: BotContext,
    session: Session,
    reminder: Reminder,
    *,
    announce: bool = True,
) -> None:
    number = int(str(reminder.payload.get("number", 1))) + 1
    review = await context.services.reminders.schedule_review(session, number=number)
    if announce:
        texts = context.services.texts(session.user.lang)
        when = reminder_views.when_text(review.due_at, session.user.tz, texts)
        await _say(context, update, escape(texts.ui("reminders.scheduled", when=when)))


# /reminders and /timezone ----------------------------------------------------------------------
async def list_reminders(update: Update, context: BotContext) -> None:
    """/reminders: what is pending, in the user's time zone, each with move and cancel."""
    services = context.services
    session = await services.session(update)
    texts = services.texts(session.user.lang)
    pending = await services.reminders.pending(session.user)
    ui = texts.ui
    if not pending:
        await _say(context, update, escape(ui("reminders.list_empty")))
        return
    dialogue = services.conversations.engine.dialogue
    lines = [escape(ui("reminders.list_title", tz=session.user.tz))]
    rows = []
    for number, reminder in enumerate(pending[:20], start=1):
        when = reminder_views.when_text(reminder.due_at, session.user.tz, texts)
        what = reminder_texts.short(reminder, dialogue, texts, session.answers)
        lines.append(escape(ui("reminders.list_item", number=number, when=when, text=what)))
        rows.append(
            [
                (
                    f"{number}. {ui('reminders.buttons.move')}",
                    encode("r", str(reminder.id), "move"),
                ),
                (
                    f"{number}. {ui('reminders.buttons.cancel')}",
                    encode("r", str(reminder.id), "cancel"),
                ),
            ]
        )
    await _say(context, update, "\n".join(lines), _buttons(texts, rows))


async def timezone(update: Update, context: BotContext) -> None:
    """/timezone [city or offset]: show or set the time zone reminders use."""
    services = context.services
    session = await services.session(update)
    texts = services.texts(session.user.lang)
    assert update.message is not None
    assert update.message.text is not None
    _, _, arg = update.message.text.partition(" ")
    if arg.strip():
        await set_timezone(update, context, session, arg.strip())
        return
    now = dt.datetime.now(ZoneInfo(session.user.tz)).strftime("%H:%M")
    _chat_data(context)[AWAITING] = ("timezone", "")
    keyboard = _buttons(
        texts,
        [
            [(zone.split("/")[1], encode("z", zone)) for zone in COMMON_ZONES[i : i + 2]]
            for i in range(0, len(COMMON_ZONES), 2)
        ],
    )
    text = texts.ui("reminders.timezone_current", tz=session.user.tz, time=now)
    await _say(context, update, escape(text), keyboard)


async def set_timezone(update: Update, context: BotContext, session: Session, typed: str) -> None:
    services = context.services
    texts = services.texts(session.user.lang)
    zone = resolve_timezone(typed)
    if zone is None:
        _chat_data(context)[AWAITING] = ("timezone", "")
        await _say(context, update, escape(texts.ui("reminders.timezone_unknown")))
        return
    _chat_data(context).pop(AWAITING, None)
    session.user = await services.conversations.storage.update_user(session.user.id, tz=zone)
    hour = services.settings.reminder_hour
    await _strip_keyboard(update)
    await _say(context, update, escape(texts.ui("reminders.timezone_set", tz=zone, hour=hour)))


async def on_timezone_button(update: Update, context: BotContext, zone: str) -> None:
    session = await context.services.session(update)
    await set_timezone(update, context, session, zone)


async def typed_while_awaiting(update: Update, context: BotContext) -> bool:
    """A typed answer to something the reminders asked for; False if nothing was awaited."""
    awaiting = _chat_data(context).get(AWAITING)
    if not awaiting or update.message is None or update.message.text is None:
        return False
    what, ref = awaiting
    services = context.services
    session = await services.session(update)
    text = update.message.text
    if what == "timezone":
        await set_timezone(update, context, session, text)
        return True
    texts = services.texts(session.user.lang)
    try:
        day = parsing.parse_date(
            text,
            today=services.reminders.today(session.user),
            lang=session.user.lang,
            allow_past=False,
        )
    except parsing.ParseError as exc:
        key = f"errors.{exc.reason}" if texts.has(f"ui.errors.{exc.reason}") else "errors.invalid"
        await _say(context, update, escape(texts.ui(key) + " " + texts.ui("reminders.ask_date")))
        return True
    _chat_data(context).pop(AWAITING, None)
    reminders = services.reminders
    if what == "move":
        moved = await reminders.move_to(session.user, int(ref), day)
        if moved is None:
            await _say(context, update, escape(texts.ui("reminders.gone")))
            return True
        when = reminder_views.when_text(moved.due_at, session.user.tz, texts)
        await _say(context, update, escape(texts.ui("reminders.moved", when=when)))
    else:
        reminder = await reminders.schedule_step(session, ref, day.isoformat())
        await _say(context, update, escape(_scheduled_text(reminder, session, texts)))
        if what == "step":
            await offer_step(update, context, session, ref)
    return True


def clear_awaiting(context: BotContext) -> None:
    if context.chat_data is not None:
        context.chat_data.pop(AWAITING, None)


def _scheduled_text(reminder: Reminder | None, session: Session, texts: Texts) -> str:
    if reminder is None:
        return texts.ui("reminders.gone")
    when = reminder_views.when_text(reminder.due_at, session.user.tz, texts)
    return texts.ui("reminders.scheduled", when=when)


async def _strip_keyboard(update: Update) -> None:
    query = update.callback_query
    if query is None or not isinstance(query.message, Message) or not query.message.reply_markup:
        return
    try:
        await query.edit_message_reply_markup(reply_markup=None)
    except BadRequest as exc:
        logger.debug("could not remove a keyboard: %s", exc)


async def _append_to_source(update: Update, note: str) -> None:
    """The tapped message keeps its text, loses its buttons, and says what was done."""
    query = update.callback_query
    if query is None or not isinstance(query.message, Message):
        return
    current = query.message.text_html or ""
    await _edit_source(update, f"{current}\n\n{escape(note)}")
