"""Conversations: load a user's walk, apply one input through the engine, commit, then reply.

This is the one place where the dialogue core meets storage; the Telegram handlers and the
terminal chat both go through it, so "committed before the reply" holds for both.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any
from zoneinfo import ZoneInfo

from bot.dialogue.engine import Engine, Input, State
from bot.dialogue.partner import PartnerWalks
from bot.dialogue.summary import Summary
from bot.dialogue.views import ShowSummary, View
from bot.errors import StaleConversation
from bot.reminders.flow import AWAITING_KEY, Awaiting
from bot.storage.base import AnswerWrite, Conversation, NewReminder, Project, Role, Snapshot, User
from bot.storage.database import Storage

# What else a step schedules, given the state it leads to (written in the step's transaction).
Extra = Callable[[User, State], Sequence[NewReminder]]


@dataclass
class Session:
    """A user and their active conversation, as last read or written."""

    user: User
    conversation: Conversation
    state: State
    answers: dict[str, Any]
    fresh: bool  # the conversation was created by this session
    just_finished: bool = False  # the last input completed the checklist
    last_writes: tuple[tuple[str, Any], ...] = ()  # the answers the last input recorded
    awaiting: Awaiting | None = None  # what a typed line answers, if the reminders asked
    recorded: int | None = None  # the update id the last write recorded as processed
    scheduled: bool = False  # the last write scheduled the `extra` reminders it was given
    project: Project | None = None  # the project the conversation belongs to
    # The partner's session: the owner's answers, which decide the branch of their walk.
    owner_answers: dict[str, Any] | None = None
    # The owner's summary the last input showed, for the state and answers it left: what
    # follows it in the same update (the charts, the reminder offers) builds on it rather
    # than building it again. None once the answers change.
    summary: Summary | None = None

    @property
    def role(self) -> Role:
        """The user's part in the project: its owner (the manager) or the invited partner."""
        if self.project is None or self.project.owner_id == self.user.id:
            return "owner"
        return "partner"


def stored_state(state: State, awaiting: Awaiting | None) -> dict[str, Any]:
    """The conversation's state as stored: the checklist's, and what the reminders await."""
    return {**state.dump(), AWAITING_KEY: awaiting.dump() if awaiting is not None else None}


class Conversations:
    """Glue between storage and the engine; keeps no per-user data of its own."""

    def __init__(
        self, storage: Storage, engine: Engine, *, default_lang: str, default_tz: str
    ) -> None:
        self.storage = storage
        self.engine = engine
        self.partner_walks = PartnerWalks(engine.dialogue)
        self.default_lang = default_lang
        self.default_tz = default_tz

    def engine_for(self, session: Session) -> Engine:
        """The engine that walks this session: the checklist for a project's owner; for its
        invited partner, the shared questions the owner's answers open."""
        if session.role == "partner":
            return self.partner_walks.engine(session.owner_answers)
        return self.engine

    async def find(self, key: str) -> Session | None:
        """The user's session if they exist and have a conversation, without creating anything."""
        return self.from_snapshot(await self.storage.load(key))

    def from_snapshot(self, snapshot: Snapshot) -> Session | None:
        """The session a Storage.load read, if it found the user and a conversation."""
        if snapshot.user is None or snapshot.conversation is None:
            return None
        session = _session(snapshot.user, snapshot.conversation, snapshot.answers)
        session.project = snapshot.project
        session.owner_answers = snapshot.owner_answers
        return session

    async def open(self, key: str, *, lang: str | None = None, look: bool = True) -> Session:
        """The user's session, creating the user and a first conversation if needed.

        look=False when a read of this update already found neither: no second read.
        """
        found = await self.find(key) if look else None
        if found is not None:
            return found
        state = self.engine.new_state()
        user, project, conversation, fresh = await self.storage.open_user(
            key,
            lang=lang or self.default_lang,
            tz=self.default_tz,
            dialogue_id=self.engine.dialogue.id,
            state=state.dump(),
        )
        if fresh:
            return Session(user, conversation, state, {}, fresh=True, project=project)
        answers = await self.storage.current_answers(conversation.id)
        session = _session(user, conversation, answers)
        session.project = project
        return session

    def today(self, user: User, now: dt.datetime | None = None) -> dt.date:
        """Today's date where the user lives."""
        moment = now or dt.datetime.now(dt.UTC)
        return moment.astimezone(ZoneInfo(user.tz)).date()

    async def handle(
        self,
        session: Session,
        event: Input,
        *,
        update_id: int | None = None,
        extra: Extra | None = None,
    ) -> tuple[View, ...]:
        """Apply one input, commit what it changed, and return what to show.

        What the input changed (answers, state, the update id, the reminders `extra` gives) is
        written in one transaction; an input that changes nothing writes nothing (the caller
        records its update once replied, see bot/telegram/once.py).

        Raises DuplicateUpdate (nothing written) when update_id was already processed.
        """
        try:
            return await self._handle(session, event, update_id, extra)
        except StaleConversation:
            # Someone else (another replica) moved this conversation: reload and apply once more.
            fresh = await self.find(session.user.key)
            if fresh is None:
                raise
            session.conversation, session.state, session.answers, session.awaiting = (
                fresh.conversation,
                fresh.state,
                fresh.answers,
                fresh.awaiting,
            )
            session.project, session.owner_answers = fresh.project, fresh.owner_answers
            return await self._handle(session, event, update_id, extra)

    async def _handle(
        self, session: Session, event: Input, update_id: int | None, extra: Extra | None
    ) -> tuple[View, ...]:
        """The checklist's turn. Whatever the reminders awaited is over: the user moved on."""
        today = self.today(session.user)
        engine = self.engine_for(session)
        step = engine.handle(session.state, session.answers, event, session.user.lang, today)
        session.scheduled = False
        waited = session.awaiting is not None
        session.awaiting = None
        if step.restart:
            session.conversation = await self.storage.start_conversation(
                session.user.id, engine.dialogue.id, step.state.dump(), update_id=update_id
            )
            session.answers = {}
            session.recorded = update_id
        elif step.changed or waited:
            planned = extra(session.user, step.state) if extra is not None else ()
            version = await self.storage.save_step(
                session.conversation.id,
                expected_version=session.conversation.version,
                state=stored_state(step.state, None),
                answers=[AnswerWrite(qid, value) for qid, value in step.writes],
                update_id=update_id,
                finished=step.finished,
                reminders=planned,
            )
            session.conversation = replace(
                session.conversation, version=version, state=stored_state(step.state, None)
            )
            session.answers.update(dict(step.writes))
            session.recorded = update_id
            session.scheduled = extra is not None
        session.state = step.state
        session.just_finished = step.finished
        session.last_writes = step.writes
        session.summary = next((v.summary for v in step.views if isinstance(v, ShowSummary)), None)
        if engine is not self.engine:  # the partner's walk: not the checklist's summary
            session.summary = None
        return step.views

    async def set_language(self, session: Session, lang: str) -> None:
        session.user = await self.storage.update_user(session.user.id, lang=lang)

    async def delete(self, session: Session) -> None:
        await self.storage.delete_user(session.user.id)


def _session(user: User, conversation: Conversation, answers: dict[str, Any]) -> Session:
    """The session of a conversation as stored: the checklist's state and what the reminders
    await."""
    state = State.load(conversation.state)
    awaiting = Awaiting.load(conversation.state.get(AWAITING_KEY))
    return Session(user, conversation, state, answers, False, awaiting=awaiting)
