"""How a simulated manager answers the real checklist, and the walk that policy produces.

One deterministic policy, so every manager (on every bot) sends the same number of updates of
the same kinds: buttons where the question has buttons, typed text where it asks for text. The
policy picks the answers that open every conditional question (a competitor as partner, a
strategic alliance, a joint venture), so the walk covers the whole checklist.

``plan()`` runs that policy through the real dialogue core (in memory, no Telegram) once, and
returns the questions in the order the bot asks them: the driver uses it to size the load and
to build the ConversationHandler baseline with the same questions of the same kinds.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from bot.dialogue.engine import CONFIRM
from bot.dialogue.model import DONE, Dialogue, Question

#: Choices that open the conditional questions (see dialogues/checklist.yaml `when:`).
PREFERRED_CHOICES = {
    "partner_kind": "competitor",
    "legal_form": "joint_venture",
    "duration": "long",
}
TYPED = {
    "company": "Dupont SA",
    "partner": "Martin & Fils",
}
DATE_ANSWER = "15/03/2027"
NUMBER_ANSWER = "4"
SCALE_ANSWER = "4"


def typed_answer(question: Question) -> str:
    """What a manager types for a text, date or number question."""
    if question.type == "date":
        return DATE_ANSWER
    if question.type == "number":
        return NUMBER_ANSWER
    # User text with HTML-special characters: the bot must escape it.
    return TYPED.get(question.id, f"Réponse « {question.id} » <ok> & co ✅")


def button_value(question: Question, ticked: bool) -> str:
    """The answer key of the button a manager taps (multi: first option, then confirm)."""
    if question.type == "multi":
        return CONFIRM if ticked else question.options[0]
    if question.type == "scale":
        return SCALE_ANSWER
    if question.type == "yesno":
        return "yes"
    return PREFERRED_CHOICES.get(question.id, question.options[0])


def is_typed(question: Question) -> bool:
    return question.type in ("text", "date", "number")


@dataclass(frozen=True)
class PlannedQuestion:
    """One question of the walk: its id, kind and how many buttons its answers use."""

    id: str
    type: str
    options: int  # answer buttons (0 for typed questions)

    @property
    def updates(self) -> int:
        """Updates a manager sends to answer it (a multiple choice: a tick, then confirm)."""
        return 2 if self.type == "multi" else 1

    @property
    def code(self) -> str:
        """The compact form the ConversationHandler baseline reads (see baselines/checklist)."""
        letter = {"text": "t", "date": "d", "number": "n", "choice": "c", "yesno": "y"}.get(
            self.type, self.type[0]
        )
        return f"{letter}{self.options}" if self.options else letter


@lru_cache(maxsize=1)
def real_dialogue() -> Dialogue:
    from bot.dialogue.loader import DEFAULT_DIR, load_dialogue

    return load_dialogue(DEFAULT_DIR)


@dataclass(frozen=True)
class Snapshot:
    """A conversation of the walk before question ``index`` (``index == len(plan())``: done)."""

    index: int
    state: dict[str, Any]  # State.dump(), as storage keeps it
    answers: tuple[tuple[str, Any], ...]  # current answers, in the order given


@lru_cache(maxsize=1)
def walk() -> tuple[tuple[PlannedQuestion, ...], tuple[Snapshot, ...]]:
    """Run the policy through the real dialogue core (in memory, no Telegram, no storage):
    the questions asked in order, and the conversation before each of them and at the end."""
    import datetime as dt

    from bot.dialogue.engine import Engine, Pick, State, Text

    dialogue = real_dialogue()
    engine = Engine(dialogue)
    state: State = engine.new_state()
    answers: dict[str, Any] = {}
    today = dt.date(2026, 11, 26)
    asked: list[PlannedQuestion] = []
    snapshots: list[Snapshot] = []
    for _ in range(200):
        snapshots.append(Snapshot(len(asked), state.dump(), tuple(answers.items())))
        if state.at == DONE:
            return tuple(asked), tuple(snapshots)
        question = dialogue.questions[state.at]
        buttons = 0 if is_typed(question) else len(question.choices)
        asked.append(PlannedQuestion(question.id, question.type, buttons))
        if is_typed(question):
            inputs: list[Text | Pick] = [Text(typed_answer(question))]
        elif question.type == "multi":
            inputs = [Pick(question.id, button_value(question, False))]
            inputs.append(Pick(question.id, button_value(question, True)))
        else:
            inputs = [Pick(question.id, button_value(question, False))]
        for event in inputs:
            step = engine.handle(state, answers, event, "fr", today)
            for qid, value in step.writes:
                answers.pop(qid, None)
                if value is not None:
                    answers[qid] = value
            state = step.state
    raise RuntimeError("the policy never finishes the checklist")


def plan() -> tuple[PlannedQuestion, ...]:
    """The questions the bot asks a manager following the policy, in order."""
    return walk()[0]


def updates_per_manager() -> tuple[int, int]:
    """(updates before the last question is answered, /start included; updates that finish)."""
    questions = plan()
    return 1 + sum(q.updates for q in questions[:-1]), questions[-1].updates
