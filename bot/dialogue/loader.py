"""Read and check dialogues/*.yaml, and build the immutable `Dialogue`.

Every problem is reported as a DialogueError naming the file, the line when known, and what to fix,
in words an advisor editing the YAML understands: which stage, question or rule, what was found
and what is expected.
"""

from __future__ import annotations

import itertools
import math
import re
import string
from collections.abc import Collection, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from bot.dialogue.conditions import ConditionError, always, compile_condition, questions_in
from bot.dialogue.model import (
    ALLIANCE_TYPES,
    LANGUAGES,
    MILESTONES,
    QUESTION_TYPES,
    SEVERITIES,
    YESNO_OPTIONS,
    AllianceType,
    Dialogue,
    Question,
    Rule,
    SeedPassage,
    Stage,
    Texts,
    VerdictLevel,
    Verdicts,
    placeholders,
)
from bot.dialogue.yamlsource import LineList, line_of, load_yaml
from bot.errors import DialogueError

DEFAULT_DIR = Path(__file__).resolve().parent.parent.parent / "dialogues"
_ID = re.compile(r"^[a-z][a-z0-9_]*$")
_ID_RULE = "lowercase letters, digits and _, starting with a letter"
_TOP_KEYS = ("id", "stages", "alliance_type", "red_flags", "next_steps", "verdicts")
_STAGE_KEYS = ("id", "seed", "questions")
_QUESTION_KEYS = (
    "id",
    "type",
    "seed",
    "options",
    "exclusive",
    "max_length",
    "min",
    "max",
    "optional",
    "notyet",
    "todo_days",
    "when",
    "weight",
    "score",
    "shared",
)
# A shared question is answered by both partners and their answers compared on one scale: text,
# dates and numbers have no such scale.
_SHARED_TYPES = ("scale", "yesno", "choice", "multi")
# The keys that only make sense for some question types.
_TYPED_KEYS = {
    "options": ("choice", "multi"),
    "exclusive": ("multi",),
    "max_length": ("text",),
    "min": ("number", "scale"),
    "max": ("number", "scale"),
}
_RULE_KEYS = {
    "criteria": ("id", "when", "seed"),
    "red_flags": ("id", "when", "seed", "severity", "raise_when", "alliance"),
    "next_steps": (
        "id",
        "when",
        "seed",
        "days",
        "severity",
        "alliance",
        "resolves",
        "after",
        "before",
        "on",
        "stage",
        "quote",
    ),
}
_VERDICT_KEYS = ("id", "seed", "flags", "counts", "below")
_RULE_NAMES = {
    "criteria": "alliance_type criterion",
    "red_flags": "red flag",
    "next_steps": "next step",
}
_SCORE_OPS = ("lt", "le", "gt", "ge", "eq")
# model.Question.choices and diagnosis read a scale's bounds with `or 1`: a scale from 0 would
# lose its 0, so scales start at 1 at least; more than 10 buttons do not fit a chat keyboard.
_SCALE_LOW, _SCALE_HIGH = 1, 10
_CONTENT_KEYS = (
    "language",
    "stages",
    "questions",
    "alliance_type",
    "red_flags",
    "next_steps",
    "verdicts",
    "followups",
    "partner",
)
_PARTNER_PARTS = {"stages": ("title", "intro"), "questions": ("text", "help", "label")}
_FOLLOWUP_TYPES = ("choice", "scale", "yesno")


def load_dialogue(directory: Path | str | None = None) -> Dialogue:
    """Load checklist.yaml, seed.yaml and the texts of every language from `directory`.

    Raises:
        DialogueError: a file is missing or invalid; the message names the file, the line when
            known, and what to fix.
    """
    folder = Path(directory) if directory is not None else DEFAULT_DIR
    if not folder.is_dir():
        raise DialogueError("the dialogues folder does not exist", path=str(folder))
    seed = _load_seed(folder / "seed.yaml")
    labels = {passage.label for passage in seed}
    checklist_path = folder / "checklist.yaml"
    raw = load_yaml(checklist_path)
    dialogue = _Builder(str(checklist_path), labels).build(raw)
    followups = _load_followups(folder / "followups.yaml", labels)
    dialogue = replace(dialogue, followups=followups)
    texts = _load_texts(folder, dialogue)
    return Dialogue(
        id=dialogue.id,
        stages=dialogue.stages,
        alliance_type=dialogue.alliance_type,
        red_flags=dialogue.red_flags,
        next_steps=dialogue.next_steps,
        texts=texts,
        seed=seed,
        questions=dialogue.questions,
        followups=followups,
        verdicts=dialogue.verdicts,
    )


def _load_followups(path: Path, labels: set[str]) -> dict[str, tuple[Question, ...]]:
    """followups.yaml: id -> list of questions (choice, scale or yesno; no conditions)."""
    if not path.exists():
        return {}
    raw = load_yaml(path)
    if not isinstance(raw, Mapping):
        raise DialogueError(
            f"the file must be a block of follow-ups, each a list of questions ({_found(raw)})",
            path=str(path),
        )
    followups: dict[str, tuple[Question, ...]] = {}
    for fid, items in raw.items():
        if not _ID.match(fid) or not isinstance(items, list) or not items:
            raise DialogueError(
                f"follow-up '{fid}' must be a lowercase id with a non-empty list of questions",
                path=str(path),
                line=line_of(raw, fid),
            )
        builder = _Builder(str(path), labels)
        questions = tuple(
            builder.question(item, index, items, f"followup.{fid}")
            for index, item in enumerate(items)
        )
        for question, item in zip(questions, items, strict=True):
            if question.shared:
                raise DialogueError(
                    f"follow-up '{fid}', question '{question.id}': 'shared' belongs to the "
                    "checklist's questions, not to a reminder's",
                    path=str(path),
                    line=line_of(item, "shared"),
                )
            if question.type not in _FOLLOWUP_TYPES or question.conditional:
                raise DialogueError(
                    f"follow-up '{fid}', question '{question.id}': only "
                    f"{', '.join(_FOLLOWUP_TYPES)} questions without 'when' fit a reminder",
                    path=str(path),
                    line=line_of(item),
                )
        followups[fid] = questions
    return followups


def _found(value: Any) -> str:
    """How a wrong value reads in a message: "found 'abc'", "found a list", ..."""
    if value is None:
        return "found nothing"
    if isinstance(value, bool):
        return f"found {str(value).lower()}"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:40].rstrip() + "…"
        return f"found the text '{shown}'"
    if isinstance(value, int | float):
        return f"found {value}"
    if isinstance(value, list):
        return "found a list" if value else "found an empty list"
    return "found a block of keys"


def _hint(word: str, candidates: Collection[str]) -> str:
    import difflib  # only for a dialogue with a mistake

    close = difflib.get_close_matches(word, list(candidates), n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _load_seed(path: Path) -> tuple[SeedPassage, ...]:
    raw = load_yaml(path)
    items = raw.get("passages") if isinstance(raw, Mapping) else raw
    if not isinstance(items, list) or not items:
        raise DialogueError(
            "expected 'passages:', a list of passages, each with a label, a section and a summary",
            path=str(path),
            line=line_of(raw, "passages"),
        )
    passages = []
    first_line: dict[str, int | None] = {}
    for index, item in enumerate(items):
        line = line_of(items, index)
        if not isinstance(item, Mapping):
            raise DialogueError(
                f"passage {index + 1} must be a block with label, section and summary "
                f"({_found(item)})",
                path=str(path),
                line=line,
            )
        for key in ("label", "section", "summary"):
            if not isinstance(item.get(key), str) or not item[key].strip():
                raise DialogueError(
                    f"passage {index + 1} needs a '{key}', as text ({_found(item.get(key))})",
                    path=str(path),
                    line=line_of(item, key),
                )
        label = item["label"]
        if label in first_line:
            raise DialogueError(
                f"the label '{label}' is used by two passages (first on line "
                f"{first_line[label]}); each label must be unique",
                path=str(path),
                line=line_of(item, "label"),
            )
        first_line[label] = line_of(item, "label")
        passages.append(SeedPassage(label, item["section"], item["summary"]))
    return tuple(passages)


class _Builder:
    """Turns the checklist mapping into model objects, checking as it goes."""

    def __init__(self, path: str, seed_labels: set[str]) -> None:
        self.path = path
        self.seed_labels = seed_labels
        self.known: dict[str, tuple[str, ...] | None] = {}  # questions read so far -> options
        self.id_lines: dict[str, int | None] = {}
        self.all_ids: set[str] = set()  # every question id in the file, to explain forward tests
        self.text_ids: set[str] = set()  # the text questions read so far

    def fail(self, message: str, node: Any = None, key: str | int | None = None) -> DialogueError:
        return DialogueError(message, path=self.path, line=line_of(node, key))

    def check_keys(self, node: Mapping[str, Any], allowed: Collection[str], where: str) -> None:
        for key in node:  # in the file's order, so the first wrong key is reported
            if key not in allowed:
                raise self.fail(
                    f"{where}: unknown key '{key}'{_hint(key, allowed)}; the keys allowed here "
                    f"are {', '.join(allowed)}",
                    node,
                    key,
                )

    def build(self, raw: Any) -> Dialogue:
        if not isinstance(raw, Mapping):
            raise self.fail(
                "the file must be a block of keys: id, stages, alliance_type, red_flags, "
                f"next_steps ({_found(raw)})"
            )
        self.check_keys(raw, _TOP_KEYS, "at the top of the file")
        dialogue_id = raw.get("id")
        if not isinstance(dialogue_id, str) or not _ID.match(dialogue_id):
            raise self.fail(
                f"'id' must be a short word in {_ID_RULE}, like alliance ({_found(dialogue_id)})",
                raw,
                "id",
            )
        stages_raw = raw.get("stages")
        if not isinstance(stages_raw, list) or not stages_raw:
            raise self.fail(
                "'stages' must be a list of stages, each starting with '- id:' "
                f"({_found(stages_raw)})",
                raw,
                "stages",
            )
        self.all_ids = {
            q["id"]
            for stage in stages_raw
            if isinstance(stage, Mapping) and isinstance(stage.get("questions"), list)
            for q in stage["questions"]
            if isinstance(q, Mapping) and isinstance(q.get("id"), str)
        }
        stage_lines: dict[str, int | None] = {}
        stages = []
        for index, item in enumerate(stages_raw):
            stage = self.stage(item, index, stages_raw)
            if stage.id in stage_lines:
                raise self.fail(
                    f"stage id '{stage.id}' is used twice (first on line {stage_lines[stage.id]})",
                    item,
                    "id",
                )
            stage_lines[stage.id] = line_of(item, "id")
            stages.append(stage)
        questions = {q.id: q for stage in stages for q in stage.questions}
        red_flags = self.rules(raw.get("red_flags"), "red_flags", raw)
        next_steps = self.rules(raw.get("next_steps"), "next_steps", raw)
        self.check_step_links(raw, red_flags, next_steps, set(stage_lines))
        return Dialogue(
            id=dialogue_id,
            stages=tuple(stages),
            alliance_type=self.alliance_type(raw.get("alliance_type"), raw),
            red_flags=red_flags,
            next_steps=next_steps,
            texts={},
            questions=questions,
            verdicts=self.verdicts(raw, red_flags, next_steps),
        )

    # --- Links between rules: resolves, order constraints, verdicts ---------------------------
    def _items(self, raw: Mapping[str, Any], section: str) -> dict[str, Mapping[str, Any]]:
        items = raw.get(section)
        if not isinstance(items, list):
            return {}
        return {
            item["id"]: item
            for item in items
            if isinstance(item, Mapping) and isinstance(item.get("id"), str)
        }

    def check_step_links(
        self,
        raw: Mapping[str, Any],
        red_flags: tuple[Rule, ...],
        next_steps: tuple[Rule, ...],
        stages: set[str],
    ) -> None:
        """`resolves` names red flags, `after`/`before` name next steps or milestones, `on` a
        milestone, `stage` a stage; and the order constraints leave no cycle."""
        flag_ids = {rule.id for rule in red_flags}
        step_ids = {rule.id for rule in next_steps}
        targets = step_ids | set(MILESTONES)
        nodes = self._items(raw, "next_steps")
        for rule in next_steps:
            node = nodes[rule.id]
            where = f"next step '{rule.id}'"
            for flag in rule.resolves:
                if flag not in flag_ids:
                    raise self.fail(
                        f"{where}: 'resolves' names '{flag}', which is not a red flag"
                        f"{_hint(flag, flag_ids)}",
                        node,
                        "resolves",
                    )
            for key in ("after", "before"):
                for target in getattr(rule, key):
                    if target not in targets:
                        raise self.fail(
                            f"{where}: '{key}' names '{target}', which is neither a next step "
                            f"nor a milestone ({', '.join(MILESTONES)}){_hint(target, targets)}",
                            node,
                            key,
                        )
                    if target == rule.id:
                        raise self.fail(f"{where}: '{key}' names the step itself", node, key)
            if rule.stage is not None and rule.stage not in stages:
                raise self.fail(
                    f"{where}: 'stage' names '{rule.stage}', which is not a stage"
                    f"{_hint(rule.stage, stages)}",
                    node,
                    "stage",
                )
        self.check_cycles(next_steps, nodes)

    def check_cycles(
        self, next_steps: tuple[Rule, ...], nodes: Mapping[str, Mapping[str, Any]]
    ) -> None:
        """Refuse order constraints that cannot all hold: A before B before ... before A."""
        edges: dict[str, list[tuple[str, str, str]]] = {}  # from -> (to, declared by, key)
        for first, second in itertools.pairwise(MILESTONES):
            edges.setdefault(first, []).append((second, "", ""))
        for rule in next_steps:
            for target in rule.after:
                edges.setdefault(target, []).append((rule.id, rule.id, "after"))
            for target in rule.before:
                edges.setdefault(rule.id, []).append((target, rule.id, "before"))
        state: dict[str, int] = {}  # 1: on the current path, 2: done
        path: list[str] = []
        owners: list[tuple[str, str]] = []  # the (rule, key) behind each edge along the path

        def visit(node: str) -> None:
            state[node] = 1
            path.append(node)
            for target, owner, key in edges.get(node, ()):
                owners.append((owner, key))
                if state.get(target) == 1:
                    loop = [*path[path.index(target) :], target]
                    declared = [o for o in owners[len(owners) - len(loop) + 1 :] if o[0]]
                    owner_id, owner_key = declared[-1]
                    raise self.fail(
                        f"next step '{owner_id}': its '{owner_key}' closes a cycle of order "
                        f"constraints ({' before '.join(loop)}); no date can satisfy them all",
                        nodes.get(owner_id),
                        owner_key,
                    )
                if state.get(target) is None:
                    visit(target)
                owners.pop()
            path.pop()
            state[node] = 2

        for first in [*MILESTONES, *(rule.id for rule in next_steps)]:
            if state.get(first) is None:
                visit(first)

    def verdicts(
        self, raw: Mapping[str, Any], red_flags: tuple[Rule, ...], next_steps: tuple[Rule, ...]
    ) -> Verdicts:
        node = raw.get("verdicts")
        if node is None and "verdicts" not in raw:
            return Verdicts()
        if not isinstance(node, Mapping):
            raise self.fail(
                f"'verdicts' needs 'levels' and may name a 'decision_step' ({_found(node)})",
                raw,
                "verdicts",
            )
        self.check_keys(node, ("decision_step", "levels"), "verdicts")
        step_ids = {rule.id for rule in next_steps}
        decision = node.get("decision_step")
        if decision is not None and decision not in step_ids:
            raise self.fail(
                f"verdicts: 'decision_step' names '{decision}', which is not a next step"
                f"{_hint(str(decision), step_ids)}",
                node,
                "decision_step",
            )
        items = node.get("levels")
        if not isinstance(items, list) or len(items) < 2:
            raise self.fail(
                "verdicts: 'levels' must list at least two verdicts, the most worrying first, "
                f"the last one without a condition ({_found(items)})",
                node,
                "levels" if "levels" in node else None,
            )
        flag_ids = {rule.id for rule in red_flags}
        levels = []
        seen: set[str] = set()
        for index, item in enumerate(items):
            if not isinstance(item, Mapping) or not isinstance(item.get("id"), str):
                raise self.fail(
                    f"verdicts: level {index + 1} must be a block with an 'id' ({_found(item)})",
                    items,
                    index,
                )
            vid = item["id"]
            where = f"verdict '{vid}'"
            if not _ID.match(vid) or vid in seen:
                raise self.fail(f"{where}: the id must be new and in {_ID_RULE}", item, "id")
            seen.add(vid)
            self.check_keys(item, _VERDICT_KEYS, where)
            flags = item.get("flags", [])
            if not isinstance(flags, list) or any(f not in flag_ids for f in flags):
                wrong = next((f for f in flags if f not in flag_ids), flags)
                raise self.fail(
                    f"{where}: 'flags' must list red flag ids; '{wrong}' is not one"
                    f"{_hint(str(wrong), flag_ids)}",
                    item,
                    "flags",
                )
            counts = item.get("counts", {})
            if not isinstance(counts, Mapping) or any(
                key not in SEVERITIES or not isinstance(value, int) or value < 1
                for key, value in counts.items()
            ):
                raise self.fail(
                    f"{where}: 'counts' maps a severity ({', '.join(SEVERITIES)}) to a whole "
                    "number, 1 or more, like {critical: 1}",
                    item,
                    "counts",
                )
            below = item.get("below")
            if below is not None and (not _is_number(below) or not 0 < below <= 100):
                raise self.fail(
                    f"{where}: 'below' is an overall readiness from 1 to 100 ({_found(below)})",
                    item,
                    "below",
                )
            level = VerdictLevel(
                vid,
                tuple(flags),
                dict(counts),
                None if below is None else int(below),
                self.seed(item, where, required=False),
            )
            last = index == len(items) - 1
            if last != level.unconditional:
                raise self.fail(
                    f"{where}: "
                    + (
                        "the last verdict is the one left when no other holds: remove its "
                        "conditions"
                        if last
                        else "only the last verdict may have no condition (flags, counts or below)"
                    ),
                    item,
                    "id",
                )
            levels.append(level)
        return Verdicts(tuple(levels), decision)

    def seed(self, node: Mapping[str, Any], where: str, required: bool) -> tuple[str, ...]:
        value = node.get("seed", [])
        if isinstance(value, str):  # one label without brackets
            value = [value]
        # The line of each label: its item in a list, else the line of 'seed:' itself.
        lines = value if isinstance(value, LineList) else node
        if not isinstance(value, list) or (required and not value):
            raise self.fail(
                f"{where} needs 'seed': a list of the seed.yaml passage labels it carries, like "
                f"[{next(iter(sorted(self.seed_labels)), 'definition.alliance')}] "
                f"({_found(node.get('seed'))})",
                node,
                "seed" if "seed" in node else None,
            )
        for index, label in enumerate(value):
            if not isinstance(label, str):
                raise self.fail(
                    f"{where}: a seed label is text like definition.alliance ({_found(label)})",
                    lines,
                    index if lines is value else "seed",
                )
            if label not in self.seed_labels:
                raise self.fail(
                    f"{where}: seed passage '{label}' is not in seed.yaml"
                    f"{_hint(label, self.seed_labels)}",
                    lines,
                    index if lines is value else "seed",
                )
        return tuple(value)

    def stage(self, node: Any, index: int, stages: list[Any]) -> Stage:
        if not isinstance(node, Mapping):
            raise self.fail(
                f"stage {index + 1} must be a block with id and questions ({_found(node)})",
                stages,
                index,
            )
        stage_id = node.get("id")
        if not isinstance(stage_id, str) or not _ID.match(stage_id):
            raise self.fail(
                f"stage {index + 1} needs an 'id' in {_ID_RULE}, like intro ({_found(stage_id)})",
                node,
                "id" if "id" in node else None,
            )
        where = f"stage '{stage_id}'"
        self.check_keys(node, _STAGE_KEYS, where)
        items = node.get("questions")
        if not isinstance(items, list) or not items:
            raise self.fail(
                f"{where} needs 'questions': a list of questions, each starting with '- id:' "
                f"({_found(items)})",
                node,
                "questions" if "questions" in node else None,
            )
        seed = self.seed(node, where, required=False)
        questions = tuple(self.question(q, i, items, stage_id) for i, q in enumerate(items))
        return Stage(stage_id, seed, questions)

    def question(self, node: Any, index: int, items: list[Any], stage_id: str) -> Question:
        if not isinstance(node, Mapping):
            raise self.fail(
                f"stage '{stage_id}': question {index + 1} must be a block of keys starting "
                f"with '- id:' ({_found(node)})",
                items,
                index,
            )
        qid = node.get("id")
        if not isinstance(qid, str) or not _ID.match(qid):
            raise self.fail(
                f"stage '{stage_id}': question {index + 1} needs an 'id' in {_ID_RULE}, like "
                "partner_kind "
                f"({_found(qid)})",
                node,
                "id" if "id" in node else None,
            )
        where = f"question '{qid}' (stage '{stage_id}')"
        if qid in self.id_lines:
            raise self.fail(
                f"{where}: the question id '{qid}' is used twice (first on line "
                f"{self.id_lines[qid]}); each question needs its own id",
                node,
                "id",
            )
        self.check_keys(node, _QUESTION_KEYS, where)
        qtype = node.get("type")
        if not isinstance(qtype, str) or qtype not in QUESTION_TYPES:
            raise self.fail(
                f"{where}: 'type' must be one of {', '.join(QUESTION_TYPES)} ({_found(qtype)})",
                node,
                "type" if "type" in node else None,
            )
        for key, types in _TYPED_KEYS.items():
            if key in node and qtype not in types:
                raise self.fail(
                    f"{where}: '{key}' applies only to {' and '.join(types)} questions, and this "
                    f"one is {qtype}; remove '{key}' or change the type",
                    node,
                    key,
                )
        options = self.options(node, qtype, where)
        minimum, maximum = self.bounds(node, qtype, where)
        optional = self.flag(node, "optional", where)
        notyet = self.flag(node, "notyet", where)
        if qtype == "yesno" and "notyet" in node and not notyet:
            raise self.fail(
                f"{where}: a yesno question always offers 'not yet'; remove 'notyet: false'",
                node,
                "notyet",
            )
        when = None
        if "when" in node:
            if not self.known:
                raise self.fail(
                    f"{where} is the first question: it is always asked, so it cannot have a "
                    "'when'; remove it",
                    node,
                    "when",
                )
            try:
                when = compile_condition(node["when"], self.known, self.all_ids - set(self.known))
            except ConditionError as exc:
                raise self.fail(f"{where}: {exc}", node, "when") from None
        weight = node.get("weight", 1 if qtype in ("yesno", "scale") else 0)
        if not _is_number(weight) or weight < 0:
            raise self.fail(
                f"{where}: 'weight' must be a number, 0 or more ({_found(weight)})",
                node,
                "weight",
            )
        shared = self.flag(node, "shared", where)
        if shared and qtype not in _SHARED_TYPES:
            raise self.fail(
                f"{where}: 'shared: true' marks a question both partners answer so that their "
                f"answers can be compared; a {qtype} question cannot be compared (use one of "
                f"{', '.join(_SHARED_TYPES)}, or remove 'shared')",
                node,
                "shared",
            )
        max_length = self.integer(node, "max_length", where, smallest=1)
        todo_days = self.integer(node, "todo_days", where, smallest=0)
        question = Question(
            id=qid,
            type=qtype,
            stage=stage_id,
            seed=self.seed(node, where, required=True),
            options=options,
            exclusive=self.exclusive(node, options, where),
            max_length=1000 if max_length is None else max_length,
            minimum=minimum,
            maximum=maximum,
            optional=optional,
            notyet=notyet or qtype == "yesno",
            todo_days=14 if todo_days is None else todo_days,
            conditional=when is not None,
            depends_on=frozenset(questions_in(node["when"])) if when is not None else frozenset(),
            weight=float(weight),
            score=node.get("score"),
            when=always if when is None else when,
            shared=shared,
        )
        self.check_score(question, node, where)
        self.known[qid] = question.choices if qtype in ("choice", "multi", "yesno") else None
        if qtype == "text":
            self.text_ids.add(qid)
        self.id_lines[qid] = line_of(node, "id")
        return question

    def options(self, node: Mapping[str, Any], qtype: str, where: str) -> tuple[str, ...]:
        if qtype not in ("choice", "multi"):
            return ()
        raw = node.get("options")
        key = "options" if "options" in node else None
        if not isinstance(raw, list) or len(raw) < 2:
            count = "only one option" if isinstance(raw, list) and raw else _found(raw)
            raise self.fail(
                f"{where}: 'options' must list at least two option keys, like [alpha, beta] "
                f"({count})",
                node,
                key,
            )
        seen: set[str] = set()
        for index, option in enumerate(raw):
            if not isinstance(option, str) or not _ID.match(option):
                shown = f"'{option}'" if isinstance(option, str) else f"({_found(option)})"
                raise self.fail(
                    f"{where}: the option {shown} is not a valid key: an option key is written "
                    f"in {_ID_RULE}, like big_rival; the words people see go in fr.yaml and "
                    "en.yaml",
                    raw,
                    index,
                )
            if option == "notyet":
                raise self.fail(
                    f"{where}: 'notyet' cannot be an option; write 'notyet: true' instead",
                    raw,
                    index,
                )
            if option in seen:
                raise self.fail(f"{where}: the option '{option}' is listed twice", raw, index)
            seen.add(option)
        return tuple(raw)

    def exclusive(
        self, node: Mapping[str, Any], options: tuple[str, ...], where: str
    ) -> tuple[str, ...]:
        raw = node.get("exclusive", [])
        if not isinstance(raw, list):
            raise self.fail(
                f"{where}: 'exclusive' must list options that cannot be ticked with others, "
                f"like [none] ({_found(raw)})",
                node,
                "exclusive",
            )
        for index, option in enumerate(raw):
            if option not in options:
                shown = f"'{option}'" if isinstance(option, str) else _found(option)
                raise self.fail(
                    f"{where}: 'exclusive' names {shown}, which is not one of its options "
                    f"({', '.join(options)})",
                    raw,
                    index,
                )
        return tuple(raw)

    def bounds(
        self, node: Mapping[str, Any], qtype: str, where: str
    ) -> tuple[int | None, int | None]:
        minimum = self.integer(node, "min", where, smallest=0)
        maximum = self.integer(node, "max", where, smallest=0)
        if qtype == "scale":
            minimum = 1 if minimum is None else minimum
            maximum = 5 if maximum is None else maximum
            if not _SCALE_LOW <= minimum < maximum <= _SCALE_HIGH:
                key = "max" if maximum > _SCALE_HIGH and "max" in node else "min"
                raise self.fail(
                    f"{where}: a scale runs from 'min' to 'max', whole numbers with "
                    f"{_SCALE_LOW} <= min < max <= {_SCALE_HIGH} (here {minimum} to {maximum})",
                    node,
                    key if key in node else None,
                )
        if minimum is not None and maximum is not None and minimum > maximum:
            raise self.fail(
                f"{where}: 'min' ({minimum}) is larger than 'max' ({maximum})", node, "min"
            )
        return minimum, maximum

    def integer(self, node: Mapping[str, Any], key: str, where: str, smallest: int) -> int | None:
        value = node.get(key)
        if value is None and key not in node:
            return None
        if not isinstance(value, int) or isinstance(value, bool) or value < smallest:
            raise self.fail(
                f"{where}: '{key}' must be a whole number, {smallest} or more ({_found(value)})",
                node,
                key,
            )
        return value

    def flag(self, node: Mapping[str, Any], key: str, where: str) -> bool:
        value = node.get(key, False)
        if not isinstance(value, bool):
            raise self.fail(f"{where}: '{key}' must be true or false ({_found(value)})", node, key)
        return value

    def check_score(self, question: Question, node: Mapping[str, Any], where: str) -> None:
        score = question.score
        if score is None and "score" not in node:
            return
        if not isinstance(score, Mapping) or not score:
            raise self.fail(
                f"{where}: 'score' must map answers to numbers from 0 to 1, like "
                f"{{yes: 1, no: 0}}, or compare a number, like {{ge: 4}} ({_found(score)})",
                node,
                "score",
            )
        if question.type in ("number", "scale") and set(score) <= set(_SCORE_OPS):
            for op, value in score.items():
                if not _is_number(value):
                    raise self.fail(
                        f"{where}: in 'score', '{op}' takes a number ({_found(value)})",
                        node,
                        "score",
                    )
            return
        allowed = (*question.choices, "notyet")
        for key, value in score.items():
            if key not in allowed and question.type == "number":
                raise self.fail(
                    f"{where}: 'score' names '{key}'; a number question scores with a "
                    f"comparison like {{ge: 4}} ({', '.join(_SCORE_OPS)}), or {{notyet: 0.5}}",
                    node,
                    "score",
                )
            if key not in allowed:
                raise self.fail(
                    f"{where}: 'score' names '{key}', which is not one of its answers "
                    f"(its answers: {', '.join(allowed)})",
                    node,
                    "score",
                )
            if not _is_number(value) or not 0 <= value <= 1:
                raise self.fail(
                    f"{where}: in 'score', the score of '{key}' must be a number from 0 to 1 "
                    f"({_found(value)})",
                    node,
                    "score",
                )

    def rules(self, items: Any, section: str, parent: Mapping[str, Any]) -> tuple[Rule, ...]:
        if items is None and section not in parent:
            return ()
        kind = _RULE_NAMES[section]
        if not isinstance(items, list):
            raise self.fail(
                f"'{section}' must be a list, each entry starting with '- id:' ({_found(items)})",
                parent,
                section,
            )
        rules = []
        id_lines: dict[str, int | None] = {}
        for index, item in enumerate(items):
            if not isinstance(item, Mapping):
                raise self.fail(
                    f"'{section}': entry {index + 1} must be a block with id and when "
                    f"({_found(item)})",
                    items,
                    index,
                )
            rule_id = item.get("id")
            if not isinstance(rule_id, str) or not _ID.match(rule_id):
                raise self.fail(
                    f"'{section}': entry {index + 1} needs an 'id' in {_ID_RULE}, like "
                    "no_strategy "
                    f"({_found(rule_id)})",
                    item,
                    "id" if "id" in item else None,
                )
            where = f"{kind} '{rule_id}'"
            if rule_id in id_lines:
                raise self.fail(
                    f"{where}: the id '{rule_id}' is used twice in '{section}' (first on line "
                    f"{id_lines[rule_id]})",
                    item,
                    "id",
                )
            id_lines[rule_id] = line_of(item, "id")
            self.check_keys(item, _RULE_KEYS[section], where)
            if "when" not in item:
                raise self.fail(
                    f"{where} needs a 'when': the condition under which it applies", item
                )
            try:
                when = compile_condition(item["when"], self.known)
            except ConditionError as exc:
                raise self.fail(f"{where}: {exc}", item, "when") from None
            days = item.get("days", 0)
            if not isinstance(days, int) or isinstance(days, bool) or days < 0:
                raise self.fail(
                    f"{where}: 'days' must be a whole number, 0 or more ({_found(days)})",
                    item,
                    "days",
                )
            tested = frozenset(questions_in(item["when"]))
            seed = self.seed(item, where, required=False)
            rules.append(
                Rule(rule_id, when, seed, days, tested, **self.rule_extras(item, section, where))
            )
        return tuple(rules)

    def rule_extras(self, item: Mapping[str, Any], section: str, where: str) -> dict[str, Any]:
        """severity, raise_when, alliance, resolves, after, before, on, stage (those allowed)."""
        extras: dict[str, Any] = {}
        if "severity" in item:
            if item["severity"] not in SEVERITIES:
                raise self.fail(
                    f"{where}: 'severity' must be one of {', '.join(SEVERITIES)} "
                    f"({_found(item['severity'])})",
                    item,
                    "severity",
                )
            extras["severity"] = item["severity"]
        if "raise_when" in item:
            try:
                extras["raise_when"] = compile_condition(item["raise_when"], self.known)
            except ConditionError as exc:
                raise self.fail(f"{where}: in 'raise_when', {exc}", item, "raise_when") from None
        if "alliance" in item:
            if item["alliance"] not in ALLIANCE_TYPES:
                raise self.fail(
                    f"{where}: 'alliance' must be one of {', '.join(ALLIANCE_TYPES)} "
                    f"({_found(item['alliance'])})",
                    item,
                    "alliance",
                )
            extras["alliance"] = item["alliance"]
        for key in ("resolves", "after", "before"):
            if key not in item:
                continue
            value = item[key]
            if isinstance(value, str):
                value = [value]
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise self.fail(
                    f"{where}: '{key}' must be a list of ids, like [sign_confidentiality_letter] "
                    f"({_found(item[key])})",
                    item,
                    key,
                )
            extras[key] = tuple(value)
        if "on" in item:
            if item["on"] not in MILESTONES:
                raise self.fail(
                    f"{where}: 'on' must be one of the milestones {', '.join(MILESTONES)} "
                    f"({_found(item['on'])})",
                    item,
                    "on",
                )
            extras["on"] = item["on"]
        if "stage" in item:
            if not isinstance(item["stage"], str):
                raise self.fail(f"{where}: 'stage' is a stage id ({_found(item['stage'])})", item)
            extras["stage"] = item["stage"]
        if "quote" in item:
            quoted = item["quote"]
            if not isinstance(quoted, str) or not self.is_text(quoted):
                raise self.fail(
                    f"{where}: 'quote' names a text question whose answer the step quotes "
                    f"({_found(quoted)}){_hint(str(quoted), self.text_ids)}",
                    item,
                    "quote",
                )
            extras["quote"] = quoted
        return extras

    def is_text(self, qid: str) -> bool:
        return qid in self.text_ids

    def alliance_type(self, node: Any, top: Mapping[str, Any]) -> AllianceType:
        if not isinstance(node, Mapping):
            raise self.fail(
                f"'alliance_type' needs a threshold and criteria ({_found(node)})",
                top,
                "alliance_type" if "alliance_type" in top else None,
            )
        self.check_keys(node, ("threshold", "criteria"), "alliance_type")
        threshold = node.get("threshold")
        if not isinstance(threshold, int) or isinstance(threshold, bool) or threshold < 1:
            raise self.fail(
                f"alliance_type: 'threshold' must be a whole number, 1 or more "
                f"({_found(threshold)})",
                node,
                "threshold" if "threshold" in node else None,
            )
        criteria = self.rules(node.get("criteria"), "criteria", node)
        if threshold > len(criteria):
            count = (
                "is only 1 criterion" if len(criteria) == 1 else f"are {len(criteria)} criteria"
            )
            raise self.fail(
                f"alliance_type: 'threshold' is {threshold} but there {count}, so no alliance "
                "could ever be strategic",
                node,
                "threshold",
            )
        return AllianceType(threshold, criteria)


# --- fr.yaml / en.yaml and ui.fr.yaml / ui.en.yaml ---------------------------------------------


def _load_texts(folder: Path, dialogue: Dialogue) -> dict[str, Texts]:
    content = {lang: _read_content(folder / f"{lang}.yaml") for lang in LANGUAGES}
    ui = {lang: _read_ui(folder / f"ui.{lang}.yaml") for lang in LANGUAGES}
    first = LANGUAGES[0]
    for lang in LANGUAGES[1:]:
        for files, name in ((content, "{}.yaml"), (ui, "ui.{}.yaml")):
            paths = (folder / name.format(first), folder / name.format(lang))
            _Comparison(*paths).compare(files[first], files[lang], "", (None, None), None)
    for lang in LANGUAGES:
        _check_required(content[lang], ui[lang], dialogue, folder / f"{lang}.yaml")
        _check_partner(content[lang], dialogue, folder / f"{lang}.yaml")
    return {lang: Texts(lang, {**content[lang], "ui": ui[lang]["ui"]}) for lang in LANGUAGES}


def _read_content(path: Path) -> Mapping[str, Any]:
    data = load_yaml(path)
    if not isinstance(data, Mapping):
        raise DialogueError(
            f"the file must be a block of keys: {', '.join(_CONTENT_KEYS)} ({_found(data)})",
            path=str(path),
        )
    for key in data:
        if key not in _CONTENT_KEYS:
            where = "; interface texts go in the ui.*.yaml files" if key == "ui" else ""
            raise DialogueError(
                f"unknown key '{key}' at the top of the file{_hint(key, _CONTENT_KEYS)}; the keys "
                f"allowed here are {', '.join(_CONTENT_KEYS)}{where}",
                path=str(path),
                line=line_of(data, key),
            )
    return data


def _read_ui(path: Path) -> Mapping[str, Any]:
    data = load_yaml(path)
    if not isinstance(data, Mapping) or "ui" not in data:
        raise DialogueError(
            "the file must hold one block, 'ui:', with every interface text under it",
            path=str(path),
        )
    for key in data:
        if key != "ui":
            raise DialogueError(
                f"unknown key '{key}' at the top of the file: this file holds one block, 'ui:', "
                "with every interface text indented under it",
                path=str(path),
                line=line_of(data, key),
            )
    if not isinstance(data["ui"], Mapping):
        raise DialogueError(
            f"'ui' must be a block of interface texts ({_found(data['ui'])})",
            path=str(path),
            line=line_of(data, "ui"),
        )
    return data


def _describe(key: str) -> str:
    """What a text key is for, in words: "the title of stage 'intro' ('stages.intro.title')"."""
    match key.split("."):
        case ["stages", stage, part]:
            what = f"the {part} of stage '{stage}'"
        case ["questions", question, "options", option]:
            what = f"the label of option '{option}' of question '{question}'"
        case ["questions", question, part]:
            what = f"the {part} of question '{question}'"
        case ["red_flags", rule]:
            what = f"the text of red flag '{rule}'"
        case ["next_steps", rule]:
            what = f"the text of next step '{rule}'"
        case ["verdicts", level, part]:
            what = f"the {part} of verdict '{level}'"
        case ["verdicts", level]:
            what = f"the words of verdict '{level}'"
        case ["alliance_type", "criteria", rule]:
            what = f"the reason text of alliance_type criterion '{rule}'"
        case ["ui", *_]:
            return f"the interface text '{key}'"
        case _:
            return f"'{key}'"
    return f"{what} ('{key}')"


class _Comparison:
    """Checks that two languages' files have the same keys, and that each text is well formed
    and uses the same {placeholders} as its translation."""

    def __init__(self, first: Path, second: Path) -> None:
        self.paths = (first, second)

    def compare(
        self, a: Any, b: Any, prefix: str, parents: tuple[Any, Any], key: str | None
    ) -> None:
        # The line of this value in each file: its key's line, or the file's first mapping.
        lines = (
            line_of(parents[0], key) if key is not None else line_of(a),
            line_of(parents[1], key) if key is not None else line_of(b),
        )
        full = prefix.rstrip(".")
        if isinstance(a, Mapping) and isinstance(b, Mapping):
            for side, (has, lacks) in enumerate(((a, b), (b, a))):
                for name in has:
                    if name not in lacks:
                        # The key is in file `side` and missing from the other one.
                        raise DialogueError(
                            f"{_describe(prefix + name)} is missing here, but "
                            f"{self.paths[side].name} has it on line {line_of(has, name)}: "
                            "both languages need the same keys",
                            path=str(self.paths[1 - side]),
                            line=lines[1 - side],
                        )
            for name in a:
                self.compare(a[name], b[name], f"{prefix}{name}.", (a, b), name)
            return
        values = (a, b)
        for side in (0, 1):
            twin = 1 - side
            if isinstance(values[twin], Mapping) and not isinstance(values[side], str):
                # A block of keys against nothing, a list or a number: the block is the shape.
                raise DialogueError(
                    f"{_describe(full)} must be a block of keys, as in "
                    f"{self.paths[twin].name} (line {lines[twin]}) ({_found(values[side])})",
                    path=str(self.paths[side]),
                    line=lines[side],
                )
        for side in (0, 1):
            if isinstance(values[side], Mapping):
                twin = 1 - side
                raise DialogueError(
                    f"{_describe(full)} is a block of keys here, but one text in "
                    f"{self.paths[twin].name} (line {lines[twin]}); both languages need the "
                    "same keys",
                    path=str(self.paths[side]),
                    line=lines[side],
                )
        for side in (0, 1):
            _check_text(values[side], full, self.paths[side], lines[side])
        if placeholders(a) != placeholders(b):
            raise DialogueError(
                f"{_describe(full)} uses the placeholders {_braces(placeholders(b))} here but "
                f"{_braces(placeholders(a))} in {self.paths[0].name} (line {lines[0]}); both "
                "languages must use the same",
                path=str(self.paths[1]),
                line=lines[1],
            )


def _braces(names: set[str]) -> str:
    return " ".join(f"{{{name}}}" for name in sorted(names)) or "none"


def _check_text(value: Any, key: str, path: Path, line: int | None) -> None:
    where = _describe(key)
    if value is None:
        raise DialogueError(
            f"{where} is empty: write the text after ':'", path=str(path), line=line
        )
    if isinstance(value, list):
        raise DialogueError(
            f"{where} is a list, but must be one text: remove the '-' items, and write a long "
            "text on several lines after '>-'",
            path=str(path),
            line=line,
        )
    if not isinstance(value, str):
        raise DialogueError(
            f"{where} must be text ({_found(value)}); put it in quotes",
            path=str(path),
            line=line,
        )
    try:
        fields = [name for _, name, _, _ in string.Formatter().parse(value) if name is not None]
    except ValueError:
        raise DialogueError(
            f"{where} has an unbalanced {{ or }}: a placeholder is a name in braces, like "
            "{stage}; write {{ or }} for a brace alone",
            path=str(path),
            line=line,
        ) from None
    for name in fields:
        if not name.isidentifier():
            raise DialogueError(
                f"{where} has the placeholder {{{name}}}: a placeholder is a name in braces, "
                "like {stage}",
                path=str(path),
                line=line,
            )


def _nearest_line(data: Any, key: str) -> int | None:
    """The line of the deepest key on the way to a dotted key: where the missing one belongs."""
    line = line_of(data)
    node = data
    for part in key.split("."):
        if not isinstance(node, Mapping) or part not in node:
            break
        line = line_of(node, part)
        node = node[part]
    return line


def _check_required(
    content: Mapping[str, Any], ui: Mapping[str, Any], dialogue: Dialogue, path: Path
) -> None:
    needed: list[str] = []
    for stage in dialogue.stages:
        needed += [f"stages.{stage.id}.title", f"stages.{stage.id}.intro"]
        for q in stage.questions:
            needed += [f"questions.{q.id}.{part}" for part in ("text", "help", "label")]
            needed += [f"questions.{q.id}.options.{o}" for o in q.options]
    needed += ["alliance_type.strategic", "alliance_type.tactical"]
    needed += [f"alliance_type.criteria.{r.id}" for r in dialogue.alliance_type.criteria]
    needed += [f"red_flags.{r.id}" for r in dialogue.red_flags]
    needed += [f"next_steps.{r.id}" for r in dialogue.next_steps]
    for level in dialogue.verdicts.levels:
        needed += [f"verdicts.{level.id}.title", f"verdicts.{level.id}.why"]
    needed += [f"ui.answers.{answer}" for answer in YESNO_OPTIONS]
    for fid, questions in dialogue.followups.items():
        needed += [f"followups.{fid}.intro", f"followups.{fid}.done"]
        for q in questions:
            needed += [f"followups.{fid}.questions.{q.id}.text"]
            needed += [f"followups.{fid}.questions.{q.id}.options.{o}" for o in q.options]
    for key in needed:
        data, file = (
            (ui, path.with_name(f"ui.{path.name}")) if key[:3] == "ui." else (content, path)
        )
        if not Texts(path.stem, data).has(key):
            raise DialogueError(
                f"{_describe(key)} is missing: add it, here and in the other language's file",
                path=str(file),
                line=_nearest_line(data, key),
            )


def _check_partner(content: Mapping[str, Any], dialogue: Dialogue, path: Path) -> None:
    """The `partner:` block: the words of the invited partner's walk. It may reword the shared
    questions (text, help, label) and the titles and introductions of the stages the partner
    walks; each of those stages needs an introduction addressed to the partner."""
    shared = {q.id: q for q in dialogue.questions.values() if q.shared}
    stages = {q.stage for q in shared.values()}
    block = content.get("partner", {})
    if not isinstance(block, Mapping):
        raise DialogueError(
            f"'partner' must be a block with 'stages' and 'questions' ({_found(block)})",
            path=str(path),
            line=line_of(content, "partner"),
        )
    allowed = {"stages": stages, "questions": set(shared)}
    for section, entries in block.items():
        if section not in allowed:
            raise DialogueError(
                f"partner: unknown key '{section}'{_hint(section, allowed)}; the keys allowed "
                "here are stages, questions",
                path=str(path),
                line=line_of(block, section),
            )
        if not isinstance(entries, Mapping):
            raise DialogueError(
                f"partner.{section} must be a block of ids ({_found(entries)})",
                path=str(path),
                line=line_of(block, section),
            )
        what = "a stage with shared questions" if section == "stages" else "a shared question"
        for name, parts in entries.items():
            if name not in allowed[section]:
                raise DialogueError(
                    f"partner.{section}.{name}: '{name}' is not {what} (marked 'shared: true' "
                    f"in checklist.yaml){_hint(name, allowed[section])}",
                    path=str(path),
                    line=line_of(entries, name),
                )
            names = _PARTNER_PARTS[section]
            for part in parts if isinstance(parts, Mapping) else ():
                if part not in names:
                    raise DialogueError(
                        f"partner.{section}.{name}: unknown key '{part}'{_hint(part, names)}; "
                        f"the keys allowed here are {', '.join(names)}",
                        path=str(path),
                        line=line_of(parts, part),
                    )
    for stage in sorted(stages, key=dialogue.stage_index):
        if not Texts(path.stem, content).has(f"partner.stages.{stage}.intro"):
            raise DialogueError(
                f"the introduction of stage '{stage}' for the invited partner "
                f"('partner.stages.{stage}.intro') is missing: the partner walks this stage's "
                "shared questions; add it, here and in the other language's file",
                path=str(path),
                line=_nearest_line(content, f"partner.stages.{stage}.intro"),
            )
