"""Reminders for one manager: offer, schedule, snooze, and follow-up answers.

Sits between storage and the front end like bot/conversations.py does for the checklist:
no Telegram here, and every change is committed before the front end replies.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from bot.conversations import Session
from bot.dialogue.diagnosis import NextStep
from bot.dialogue.engine import Engine, State
from bot.dialogue.model import DONE, Question
from bot.reminders import Kind, planner
from bot.reminders import texts as reminder_texts
from bot.storage.base import AnswerWrite, NewReminder, Reminder, User
from bot.storage.database import Storage

Clock = Callable[[], dt.datetime]
SNOOZE_ACTIONS = ("d1", "w1", "m1")


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Reminders:
    """The reminder operations the bot offers; keeps no per-user data of its own."""

    def __init__(self, storage: Storage, engine: Engine, *, hour: int, clock: Clock = utc_now):
        self.storage = storage
        self.engine = engine
        self.hour = hour
        self.clock = clock

    # Offers after the summary ------------------------------------------------------------------
    def next_steps(self, session: Session) -> list[NextStep]:
        today = self.today(session.user)
        summary = self.engine.summary(session.state, session.answers, session.user.lang, today)
        return list(summary.diagnosis.next_steps)

    def step_for_question(self, session: Session, question_id: str) -> NextStep | None:
        """The next step a "not yet" answer created: its to-do, or the rule that covers it."""
        steps = self.next_steps(session)
        own = next((s for s in steps if s.question_id == question_id), None)
        if own is not None:
            return own
        covering = {
            rule.id for rule in self.engine.dialogue.next_steps if question_id in rule.questions
        }
        return next((s for s in steps if s.key in covering), None)

    async def schedule_step(self, session: Session, key: str, choice: str) -> Reminder | None:
        """A reminder for one next step: `choice` is one of planner.CHOICES or an ISO date."""
        step = next((s for s in self.next_steps(session) if s.key == key), None)
        if step is None:
            return None
        now, tz = self.clock(), session.user.tz
        if choice in planner.CHOICES:
            due = planner.due_for(choice, now, tz, self.hour, step.due)
        else:
            due = planner.on_date(dt.date.fromisoformat(choice), now, tz, self.hour)
        return await self._add(session, planner.for_next_step(step, due))

    async def schedule_all_steps(self, session: Session) -> int:
        now, tz = self.clock(), session.user.tz
        steps = self.next_steps(session)
        for step in steps:
            due = planner.due_for("sug", now, tz, self.hour, step.due)
            await self._add(session, planner.for_next_step(step, due))
        return len(steps)

    def preparation(self, session: Session) -> tuple[list[dt.date], list[planner.Plan]]:
        return planner.preparation(session.answers, self.clock(), session.user.tz, self.hour)

    async def schedule_preparation(self, session: Session) -> int:
        _, plans = self.preparation(session)
        for plan in plans:
            await self._add(session, plan)
        return len(plans)

    async def on_finished(self, session: Session) -> Reminder:
        """The checklist is complete: no more nudges; the first periodic review is scheduled."""
        await self.storage.cancel_reminders(session.user.id, kinds=[Kind.NUDGE])
        return await self.schedule_review(session, number=1)

    async def schedule_review(self, session: Session, *, number: int) -> Reminder:
        plan = planner.next_review(
            session.answers, self.today(session.user), number, session.user.tz, self.hour
        )
        return await self._add(session, plan)

    def nudges(self, user: User, state: State) -> list[NewReminder]:
        """The manager is active on an unfinished checklist: the two nudges, moved later (to
        be written with the step, see Conversations.handle)."""
        if state.at == DONE:
            return []
        plans = planner.nudge_plans(self.clock(), user.tz, self.hour)
        return [NewReminder(p.kind, p.ref, p.due_at, p.payload) for p in plans]

    # Acting on a reminder ----------------------------------------------------------------------
    async def get(self, user: User, reminder_id: int) -> Reminder | None:
        return await self.storage.get_reminder(reminder_id, user_id=user.id)

    async def pending(self, user: User) -> list[Reminder]:
        return await self.storage.pending_reminders(user.id)

    async def close(self, user: User, reminder_id: int, status: str) -> Reminder | None:
        """Done or stopped/cancelled by the manager."""
        if status == "done":
            return await self.storage.set_reminder_status(
                reminder_id, user_id=user.id, status="done"
            )
        return await self.storage.set_reminder_status(
            reminder_id, user_id=user.id, status="cancelled"
        )

    async def snooze(self, user: User, reminder_id: int, action: str) -> Reminder | None:
        now = self.clock()
        if action == "d1":
            due = planner.due_for("d1", now, user.tz, self.hour, now.date())
        elif action == "w1":
            due = planner.due_for("w1", now, user.tz, self.hour, now.date())
        else:
            due = planner.due_for("m1", now, user.tz, self.hour, now.date())
        return await self.storage.reschedule(reminder_id, user_id=user.id, due_at=due)

    async def move_to(self, user: User, reminder_id: int, day: dt.date) -> Reminder | None:
        due = planner.on_date(day, self.clock(), user.tz, self.hour)
        return await self.storage.reschedule(reminder_id, user_id=user.id, due_at=due)

    async def for_export(self, session: Session) -> list[tuple[dt.datetime, str]]:
        """Pending reminders as (due time, one line), for the reports and the calendar."""
        texts = self.engine.texts(session.user.lang)
        dialogue = self.engine.dialogue
        return [
            (r.due_at, reminder_texts.short(r, dialogue, texts, session.answers))
            for r in await self.pending(session.user)
        ]

    # Follow-up questionnaires ------------------------------------------------------------------
    async def record_followup(
        self, session: Session, reminder: Reminder, question: Question, value: Any
    ) -> None:
        """Store a follow-up answer with the project (answer history included)."""
        key = f"{reminder.kind}.{reminder.ref}.{question.id}"
        conversation = session.conversation
        if reminder.conversation_id is not None and reminder.conversation_id != conversation.id:
            target = next(
                (
                    c
                    for c in await self.storage.conversations(session.user.id)
                    if c.id == reminder.conversation_id
                ),
                None,
            )
            if target is None:
                return
            conversation = target
        version = await self.storage.save_step(
            conversation.id,
            expected_version=conversation.version,
            state=conversation.state,
            answers=[AnswerWrite(key, value)],
        )
        if conversation.id == session.conversation.id:
            session.conversation = replace(conversation, version=version)
            session.answers[key] = value

    async def followup_answers(self, session: Session, reminder: Reminder) -> dict[str, Any]:
        if reminder.conversation_id in (None, session.conversation.id):
            return session.answers
        return await self.storage.current_answers(reminder.conversation_id)

    # Helpers -----------------------------------------------------------------------------------
    def today(self, user: User) -> dt.date:
        return planner.local_date(self.clock(), user.tz)

    async def _add(self, session: Session, plan: planner.Plan) -> Reminder:
        return await self.storage.add_reminder(
            session.user.id,
            kind=plan.kind,
            ref=plan.ref,
            due_at=plan.due_at,
            payload=plan.payload,
            conversation_id=session.conversation.id,
        )
