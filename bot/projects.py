"""Alliance projects of a user: the list, a new one, switching, deleting; the partner invited.

The projects' storage side, as bot/conversations.py is the checklist's: loads what the pure
parts need (bot/dialogue/projects.py), writes what they decided, then returns what to show.
Every storage call about projects and invitations is here.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from bot.conversations import Conversations, Session, stored_state
from bot.dialogue.divergence import (
    MANAGER,
    PARTNER,
    READY,
    Comment,
    Divergence,
    divergence,
)
from bot.dialogue.engine import Engine, State
from bot.dialogue.model import DONE
from bot.dialogue.projects import ProjectLine, project_line, project_name
from bot.errors import StaleConversation
from bot.reminders.flow import Awaiting
from bot.storage.base import Invitation, Joined, Project, Side, User, hash_token

Clock = Callable[[], dt.datetime]
# Which engine walks the partner through a project, given the owner's answers.
PartnerEngine = Callable[[Mapping[str, Any] | None], Engine]
TOKEN_BYTES = 24  # 192 random bits; 32 characters in a link, within Telegram's 64 for /start


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def new_token() -> str:
    """A fresh invitation token: URL-safe, as a /start parameter allows ([A-Za-z0-9_-])."""
    return secrets.token_urlsafe(TOKEN_BYTES)


@dataclass(frozen=True)
class Notice:
    """A message for another user (the other side of a project), by ui key."""

    user: User
    key: str
    params: dict[str, Any]


@dataclass(frozen=True)
class Comparison:
    """A project's two sides and their divergence (the full comparison: show a reader only
    `divergence.view(...)`)."""

    project: Project
    owner: Side
    partner: Side | None
    divergence: Divergence
    comments: tuple[Comment, ...]

    @property
    def both_done(self) -> bool:
        """Both sides walked all their questions."""
        return self.partner is not None and all(_done(side) for side in (self.owner, self.partner))

    @property
    def ready(self) -> bool:
        """Both sides are done and have dimensions to compare: the report is out."""
        return self.both_done and self.divergence.status == READY

    def side_of(self, user_id: int) -> str | None:
        """MANAGER or PARTNER for a member of the project; None for anyone else."""
        if self.owner.user.id == user_id:
            return MANAGER
        if self.partner is not None and self.partner.user.id == user_id:
            return PARTNER
        return None


def _owner_answers(sides: list[Side]) -> Mapping[str, Any]:
    """The owner's answers among a project's sides (a project's name may come from them)."""
    owner = next((side for side in sides if side.member.role == "owner"), None)
    return owner.answers if owner is not None else {}


def _done(side: Side) -> bool:
    return side.conversation is not None and State.load(side.conversation.state).at == DONE


@dataclass(frozen=True)
class NewInvitation:
    token: str  # the only time the token exists outside the link: never stored, never logged
    invitation: Invitation


class Projects:
    """The project operations the bot offers; keeps no per-user data of its own."""

    def __init__(
        self,
        conversations: Conversations,
        partner_engine: PartnerEngine,
        *,
        invitation_days: int,
        clock: Clock = utc_now,
    ) -> None:
        self.conversations = conversations
        self.storage = conversations.storage
        self.engine = conversations.engine
        self.partner_engine = partner_engine
        self.invitation_days = invitation_days
        self.clock = clock

    # Names -------------------------------------------------------------------------------------
    def name(self, project: Project, answers: Mapping[str, Any], lang: str) -> str:
        """What the project is called for this reader."""
        texts = self.engine.texts(lang)
        return project_name(project.title, answers, project.created_at.date(), texts)

    def current_name(self, session: Session) -> str | None:
        """The name of the session's project (None without one): for the partner too, the
        name the manager gave it or the partner's name among the manager's answers (the only
        answer of theirs a name is made of)."""
        if session.project is None:
            return None
        answers = session.answers if session.role == "owner" else session.owner_answers
        return self.name(session.project, answers or {}, session.user.lang)

    # The list ----------------------------------------------------------------------------------
    async def lines(self, session: Session) -> list[ProjectLine]:
        """Every project of the user, oldest first, as /projects lists them."""
        texts = self.engine.texts(session.user.lang)
        today = self.conversations.today(session.user)
        lines = []
        for view in await self.storage.user_projects(session.user.id):
            partner_side = view.role == "partner"
            answers = view.answers
            engine = self.engine
            named_by: Mapping[str, Any] = answers
            partner_answers = None
            sides = await self.storage.project_sides(view.project.id)
            if partner_side:
                # The owner's answers decide the partner's branch and may name the project.
                named_by = _owner_answers(sides)
                engine = self.partner_engine(named_by)
            else:  # the partner's answers, once in, weigh in the verdict
                partner = next((s for s in sides if s.member.role == "partner"), None)
                if partner is not None and _done(partner):
                    partner_answers = partner.answers
            name = self.name(view.project, named_by, session.user.lang)
            lines.append(
                project_line(
                    project_id=view.project.id,
                    name=name,
                    partner_side=partner_side,
                    current=view.current,
                    engine=engine,
                    state=view.conversation.state if view.conversation is not None else None,
                    answers=answers,
                    texts=texts,
                    today=today,
                    partner_answers=partner_answers,
                )
            )
        return lines

    # A new project, switching, deleting --------------------------------------------------------
    async def ask_title(self, session: Session, update_id: int | None) -> None:
        """/new without a name: the next typed line names the new project."""
        await self.set_awaiting(session, Awaiting("project"), update_id)

    async def start(self, session: Session, title: str, update_id: int | None) -> Session:
        """A new project of the user's, current from now on, with a fresh walk; returns its
        session. Whatever the old project awaited is over."""
        state = self.engine.new_state()
        project, conversation = await self.storage.new_project(
            session.user.id,
            title=title,
            dialogue_id=self.engine.dialogue.id,
            state=stored_state(state, None),
            update_id=update_id,
        )
        if session.awaiting is not None:
            await self.set_awaiting(session, None, None)
        user = replace(session.user, current_project_id=project.id)
        return Session(user, conversation, state, {}, fresh=True, project=project)

    async def switch(
        self, session: Session, project_id: int, update_id: int | None
    ) -> Session | None:
        """Make one of the user's projects current; its session, or None if it is not theirs
        (any more)."""
        project = await self.storage.switch_project(
            session.user.id, project_id, update_id=update_id
        )
        if project is None:
            return None
        return await self.conversations.find(session.user.key)

    async def project(self, session: Session, project_id: int) -> Project | None:
        return await self.storage.project(project_id, user_id=session.user.id)

    async def delete(self, session: Session, project_id: int) -> list[Notice] | None:
        """Erase one of the user's own projects; None if it is not theirs. Returns what to
        tell its partner, if it had one."""
        project = await self.storage.project(project_id, user_id=session.user.id)
        if project is None or project.owner_id != session.user.id:
            return None
        sides = await self.storage.project_sides(project_id)
        if not await self.storage.delete_project(session.user.id, project_id):
            return None
        owner_answers = _owner_answers(sides)
        return [
            Notice(
                side.user,
                "projects.delete.notice",
                {"name": self.name(project, owner_answers, side.user.lang)},
            )
            for side in sides
            if side.member.role == "partner"
        ]

    async def before_erasing(self, user: User) -> list[Notice]:
        """What to tell the other sides when the user erases everything (/delete): the partners
        of their projects that these are gone, the owners of the projects they joined that the
        partner withdrew. Read before erasing."""
        notices = []
        for view in await self.storage.user_projects(user.id):
            sides = await self.storage.project_sides(view.project.id)
            for side in sides:
                if side.user.id == user.id:
                    continue
                params = {"name": self.name(view.project, _owner_answers(sides), side.user.lang)}
                if view.role == "owner":
                    notices.append(Notice(side.user, "projects.delete.notice", params))
                else:
                    notices.append(Notice(side.user, "projects.partner_withdrew", params))
        return notices

    # What is awaited ---------------------------------------------------------------------------
    async def set_awaiting(
        self, session: Session, awaiting: Awaiting | None, update_id: int | None
    ) -> None:
        """Store what the next typed line answers (None: nothing), with update_id."""
        for attempt in (1, 2):
            state = stored_state(session.state, awaiting)
            try:
                version = await self.storage.save_step(
                    session.conversation.id,
                    expected_version=session.conversation.version,
                    state=state,
                    update_id=update_id,
                )
            except StaleConversation:
                if attempt == 2:
                    raise
                fresh = await self.conversations.find(session.user.key)
                if fresh is None or fresh.conversation.id != session.conversation.id:
                    raise
                session.conversation, session.state = fresh.conversation, fresh.state
                continue
            session.conversation = replace(session.conversation, version=version, state=state)
            session.awaiting = awaiting
            session.recorded = update_id
            return

    # Invitations -------------------------------------------------------------------------------
    async def invite(self, session: Session) -> NewInvitation | None:
        """A new invitation into the session's project (the open one, if any, is revoked);
        None unless the user owns the project."""
        if session.project is None or session.role != "owner":
            return None
        token = new_token()
        expires = self.clock() + dt.timedelta(days=self.invitation_days)
        invitation = await self.storage.create_invitation(
            session.project.id,
            user_id=session.user.id,
            token_hash=hash_token(token),
            expires_at=expires,
        )
        return None if invitation is None else NewInvitation(token, invitation)

    async def invitations(self, session: Session) -> list[Invitation]:
        if session.project is None:
            return []
        return await self.storage.invitations(session.project.id, user_id=session.user.id)

    async def revoke(self, session: Session, project_id: int) -> int:
        return await self.storage.revoke_invitations(project_id, user_id=session.user.id)

    async def sides(self, project_id: int) -> list[Side]:
        return await self.storage.project_sides(project_id)

    async def comparison(self, project_id: int, lang: str, today: dt.date) -> Comparison | None:
        """The project's two sides compared, in one reader's language; None if the project is
        gone."""
        sides = await self.storage.project_sides(project_id)
        owner = next((s for s in sides if s.member.role == "owner"), None)
        partner = next((s for s in sides if s.member.role == "partner"), None)
        if owner is None:
            return None
        project = await self.storage.project(project_id, user_id=owner.user.id)
        if project is None:
            return None
        withdrawn = partner is None and project.partner_left_at is not None
        compared = divergence(
            self.engine.dialogue,
            owner.answers,
            partner.answers if partner is not None else None,
            lang,
            today,
            withdrawn=withdrawn,
        )
        comments = tuple(
            Comment(c.dimension, MANAGER if c.user_id == owner.user.id else PARTNER, c.body)
            for c in await self.storage.gap_comments(project_id)
        )
        return Comparison(project, owner, partner, compared, comments)

    async def comment(self, session: Session, project_id: int, dimension: str, body: str) -> None:
        """Store the user's comment on a gap of the project (cleaned by the caller)."""
        await self.storage.set_gap_comment(
            project_id, user_id=session.user.id, dimension=dimension, body=body
        )

    async def look_up(self, token: str, key: str) -> tuple[Invitation, Project, Side] | str:
        """What an invitation link leads to for the user with this key, without using it or
        writing anything: the invitation, its project and its owner's side; or why it cannot be
        used ("unknown", "used", "expired", "revoked", "own", "taken")."""
        invitation = await self.storage.find_invitation(hash_token(token))
        if invitation is None:
            return "unknown"
        now = self.clock()
        if invitation.revoked_at is not None:
            return "revoked"
        if invitation.used_at is not None:
            return "used"
        if now >= invitation.expires_at:
            return "expired"
        sides = await self.storage.project_sides(invitation.project_id)
        owner = next((s for s in sides if s.member.role == "owner"), None)
        if owner is None:
            return "unknown"
        if owner.user.key == key:
            return "own"
        if any(s.member.role == "partner" for s in sides):
            return "taken"
        project = await self.storage.project(invitation.project_id, user_id=owner.user.id)
        if project is None:  # deleted meanwhile
            return "unknown"
        return invitation, project, owner

    async def accept(self, token: str, user: User) -> Joined:
        """The user joins the project as its partner (see Storage.accept_invitation); their
        walk starts on the shared questions the owner's answers open."""
        found = await self.look_up(token, user.key)
        owner_answers = found[2].answers if isinstance(found, tuple) else None
        engine = self.partner_engine(owner_answers)
        joined = await self.storage.accept_invitation(
            hash_token(token),
            user_id=user.id,
            now=self.clock(),
            dialogue_id=engine.dialogue.id,
            state=stored_state(engine.new_state(), None),
        )
        return joined

    async def decline(self, token: str, user: User) -> Joined:
        return await self.storage.decline_invitation(
            hash_token(token), user_id=user.id, now=self.clock()
        )
