"""The data-portability export: everything stored about one user, as JSON.

The shape is described by userdata.schema.json beside this module (JSON Schema 2020-12) and in
docs/exports.md. Times are ISO 8601 in UTC ("2026-11-26T09:30:00.123456Z"); answer values are
exactly as stored (see docs/dialogue-format.md).
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from bot.dialogue.divergence import SHARED, divergence
from bot.dialogue.model import Dialogue
from bot.storage.base import (
    Advisor,
    Answer,
    Conversation,
    GapComment,
    ProjectView,
    Reminder,
    Share,
    User,
)
from bot.storage.database import Storage

FORMAT = "alliance-bot/user-data"
VERSION = 1
SCHEMA_PATH = Path(__file__).with_name("userdata.schema.json")


async def user_data(
    storage: Storage,
    user: User,
    *,
    now: dt.datetime | None = None,
    dialogue: Dialogue | None = None,
) -> dict[str, Any]:
    """Everything stored about `user`: their record, every conversation (the archived ones too)
    with its state, current answers and full answer history, every reminder (pending, sent,
    done, cancelled or failed), and the alliance projects they take part in (as owner or
    invited partner) with their own comments on the gaps and, given the dialogue, the shared
    report on the gaps (the partner-safe view: no side's private rating, no answer of the other
    side), and every project they shared with an advisor (/advisor), withdrawn shares included.

    Left out on purpose: the conversations' version counters, the reminders' delivery
    bookkeeping (attempts, the dispatcher's claim) and the ids of the Telegram updates already
    processed, which say nothing about the user.

    Args:
        storage: an open, migrated storage.
        user: the user, as storage returned them.
        now: the export time (aware; default: the current time).
    """
    moment = now or dt.datetime.now(dt.UTC)
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("now must be aware")
    return {
        "format": FORMAT,
        "version": VERSION,
        "exported_at": _time(moment),
        "user": {
            "id": user.id,
            "key": user.key,
            "lang": user.lang,
            "tz": user.tz,
            "created_at": _time(user.created_at),
            "blocked_at": _time(user.blocked_at),
        },
        "conversations": [
            await _conversation(storage, c) for c in await storage.conversations(user.id)
        ],
        "reminders": [_reminder(r) for r in await storage.user_reminders(user.id)],
        "projects": [
            await _project(storage, user, view, dialogue, moment)
            for view in await storage.user_projects(user.id)
        ],
        "advisor_shares": [
            _advisor_share(share, advisor)
            for share, advisor in await storage.share_history(user.id)
        ],
    }


def to_json(data: dict[str, Any]) -> bytes:
    """UTF-8 JSON, indented, non-ASCII characters kept as they are (readable in any editor)."""
    return (json.dumps(data, ensure_ascii=False, indent=2) + "\n").encode()


async def _project(
    storage: Storage,
    user: User,
    view: ProjectView,
    dialogue: Dialogue | None,
    now: dt.datetime,
) -> dict[str, Any]:
    project = view.project
    comments = [c for c in await storage.gap_comments(project.id) if c.user_id == user.id]
    return {
        "id": project.id,
        "title": project.title,
        "role": view.role,
        "current": view.current,
        "created_at": _time(project.created_at),
        "partner_left_at": _time(project.partner_left_at),
        "comments": [_comment(c) for c in comments],
        "shared_report": await _shared_report(storage, project.id, dialogue, user.lang, now),
    }


async def _shared_report(
    storage: Storage, project_id: int, dialogue: Dialogue | None, lang: str, now: dt.datetime
) -> dict[str, Any] | None:
    """Both sides' ratings as the partner-safe export shows them; None before the partner
    answered (or without the dialogue to compare with)."""
    if dialogue is None:
        return None
    sides = await storage.project_sides(project_id)
    owner = next((s for s in sides if s.member.role == "owner"), None)
    partner = next((s for s in sides if s.member.role == "partner"), None)
    if owner is None or partner is None:
        return None
    compared = divergence(dialogue, owner.answers, partner.answers, lang, now.date())
    shared = compared.view(SHARED)
    return {
        "status": shared.status,
        "gaps": [
            {
                "dimension": gap.dimension,
                "manager": gap.manager,
                "partner": gap.partner,
                "gap": gap.gap,
                "flagged": gap.flagged,
            }
            for gap in shared.gaps
        ],
    }


def _advisor_share(share: Share, advisor: Advisor) -> dict[str, Any]:
    return {
        "project_id": share.project_id,
        "advisor": advisor.name,
        "consented_at": _time(share.consented_at),
        "withdrawn_at": _time(share.withdrawn_at),
    }


def _comment(comment: GapComment) -> dict[str, Any]:
    return {
        "dimension": comment.dimension,
        "body": comment.body,
        "created_at": _time(comment.created_at),
        "updated_at": _time(comment.updated_at),
    }


async def _conversation(storage: Storage, conversation: Conversation) -> dict[str, Any]:
    return {
        "id": conversation.id,
        "project_id": conversation.project_id,
        "dialogue_id": conversation.dialogue_id,
        "active": conversation.active,
        "created_at": _time(conversation.created_at),
        "updated_at": _time(conversation.updated_at),
        "finished_at": _time(conversation.finished_at),
        "state": conversation.state,
        "answers": await storage.current_answers(conversation.id),
        "history": [_answer(a) for a in await storage.answer_history(conversation.id)],
    }


def _answer(answer: Answer) -> dict[str, Any]:
    return {
        "question_id": answer.question_id,
        "value": answer.value,
        "answered_at": _time(answer.answered_at),
        "superseded_at": _time(answer.superseded_at),
    }


def _reminder(reminder: Reminder) -> dict[str, Any]:
    return {
        "id": reminder.id,
        "conversation_id": reminder.conversation_id,
        "project_id": reminder.project_id,
        "kind": reminder.kind,
        "ref": reminder.ref,
        "payload": reminder.payload,
        "due_at": _time(reminder.due_at),
        "status": reminder.status,
        "sent_at": _time(reminder.sent_at),
        "created_at": _time(reminder.created_at),
        "updated_at": _time(reminder.updated_at),
    }


def _time(moment: dt.datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
