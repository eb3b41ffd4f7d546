"""ReminderFlow: one input of the reminder conversation in, an Outcome out. Pure."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from bot.dialogue import parsing
from bot.dialogue.diagnosis import NextStep
from bot.dialogue.engine import Engine
from bot.dialogue.model import Dialogue, Texts
from bot.dialogue.summary import display, format_date
from bot.dialogue.views import Say
from bot.reminders import Kind, planner
from bot.reminders.flow.messages import (
    followup_key,
    followup_offer,
    next_followup_question,
    when_text,
)
from bot.reminders.flow.model import (
    SNOOZES,
    STEP_CHOICES,
    AddReminder,
    AskTimezone,
    Awaiting,
    Button,
    CancelKinds,
    CloseReminder,
    Context,
    Event,
    Finished,
    FollowupAnswer,
    MoveReminder,
    Note,
    NotYet,
    Offer,
    OfferChoice,
    Outcome,
    PreparationChoice,
    RecordFollowup,
    ReminderAction,
    SetTimezone,
    StepChoice,
    TimezoneChoice,
    Typed,
    View,
    Write,
    reminder_id,
)
from bot.reminders.texts import FOLLOWUP_KINDS, partner_name, short
from bot.reminders.timezones import resolve_timezone
from bot.storage.base import CLOSED_STATUSES, ClosingStatus, Reminder

COMMON_ZONES = ("Europe/Paris", "Europe/Brussels", "Europe/Zurich", "America/Toronto")
LIST_LIMIT = 20  # /reminders shows this many, soonest first


@dataclass
class _Turn:
    """Working memory of one `handle` call."""

    context: Context
    texts: Texts
    tz: str
    awaiting: Awaiting | None
    writes: list[Write] = field(default_factory=list)
    views: list[View] = field(default_factory=list)
    keep_source: bool = False

    @property
    def today(self) -> dt.date:
        return planner.local_date(self.context.now, self.tz)

    def ui(self, key: str, **params: Any) -> str:
        return self.texts.ui(key, **params)

    def when(self, moment: dt.datetime) -> str:
        return when_text(moment, self.tz, self.texts)

    def outcome(self) -> Outcome:
        return Outcome(self.awaiting, tuple(self.writes), tuple(self.views), self.keep_source)


class ReminderFlow:
    """The reminder conversation over one dialogue. Build it once; it keeps no per-user data."""

    def __init__(self, engine: Engine, *, hour: int) -> None:
        self.engine = engine
        self.hour = hour

    @property
    def dialogue(self) -> Dialogue:
        return self.engine.dialogue

    def handle(self, awaiting: Awaiting | None, event: Event, context: Context) -> Outcome:
        """Apply one input. Never raises on user input: bad input becomes a polite re-ask.

        Anything but a typed line ends the wait for one (the user moved on).
        """
        texts = self.engine.texts(context.lang)
        kept = awaiting if isinstance(event, Typed) else None
        turn = _Turn(context, texts, context.tz, kept)
        if isinstance(event, Typed):
            self._typed(turn, event.text)
        elif isinstance(event, Finished):
            self._finished(turn)
        elif isinstance(event, NotYet):
            self._not_yet(turn, event.question_id)
        elif isinstance(event, OfferChoice):
            self._offer_choice(turn, event.choice)
        elif isinstance(event, StepChoice):
            self._step_choice(turn, event)
        elif isinstance(event, PreparationChoice):
            self._preparation_choice(turn, event.yes)
        elif isinstance(event, ReminderAction):
            self._action(turn, event)
        elif isinstance(event, FollowupAnswer):
            self._followup(turn, event)
        elif isinstance(event, AskTimezone):
            self._ask_timezone(turn)
        elif isinstance(event, TimezoneChoice):
            self._set_timezone(turn, event.zone)
        else:
            self._list(turn)
        return turn.outcome()

    def next_steps(self, context: Context) -> list[NextStep]:
        today = planner.local_date(context.now, context.tz)
        summary = context.summary
        if summary is None or summary.date != today or summary.lang != context.lang:
            summary = self.engine.summary(context.state, context.answers, context.lang, today)
        return list(summary.diagnosis.next_steps)

    # After the summary ---------------------------------------------------------------------------
    def _finished(self, turn: _Turn) -> None:
        """The checklist is complete: no more nudges, the first review, then the offers."""
        turn.writes.append(CancelKinds((Kind.NUDGE,)))
        review = self._review(turn, number=1)
        turn.views.append(Say(turn.ui("reminders.review_scheduled", when=turn.when(review))))
        self._offer_preparation(turn)
        steps = self.next_steps(turn.context)
        if steps:
            turn.views.append(
                Offer(
                    turn.ui("reminders.offer", count=len(steps)),
                    (
                        (self._offer_button(turn, "all"),),
                        (self._offer_button(turn, "pick"), self._offer_button(turn, "no")),
                    ),
                )
            )

    def _offer_button(self, turn: _Turn, choice: str) -> Button:
        return Button(turn.ui(f"reminders.buttons.{choice}"), OfferChoice(choice))

    def _offer_preparation(self, turn: _Turn) -> None:
        context = turn.context
        sessions, plans = planner.preparation(context.answers, context.now, turn.tz, self.hour)
        if not plans:
            return
        lines = "\n".join(
            turn.ui("reminders.plan_session", number=n, date=format_date(day, turn.texts))
            for n, day in enumerate(sessions, start=1)
        )
        end = next((p.payload["date"] for p in plans if p.kind == Kind.GO_NO_GO), None)
        text = turn.ui(
            "reminders.plan",
            partner=partner_name(context.answers, turn.texts),
            sessions=lines,
            end=format_date(dt.date.fromisoformat(str(end)), turn.texts) if end else "—",
        )
        yes = Button(turn.ui("reminders.buttons.yes"), PreparationChoice(True))
        no = Button(turn.ui("reminders.buttons.no"), PreparationChoice(False))
        turn.views.append(Offer(text, ((yes, no),)))

    def _offer_choice(self, turn: _Turn, choice: str) -> None:
        if choice == "all":
            steps = self.next_steps(turn.context)
            for step in steps:
                self._schedule(turn, step, "sug")
            turn.views.append(Say(turn.ui("reminders.all_scheduled", count=len(steps))))
        elif choice == "pick":
            self._offer_step(turn, after="")
        else:
            turn.views.append(Say(turn.ui("reminders.offer_done")))

    def _offer_step(self, turn: _Turn, *, after: str) -> None:
        """Offer the next step that follows `after` ("" for the first one)."""
        steps = self.next_steps(turn.context)
        keys = [s.key for s in steps]
        index = keys.index(after) + 1 if after in keys else 0
        if index >= len(steps):
            turn.views.append(Say(turn.ui("reminders.offer_done")))
            return
        step = steps[index]
        text = turn.ui(
            "reminders.offer_step", text=step.text, date=format_date(step.due, turn.texts)
        )
        turn.views.append(Offer(text, self._step_rows(turn, step.key, chain=True)))

    def _step_rows(self, turn: _Turn, key: str, *, chain: bool) -> tuple[tuple[Button, ...], ...]:
        def b(choice: str) -> Button:
            return Button(turn.ui(f"reminders.buttons.{choice}"), StepChoice(key, choice, chain))

        return ((b("sug"), b("w1"), b("m1")), (b("date"), b("no")))

    def _not_yet(self, turn: _Turn, question_id: str) -> None:
        step = self._step_for_question(turn.context, question_id)
        if step is None:
            return
        text = turn.ui(
            "reminders.offer_todo", text=step.text, date=format_date(step.due, turn.texts)
        )
        turn.views.append(Offer(text, self._step_rows(turn, step.key, chain=False)))

    def _step_for_question(self, context: Context, question_id: str) -> NextStep | None:
        """The next step a "not yet" answer created: its to-do, or the rule that covers it."""
        steps = self.next_steps(context)
        own = next((s for s in steps if s.question_id == question_id), None)
        if own is not None:
            return own
        covering = {rule.id for rule in self.dialogue.next_steps if question_id in rule.questions}
        return next((s for s in steps if s.key in covering), None)

    def _step_choice(self, turn: _Turn, event: StepChoice) -> None:
        step = next((s for s in self.next_steps(turn.context) if s.key == event.key), None)
        if event.choice == "date" and step is not None:
            turn.awaiting = Awaiting("step" if event.chain else "todo", event.key)
            turn.views.append(Say(turn.ui("reminders.ask_date")))
            return
        if step is None:  # the answers changed since the offer: that step is no more
            turn.views.append(Note(turn.ui("reminders.gone")))
        elif event.choice in STEP_CHOICES:
            due = self._schedule(turn, step, event.choice)
            turn.views.append(Note(turn.ui("reminders.scheduled", when=turn.when(due))))
        else:
            turn.views.append(Note(turn.ui("reminders.skipped")))
        if event.chain:
            self._offer_step(turn, after=event.key)

    def _schedule(self, turn: _Turn, step: NextStep, choice: str) -> dt.datetime:
        """Add the reminder of one next step; `choice` is one of STEP_CHOICES or an ISO date."""
        now = turn.context.now
        if choice in STEP_CHOICES:
            due = planner.due_for(choice, now, turn.tz, self.hour, step.due)
        else:
            due = planner.on_date(dt.date.fromisoformat(choice), now, turn.tz, self.hour)
        turn.writes.append(AddReminder(planner.for_next_step(step, due)))
        return due

    def _preparation_choice(self, turn: _Turn, yes: bool) -> None:
        if not yes:
            turn.views.append(Say(turn.ui("reminders.offer_done")))
            return
        context = turn.context
        _, plans = planner.preparation(context.answers, context.now, turn.tz, self.hour)
        turn.writes.extend(AddReminder(plan) for plan in plans)
        turn.views.append(Say(turn.ui("reminders.plan_done", count=len(plans))))

    def _review(self, turn: _Turn, *, number: int) -> dt.datetime:
        plan = planner.next_review(turn.context.answers, turn.today, number, turn.tz, self.hour)
        turn.writes.append(AddReminder(plan))
        return plan.due_at

    # One reminder --------------------------------------------------------------------------------
    def _own(self, turn: _Turn, reminder_id: int) -> Reminder | None:
        """The reminder the input is about, or say why there is nothing to do with it."""
        reminder = turn.context.reminder
        if reminder is None or reminder.id != reminder_id:
            turn.views.append(Say(turn.ui("reminders.gone")))
            return None
        if reminder.status in CLOSED_STATUSES:
            turn.views.append(Say(turn.ui("reminder_flow.closed")))
            return None
        return reminder

    def _action(self, turn: _Turn, event: ReminderAction) -> None:
        reminder = self._own(turn, event.reminder_id)
        if reminder is None:
            return
        action = event.action
        if action in ("done", "stop", "cancel"):
            status: ClosingStatus = "done" if action == "done" else "cancelled"
            turn.writes.append(CloseReminder(reminder.id, status))
            key = {"done": "reminders.done", "stop": "reminders.stopped"}.get(
                action, "reminders.cancelled"
            )
            turn.views.append(Note(turn.ui(key)))
            if reminder.kind == Kind.REVIEW and action == "done":
                self._next_review(turn, reminder, announce=True)
        elif action in SNOOZES:
            now = turn.context.now
            due = planner.due_for(action, now, turn.tz, self.hour, now.date())
            turn.writes.append(MoveReminder(reminder.id, due))
            turn.views.append(Note(turn.ui("reminders.snoozed", when=turn.when(due))))
        elif action == "move":
            rid = reminder.id
            rows = (
                tuple(
                    Button(turn.ui(f"reminders.buttons.{a}"), ReminderAction(rid, a))
                    for a in SNOOZES
                ),
                (Button(turn.ui("reminders.buttons.date"), ReminderAction(rid, "date")),),
            )
            turn.views.append(Offer(turn.ui("reminders.ask_date"), rows))
            turn.keep_source = True
        else:  # "date"
            turn.awaiting = Awaiting("move", str(reminder.id))
            turn.views.append(Say(turn.ui("reminders.ask_date")))

    def _next_review(self, turn: _Turn, reminder: Reminder, *, announce: bool) -> None:
        """A review was done: the next one, at the rhythm chosen in the checklist."""
        number = int(str(reminder.payload.get("number", 1))) + 1
        due = self._review(turn, number=number)
        if announce:
            turn.views.append(Say(turn.ui("reminders.scheduled", when=turn.when(due))))

    def _followup(self, turn: _Turn, event: FollowupAnswer) -> None:
        reminder = self._own(turn, event.reminder_id)
        if reminder is None:
            return
        answers = dict(turn.context.followup_answers)
        question = next_followup_question(self.dialogue, reminder, answers)
        if question is None or question.id != event.question_id:
            turn.views.append(Say(turn.ui("errors.stale")))
            return
        if event.value not in question.choices:
            turn.views.append(Say(turn.ui("errors.stale")))
            return
        value: Any = int(event.value) if question.type == "scale" else event.value
        key = followup_key(reminder, question.id)
        turn.writes.append(RecordFollowup(reminder.conversation_id, key, value))
        shown = display(question, value, turn.texts)
        turn.views.append(Note(turn.ui("reminders.followup_answered", answer=shown)))
        answers[key] = value
        following = next_followup_question(self.dialogue, reminder, answers)
        if following is not None:
            turn.views.append(followup_offer(reminder, following, turn.texts, intro=""))
            return
        turn.writes.append(CloseReminder(reminder.id, "done"))
        followup = FOLLOWUP_KINDS[reminder.kind]
        turn.views.append(Say(turn.texts.get(f"followups.{followup}.done")))
        if reminder.kind == Kind.REVIEW:
            self._next_review(turn, reminder, announce=False)

    # Typed answers -------------------------------------------------------------------------------
    def _typed(self, turn: _Turn, text: str) -> None:
        awaiting = turn.awaiting
        if awaiting is None:
            return
        if not awaiting.date:
            self._set_timezone(turn, text)
            return
        try:
            day = parsing.parse_date(
                text, today=turn.today, lang=turn.context.lang, allow_past=False
            )
        except parsing.ParseError as exc:
            error = f"errors.{exc.reason}"
            message = (
                turn.ui(error) if turn.texts.has(f"ui.{error}") else turn.ui("errors.invalid")
            )
            turn.views.append(Say(message + " " + turn.ui("reminders.ask_date"), kind="error"))
            return
        turn.awaiting = None
        if awaiting.what == "move":
            reminder = self._own(turn, reminder_id(awaiting.ref) or -1)
            if reminder is None:
                return
            due = planner.on_date(day, turn.context.now, turn.tz, self.hour)
            turn.writes.append(MoveReminder(reminder.id, due))
            turn.views.append(Say(turn.ui("reminders.moved", when=turn.when(due))))
            return
        step = next((s for s in self.next_steps(turn.context) if s.key == awaiting.ref), None)
        if step is None:
            turn.views.append(Say(turn.ui("reminders.gone")))
            return
        due = self._schedule(turn, step, day.isoformat())
        turn.views.append(Say(turn.ui("reminders.scheduled", when=turn.when(due))))
        if awaiting.what == "step":
            self._offer_step(turn, after=step.key)

    # Time zone and the list ----------------------------------------------------------------------
    def _ask_timezone(self, turn: _Turn) -> None:
        now = turn.context.now.astimezone(ZoneInfo(turn.tz)).strftime("%H:%M")
        turn.awaiting = Awaiting("timezone")
        buttons = [Button(zone.split("/")[1], TimezoneChoice(zone)) for zone in COMMON_ZONES]
        rows = tuple(tuple(buttons[i : i + 2]) for i in range(0, len(buttons), 2))
        text = turn.ui("reminders.timezone_current", tz=turn.tz, time=now)
        turn.views.append(Offer(text, rows))

    def _set_timezone(self, turn: _Turn, typed: str) -> None:
        zone = resolve_timezone(typed)
        if zone is None:
            turn.awaiting = Awaiting("timezone")
            turn.views.append(Say(turn.ui("reminders.timezone_unknown"), kind="error"))
            return
        turn.awaiting = None
        turn.tz = zone
        turn.writes.append(SetTimezone(zone))
        turn.views.append(Say(turn.ui("reminders.timezone_set", tz=zone, hour=self.hour)))

    def _list(self, turn: _Turn) -> None:
        pending = turn.context.pending
        if not pending:
            turn.views.append(Say(turn.ui("reminders.list_empty")))
            return
        lines = [turn.ui("reminders.list_title", tz=turn.tz)]
        rows = []
        answers = turn.context.answers
        for number, reminder in enumerate(pending[:LIST_LIMIT], start=1):
            what = short(reminder, self.dialogue, turn.texts, answers)
            when = turn.when(reminder.due_at)
            lines.append(turn.ui("reminders.list_item", number=number, when=when, text=what))
            rows.append(
                tuple(
                    Button(
                        f"{number}. {turn.ui(f'reminders.buttons.{action}')}",
                        ReminderAction(reminder.id, action),
                    )
                    for action in ("move", "cancel")
                )
            )
        turn.views.append(Offer("\n".join(lines), tuple(rows)))
