"""The reminder conversation on its own: pure, read like a chat (no Telegram, no database).

`FlowChat` plays the front end and the service: it shows views as text, finds a button by its
label, and keeps what the writes stored in a dict, the way the database would.
"""

from __future__ import annotations

import datetime as dt
import itertools
import subprocess
import sys
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bot.dialogue.engine import Engine, State, Text
from bot.dialogue.loader import DEFAULT_DIR, load_dialogue
from bot.dialogue.model import DONE
from bot.dialogue.views import Say
from bot.reminders import flow
from bot.reminders.flow import (
    AddReminder,
    Awaiting,
    CancelKinds,
    CloseReminder,
    Context,
    MoveReminder,
    Note,
    Offer,
    RecordFollowup,
    ReminderFlow,
    SetTimezone,
)
from bot.storage.base import Reminder
from tests.reminder_fixtures import ANSWERS

NOW = dt.datetime(2026, 11, 26, 14, 0, tzinfo=dt.UTC)  # a Thursday, 15:00 in Paris
PARIS = ZoneInfo("Europe/Paris")
ENGINE = Engine(load_dialogue(DEFAULT_DIR))
TYPED = {"text": "Réponse", "choice": "1", "multi": "1", "scale": "4", "yesno": "oui"}
TYPED |= {"date": "15/03/2027", "number": "4"}


def finished_checklist(lang: str) -> tuple[State, dict[str, Any]]:
    """The real checklist answered to the end, through the engine."""
    state, answers = ENGINE.new_state(), dict[str, Any]()
    while state.at != DONE:
        question = ENGINE.dialogue.questions[state.at]
        line = str(ANSWERS.get(question.id, TYPED[question.type]))
        step = ENGINE.handle(state, answers, Text(line), lang, NOW.date())
        assert step.writes, (question.id, line)
        answers.update(dict(step.writes))
        state = step.state
    return state, answers


class FlowChat:
    """One manager and the reminder flow."""

    def __init__(self, lang: str, *, tz: str = "Europe/Paris") -> None:
        self.lang, self.tz = lang, tz
        self.state, self.answers = finished_checklist(lang)
        self.flow = ReminderFlow(ENGINE, hour=9)
        self.awaiting: Awaiting | None = None
        self.stored: dict[int, Reminder] = {}
        self.ids = itertools.count(1)
        self.buttons: dict[str, flow.Event] = {}
        self.replies: list[str] = []
        self.writes: list[flow.Write] = []

    # What a manager does
    def send(self, event: flow.Event) -> list[str]:
        reminder_id = flow.needs_reminder(self.awaiting, event)
        context = Context(
            lang=self.lang,
            tz=self.tz,
            now=NOW,
            state=self.state,
            answers=self.answers,
            reminder=self.stored.get(reminder_id) if reminder_id is not None else None,
            followup_answers=self.answers,
            pending=tuple(self.pending()),
        )
        outcome = self.flow.handle(self.awaiting, event, context)
        self.awaiting = outcome.awaiting
        self.writes = list(outcome.writes)
        for write in outcome.writes:
            self.apply(write)
        self.replies = []
        for view in outcome.views:
            if isinstance(view, Offer):
                self.buttons.update({b.label: b.event for row in view.rows for b in row})
                self.replies.append("\n\n".join(p for p in (view.text, view.question) if p))
            else:
                assert isinstance(view, Say | Note)
                self.replies.append(view.text)
        return self.replies

    def tap(self, label: str) -> list[str]:
        assert label in self.buttons, f"no button {label!r} in {sorted(self.buttons)}"
        return self.send(self.buttons[label])

    def type(self, text: str) -> list[str]:
        assert self.awaiting is not None, "nothing awaits a typed line"
        return self.send(flow.Typed(text))

    def said(self) -> str:
        return "\n".join(self.replies)

    # What storage would keep
    def apply(self, write: flow.Write) -> None:
        if isinstance(write, AddReminder):
            plan = write.plan
            same = [r for r in self.pending() if (r.kind, r.ref) == (plan.kind, plan.ref)]
            rid = same[0].id if same else next(self.ids)
            self.stored[rid] = reminder(rid, plan.kind, plan.ref, plan.due_at, plan.payload)
        elif isinstance(write, MoveReminder):
            self.stored[write.reminder_id] = _replace(self.stored[write.reminder_id], write.due_at)
        elif isinstance(write, CloseReminder):
            self.stored[write.reminder_id] = _close(self.stored[write.reminder_id], write.status)
        elif isinstance(write, CancelKinds):
            for r in self.pending():
                if r.kind in write.kinds:
                    self.stored[r.id] = _close(r, "cancelled")
        elif isinstance(write, SetTimezone):
            self.tz = write.zone
        elif isinstance(write, RecordFollowup):
            self.answers[write.key] = write.value

    def pending(self, kind: str | None = None) -> list[Reminder]:
        found = [r for r in self.stored.values() if r.status in ("pending", "sent")]
        return sorted((r for r in found if kind is None or r.kind == kind), key=lambda r: r.due_at)

    def local_days(self, *kinds: str) -> list[dt.date]:
        return [r.due_at.astimezone(PARIS).date() for r in self.pending() if r.kind in kinds]


def reminder(rid: int, kind: str, ref: str, due: dt.datetime, payload: dict) -> Reminder:
    return Reminder(
        id=rid,
        user_id=1,
        conversation_id=1,
        kind=kind,
        ref=ref,
        payload=payload,
        due_at=due,
        status="pending",
        attempts=0,
        claimed_by=None,
        claimed_until=None,
        sent_at=None,
        created_at=NOW,
        updated_at=NOW,
    )


def _replace(r: Reminder, due: dt.datetime) -> Reminder:
    return reminder(r.id, r.kind, r.ref, due, r.payload)


def _close(r: Reminder, status: str) -> Reminder:
    closed = reminder(r.id, r.kind, r.ref, r.due_at, r.payload)
    object.__setattr__(closed, "status", status)
    return closed


# After the summary -------------------------------------------------------------------------------
def test_finishing_schedules_the_review_and_offers_the_rest_in_french():
    ana = FlowChat("fr")
    ana.send(flow.Finished())
    review, plan, offer = ana.replies
    assert review.startswith("🔄 Revue de l’alliance programmée le ")
    assert "Calendrier de préparation avec Martin & Fils" in plan
    assert "séance 1 : 11 janvier 2027" in plan
    assert "prochaines étapes" in offer
    assert {"Oui, programmer", "Tous à leur date", "Choisir un par un", "Non merci"} <= set(
        ana.buttons
    )
    assert CancelKinds(("nudge",)) in ana.writes
    assert [r.ref for r in ana.pending("review")] == ["review-1"]


def test_all_next_steps_on_their_date_in_english():
    ana = FlowChat("en")
    ana.send(flow.Finished())
    ana.tap("All, each on its date")
    steps = ana.pending("next_step") + ana.pending("todo")
    assert (
        ana.said() == f"⏰ {len(steps)} reminders set. Use /reminders to see, move or cancel them."
    )
    assert steps
    assert all(r.due_at.astimezone(PARIS).hour == 9 and r.due_at > NOW for r in steps)


def test_one_by_one_with_a_typed_date_and_its_errors():
    ana = FlowChat("fr")
    ana.send(flow.Finished())
    ana.tap("Choisir un par un")
    assert "Date suggérée" in ana.said()
    ana.tap("+1 semaine")
    assert ana.replies[0] == "⏰ Rappel programmé le jeu. 3 décembre 2026 à 09:00."
    assert "Date suggérée" in ana.replies[1]  # the following step
    ana.tap("Autre date…")
    assert ana.said() == "Quelle date ? Par exemple 15/03/2027 ou « dans 3 semaines »."
    assert ana.awaiting is not None
    ana.type("31/02/2027")
    assert "pas reconnu de date" in ana.said()
    ana.type("01/01/2020")
    assert "déjà passée" in ana.said()
    ana.type("dans 2 semaines")
    assert ana.replies[0] == "⏰ Rappel programmé le jeu. 10 décembre 2026 à 09:00."
    assert ana.awaiting is None
    assert ana.local_days("next_step", "todo") == [dt.date(2026, 12, 3), dt.date(2026, 12, 10)]
    ana.tap("Non merci")
    assert len(ana.pending("next_step") + ana.pending("todo")) == 2


def test_no_thanks_to_everything():
    ana = FlowChat("en")
    ana.send(flow.Finished())
    ana.tap("No thanks")
    assert ana.said() == "Noted. /reminders shows your reminders."
    assert [r.kind for r in ana.pending()] == ["review"]


def test_preparation_calendar():
    ana = FlowChat("fr")
    ana.send(flow.Finished())
    ana.tap("Oui, programmer")
    assert ana.said() == "📅 9 rappels de préparation programmés."
    kinds = [r.kind for r in ana.pending()]
    assert (kinds.count("prep_eve"), kinds.count("checkin"), kinds.count("go_no_go")) == (4, 4, 1)


def test_a_not_yet_answer_offers_one_reminder_without_chaining():
    ana = FlowChat("en")
    ana.answers["intent_declaration"] = "notyet"
    ana.send(flow.NotYet("intent_declaration"))
    assert ana.said().startswith("⏰ Noted as “not yet”. Would you like a reminder")
    ana.tap("+1 month")
    assert ana.said() == "⏰ Reminder set for Sat, December 26, 2026 at 09:00."  # and nothing more
    assert [r.ref for r in ana.pending("next_step")] == ["draft_intent_declaration"]


# One reminder ------------------------------------------------------------------------------------
def test_snooze_stop_and_a_tap_on_a_closed_reminder():
    ana = FlowChat("en")
    ana.send(flow.Finished())
    ana.tap("All, each on its date")
    first = ana.pending("next_step")[0]
    ana.send(flow.ReminderAction(first.id, "d1"))
    assert ana.said() == "⏰ Postponed to Fri, November 27, 2026 at 09:00."
    ana.send(flow.ReminderAction(first.id, "stop"))
    assert ana.said() == "🔕 This reminder is off."
    assert first.id not in {r.id for r in ana.pending()}
    ana.send(flow.ReminderAction(first.id, "w1"))
    assert ana.said().startswith("This reminder is already closed")
    assert ana.writes == []
    ana.send(flow.ReminderAction(999, "done"))
    assert ana.said() == "This reminder no longer exists."


def test_move_to_a_typed_date_from_the_list():
    ana = FlowChat("fr")
    ana.send(flow.Finished())
    ana.tap("Tous à leur date")
    ana.send(flow.ListReminders())
    listing = ana.said()
    assert listing.startswith("⏰ Vos rappels à venir (heure de Europe/Paris) :")
    assert "1. " in listing
    assert "à 09:00" in listing
    ana.tap("1. 📅 Déplacer")
    assert ana.said().startswith("Quelle date ?")
    ana.tap("Autre date…")
    ana.type("le 1er mars 2027")
    assert ana.said() == "📅 Déplacé au lun. 1 mars 2027 à 09:00."
    assert dt.date(2027, 3, 1) in ana.local_days("next_step", "todo", "review")


def test_a_review_answered_schedules_the_next_one():
    ana = FlowChat("fr")
    ana.send(flow.Finished())
    review = ana.pending("review")[0]
    view = flow.reminder_view(review, ENGINE.dialogue, ENGINE.texts("fr"), ana.answers)
    assert view is not None
    assert view.question.startswith("L’alliance a-t-elle évolué")
    ana.buttons.update({b.label: b.event for row in view.rows for b in row})
    ana.tap("Oui")
    assert ana.replies[0] == "✅ Oui"
    assert ana.replies[1].startswith("Le partage vous paraît-il toujours équitable")
    ana.tap("Non")
    ana.tap("4")
    assert ana.replies[-1] == "Merci. Prochaine revue programmée ; vous la verrez dans /reminders."
    assert ana.answers["review.review-1.staff_mobilised"] == 4
    assert [r.ref for r in ana.pending("review")] == ["review-2"]
    ana.send(flow.FollowupAnswer(review.id, "evolving", "yes"))  # an old button
    assert ana.said().startswith("Ce rappel est déjà clos")


def test_a_review_marked_done_announces_the_next_one_in_english():
    ana = FlowChat("en")  # reviews every month (the first choice), from the day of the last one
    ana.send(flow.Finished())
    review = ana.pending("review")[0]
    ana.send(flow.ReminderAction(review.id, "done"))
    assert ana.replies == [
        "✅ Got it, this reminder is done.",
        "⏰ Reminder set for Sat, December 26, 2026 at 09:00.",
    ]


def test_a_follow_up_answer_to_another_question_is_stale():
    ana = FlowChat("en")
    ana.send(flow.Finished())
    review = ana.pending("review")[0]
    ana.send(flow.FollowupAnswer(review.id, "staff_mobilised", "5"))
    assert ana.writes == []
    assert ana.said() == ENGINE.texts("en").ui("errors.stale")


# Time zone ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("lang", "current", "unknown", "tokyo"),
    [
        (
            "fr",
            "Votre fuseau horaire : Europe/Paris (il est 15:00)",
            "ne connais pas",
            "Asia/Tokyo",
        ),
        ("en", "Your time zone: Europe/Paris (it's 15:00 there)", "don't know", "Asia/Tokyo"),
    ],
)
def test_time_zone_typed_after_asking(lang, current, unknown, tokyo):
    ana = FlowChat(lang)
    ana.send(flow.AskTimezone())
    assert ana.said().startswith(current)
    ana.type("Atlantis")
    assert unknown in ana.said()
    assert ana.awaiting == Awaiting("timezone")
    ana.type("Tokyo")
    assert tokyo in ana.said()
    assert ana.tz == "Asia/Tokyo"
    assert ana.awaiting is None


def test_time_zone_by_button_then_reminders_in_that_zone():
    ana = FlowChat("en")
    ana.send(flow.AskTimezone())
    ana.tap("Toronto")
    assert ana.said() == (
        "Done: time zone America/Toronto. Your reminders will arrive at around 9:00 local time."
    )
    ana.send(flow.Finished())
    review = ana.pending("review")[0]
    assert review.due_at.astimezone(ZoneInfo("America/Toronto")).hour == 9


# The waiting state -------------------------------------------------------------------------------
def test_anything_but_a_typed_line_ends_the_wait():
    ana = FlowChat("fr")
    ana.send(flow.Finished())
    ana.tap("Choisir un par un")
    ana.tap("Autre date…")
    assert ana.awaiting is not None
    ana.send(flow.ListReminders())
    assert ana.awaiting is None


def test_the_waiting_state_as_stored():
    waiting = Awaiting("move", "42")
    assert Awaiting.load(waiting.dump()) == waiting
    assert Awaiting.load(None) is None
    assert Awaiting.load({"what": "explode", "ref": "1"}) is None
    assert Awaiting.load({"what": "step", "ref": 3}) is None
    assert Awaiting.load("step") is None


def test_the_flow_needs_neither_telegram_nor_a_database():
    code = """
import sys
import bot.reminders.flow
loaded = {m.split(".")[0] for m in sys.modules} | set(sys.modules)
banned = ("telegram", "sqlite3", "psycopg", "httpx", "bot.storage.sqlite", "bot.storage.postgres")
print(",".join(sorted(m for m in banned if m in loaded)))
"""
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == ""
