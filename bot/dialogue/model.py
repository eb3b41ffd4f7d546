"""The dialogue as loaded from YAML: plain, immutable data."""

from __future__ import annotations

import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from bot.dialogue import cldr
from bot.dialogue.conditions import Condition, always

QUESTION_TYPES = ("text", "choice", "multi", "scale", "yesno", "date", "number")
YESNO_OPTIONS = ("yes", "no", "notyet")
LANGUAGES = ("fr", "en")
DONE = "done"  # the state after the last question
# How much a red flag weighs, most severe first; a next step takes the severity of the worst
# fired flag it resolves.
SEVERITIES = ("critical", "major", "minor")
ALLIANCE_TYPES = ("strategic", "tactical")
# Dates of the preparation plan that next steps may be placed against (`before:` / `after:` /
# `on:`), in their own order: the next working session, the last one, the go/no-go decision.
MILESTONES = ("next_session", "last_session", "decision")


@dataclass(frozen=True)
class Question:
    id: str
    type: str
    stage: str
    seed: tuple[str, ...]
    options: tuple[str, ...] = ()
    exclusive: tuple[str, ...] = ()  # multi: options that cannot be ticked with others
    max_length: int = 1000
    minimum: int | None = None
    maximum: int | None = None
    optional: bool = False
    notyet: bool = False
    todo_days: int = 14
    when: Condition = always
    conditional: bool = False
    depends_on: frozenset[str] = frozenset()  # the question ids its `when` tests
    weight: float = 0.0
    score: Any = None  # the raw `score:` of the YAML, interpreted by diagnosis.score_answer
    shared: bool = False  # asked of both partners and compared (bot/dialogue/divergence.py)

    @property
    def choices(self) -> tuple[str, ...]:
        """The answer keys a button may carry (options, or yes/no/notyet, or the scale)."""
        if self.type == "yesno":
            return YESNO_OPTIONS
        if self.type == "scale":
            low, high = self.minimum or 1, self.maximum or 5
            return tuple(str(n) for n in range(low, high + 1))
        return self.options


@dataclass(frozen=True)
class Stage:
    id: str
    seed: tuple[str, ...]
    questions: tuple[Question, ...]


@dataclass(frozen=True)
class Rule:
    """A red flag, a next step or an alliance-type criterion: an id and when it applies."""

    id: str
    when: Condition
    seed: tuple[str, ...] = ()
    days: int = 0
    questions: frozenset[str] = frozenset()  # the question ids its condition tests
    severity: str = "minor"  # red flags; next steps: their own, raised by what they resolve
    raise_when: Condition | None = None  # red flags: one level more severe when this holds
    alliance: str | None = None  # applies only to this alliance type ("strategic"/"tactical")
    resolves: tuple[str, ...] = ()  # next steps: the red flags they answer
    after: tuple[str, ...] = ()  # next steps: due after these steps or milestones
    before: tuple[str, ...] = ()  # next steps: due before these steps or milestones
    on: str | None = None  # next steps: due on this milestone's date when the plan has it
    stage: str | None = None  # next steps: the stage they belong to (grouping of "then")
    quote: str | None = None  # next steps: a text question whose answer the step quotes


@dataclass(frozen=True)
class VerdictLevel:
    """One verdict: it holds when one of `flags` fired, or a severity count reaches its
    minimum in `counts`, or the overall readiness is below `below`. The last level holds always."""

    id: str
    flags: tuple[str, ...] = ()
    counts: Mapping[str, int] = field(default_factory=dict)
    below: int | None = None
    seed: tuple[str, ...] = ()

    @property
    def unconditional(self) -> bool:
        return not self.flags and not self.counts and self.below is None


@dataclass(frozen=True)
class Verdicts:
    levels: tuple[VerdictLevel, ...] = ()
    decision_step: str | None = None  # the next step whose date the verdict names


@dataclass(frozen=True)
class AllianceType:
    threshold: int
    criteria: tuple[Rule, ...]


class Texts:
    """One language's strings: the checklist's (fr.yaml) and the interface's (ui.fr.yaml)."""

    def __init__(self, lang: str, data: Mapping[str, Any]) -> None:
        self.lang = lang
        self._data = data

    def get(self, path: str, /, **params: Any) -> str:
        """The string at a dotted path, formatted with params. A missing key is a bug caught by
        `validate`, so it raises KeyError rather than showing a placeholder to a user.

        A text with a count holds one form per CLDR plural category (`one`, `other`) under its
        key: given `count`, the form that count takes in this language is used (French "0
        rappel", English "0 reminders"), `other` when the language has no text for the category
        (French "many", for millions, reads like "other")."""
        node: Any = self._data
        for part in path.split("."):
            node = node[part]
        if _is_plural(node) and "count" in params:
            category = cldr.plural_category(self.lang, int(params["count"]))
            node = node.get(category, node["other"])
        if not isinstance(node, str):
            raise KeyError(path)
        return node.format(**params) if params else node

    def has(self, path: str) -> bool:
        """Whether `path` names a text (a plain one, or one with plural forms)."""
        node: Any = self._data
        for part in path.split("."):
            if not isinstance(node, Mapping) or part not in node:
                return False
            node = node[part]
        return isinstance(node, str) or _is_plural(node)

    def block(self, path: str) -> Mapping[str, Any]:
        """The block of texts at a dotted path (empty when there is none)."""
        node: Any = self._data
        for part in path.split("."):
            if not isinstance(node, Mapping) or part not in node:
                return {}
            node = node[part]
        return node if isinstance(node, Mapping) else {}

    def overlay(self, overrides: Mapping[str, Any]) -> Texts:
        """These texts with some replaced: `overrides` is a tree of keys like this one's
        (`{"questions": {"trust": {"help": "..."}}}`); a key it lacks keeps its text here."""
        return Texts(self.lang, _merged(self._data, overrides))

    def ui(self, key: str, /, **params: Any) -> str:
        return self.get("ui." + key, **params)

    def plural(self, key: str, /, count: int, **params: Any) -> str:
        """The interface text `key` in the form `count` takes: `ui(key, count=count)`."""
        return self.ui(key, count=count, **params)

    def question(self, question_id: str, part: str = "text") -> str:
        return self.get(f"questions.{question_id}.{part}")

    def option(self, question: Question, key: str) -> str:
        """The label of one answer key of a question, in this language. "Not yet" may have a
        wording of its own for a question (`questions.<id>.notyet`: "Not clear yet")."""
        if key == "notyet" and self.has(f"questions.{question.id}.notyet"):
            return self.get(f"questions.{question.id}.notyet")
        if key == "notyet" and question.type == "scale":  # "how far...?": not rated yet
            return self.ui("answers.notyet_scale")
        if question.type == "yesno" or key == "notyet":
            return self.ui(f"answers.{key}")
        if question.type == "scale":
            return key
        return self.get(f"questions.{question.id}.options.{key}")


def _merged(base: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in overrides.items():
        below = merged.get(key)
        if isinstance(value, Mapping) and isinstance(below, Mapping) and not _is_plural(value):
            merged[key] = _merged(below, value)
        else:
            merged[key] = value
    return merged


def _is_plural(node: Any) -> bool:
    """A text with plural forms: a block of CLDR categories, `other` among them."""
    return (
        isinstance(node, Mapping)
        and isinstance(node.get("other"), str)
        and set(node) <= {"zero", "one", "two", "few", "many", "other"}
    )


def placeholders(text: str) -> set[str]:
    """The {names} a format string uses."""
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


@dataclass(frozen=True)
class SeedPassage:
    label: str
    section: str
    summary: str


@dataclass(frozen=True)
class Dialogue:
    id: str
    stages: tuple[Stage, ...]
    alliance_type: AllianceType
    red_flags: tuple[Rule, ...]
    next_steps: tuple[Rule, ...]
    texts: Mapping[str, Texts]
    seed: tuple[SeedPassage, ...] = ()
    questions: Mapping[str, Question] = field(default_factory=dict)  # in walk order
    # Short questionnaires sent with some reminders (followups.yaml): id -> its questions.
    followups: Mapping[str, tuple[Question, ...]] = field(default_factory=dict)
    verdicts: Verdicts = field(default_factory=Verdicts)

    @property
    def order(self) -> tuple[str, ...]:
        return tuple(self.questions)

    def stage_index(self, stage_id: str) -> int:
        return next(i for i, stage in enumerate(self.stages) if stage.id == stage_id)
