"""/advisor: a manager shares their project with an advisor, or sees and withdraws their shares.

`/advisor CODE` shares the current project with the advisor whose code it is (the code is on the
advisor's web page); `/advisor` alone lists the shares, one withdraw button each (callback data
v|<share id>). Consent is the manager's act alone: nothing is shared any other way, and only a
project's owner shares it (a partner invited into it cannot).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any
from zoneinfo import ZoneInfo

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update

from bot.dialogue.model import Texts
from bot.dialogue.summary import format_date
from bot.storage.database import Storage
from bot.telegram.callbacks import CallbackKind, encode
from bot.telegram.services import BotContext

logger = logging.getLogger(__name__)


async def advisor(update: Update, context: BotContext) -> None:
    """/advisor CODE shares the current project; /advisor alone lists the shares."""
    services = context.services
    session = await services.session(update)
    texts = services.texts(session.user.lang)
    chat = update.effective_chat
    assert chat is not None
    if not context.args:
        await _list(update, context)
        return
    if session.role != "owner":
        await context.bot.send_message(chat.id, texts.ui("advisor.partner_cannot_share"))
        return
    if not session.answers or session.conversation.project_id is None:
        await context.bot.send_message(chat.id, texts.ui("advisor.nothing_to_share"))
        return
    typed = " ".join(context.args)
    shared = await services.advisors.share(
        user_id=session.user.id, project_id=session.conversation.project_id, typed_code=typed
    )
    if shared is None:
        await context.bot.send_message(chat.id, texts.ui("advisor.unknown_code", code=typed[:20]))
        return
    found, created = shared
    project = _project_name(session.answers, texts)
    if created:
        reply = texts.ui("advisor.shared", project=project, advisor=found.name)
    else:
        reply = texts.ui("advisor.already", project=project, advisor=found.name)
    await context.bot.send_message(chat.id, reply, parse_mode=None)


async def _list(update: Update, context: BotContext) -> None:
    services = context.services
    session = await services.session(update)
    texts = services.texts(session.user.lang)
    chat = update.effective_chat
    assert chat is not None
    shares = await services.advisors.shares(session.user.id)
    if not shares:
        await context.bot.send_message(chat.id, texts.ui("advisor.none"))
        return
    storage = services.conversations.storage
    lines = [texts.ui("advisor.list")]
    buttons = []
    for share, adviser in shares:
        answers = await _owner_answers(storage, share.project_id, session.user.id)
        day = share.consented_at.astimezone(ZoneInfo(session.user.tz)).date()
        lines.append(
            texts.ui(
                "advisor.line",
                advisor=adviser.name,
                project=_project_name(answers, texts),
                date=format_date(day, texts),
            )
        )
        label = texts.ui("advisor.withdraw_button", advisor=adviser.name)
        data = encode(CallbackKind.ADVISOR, str(share.id))
        buttons.append([InlineKeyboardButton(label[:60], callback_data=data)])
    lines += ["", texts.ui("advisor.withdraw_hint")]
    await context.bot.send_message(
        chat.id, "\n".join(lines), reply_markup=InlineKeyboardMarkup(buttons), parse_mode=None
    )


async def withdraw(update: Update, context: BotContext, share_id: str) -> None:
    """A withdraw button: the advisor no longer sees that project."""
    services = context.services
    session = await services.session(update)
    texts = services.texts(session.user.lang)
    chat = update.effective_chat
    assert chat is not None
    ended = (
        await services.advisors.withdraw(user_id=session.user.id, share_id=int(share_id))
        if share_id.isdigit()
        else None
    )
    if ended is None:
        await context.bot.send_message(chat.id, texts.ui("advisor.withdrawn_already"))
        return
    share, adviser = ended
    answers = await _owner_answers(services.conversations.storage, share.project_id, share.user_id)
    project = _project_name(answers, texts)
    await context.bot.send_message(
        chat.id,
        texts.ui("advisor.withdrawn", advisor=adviser.name, project=project),
        parse_mode=None,
    )


async def _owner_answers(storage: Storage, project_id: int, user_id: int) -> Mapping[str, Any]:
    """The manager's current answers in one of their projects (empty if it has no walk)."""
    for side in await storage.project_sides(project_id):
        if side.user.id == user_id:
            return side.answers
    return {}


def _project_name(answers: Mapping[str, Any], texts: Texts) -> str:
    company = answers.get("company")
    return company if isinstance(company, str) and company else texts.ui("export.untitled")
