"""Bring a manager to the last question of the real checklist without going through Telegram."""

from __future__ import annotations

from typing import Any

from bot.conversations import Conversations
from bot.dialogue.engine import CONFIRM, Engine, Pick, Text
from bot.dialogue.loader import DEFAULT_DIR, load_dialogue
from bot.storage.factory import open_storage

ANSWERS: dict[str, Any] = {
    "company": "Dupont SA",
    "partner": "Martin & Fils",
    "partner_kind": "supplier",
    "prep_first_session": "2027-01-11",
    "prep_sessions": "4",
    "prep_months": "3",
}


def nearly_done(
    database_url: str, user_id: int, lang: str = "fr", until: str | None = None
) -> str:
    """Answer every question but the last (or up to question `until`); return where it stops."""
    engine = Engine(load_dialogue(DEFAULT_DIR))
    storage = open_storage(database_url)
    storage.migrate()
    try:
        conversations = Conversations(
            storage, engine, default_lang=lang, default_tz="Europe/Paris"
        )
        session = conversations.open(f"tg:{user_id}", lang=lang)
        path = engine.walker.path(session.answers)
        for _ in range(80):
            qid = session.state.at
            question = engine.dialogue.questions[qid]
            following = engine.walker.next_after(qid, {**session.answers, qid: "x"})
            path = engine.walker.path(session.answers)
            if qid == until or (following == "done" and qid == path[-1] and qid not in ANSWERS):
                return qid
            if qid in ANSWERS:
                conversations.handle(session, Text(ANSWERS[qid]))
            elif question.type in ("text",):
                conversations.handle(session, Text(f"Réponse {qid}"))
            elif question.type == "multi":
                conversations.handle(session, Pick(qid, question.options[0]))
                conversations.handle(session, Pick(qid, CONFIRM))
            elif question.type == "scale":
                conversations.handle(session, Pick(qid, "4"))
            elif question.type == "yesno":
                conversations.handle(session, Pick(qid, "yes"))
            elif question.type == "date":
                conversations.handle(session, Text("2027-03-15"))
            elif question.type == "number":
                conversations.handle(session, Text("4"))
            else:
                conversations.handle(session, Pick(qid, question.options[0]))
        raise AssertionError("the checklist did not end")
    finally:
        storage.close()
