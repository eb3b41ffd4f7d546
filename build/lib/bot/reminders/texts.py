"""What a reminder says, as plain text in the user's language (front ends add markup)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from bot.dialogue.model import Dialogue, Texts
from bot.dialogue.summary import format_date
from bot.reminders import Kind
from bot.storage.base import Reminder

FOLLOWUP_KINDS: dict[str, str] = {Kind.CHECKIN: "checkin", Kind.REVIEW: "review"}


def partner_name(answers: Mapping[str, Any], texts: Texts) -> str:
    partner = answers.get("partner")
    if isinstance(partner, str) and partner != "notyet":
        return partner
    return texts.ui("reminders.partner")


def body(
    reminder: Reminder, dialogue: Dialogue, texts: Texts, answers: Mapping[str, Any]
) -> str | None:
    """The reminder's message (for a follow-up, its introduction), or None if it has become
    meaningless (its next step or question no longer exists)."""
    payload = reminder.payload
    kind = reminder.kind
    partner = partner_name(answers, texts)
    if kind in FOLLOWUP_KINDS:
        return texts.get(
            f"followups.{FOLLOWUP_KINDS[kind]}.intro",
            session=payload.get("session", ""),
            partner=partner,
        )
    if kind == Kind.NEXT_STEP:
        key = f"next_steps.{payload.get('step')}"
        if not texts.has(key):
            return None
        return texts.ui("reminders.kinds.next_step", partner=partner, text=texts.get(key))
    if kind == Kind.TODO:
        qid = str(payload.get("question"))
        if qid not in dialogue.questions:
            return None
        label = texts.ui("summary.todo", label=texts.question(qid, "label"))
        return texts.ui("reminders.kinds.todo", text=label)
    if kind in (Kind.PREP_EVE, Kind.GO_NO_GO):
        return texts.ui(
            f"reminders.kinds.{kind}",
            date=_date(payload.get("date"), texts),
            session=payload.get("session", ""),
            partner=partner,
        )
    if kind == Kind.NUDGE:
        return texts.ui("reminders.kinds.nudge")
    return None


def short(reminder: Reminder, dialogue: Dialogue, texts: Texts, answers: Mapping[str, Any]) -> str:
    """One line for a list (/reminders, the exports): the gist of the reminder."""
    text = body(reminder, dialogue, texts, answers) or reminder.kind
    lines = [line.strip() for line in text.split("\n") if line.strip()]
    if reminder.kind in (Kind.NEXT_STEP, Kind.TODO) and len(lines) > 1:
        line = lines[1]
    else:
        line = lines[0] if lines else reminder.kind
    return line.lstrip("⏰📝🔄 ").strip()


def _date(value: Any, texts: Texts) -> str:
    try:
        return format_date(dt.date.fromisoformat(str(value)), texts)
    except ValueError:
        return ""
