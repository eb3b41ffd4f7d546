"""The invited partner's walk: the shared questions only, in words addressed to a partner.

Some of the method's key points are two-sided (values, trust, the five shares, the rules of the
game...): the questions marked `shared: true` in checklist.yaml. The manager's partner, once
invited, answers those and nothing else, and `bot/dialogue/divergence.py` compares the two
sides. This module builds the partner's walk as a `Dialogue` of its own, so the ordinary
`Engine` walks it unchanged:

* only the shared questions, in the checklist's order, grouped in their stages;
* a shared question whose `when` tests questions the partner is not asked (the alliance type:
  importance, involvement, duration) is asked or not as the *manager's* answers decide, so both
  sides answer the questions of the same branch; a `when` that tests only shared questions
  stays a condition on the partner's own answers;
* texts from the `partner:` block of fr.yaml / en.yaml replace the checklist's where a stage
  introduction or a help text speaks to the manager, and `ui.partner.walk` replaces the
  engine's welcome and end-of-walk messages;
* its own id (`alliance_partner`), so a stored conversation says whose walk it is;
* no diagnosis rules: the partner's summary is their own answers; the verdict stays the
  manager's, and the comparison is the divergence report.

Pure: no storage, no clock.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from bot.dialogue.conditions import always
from bot.dialogue.divergence import DIMENSIONS
from bot.dialogue.engine import Engine
from bot.dialogue.model import AllianceType, Dialogue, Question, Stage, Texts, Verdicts

# Engine texts the partner's walk words differently: ui key -> key under ui.partner.walk.
WALK_TEXTS = ("welcome", "welcome_back", "done", "done_already")


def shared_questions(dialogue: Dialogue) -> tuple[str, ...]:
    """The ids of the questions both partners answer (`shared: true`), in walk order."""
    return tuple(q.id for q in dialogue.questions.values() if q.shared)


def partner_dialogue_id(dialogue: Dialogue) -> str:
    """The id a partner's walk is stored under ("alliance_partner"), apart from the manager's."""
    return f"{dialogue.id}_partner"


def partner_questions(
    dialogue: Dialogue, manager_answers: Mapping[str, Any] | None = None
) -> tuple[str, ...]:
    """The shared questions the partner is asked, given the manager's answers.

    A shared question whose condition tests a question the partner does not answer is asked
    when that condition holds on `manager_answers` (all of them when None: the manager's branch
    is not known yet)."""
    shared = set(shared_questions(dialogue))
    asked = []
    for question in dialogue.questions.values():
        if not question.shared:
            continue
        decided = _decided_by_manager(question, shared) and manager_answers is not None
        if decided and not question.when(manager_answers or {}):
            continue
        asked.append(question.id)
    return tuple(asked)


def partner_dialogue(
    dialogue: Dialogue, manager_answers: Mapping[str, Any] | None = None
) -> Dialogue:
    """The partner's walk as a `Dialogue` an `Engine` walks (see the module docstring).

    Raises:
        ValueError: the dialogue has no shared question.
    """
    asked = partner_questions(dialogue, manager_answers)
    if not asked:
        raise ValueError(f"dialogue {dialogue.id!r} has no shared question to ask a partner")
    return _build(dialogue, asked)


class PartnerWalks:
    """Engines for the partner's walks of one dialogue, built once per branch.

    The branch (which shared questions the manager's answers open) takes few values, so the
    engines are cached on it: `engine(manager_answers)` costs a dictionary lookup after the
    first call. Thread-safe.
    """

    def __init__(self, dialogue: Dialogue) -> None:
        self.dialogue = dialogue
        self._engines: dict[tuple[str, ...], Engine] = {}
        self._lock = threading.Lock()

    def engine(self, manager_answers: Mapping[str, Any] | None = None) -> Engine:
        """The engine that walks the partner through the questions these answers open."""
        asked = partner_questions(self.dialogue, manager_answers)
        with self._lock:
            engine = self._engines.get(asked)
            if engine is None:
                engine = Engine(partner_dialogue(self.dialogue, manager_answers))
                self._engines[asked] = engine
            return engine


def _decided_by_manager(question: Question, shared: set[str]) -> bool:
    return question.conditional and not question.depends_on <= shared


def _build(dialogue: Dialogue, asked: tuple[str, ...]) -> Dialogue:
    shared = set(shared_questions(dialogue))
    kept = set(asked)
    stages = []
    for stage in dialogue.stages:
        questions = tuple(_for_partner(q, shared) for q in stage.questions if q.id in kept)
        if questions:
            stages.append(Stage(stage.id, stage.seed, questions))
    return Dialogue(
        id=partner_dialogue_id(dialogue),
        stages=tuple(stages),
        alliance_type=AllianceType(dialogue.alliance_type.threshold, ()),
        red_flags=(),
        next_steps=(),
        texts={lang: _partner_texts(texts) for lang, texts in dialogue.texts.items()},
        seed=dialogue.seed,
        questions={q.id: q for stage in stages for q in stage.questions},
        verdicts=Verdicts(),
    )


def _for_partner(question: Question, shared: set[str]) -> Question:
    """The question as the partner's walk asks it: a condition the manager's answers decided
    is dropped (the question is asked)."""
    if _decided_by_manager(question, shared):
        return replace(question, when=always, conditional=False, depends_on=frozenset())
    return question


def _partner_texts(texts: Texts) -> Texts:
    """The checklist's texts with the `partner:` block's and `ui.partner.walk`'s on top."""
    overrides: dict[str, Any] = {}
    for section in ("stages", "questions"):
        overrides[section] = texts.block(f"partner.{section}")
    overrides["ui"] = {key: texts.ui(f"partner.walk.{key}") for key in WALK_TEXTS}
    return texts.overlay(overrides)


def partner_intro(dialogue: Dialogue, lang: str, *, inviter: str, project: str) -> str:
    """What the invited partner reads first: who invites them, to which project."""
    return _texts(dialogue, lang).ui("partner.intro", inviter=inviter, project=project)


def partner_consent(dialogue: Dialogue, lang: str) -> str:
    """What will be shared and what will not, naming the dimensions compared; shown with the
    `ui.partner.accept` / `ui.partner.decline` buttons."""
    texts = _texts(dialogue, lang)
    labels = [
        texts.ui(f"divergence.dimensions.{dimension.id}.label")
        for dimension in DIMENSIONS
        if all(qid in dialogue.questions for qid in dimension.questions)
    ]
    return texts.ui("partner.consent", dimensions=", ".join(labels))


def invitation_text(
    dialogue: Dialogue, lang: str, *, inviter: str, project: str, link: str, days: int
) -> str:
    """The short text the manager forwards with the invitation link."""
    return _texts(dialogue, lang).ui(
        "partner.invite", inviter=inviter, project=project, link=link, days=days
    )


def _texts(dialogue: Dialogue, lang: str) -> Texts:
    return dialogue.texts.get(lang) or dialogue.texts["fr"]
