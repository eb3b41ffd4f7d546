"""Reminders for one manager: the reminder conversation's storage side.

Sits between storage and the front ends like bot/conversations.py does for the checklist:
loads what the pure flow (bot/reminders/flow/) needs, runs it, writes what it decided, and
only then returns what to show. Every storage call of the reminder conversation is here.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from bot.conversations import Session, stored_state
from bot.dialogue.engine import Engine, State
from bot.dialogue.model import DONE
from bot.errors import DuplicateUpdate, StaleConversation
from bot.reminders import planner
from bot.reminders import texts as reminder_texts
from bot.reminders.flow import (
    AddReminder,
    CancelKinds,
    CloseReminder,
    Context,
    Event,
    ListReminders,
    MoveReminder,
    Outcome,
    RecordFollowup,
    ReminderFlow,
    SetTimezone,
    Write,
    needs_reminder,
)
from bot.storage.base import AnswerWrite, Reminder, Storage, User

Clock = Callable[[], dt.datetime]


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Reminders:
    """The reminder operations the bot offers; keeps no per-user data of its own."""

    def __init__(self, storage: Storage, engine: Engine, *, hour: int, clock: Clock = utc_now):
        self.storage = storage
        self.engine = engine
        self.flow = ReminderFlow(engine, hour=hour)
        self.hour = hour
        self.clock = clock

    # The reminder conversation -----------------------------------------------------------------
    def handle(self, session: Session, event: Event, *, update_id: int | None = None) -> Outcome:
        """Run one input through the flow, commit what it decided, and return it.

        The reminders are written first, then the conversation's state (what is awaited, any
        follow-up answer of this project) with update_id, in one transaction: an update
        delivered again after a crash in between applies the same writes again, which
        changes nothing (adding a reminder of the same kind and ref moves it).
        """
        outcome = self.flow.handle(session.awaiting, event, self._context(session, event))
        own: list[AnswerWrite] = []
        for write in outcome.writes:
            answer = self._write(session, write)
            if answer is not None:
                own.append(answer)
        if own or update_id is not None or outcome.awaiting != session.awaiting:
            try:
                self._save(session, outcome, own, update_id)
            except DuplicateUpdate:
                return replace(outcome, views=())
        session.awaiting = outcome.awaiting
        return outcome

    def stop_waiting(self, session: Session) -> None:
        """Whatever the reminders asked for is no longer awaited (/start)."""
        if session.awaiting is not None:
            self._save(session, Outcome(None), [], None)
            session.awaiting = None

    def _context(self, session: Session, event: Event) -> Context:
        """What the flow needs for this input, loaded here and nowhere else."""
        user = session.user
        reminder_id = needs_reminder(session.awaiting, event)
        reminder = self.get(user, reminder_id) if reminder_id is not None else None
        followup_answers: dict[str, Any] = session.answers
        if reminder is not None and reminder.conversation_id not in (
            None,
            session.conversation.id,
        ):
            followup_answers = self.storage.current_answers(reminder.conversation_id)
        return Context(
            lang=user.lang,
            tz=user.tz,
            now=self.clock(),
            state=session.state,
            answers=session.answers,
            reminder=reminder,
            followup_answers=followup_answers,
            pending=tuple(self.pending(user)) if isinstance(event, ListReminders) else (),
        )

    def _write(self, session: Session, write: Write) -> AnswerWrite | None:
        """Apply one write; a follow-up answer of this project is returned, to be saved with the
        conversation's state."""
        user_id = session.user.id
        if isinstance(write, AddReminder):
            self._add(session, write.plan)
        elif isinstance(write, MoveReminder):
            self.storage.reschedule(write.reminder_id, user_id=user_id, due_at=write.due_at)
        elif isinstance(write, CloseReminder):
            self.storage.set_reminder_status(
                write.reminder_id, user_id=user_id, status=write.status
            )
        elif isinstance(write, CancelKinds):
            self.storage.cancel_reminders(user_id, kinds=list(write.kinds))
        elif isinstance(write, SetTimezone):
            session.user = self.storage.update_user(user_id, tz=write.zone)
        elif write.conversation_id in (None, session.conversation.id):
            session.answers[write.key] = write.value
            return AnswerWrite(write.key, write.value)
        else:
            self._record_elsewhere(session, write)
        return None

    def _record_elsewhere(self, session: Session, write: RecordFollowup) -> None:
        """A follow-up answer about an earlier (archived) project: stored with that project."""
        target = next(
            (
                c
                for c in self.storage.conversations(session.user.id)
                if c.id == write.conversation_id
            ),
            None,
        )
        if target is None:
            return
        self.storage.save_step(
            target.id,
            expected_version=target.version,
            state=target.state,
            answers=[AnswerWrite(write.key, write.value)],
        )

    def _save(
        self,
        session: Session,
        outcome: Outcome,
        answers: list[AnswerWrite],
        update_id: int | None,
    ) -> None:
        """The conversation's state with what is now awaited, in one transaction."""
        for attempt in (1, 2):
            state = stored_state(session.state, outcome.awaiting)
            try:
                version = self.storage.save_step(
                    session.conversation.id,
                    expected_version=session.conversation.version,
                    state=state,
                    answers=answers,
                    update_id=update_id,
                )
            except StaleConversation:
                # Another replica moved this conversation meanwhile: keep its checklist state,
                # set ours on top, once more.
                if attempt == 2:
                    raise
                self._reload(session)
                continue
            session.conversation = replace(session.conversation, version=version, state=state)
            return

    def _reload(self, session: Session) -> None:
        conversation = self.storage.active_conversation(session.user.id)
        if conversation is None or conversation.id != session.conversation.id:
            raise StaleConversation(str(session.conversation.id))
        session.conversation = conversation
        session.state = State.load(conversation.state)
        session.answers.update(self.storage.current_answers(conversation.id))

    # Outside the conversation ------------------------------------------------------------------
    def touch(self, session: Session) -> None:
        """The manager is active on an unfinished checklist: move the two nudges later."""
        if session.state.at == DONE:
            return
        for plan in planner.nudge_plans(self.clock(), session.user.tz, self.hour):
            self._add(session, plan)

    def get(self, user: User, reminder_id: int) -> Reminder | None:
        return self.storage.get_reminder(reminder_id, user_id=user.id)

    def pending(self, user: User) -> list[Reminder]:
        return self.storage.pending_reminders(user.id)

    def for_export(self, session: Session) -> list[tuple[dt.datetime, str]]:
        """Pending reminders as (due time, one line), for the reports and the calendar."""
        texts = self.engine.texts(session.user.lang)
        dialogue = self.engine.dialogue
        return [
            (r.due_at, reminder_texts.short(r, dialogue, texts, session.answers))
            for r in self.pending(session.user)
        ]

    def today(self, user: User) -> dt.date:
        return planner.local_date(self.clock(), user.tz)

    def _add(self, session: Session, plan: planner.Plan) -> Reminder:
        return self.storage.add_reminder(
            session.user.id,
            kind=plan.kind,
            ref=plan.ref,
            due_at=plan.due_at,
            payload=plan.payload,
            conversation_id=session.conversation.id,
        )
