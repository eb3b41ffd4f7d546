"""The checklist walk as a `transitions` state machine, built once per dialogue.

States are the question ids plus DONE. The single trigger `advance` leaves a question for the first
later question whose `when` holds (transitions tries the candidates in order and takes the first
whose conditions pass), or for DONE. Building a Machine costs about a millisecond with
auto_transitions off, so it is built at start-up; each conversation's state is put on a throwaway
model, advanced, and read back (see docs/architecture.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from transitions import EventData, Machine

from bot.dialogue.model import DONE, Dialogue, Question


class _Walk:
    """The model transitions moves: one conversation's answers and position."""

    state: str

    def __init__(self, answers: Mapping[str, Any]) -> None:
        self.answers = answers


def _holds(question: Question) -> Any:
    def condition(event: EventData) -> bool:
        model: _Walk = event.model  # type: ignore[assignment]
        return question.when(model.answers)

    return condition


class Walker:
    """Answers "where next?" for any state and set of answers, from one shared machine."""

    def __init__(self, dialogue: Dialogue) -> None:
        order = list(dialogue.questions.values())
        self.first = order[0].id
        transitions: list[dict[str, Any]] = []
        for index, question in enumerate(order):
            for candidate in order[index + 1 :]:
                move: dict[str, Any] = {
                    "trigger": "advance",
                    "source": question.id,
                    "dest": candidate.id,
                }
                if candidate.conditional:
                    move["conditions"] = [_holds(candidate)]
                transitions.append(move)
                if not candidate.conditional:
                    break
            else:
                transitions.append({"trigger": "advance", "source": question.id, "dest": DONE})
        self.machine = Machine(
            model=None,
            states=[q.id for q in order] + [DONE],
            transitions=transitions,
            initial=self.first,
            auto_transitions=False,
            send_event=True,
        )
        self._advance = self.machine.events["advance"]

    def next_after(self, state: str, answers: Mapping[str, Any]) -> str:
        """The state that follows `state` given these answers."""
        if state == DONE:
            return DONE
        walk = _Walk(answers)
        self.machine.add_model(walk, initial=state)
        try:
            self._advance.trigger(walk)
            return walk.state
        finally:
            self.machine.remove_model(walk)

    def path(self, answers: Mapping[str, Any]) -> list[str]:
        """Every question the walk visits with these answers, in order (DONE excluded)."""
        walk = _Walk(answers)
        self.machine.add_model(walk, initial=self.first)
        try:
            visited = [self.first]
            while self._advance.trigger(walk) and walk.state != DONE:
                visited.append(walk.state)
            return visited
        finally:
            self.machine.remove_model(walk)
