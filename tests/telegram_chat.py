"""Helpers to walk the real checklist through the emulator as a manager would."""

from __future__ import annotations

from bot.dialogue.loader import DEFAULT_DIR, load_dialogue
from bot.dialogue.model import Dialogue

_DIALOGUE: Dialogue | None = None


def real_dialogue() -> Dialogue:
    global _DIALOGUE
    if _DIALOGUE is None:
        _DIALOGUE = load_dialogue(DEFAULT_DIR)
    return _DIALOGUE


def current_question(dialogue: Dialogue, lang: str, text: str) -> str:
    """The id of the question a message asks (the longest question text it contains)."""
    texts = dialogue.texts[lang]
    found = [qid for qid in dialogue.questions if texts.question(qid) in text]
    assert found, f"no question in: {text[:200]}"
    return max(found, key=lambda qid: len(texts.question(qid)))


async def answer_current(user, dialogue: Dialogue, lang: str, *, long_text: bool = False) -> str:
    """Answer whatever question is shown, the way a person would (buttons or typing)."""
    texts = dialogue.texts[lang]
    qid = current_question(dialogue, lang, user.last_text())
    question = dialogue.questions[qid]
    if question.type == "text":
        base = f"Réponse « {qid} » <ok> & co ✅"
        await user.send((base * 200)[: question.max_length] if long_text else base)
    elif question.type == "choice":
        await user.tap(texts.option(question, question.options[-1]))
    elif question.type == "multi":
        await user.tap(texts.option(question, question.options[0]))
        await user.tap(texts.ui("buttons.confirm"))
    elif question.type == "scale":
        await user.tap("4")
    elif question.type == "yesno":
        await user.tap(texts.ui("answers.yes"))
    elif question.type == "date":
        await user.send("03/15/2027" if lang == "en" else "15/03/2027")
    elif question.type == "number":
        await user.send("4")
    return qid
