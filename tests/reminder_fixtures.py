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


async def nearly_done(
    database_url: str, user_id: int, lang: str = "fr", until: str | None = None
) -> str:
    """Answer every question but the last (or up to question `until`); return where it stops."""
    engine = Engine(load_dialogue(DEFAULT_DIR))
    storage = open_storage(database_url)
    await storage.migrate()
    try:
        conversations = Conversations(
            storage, engine, default_lang=lang, default_tz="Europe/Paris"
        )
        session = await conversations.open(f"tg:{user_id}", lang=lang)
        path = engine.walker.path(session.answers)
        for _ in range(80):
            qid = session.state.at
            question = engine.dialogue.questions[qid]
            following = engine.walker.next_after(qid, {**session.answers, qid: "x"})
            path = engine.walker.path(session.answers)
            if qid == until or (following == "done" and qid == path[-1] and qid not in ANSWERS):
                return qid
            if qid in ANSWERS:
                await conversations.handle(session, Text(ANSWERS[qid]))
            elif question.type in ("text",):
                await conversations.handle(session, Text(f"Réponse {qid}"))
            elif question.type == "multi":
                await conversations.handle(session, Pick(qid, question.options[0]))
                await conversations.handle(session, Pick(qid, CONFIRM))
            elif question.type == "scale":
                await conversations.handle(session, Pick(qid, "4"))
            elif question.type == "yesno":
                await conversations.handle(session, Pick(qid, "yes"))
            elif question.type == "date":
                await conversations.handle(session, Text("2027-03-15"))
            elif question.type == "number":
                await conversations.handle(session, Text("4"))
            else:
                await conversations.handle(session, Pick(qid, question.options[0]))
        raise AssertionError("the checklist did not end")
    finally:
        await storage.close()
