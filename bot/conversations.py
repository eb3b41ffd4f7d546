"""Conversations: load a user's walk, apply one input through the engine, commit, then reply.

This is the one place where the dialogue core meets storage; the Telegram handlers and the
terminal chat both go through it, so "committed before the reply" holds for both.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from typing import Any
from zoneinfo import ZoneInfo

from bot.dialogue.engine import Engine, Input, State
from bot.dialogue.views import View
from bot.errors import DuplicateUpdate, StaleConversation
from bot.reminders.flow import AWAITING_KEY, Awaiting
from bot.storage.base import AnswerWrite, Conversation, Storage, User


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
        self.default_lang = default_lang
        self.default_tz = default_tz

    def find(self, key: str) -> Session | None:
        """The user's session if they exist and have a conversation, without creating anything."""
        user = self.storage.get_user(key)
        if user is None:
            return None
        conversation = self.storage.active_conversation(user.id)
        if conversation is None:
            return None
        return self._session(user, conversation, fresh=False)

    def open(self, key: str, *, lang: str | None = None) -> Session:
        """The user's session, creating the user and a first conversation if needed."""
        user = self.storage.get_or_create_user(
            key, lang=lang or self.default_lang, tz=self.default_tz
        )
        conversation = self.storage.active_conversation(user.id)
        if conversation is None:
            state = self.engine.new_state()
            conversation = self.storage.start_conversation(
                user.id, self.engine.dialogue.id, state.dump()
            )
            return Session(user, conversation, state, {}, fresh=True)
        return self._session(user, conversation, fresh=False)

    def _session(self, user: User, conversation: Conversation, *, fresh: bool) -> Session:
        answers = self.storage.current_answers(conversation.id)
        state = State.load(conversation.state)
        awaiting = Awaiting.load(conversation.state.get(AWAITING_KEY))
        return Session(user, conversation, state, answers, fresh, awaiting=awaiting)

    def today(self, user: User, now: dt.datetime | None = None) -> dt.date:
        """Today's date where the user lives."""
        moment = now or dt.datetime.now(dt.UTC)
        return moment.astimezone(ZoneInfo(user.tz)).date()

    def handle(
        self, session: Session, event: Input, *, update_id: int | None = None
    ) -> tuple[View, ...]:
        """Apply one input, commit what it changed, and return what to show.

        Raises DuplicateUpdate (nothing written) when update_id was already processed.
        """
        try:
            return self._handle(session, event, update_id)
        except StaleConversation:
            # Someone else (another replica) moved this conversation: reload and apply once more.
            fresh = self.find(session.user.key)
            if fresh is None:
                raise
            session.conversation, session.state, session.answers, session.awaiting = (
                fresh.conversation,
                fresh.state,
                fresh.answers,
                fresh.awaiting,
            )
            return self._handle(session, event, update_id)

    def _handle(self, session: Session, event: Input, update_id: int | None) -> tuple[View, ...]:
        """The checklist's turn. Whatever the reminders awaited is over: the user moved on."""
        today = self.today(session.user)
        step = self.engine.handle(session.state, session.answers, event, session.user.lang, today)
        waited = session.awaiting is not None
        session.awaiting = None
        if step.restart:
            if update_id is not None and not self.storage.mark_processed(
                update_id, session.user.id
            ):
                raise DuplicateUpdate(str(update_id))
            session.conversation = self.storage.start_conversation(
                session.user.id, self.engine.dialogue.id, step.state.dump()
            )
            session.answers = {}
        elif step.changed or waited:
            version = self.storage.save_step(
                session.conversation.id,
                expected_version=session.conversation.version,
                state=stored_state(step.state, None),
                answers=[AnswerWrite(qid, value) for qid, value in step.writes],
                update_id=update_id,
                finished=step.finished,
            )
            session.conversation = replace(
                session.conversation, version=version, state=stored_state(step.state, None)
            )
            session.answers.update(dict(step.writes))
        elif update_id is not None and not self.storage.mark_processed(update_id, session.user.id):
            raise DuplicateUpdate(str(update_id))
        session.state = step.state
        session.just_finished = step.finished
        session.last_writes = step.writes
        return step.views

    def set_language(self, session: Session, lang: str) -> None:
        session.user = self.storage.update_user(session.user.id, lang=lang)

    def delete(self, session: Session) -> None:
        self.storage.delete_user(session.user.id)
