"""The checklist walk as a `transitions` state machine, built once per dialogue.

States are the question ids plus DONE. The single trigger `advance` leaves a question for the first
later question whose `when` holds (transitions tries the candidates in order and takes the first
whose conditions pass), or for DONE. Building a Machine costs about a millisecond with
auto_transitions off, so it is built at start-up, with one model registered once; each call loads
a conversation's state and answers onto that model, advances it and reads it back. Paths are
cached on the answers that conditions test (see docs/architecture.md).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from transitions import EventData, Machine

from bot.dialogue.model import DONE, Dialogue, Question

_PATH_CACHE_SIZE = 4096


def _frozen(value: Any) -> Any:
    """A hashable stand-in for an answer (multiple choices are lists)."""
    return tuple(value) if isinstance(value, list) else value


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
        # One model, registered once: add_model costs ~100 µs (it decorates the model for
        # every state), a trigger ~10 µs. Each call loads a conversation onto it under a lock
        # (exports compute summaries in a worker thread).
        self._walk = _Walk({})
        self.machine.add_model(self._walk, initial=self.first)
        self._lock = threading.Lock()
        self._inputs = sorted({qid for q in order for qid in q.depends_on})
        self._paths: dict[tuple[Any, ...], tuple[str, ...]] = {}

    def next_after(self, state: str, answers: Mapping[str, Any]) -> str:
        """The state that follows `state` given these answers."""
        if state == DONE:
            return DONE
        with self._lock:
            walk = self._load(state, answers)
            self._advance.trigger(walk)
            return walk.state

    def path(self, answers: Mapping[str, Any]) -> list[str]:
        """Every question the walk visits with these answers, in order (DONE excluded).

        The path depends only on the answers that conditions test, so it is cached on those:
        users in the same branch share one entry, and the machine runs only on a miss.
        """
        key = tuple(_frozen(answers.get(qid)) for qid in self._inputs)
        cached = self._paths.get(key)
        if cached is None:
            cached = tuple(self._walk_path(answers))
            if len(self._paths) >= _PATH_CACHE_SIZE:
                self._paths.clear()  # many branches: start afresh rather than grow unbounded
            self._paths[key] = cached
        return list(cached)

    def _walk_path(self, answers: Mapping[str, Any]) -> list[str]:
        with self._lock:
            walk = self._load(self.first, answers)
            visited = [self.first]
            while self._advance.trigger(walk) and walk.state != DONE:
                visited.append(walk.state)
            return visited

    def _load(self, state: str, answers: Mapping[str, Any]) -> _Walk:
        self._walk.answers = answers
        self.machine.set_state(state, model=self._walk)
        return self._walk
