"""Read and check dialogues/*.yaml, and build the immutable `Dialogue`.

Every problem is reported as a DialogueError naming the file, the line when known, and what to fix,
in words an advisor editing the YAML understands.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bot.dialogue.conditions import ConditionError, compile_condition, questions_in
from bot.dialogue.model import (
    LANGUAGES,
    QUESTION_TYPES,
    YESNO_OPTIONS,
    AllianceType,
    Dialogue,
    Question,
    Rule,
    SeedPassage,
    Stage,
    Texts,
    placeholders,
)
from bot.dialogue.yamlsource import line_of, load_yaml
from bot.errors import DialogueError

DEFAULT_DIR = Path(__file__).resolve().parent.parent.parent / "dialogues"
_ID = re.compile(r"^[a-z][a-z0-9_]*$")
_QUESTION_KEYS = {
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
}
_SCORE_OPS = {"lt", "le", "gt", "ge", "eq"}


def load_dialogue(directory: Path | str | None = None) -> Dialogue:
    """Load checklist.yaml, seed.yaml and the texts of every language from `directory`."""
    folder = Path(directory) if directory is not None else DEFAULT_DIR
    if not folder.is_dir():
        raise DialogueError("the dialogues folder does not exist", path=str(folder))
    seed = _load_seed(folder / "seed.yaml")
    labels = {passage.label for passage in seed}
    checklist_path = folder / "checklist.yaml"
    raw = load_yaml(checklist_path)
    dialogue = _Builder(str(checklist_path), labels).build(raw)
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
    )


def _load_seed(path: Path) -> tuple[SeedPassage, ...]:
    raw = load_yaml(path)
    items = raw.get("passages") if isinstance(raw, Mapping) else raw
    if not isinstance(items, list) or not items:
        raise DialogueError(
            "expected a list of passages (label, section, summary)", path=str(path)
        )
    passages = []
    for item in items:
        if not isinstance(item, Mapping) or not all(
            isinstance(item.get(k), str) for k in ("label", "section", "summary")
        ):
            raise DialogueError(
                "each passage needs a label, a section and a summary, all text",
                path=str(path),
                line=line_of(item),
            )
        passages.append(SeedPassage(item["label"], item["section"], item["summary"]))
    return tuple(passages)


class _Builder:
    """Turns the checklist mapping into model objects, checking as it goes."""

    def __init__(self, path: str, seed_labels: set[str]) -> None:
        self.path = path
        self.seed_labels = seed_labels
        self.known: dict[str, tuple[str, ...] | None] = {}

    def fail(self, message: str, node: Any = None, key: str | None = None) -> DialogueError:
        return DialogueError(message, path=self.path, line=line_of(node, key))

    def build(self, raw: Any) -> Dialogue:
        if not isinstance(raw, Mapping):
            raise self.fail("the file must be a mapping with id, stages, alliance_type, ...")
        unknown = set(raw) - {"id", "stages", "alliance_type", "red_flags", "next_steps"}
        if unknown:
            raise self.fail(f"unknown key '{sorted(unknown)[0]}' at the top of the file", raw)
        dialogue_id = raw.get("id")
        if not isinstance(dialogue_id, str) or not _ID.match(dialogue_id):
            raise self.fail("'id' must be a short lowercase word, like alliance", raw, "id")
        stages_raw = raw.get("stages")
        if not isinstance(stages_raw, list) or not stages_raw:
            raise self.fail("'stages' must be a non-empty list", raw, "stages")
        stages = tuple(self.stage(item) for item in stages_raw)
        if len({s.id for s in stages}) != len(stages):
            raise self.fail("two stages have the same id", raw, "stages")
        questions = {q.id: q for stage in stages for q in stage.questions}
        if questions[next(iter(questions))].conditional:
            raise self.fail("the first question cannot have a condition (when)", stages_raw[0])
        return Dialogue(
            id=dialogue_id,
            stages=stages,
            alliance_type=self.alliance_type(raw.get("alliance_type"), raw),
            red_flags=self.rules(raw.get("red_flags"), "red_flags", raw),
            next_steps=self.rules(raw.get("next_steps"), "next_steps", raw),
            texts={},
            questions=questions,
        )

    def seed(self, node: Mapping[str, Any], required: bool) -> tuple[str, ...]:
        value = node.get("seed", [])
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or (required and not value):
            raise self.fail("'seed' must list the seed passages this item carries", node, "seed")
        for label in value:
            if label not in self.seed_labels:
                raise self.fail(f"seed passage '{label}' is not in seed.yaml", node, "seed")
        return tuple(value)

    def stage(self, node: Any) -> Stage:
        if not isinstance(node, Mapping):
            raise self.fail("each stage must be a mapping with id and questions")
        stage_id = node.get("id")
        if not isinstance(stage_id, str) or not _ID.match(stage_id):
            raise self.fail("a stage needs an id: a lowercase word", node)
        items = node.get("questions")
        if not isinstance(items, list) or not items:
            raise self.fail(f"stage '{stage_id}' needs a non-empty list of questions", node)
        return Stage(
            stage_id,
            self.seed(node, required=False),
            tuple(self.question(q, stage_id) for q in items),
        )

    def question(self, node: Any, stage_id: str) -> Question:
        if not isinstance(node, Mapping):
            raise self.fail(f"in stage '{stage_id}', each question must be a mapping")
        qid = node.get("id")
        if not isinstance(qid, str) or not _ID.match(qid):
            raise self.fail("a question needs an id: lowercase letters, digits and _", node)
        if qid in self.known:
            raise self.fail(f"question id '{qid}' is used twice", node, "id")
        unknown = set(node) - _QUESTION_KEYS
        if unknown:
            raise self.fail(
                f"question '{qid}': unknown key '{sorted(unknown)[0]}' "
                f"(known keys: {', '.join(sorted(_QUESTION_KEYS))})",
                node,
                sorted(unknown)[0],
            )
        qtype = node.get("type")
        if qtype not in QUESTION_TYPES:
            raise self.fail(
                f"question '{qid}': type must be one of {', '.join(QUESTION_TYPES)}", node, "type"
            )
        options: tuple[str, ...] = ()
        if qtype in ("choice", "multi"):
            raw_options = node.get("options")
            if not isinstance(raw_options, list) or len(raw_options) < 2:
                raise self.fail(f"question '{qid}': list at least two options", node, "options")
            if not all(isinstance(o, str) and _ID.match(o) for o in raw_options):
                raise self.fail(
                    f"question '{qid}': options are lowercase keys (labels go in fr/en.yaml)",
                    node,
                    "options",
                )
            if len(set(raw_options)) != len(raw_options) or "notyet" in raw_options:
                raise self.fail(f"question '{qid}': options must be distinct", node, "options")
            options = tuple(raw_options)
        exclusive = node.get("exclusive", [])
        if exclusive and (
            qtype != "multi"
            or not isinstance(exclusive, list)
            or not set(exclusive) <= set(options)
        ):
            raise self.fail(
                f"question '{qid}': 'exclusive' lists options of a multiple choice that cannot "
                "be ticked together with others",
                node,
                "exclusive",
            )
        if "options" in node and qtype not in ("choice", "multi"):
            raise self.fail(f"question '{qid}': only choice and multi have options", node)
        minimum = self.integer(node, "min", qid)
        maximum = self.integer(node, "max", qid)
        if qtype == "scale":
            minimum = 1 if minimum is None else minimum
            maximum = 5 if maximum is None else maximum
            if not 0 <= minimum < maximum <= 10:
                raise self.fail(f"question '{qid}': a scale runs from min to max, 0-10", node)
        if minimum is not None and maximum is not None and minimum > maximum:
            raise self.fail(f"question '{qid}': min is larger than max", node, "min")
        when = None
        if "when" in node:
            try:
                when = compile_condition(node["when"], self.known)
            except ConditionError as exc:
                raise self.fail(f"question '{qid}': {exc}", node, "when") from None
        weight = node.get("weight", 1 if qtype in ("yesno", "scale") else 0)
        if not isinstance(weight, int | float) or isinstance(weight, bool) or weight < 0:
            raise self.fail(f"question '{qid}': weight must be a number >= 0", node, "weight")
        notyet = bool(node.get("notyet", False)) or qtype == "yesno"
        question = Question(
            id=qid,
            type=qtype,
            stage=stage_id,
            seed=self.seed(node, required=True),
            options=options,
            exclusive=tuple(exclusive),
            max_length=self.integer(node, "max_length", qid) or 1000,
            minimum=minimum,
            maximum=maximum,
            optional=self.flag(node, "optional", qid),
            notyet=notyet,
            todo_days=self.integer(node, "todo_days", qid) or 14,
            conditional=when is not None,
            weight=float(weight),
            score=node.get("score"),
            **({"when": when} if when is not None else {}),
        )
        self.check_score(question, node)
        self.known[qid] = question.choices if qtype in ("choice", "multi", "yesno") else None
        return question

    def integer(self, node: Mapping[str, Any], key: str, qid: str) -> int | None:
        value = node.get(key)
        if value is None:
            return None
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise self.fail(f"question '{qid}': '{key}' must be a whole number", node, key)
        return value

    def flag(self, node: Mapping[str, Any], key: str, qid: str) -> bool:
        value = node.get(key, False)
        if not isinstance(value, bool):
            raise self.fail(f"question '{qid}': '{key}' must be true or false", node, key)
        return value

    def check_score(self, question: Question, node: Mapping[str, Any]) -> None:
        score = question.score
        if score is None:
            return
        message = f"question '{question.id}': score must map answers to numbers from 0 to 1"
        if not isinstance(score, Mapping) or not score:
            raise self.fail(message, node, "score")
        if set(score) <= _SCORE_OPS and question.type in ("number", "scale"):
            if not all(isinstance(v, int | float) for v in score.values()):
                raise self.fail(message, node, "score")
            return
        allowed = set(question.choices) | {"notyet"}
        for key, value in score.items():
            if str(key) not in allowed:
                raise self.fail(
                    f"question '{question.id}': score names '{key}', which is not one of its "
                    "answers",
                    node,
                    "score",
                )
            if not isinstance(value, int | float) or not 0 <= value <= 1:
                raise self.fail(message, node, "score")

    def rules(self, items: Any, section: str, top: Mapping[str, Any]) -> tuple[Rule, ...]:
        if items is None:
            return ()
        if not isinstance(items, list):
            raise self.fail(f"'{section}' must be a list", top, section)
        rules = []
        seen: set[str] = set()
        for item in items:
            if not isinstance(item, Mapping) or not isinstance(item.get("id"), str):
                raise self.fail(f"each entry of '{section}' needs an id", item or top)
            rule_id = item["id"]
            if rule_id in seen:
                raise self.fail(f"'{section}': id '{rule_id}' is used twice", item)
            seen.add(rule_id)
            unknown = set(item) - {"id", "when", "seed", "days"}
            if unknown:
                raise self.fail(f"'{section}.{rule_id}': unknown key '{sorted(unknown)[0]}'", item)
            try:
                when = compile_condition(item.get("when"), self.known)
            except ConditionError as exc:
                raise self.fail(f"'{section}.{rule_id}': {exc}", item, "when") from None
            days = item.get("days", 0)
            if not isinstance(days, int) or days < 0:
                raise self.fail(f"'{section}.{rule_id}': days must be a whole number", item)
            tested = frozenset(questions_in(item.get("when")))
            rules.append(Rule(rule_id, when, self.seed(item, required=False), days, tested))
        return tuple(rules)

    def alliance_type(self, node: Any, top: Mapping[str, Any]) -> AllianceType:
        if not isinstance(node, Mapping):
            raise self.fail("'alliance_type' needs a threshold and criteria", top, "alliance_type")
        threshold = node.get("threshold")
        if not isinstance(threshold, int) or threshold < 1:
            raise self.fail("alliance_type.threshold must be a whole number >= 1", node)
        criteria = self.rules(node.get("criteria"), "criteria", node)
        if not criteria or threshold > len(criteria):
            raise self.fail("alliance_type needs at least 'threshold' criteria", node)
        return AllianceType(threshold, criteria)


def _load_texts(folder: Path, dialogue: Dialogue) -> dict[str, Texts]:
    merged: dict[str, dict[str, Any]] = {}
    for lang in LANGUAGES:
        content = load_yaml(folder / f"{lang}.yaml")
        ui = load_yaml(folder / f"ui.{lang}.yaml")
        for path, data, top in ((f"{lang}.yaml", content, None), (f"ui.{lang}.yaml", ui, "ui")):
            if not isinstance(data, Mapping):
                raise DialogueError("the file must be a mapping", path=str(folder / path))
            if top is not None and set(data) != {"ui"}:
                raise DialogueError(
                    "the file must hold one mapping, 'ui:'", path=str(folder / path)
                )
        merged[lang] = {**content, "ui": ui["ui"]}
    reference = merged[LANGUAGES[0]]
    for lang in LANGUAGES[1:]:
        _compare(reference, merged[lang], "", LANGUAGES[0], lang, folder)
    for lang in LANGUAGES:
        _check_required(merged[lang], dialogue, folder / f"{lang}.yaml")
    return {lang: Texts(lang, data) for lang, data in merged.items()}


def _file_for(path: str, lang: str) -> str:
    return f"ui.{lang}.yaml" if path.startswith("ui.") else f"{lang}.yaml"


def _compare(a: Any, b: Any, path: str, lang_a: str, lang_b: str, folder: Path) -> None:
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        for key in a:
            if key not in b:
                where = folder / _file_for(f"{path}{key}", lang_b)
                raise DialogueError(
                    f"'{path}{key}' is in {lang_a} but missing here",
                    path=str(where),
                    line=line_of(b),
                )
        for key in b:
            if key not in a:
                where = folder / _file_for(f"{path}{key}", lang_b)
                raise DialogueError(
                    f"'{path}{key}' is not in {lang_a}: both languages need the same keys",
                    path=str(where),
                    line=line_of(b, key),
                )
            _compare(a[key], b[key], f"{path}{key}.", lang_a, lang_b, folder)
        return
    name = path.rstrip(".")
    file = str(folder / _file_for(name, lang_b))
    if not isinstance(a, str) or not isinstance(b, str):
        raise DialogueError(f"'{name}' must be text in both languages", path=file)
    try:
        if placeholders(a) != placeholders(b):
            raise DialogueError(
                f"'{name}' uses placeholders {sorted(placeholders(b))} but {lang_a} uses "
                f"{sorted(placeholders(a))}",
                path=file,
            )
    except ValueError:
        raise DialogueError(f"'{name}' has an unbalanced {{ or }}", path=file) from None


def _check_required(data: Mapping[str, Any], dialogue: Dialogue, path: Path) -> None:
    texts = Texts("check", data)
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
    needed += [f"ui.answers.{key}" for key in YESNO_OPTIONS]
    for key in needed:
        if not texts.has(key):
            raise DialogueError(f"the text '{key}' is missing", path=str(path))
