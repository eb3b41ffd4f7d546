"""The partner on Telegram: /invite, the invitation link, consent, the divergence report with
comments under its flagged gaps, the partner's session reminders and the reports as files.

Parse the update, call the projects service (bot/projects.py) and the pure divergence
(bot/dialogue/divergence.py, bot/divergence_report.py), show what they give. The partner is
only ever shown views made for them (`Divergence.view(PARTNER)`) and their own answers.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from telegram import Update
from telegram.constants import ChatAction, ParseMode
from telegram.error import TelegramError

from bot.conversations import Session
from bot.dialogue import parsing
from bot.dialogue.conditions import NOT_YET
from bot.dialogue.divergence import (
    COMMENT_MAX,
    MANAGER,
    PARTNER,
    READY,
    SHARED,
    new_comment,
    with_divergence,
)
from bot.dialogue.model import Texts
from bot.dialogue.partner import invitation_text, partner_consent, partner_intro
from bot.dialogue.summary import Summary
from bot.export.pool import RenderFailed
from bot.projects import Comparison, Notice
from bot.reminders import Kind, planner
from bot.reminders.flow import Awaiting
from bot.storage.base import NewReminder, User
from bot.telegram import project_handlers
from bot.telegram.callbacks import CallbackKind, encode
from bot.telegram.files import named_file
from bot.telegram.keyboards import strip_keyboard
from bot.telegram.lanes import waiting_aside
from bot.telegram.priority import take_turn
from bot.telegram.project_handlers import chat_of, local_date, notify
from bot.telegram.render import choice_keyboard, escape, split
from bot.telegram.services import BotContext

if TYPE_CHECKING:
    from bot.export.content import ReportContent

logger = logging.getLogger(__name__)
_TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]{20,64}")
GAP_FORMATS = ("gaps", "safe")  # /export: the reader's divergence report, the partner-safe one


# /invite -----------------------------------------------------------------------------------------
async def invite(update: Update, context: BotContext) -> None:
    """/invite: a link for the partner of the current project; again, the open one to revoke."""
    session = await context.services.session(update)
    await _invite_for(update, context, session)


async def _invite_for(update: Update, context: BotContext, session: Session) -> None:
    """A new link for the partner of the session's project, or the open one to revoke."""
    services = context.services
    texts = services.texts(session.user.lang)
    if session.project is None or session.role != "owner":
        await _say(update, context, texts.ui("projects.owner_only"))
        return
    name = services.projects.current_name(session) or ""
    sides = await services.projects.sides(session.project.id)
    partner = next((s for s in sides if s.member.role == "partner"), None)
    if partner is not None:
        date = local_date(session, partner.member.joined_at)
        await _say(update, context, texts.ui("invitations.joined", name=name, date=date))
        return
    now = services.projects.clock()
    open_ones = [i for i in await services.projects.invitations(session) if i.is_open(now)]
    if not open_ones:
        await _new_link(update, context, session)
        return
    current = open_ones[-1]
    ref = str(session.project.id)
    keyboard = choice_keyboard(
        [
            (texts.ui("invitations.revoke"), encode(CallbackKind.INVITE, "revoke", ref)),
            (texts.ui("invitations.renew"), encode(CallbackKind.INVITE, "renew", ref)),
        ]
    )
    text = texts.ui(
        "invitations.open",
        name=name,
        created=local_date(session, current.created_at),
        expires=local_date(session, current.expires_at),
    )
    await _say(update, context, text, keyboard)


async def on_invite(update: Update, context: BotContext, action: str, ref: str) -> None:
    """An invitation button: "new" (under the summary: as /invite), "revoke" the open
    invitation, or "renew" it (a new link replaces it)."""
    services = context.services
    session = await services.session(update)
    texts = services.texts(session.user.lang)
    await strip_keyboard(update)
    project_id = int(ref) if ref.isdigit() else 0
    if session.project is None or session.project.id != project_id or session.role != "owner":
        await _say(update, context, texts.ui("errors.stale"))
        return
    if action == "new":
        await _invite_for(update, context, session)
        return
    if action == "revoke":
        if await services.projects.revoke(session, project_id):
            await _say(update, context, texts.ui("invitations.revoked"))
        else:
            await _say(update, context, texts.ui("invitations.nothing_open"))
        return
    await _new_link(update, context, session)


async def _new_link(update: Update, context: BotContext, session: Session) -> None:
    """A new invitation: what it is, then the text to forward with the link in it."""
    services = context.services
    texts = services.texts(session.user.lang)
    made = await services.projects.invite(session)
    if made is None:
        await _say(update, context, texts.ui("projects.owner_only"))
        return
    name = services.projects.current_name(session) or ""
    link = f"https://t.me/{context.bot.username}?start={made.token}"
    expires = local_date(session, made.invitation.expires_at)
    await _say(update, context, texts.ui("invitations.created", name=name, expires=expires))
    sender = update.effective_user
    inviter = _company(session.answers) or (sender.full_name if sender else "")
    forward = invitation_text(
        services.conversations.engine.dialogue,
        session.user.lang,
        inviter=inviter,
        project=name,
        link=link,
        days=services.projects.invitation_days,
    )
    await _say(update, context, forward)


# The link, opened --------------------------------------------------------------------------------
async def open_link(update: Update, context: BotContext, token: str) -> None:
    """/start <token>: who invites, to which project, what is shared and what is not, with
    buttons to accept or decline. A link that cannot be used says so and nothing else; nothing
    is written."""
    services = context.services
    assert update.effective_user is not None
    key = f"tg:{update.effective_user.id}"
    known = await services.conversations.storage.get_user(key)
    lang = known.lang if known is not None else services.lang_for(update)
    texts = services.texts(lang)
    found = await services.projects.look_up(token, key) if _token_shape(token) else "unknown"
    if isinstance(found, str):
        await _refuse(update, context, texts, found)
        return
    _, project, owner = found
    dialogue = services.conversations.engine.dialogue
    inviter = _company(owner.answers) or texts.ui("invitations.someone")
    name = services.projects.name(project, owner.answers, lang)
    keyboard = choice_keyboard(
        [
            (texts.ui("partner.accept"), encode(CallbackKind.CONSENT, "yes", token)),
            (texts.ui("partner.decline"), encode(CallbackKind.CONSENT, "no", token)),
        ]
    )
    intro = partner_intro(dialogue, lang, inviter=inviter, project=name)
    await _say(update, context, f"{intro}\n\n{partner_consent(dialogue, lang)}", keyboard)


async def on_consent(update: Update, context: BotContext, choice: str, token: str) -> None:
    """The invited person accepts (their walk starts; the manager is told) or declines (the
    manager is told; nothing of theirs is kept but their language)."""
    services = context.services
    assert update.effective_user is not None
    await strip_keyboard(update)
    storage = services.conversations.storage
    key = f"tg:{update.effective_user.id}"
    known = await storage.get_user(key)
    found = await services.projects.look_up(token, key) if _token_shape(token) else "unknown"
    if isinstance(found, str):  # nothing written for a link that cannot be used
        lang = known.lang if known is not None else services.lang_for(update)
        await _refuse(update, context, services.texts(lang), found)
        return
    _, project, owner = found
    user = known or await storage.get_or_create_user(
        key, lang=services.lang_for(update), tz=services.settings.default_timezone
    )
    loaded = services.loaded(update)
    if loaded is not None:
        loaded.user_id = user.id
    texts = services.texts(user.lang)
    if choice != "yes":
        declined = await services.projects.decline(token, user)
        if declined.status != "ok":
            await _say(update, context, texts.ui("invitations.invalid"))
            return
        await _say(update, context, texts.ui("partner.declined"))
        name = services.projects.name(project, owner.answers, owner.user.lang)
        owner_texts = services.texts(owner.user.lang)
        partner = _named(owner.answers, "partner") or owner_texts.ui("invitations.someone")
        await notify(
            context,
            [Notice(owner.user, "partner.declined_notice", {"partner": partner, "project": name})],
        )
        return
    joined = await services.projects.accept(token, user)
    if joined.status != "ok":
        await _say(update, context, texts.ui("invitations.invalid"))
        return
    session = await services.conversations.find(key)
    assert session is not None  # the walk was just started, and made current
    services.replace_session(update, session)
    name = services.projects.name(project, owner.answers, owner.user.lang)
    await notify(context, [Notice(owner.user, "invitations.accepted_notice", {"name": name})])
    engine = services.conversations.engine_for(session)
    today = services.conversations.today(session.user)
    views = engine.resume(session.state, session.answers, session.user.lang, today, fresh=True)
    await project_handlers.show(update, context, session, views)


async def _refuse(update: Update, context: BotContext, texts: Texts, why: str) -> None:
    """A link that cannot be used: the same words whatever the reason (guessed, used, expired,
    revoked, the project has its partner), so that it tells nothing about any project; the
    manager opening their own link is told to forward it."""
    if why == "own":
        await _say(update, context, texts.ui("invitations.own"))
    else:
        await _say(update, context, texts.ui("invitations.invalid"))


def _token_shape(token: str) -> bool:
    """Could be one of our tokens (URL-safe base64 of TOKEN_BYTES): anything else is refused
    before the database is asked."""
    return _TOKEN_SHAPE.fullmatch(token) is not None


# When a walk ends --------------------------------------------------------------------------------
async def after_walk(update: Update, context: BotContext, session: Session) -> None:
    """A walk was just completed: once both sides are done, the report goes to both; the
    partner, done first, is offered the session reminders and the manager told."""
    services = context.services
    compared = await compared_for(update, context, session)
    if compared is None or compared.partner is None:
        return
    if session.role == "partner":
        await _offer_sessions(update, context, session)
    if compared.both_done:
        await send_reports(context, compared)
    elif session.role == "partner":
        name = services.projects.name(
            compared.project, compared.owner.answers, compared.owner.user.lang
        )
        notice = Notice(compared.owner.user, "invitations.partner_done_notice", {"name": name})
        await notify(context, [notice])


async def send_reports(context: BotContext, compared: Comparison) -> None:
    """The divergence report to both sides, each in their language and from their side."""
    services = context.services
    for side in (compared.owner, compared.partner):
        if side is None:
            continue
        today = services.conversations.today(side.user)
        mine = await services.projects.comparison(compared.project.id, side.user.lang, today)
        if mine is None:
            return
        viewer = MANAGER if side.member.role == "owner" else PARTNER
        await send_report(context, side.user, mine, viewer, intro=True)


async def send_report(
    context: BotContext, user: User, compared: Comparison, viewer: str, *, intro: bool = False
) -> None:
    """One side's report in their chat: the text, the radar, a comment button per flagged gap."""
    from bot.divergence_report import comment_button, render_divergence  # only when sent
    from bot.export.divergence import divergence_content
    from bot.report import Html

    services = context.services
    chat_id = chat_of(user.key)
    if chat_id is None:
        return
    texts = services.texts(user.lang)
    view = compared.divergence.view(viewer)
    blocks = []
    if intro:
        name = services.projects.name(compared.project, compared.owner.answers, user.lang)
        blocks.append(escape(texts.ui("invitations.report_ready", name=name)))
    blocks.append(render_divergence(view, texts, Html(), compared.comments))
    try:
        for part in split("\n\n".join(blocks)):
            await context.bot.send_message(chat_id, part, parse_mode=ParseMode.HTML)
        if view.status != READY:
            return
        try:
            with waiting_aside(context.application):
                picture = await services.renders.divergence_chart(
                    divergence_content(view, texts, compared.comments)
                )
        except RenderFailed:
            picture = None
        await take_turn()  # at the end of a walk, after other users' updates (priority.py)
        if picture is not None:
            await context.bot.send_photo(chat_id, picture[0], caption=picture[1])
        buttons = [
            (
                comment_button(gap, texts),
                encode(CallbackKind.COMMENT, str(compared.project.id), gap.dimension),
            )
            for gap in view.flagged
        ]
        if buttons:
            await context.bot.send_message(
                chat_id,
                escape(texts.ui("divergence.flagged")),
                reply_markup=choice_keyboard(buttons),
            )
    except TelegramError as exc:
        logger.info("could not send a divergence report: %s", exc)


async def compared_for(update: Update, context: BotContext, session: Session) -> Comparison | None:
    """The session's project with its two sides compared, in the user's language; None
    without a project (or once it is gone). Read once per update: the summary (its gaps), the
    report or offer under it and, at the end of a walk, `after_walk` share it."""
    if session.project is None:
        return None
    services = context.services
    today = services.conversations.today(session.user)
    key = (session.project.id, session.user.lang, today)
    loaded = services.loaded(update)
    if loaded is not None and loaded.compared is not None and loaded.compared[0] == key:
        return loaded.compared[1]
    compared = await services.projects.comparison(session.project.id, session.user.lang, today)
    if loaded is not None:
        loaded.compared = (key, compared)
    return compared


async def report_for(
    update: Update,
    context: BotContext,
    session: Session,
    compared: Comparison | None,
    *,
    report: bool = True,
) -> None:
    """After a summary: this side's divergence report, once there is a partner (or was: the
    report then says they withdrew), unless `report` is False (at the end of a walk,
    after_walk sends it to both); to a manager without a partner yet, the offer to invite one.
    `compared`: the session's project compared (`compared_for`)."""
    services = context.services
    if session.project is None or compared is None:
        return
    if compared.partner is None and compared.project.partner_left_at is None:
        if session.role == "owner":
            texts = services.texts(session.user.lang)
            data = encode(CallbackKind.INVITE, "new", str(session.project.id))
            keyboard = choice_keyboard([(texts.ui("projects.buttons.invite"), data)])
            await _say(update, context, texts.ui("invitations.offer"), keyboard)
        return
    if not report:
        return
    if compared.partner is not None and not compared.both_done:
        # The report comes out when both are done, to both at once.
        await _say(update, context, services.texts(session.user.lang).ui("divergence.waiting"))
        return
    viewer = MANAGER if session.role == "owner" else PARTNER
    await send_report(context, session.user, compared, viewer)


def with_gaps(
    context: BotContext, session: Session, summary: Summary, compared: Comparison | None
) -> Summary:
    """The manager's summary with the gaps with the partner weighed in its verdict and
    priorities, once the partner has answered; as it is otherwise. `compared`: the session's
    project compared (`compared_for`)."""
    if session.role != "owner" or compared is None or not compared.ready:
        return summary
    services = context.services
    today = services.conversations.today(session.user)
    engine = services.conversations.engine
    texts = services.texts(session.user.lang)
    diagnosis = with_divergence(
        engine.dialogue, summary.diagnosis, compared.divergence, texts, today
    )
    return replace(summary, diagnosis=diagnosis)


async def with_report(
    update: Update, context: BotContext, session: Session, content: ReportContent
) -> ReportContent:
    """The manager's report with the gaps with the partner: weighed in the verdict, and the
    divergence report as a section, once the partner has answered."""
    from bot.export.divergence import divergence_content  # only when a report is made

    compared = await compared_for(update, context, session) if session.role == "owner" else None
    summary = with_gaps(context, session, content.summary, compared)
    if summary is content.summary:
        return content
    assert compared is not None
    view = compared.divergence.view(MANAGER)
    texts = context.services.texts(session.user.lang)
    section = divergence_content(view, texts, compared.comments)
    return replace(content, summary=summary, divergence=section)


# Comments under a flagged gap --------------------------------------------------------------------
async def on_comment(update: Update, context: BotContext, ref: str, dimension: str) -> None:
    """A comment button: the next typed line is the comment."""
    from bot.divergence_report import comment_prompt  # only when a gap is commented

    services = context.services
    session = await services.session(update)
    texts = services.texts(session.user.lang)
    project_id = int(ref) if ref.isdigit() else 0
    compared = await _compared(context, session, project_id)
    gap = None
    if compared is not None and compared.side_of(session.user.id) is not None:
        gap = next((g for g in compared.divergence.flagged if g.dimension == dimension), None)
    if gap is None:
        await _say(update, context, texts.ui("invitations.comment_stale"))
        return
    await services.projects.set_awaiting(
        session, Awaiting("comment", f"{project_id}:{dimension}"), update.update_id
    )
    await _say(update, context, comment_prompt(gap, texts))


async def typed_comment(update: Update, context: BotContext, session: Session, line: str) -> None:
    """The comment typed after a comment button: cleaned, stored, the other side told."""
    services = context.services
    texts = services.texts(session.user.lang)
    assert session.awaiting is not None
    ref, _, dimension = session.awaiting.ref.partition(":")
    project_id = int(ref) if ref.isdigit() else 0
    compared = await _compared(context, session, project_id)
    side = compared.side_of(session.user.id) if compared is not None else None
    try:
        if compared is None or side is None:
            raise ValueError("not a member of this project any more")
        comment = new_comment(compared.divergence, dimension, side, line)
    except parsing.ParseError as exc:
        await _say(update, context, texts.ui(f"errors.{exc.reason}", max_length=COMMENT_MAX))
        return
    except ValueError:
        await services.projects.set_awaiting(session, None, update.update_id)
        await _say(update, context, texts.ui("invitations.comment_stale"))
        return
    await services.projects.comment(session, project_id, dimension, comment.text)
    await services.projects.set_awaiting(session, None, update.update_id)
    await _say(update, context, texts.ui("divergence.comment_saved"))
    assert compared is not None
    other = compared.partner if side == MANAGER else compared.owner
    if other is not None:
        label = next(g.label for g in compared.divergence.flagged if g.dimension == dimension)
        other_texts = services.texts(other.user.lang)
        if other.user.lang != session.user.lang:
            label = other_texts.ui(f"divergence.dimensions.{dimension}.label")
        params = {"dimension": label, "text": comment.text}
        await notify(context, [Notice(other.user, "invitations.comment_notice", params)])


async def _compared(context: BotContext, session: Session, project_id: int) -> Comparison | None:
    services = context.services
    if await services.projects.project(session, project_id) is None:
        return None
    today = services.conversations.today(session.user)
    return await services.projects.comparison(project_id, session.user.lang, today)


# The partner's session reminders -----------------------------------------------------------------
async def _offer_sessions(update: Update, context: BotContext, session: Session) -> None:
    texts = context.services.texts(session.user.lang)
    assert session.project is not None
    ref = str(session.project.id)
    keyboard = choice_keyboard(
        [
            (texts.ui("invitations.reminders_yes"), encode(CallbackKind.SESSIONS, "yes", ref)),
            (texts.ui("invitations.reminders_no"), encode(CallbackKind.SESSIONS, "no", ref)),
        ]
    )
    await _say(update, context, texts.ui("invitations.reminders_offer"), keyboard)


async def on_sessions(update: Update, context: BotContext, choice: str, ref: str) -> None:
    """The partner takes (or not) the reminders of the project's working sessions: the eve of
    each session the manager's plan dates, in the partner's time zone."""
    services = context.services
    session = await services.session(update)
    texts = services.texts(session.user.lang)
    await strip_keyboard(update)
    project = session.project
    if project is None or str(project.id) != ref or session.role != "partner":
        await _say(update, context, texts.ui("errors.stale"))
        return
    if choice != "yes":
        await _say(update, context, texts.ui("invitations.reminders_declined"))
        return
    owner_answers = session.owner_answers or {}
    now = services.projects.clock()
    _, plans = planner.preparation(
        owner_answers, now, session.user.tz, services.settings.reminder_hour
    )
    eves = [
        NewReminder(p.kind, p.ref, p.due_at, p.payload) for p in plans if p.kind == Kind.PREP_EVE
    ]
    if not eves:
        await _say(update, context, texts.ui("invitations.reminders_none"))
        return
    await services.conversations.storage.save_step(
        session.conversation.id,
        expected_version=session.conversation.version,
        state=session.conversation.state,
        update_id=update.update_id,
        reminders=eves,
    )
    session.recorded = update.update_id
    await _say(update, context, texts.ui("invitations.reminders_set", count=len(eves)))


# The reports as files ----------------------------------------------------------------------------
async def export_buttons(
    context: BotContext, session: Session, texts: Texts
) -> list[tuple[str, str]]:
    """The /export buttons of the divergence reports this side may have, once both sides
    have answered."""
    services = context.services
    if session.project is None:
        return []
    today = services.conversations.today(session.user)
    compared = await services.projects.comparison(session.project.id, session.user.lang, today)
    if compared is None or not compared.ready:
        return []
    buttons = [(texts.ui("invitations.export_gaps"), encode(CallbackKind.EXPORT, "gaps"))]
    if session.role == "owner":
        buttons.append((texts.ui("invitations.export_safe"), encode(CallbackKind.EXPORT, "safe")))
    return buttons


async def send_file(update: Update, context: BotContext, session: Session, fmt: str) -> None:
    """The divergence report as a PDF: this side's copy ("gaps"), or the partner-safe export
    ("safe", for the manager to forward)."""
    from bot.export.divergence import divergence_content  # only when asked for

    services = context.services
    texts = services.texts(session.user.lang)
    chat = update.effective_chat
    assert chat is not None
    compared = None
    if session.project is not None:
        today = services.conversations.today(session.user)
        compared = await services.projects.comparison(session.project.id, session.user.lang, today)
    if compared is None or not compared.ready:
        await _say(update, context, texts.ui("invitations.not_ready"))
        return
    viewer = SHARED if fmt == "safe" else (MANAGER if session.role == "owner" else PARTNER)
    if viewer == SHARED and session.role != "owner":
        await _say(update, context, texts.ui("projects.owner_only"))
        return
    content = divergence_content(compared.divergence.view(viewer), texts, compared.comments)
    await context.bot.send_chat_action(chat.id, ChatAction.UPLOAD_DOCUMENT)
    try:
        with waiting_aside(context.application):
            data = await services.renders.divergence_report(
                "pdf", content, now=dt.datetime.now(dt.UTC)
            )
    except RenderFailed:
        await _say(update, context, texts.ui("export.chat.render_failed"))
        return
    name = "alliance-partner-safe.pdf" if viewer == SHARED else "alliance-gaps.pdf"
    caption = texts.ui(
        "invitations.caption_safe" if viewer == SHARED else "invitations.caption_gaps"
    )
    await context.bot.send_document(chat.id, named_file(data, name), caption=caption)


# Helpers -----------------------------------------------------------------------------------------
def _company(answers: Mapping[str, Any]) -> str | None:
    """The manager's company as they named it in their answers, if they did."""
    return _named(answers, "company")


def _named(answers: Mapping[str, Any], qid: str) -> str | None:
    """A company's name as the manager typed it (their own or their partner's), if they did."""
    value = answers.get(qid)
    if not isinstance(value, str) or value == NOT_YET or not value.strip():
        return None
    return value.strip()


async def _say(update: Update, context: BotContext, text: str, keyboard: Any = None) -> None:
    await project_handlers.send(update, context, escape(text), keyboard)
