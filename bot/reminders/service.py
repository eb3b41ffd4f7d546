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
from bot.storage.base import (
    AnswerWrite,
    CancelReminders,
    ChangeReminder,
    NewReminder,
    Reminder,
    ReminderChange,
    User,
)
from bot.storage.database import Storage

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
    async def handle(
        self, session: Session, event: Event, *, update_id: int | None = None
    ) -> Outcome:
        """Run one input through the flow, commit what it decided, and return it.

        What it decided for the reminders (new, moved, closed, cancelled), the conversation's
        state (what is awaited, any follow-up answer of this project) and update_id are
        written in one transaction. A new time zone is written on its own, first, and so is a
        follow-up answer about an earlier project (it belongs to that project).
        """
        outcome = self.flow.handle(session.awaiting, event, await self._context(session, event))
        own: list[AnswerWrite] = []
        changes: list[ReminderChange] = []
        for write in outcome.writes:
            answer = await self._write(session, write, changes)
            if answer is not None:
                own.append(answer)
        if own or changes or update_id is not None or outcome.awaiting != session.awaiting:
            try:
                await self._save(session, outcome, own, update_id, changes)
            except DuplicateUpdate:
                return replace(outcome, views=())
        session.awaiting = outcome.awaiting
        return outcome

    async def stop_waiting(self, session: Session) -> None:
        """Whatever the reminders asked for is no longer awaited (/start)."""
        if session.awaiting is not None:
            await self._save(session, Outcome(None), [], None, [])
            session.awaiting = None

    async def _context(self, session: Session, event: Event) -> Context:
        """What the flow needs for this input, loaded here and nowhere else."""
        user = session.user
        reminder_id = needs_reminder(session.awaiting, event)
        reminder = await self.get(user, reminder_id) if reminder_id is not None else None
        followup_answers: dict[str, Any] = session.answers
        if reminder is not None and reminder.conversation_id not in (
            None,
            session.conversation.id,
        ):
            followup_answers = await self.storage.current_answers(reminder.conversation_id)
        pending = await self.pending(user) if isinstance(event, ListReminders) else []
        return Context(
            lang=user.lang,
            tz=user.tz,
            now=self.clock(),
            state=session.state,
            answers=session.answers,
            reminder=reminder,
            followup_answers=followup_answers,
            pending=tuple(pending),
            summary=session.summary,
        )

    async def _write(
        self, session: Session, write: Write, changes: list[ReminderChange]
    ) -> AnswerWrite | None:
        """Turn one write into a change of the step (appended to changes), or apply it; a
        follow-up answer of this project is returned, to be saved with the conversation's
        state."""
        if isinstance(write, AddReminder):
            plan = write.plan
            changes.append(NewReminder(plan.kind, plan.ref, plan.due_at, plan.payload))
        elif isinstance(write, MoveReminder):
            changes.append(ChangeReminder(write.reminder_id, due_at=write.due_at))
        elif isinstance(write, CloseReminder):
            changes.append(ChangeReminder(write.reminder_id, status=write.status))
        elif isinstance(write, CancelKinds):
            changes.append(CancelReminders(tuple(write.kinds)))
        elif isinstance(write, SetTimezone):
            session.user = await self.storage.update_user(session.user.id, tz=write.zone)
        elif write.conversation_id in (None, session.conversation.id):
            session.answers[write.key] = write.value
            session.summary = None  # built from the answers before this one
            return AnswerWrite(write.key, write.value)
        else:
            await self._record_elsewhere(session, write)
        return None

    async def _record_elsewhere(self, session: Session, write: RecordFollowup) -> None:
        """A follow-up answer about an earlier (archived) project: stored with that project."""
        projects = await self.storage.conversations(session.user.id)
        target = next((c for c in projects if c.id == write.conversation_id), None)
        if target is None:
            return
        await self.storage.save_step(
            target.id,
            expected_version=target.version,
            state=target.state,
            answers=[AnswerWrite(write.key, write.value)],
        )

    async def _save(
        self,
        session: Session,
        outcome: Outcome,
        answers: list[AnswerWrite],
        update_id: int | None,
        changes: list[ReminderChange],
    ) -> None:
        """The conversation's state with what is now awaited, in one transaction."""
        for attempt in (1, 2):
            state = stored_state(session.state, outcome.awaiting)
            try:
                version = await self.storage.save_step(
                    session.conversation.id,
                    expected_version=session.conversation.version,
                    state=state,
                    answers=answers,
                    update_id=update_id,
                    reminders=changes,
                )
            except StaleConversation:
                # Another replica moved this conversation meanwhile: keep its checklist state,
                # set ours on top, once more.
                if attempt == 2:
                    raise
                await self._reload(session)
                continue
            session.conversation = replace(session.conversation, version=version, state=state)
            if update_id is not None:  # else the checklist's write of this update recorded it
                session.recorded = update_id
            return

    async def _reload(self, session: Session) -> None:
        conversation = await self.storage.active_conversation(session.user.id)
        if conversation is None or conversation.id != session.conversation.id:
            raise StaleConversation(str(session.conversation.id))
        session.conversation = conversation
        session.state = State.load(conversation.state)
        session.summary = None
        session.answers.update(await self.storage.current_answers(conversation.id))

    # Outside the conversation ------------------------------------------------------------------
    def nudges(self, user: User, state: State) -> list[NewReminder]:
        """The manager is active on an unfinished checklist: the two nudges, moved later (to
        be written with the step, see Conversations.handle)."""
        if state.at == DONE:
            return []
        plans = planner.nudge_plans(self.clock(), user.tz, self.hour)
        return [NewReminder(p.kind, p.ref, p.due_at, p.payload) for p in plans]

    async def get(self, user: User, reminder_id: int) -> Reminder | None:
        return await self.storage.get_reminder(reminder_id, user_id=user.id)

    async def pending(self, user: User) -> list[Reminder]:
        return await self.storage.pending_reminders(user.id)

    async def for_export(self, session: Session) -> list[tuple[dt.datetime, str]]:
        """Pending reminders as (due time, one line), for the reports and the calendar."""
        texts = self.engine.texts(session.user.lang)
        dialogue = self.engine.dialogue
        return [
            (r.due_at, reminder_texts.short(r, dialogue, texts, session.answers))
            for r in await self.pending(session.user)
        ]

    def today(self, user: User) -> dt.date:
        return planner.local_date(self.clock(), user.tz)
