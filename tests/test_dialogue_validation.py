"""Malformed dialogue files are refused with a message an advisor can act on.

Each case copies the mini dialogue (tests/fixtures/mini, with the real ui.*.yaml), breaks one
thing, and expects a DialogueError naming the file, the line and what to fix. Structural changes
go through the YAML (load, change, dump); what a dump cannot write (duplicate keys, bad
indentation, tags, bytes) is edited as text. Lines are found by their text in the written file,
so the cases survive edits of the fixture.
"""

import re
import shutil
from pathlib import Path

import pytest
import yaml

from bot.cli import main
from bot.dialogue import loader, yamlsource
from bot.dialogue.loader import DEFAULT_DIR, load_dialogue
from bot.dialogue.yamlsource import load_yaml
from bot.errors import DialogueError
from tests.dialogue_fixtures import mini_dir

# --- helpers ------------------------------------------------------------------------------------


def plain(node):
    """LineDicts and LineLists as plain dicts and lists, for yaml.safe_dump."""
    if isinstance(node, dict):
        return {key: plain(value) for key, value in node.items()}
    if isinstance(node, list):
        return [plain(item) for item in node]
    return node


def mutate(folder: Path, file: str, change) -> Path:
    """Load `file` of the dialogue folder, apply `change` (in place, or returning the new
    document), and write it back as block-style YAML."""
    path = folder / file
    data = plain(load_yaml(path))
    changed = change(data)
    data = data if changed is None else changed
    path.write_text(
        yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=1000), encoding="utf-8"
    )
    return path


def edit_text(folder: Path, file: str, old: str, new: str) -> Path:
    """Replace the first occurrence of `old` in a file's text (for what a dump cannot write)."""
    path = folder / file
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} is not in {file}: the fixture changed"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return path


def line_at(path: Path, *snippets: str) -> int:
    """The line (1-based) of the last snippet, each searched from the line after the previous."""
    lines = path.read_bytes().decode("utf-8", errors="replace").splitlines()
    start, found = 0, -1
    for snippet in snippets:
        found = next(i for i in range(start, len(lines)) if snippet in lines[i])
        start = found + 1
    return found + 1


def refused(folder: Path, file: str, *words: str, at: tuple[str, ...] | None = None):
    """Loading fails with a DialogueError on `file`, whose message holds every word, at the line
    of the snippets `at` (when given). Returns the error."""
    with pytest.raises(DialogueError) as info:
        load_dialogue(folder)
    error = info.value
    assert Path(error.path).name == file, str(error)
    for word in words:
        assert word in error.message, f"{word!r} not in: {error}"
    if at is not None:
        assert error.line == line_at(folder / file, *at), str(error)
    assert str(error).startswith(f"{folder / file}")
    return error


def question(data, qid):
    return next(q for stage in data["stages"] for q in stage["questions"] if q["id"] == qid)


def stage(data, sid):
    return next(s for s in data["stages"] if s["id"] == sid)


def rule(data, section, rid):
    items = data["alliance_type"]["criteria"] if section == "criteria" else data[section]
    return next(r for r in items if r["id"] == rid)


def _drop(*keys):
    def change(data):
        node = data
        for key in keys[:-1]:
            node = node[key]
        del node[keys[-1]]

    return change


def _put(value, *keys):
    def change(data):
        node = data
        for key in keys[:-1]:
            node = node[key]
        node[keys[-1]] = value

    return change


@pytest.fixture
def mini(tmp_path):
    return mini_dir(tmp_path / "mini")


def test_the_mini_dialogue_is_valid(mini):
    dialogue = load_dialogue(mini)
    assert dialogue.id == "mini"
    assert "coop" in dialogue.questions


def test_a_dump_round_trip_keeps_the_dialogue_valid(mini):
    for file in ("checklist.yaml", "seed.yaml", "fr.yaml", "en.yaml", "ui.fr.yaml"):
        mutate(mini, file, lambda data: None)
    load_dialogue(mini)


# --- checklist.yaml: wrong types, bad values ----------------------------------------------------


def _set(path_fn, key, value):
    def change(data):
        path_fn(data)[key] = value

    return change


def _del(path_fn, key):
    def change(data):
        del path_fn(data)[key]

    return change


def _q(qid):
    return lambda data: question(data, qid)


def _stage(sid):
    return lambda data: stage(data, sid)


def _rule(section, rid):
    return lambda data: rule(data, section, rid)


def _top(data):
    return data


def _replace_first_question(value):
    def change(data):
        stage(data, "one")["questions"][1] = value

    return change


# (id, change, words in the message, snippets locating the line in the written file)
CHECKLIST_CASES = [
    (
        "stages_not_a_list",
        _set(_top, "stages", "one, two"),
        ["'stages'", "list of stages", "found the text 'one, two'"],
        ("stages:",),
    ),
    (
        "stages_empty",
        _set(_top, "stages", []),
        ["'stages'", "found an empty list"],
        ("stages:",),
    ),
    (
        "stage_is_a_string",
        lambda data: data["stages"].__setitem__(1, "two"),
        ["stage 2", "id and questions", "found the text 'two'"],
        ("- two",),
    ),
    (
        "stage_without_questions",
        _del(_stage("two"), "questions"),
        ["stage 'two'", "needs 'questions'"],
        ("- id: two",),
    ),
    (
        "question_is_a_string",
        _replace_first_question("kind"),
        ["stage 'one'", "question 2", "'- id:'", "found the text 'kind'"],
        ("- id: one", "- kind"),
    ),
    (
        "question_is_a_list",
        _replace_first_question(["kind", "choice"]),
        ["stage 'one'", "question 2", "found a list"],
        ("- id: one", "- id: company", "- - kind"),
    ),
    (
        "type_unknown",
        _set(_q("coop"), "type", "boolean"),
        ["question 'coop'", "stage 'one'", "'type' must be one of", "yesno", "'boolean'"],
        ("type: boolean",),
    ),
    (
        "type_missing",
        _del(_q("coop"), "type"),
        ["question 'coop'", "'type' must be one of", "found nothing"],
        ("- id: coop",),
    ),
    (
        "type_is_a_list",
        _set(_q("coop"), "type", ["yesno"]),
        ["question 'coop'", "'type'", "found a list"],
        ("id: coop", "type:"),
    ),
    (
        "options_not_a_list",
        _set(_q("kind"), "options", "alpha, beta"),
        ["question 'kind'", "'options' must list at least two", "found the text 'alpha, beta'"],
        ("id: kind", "options:"),
    ),
    (
        "options_missing",
        _del(_q("kind"), "options"),
        ["question 'kind'", "'options' must list at least two", "found nothing"],
        ("- id: kind",),
    ),
    (
        "options_with_one_item",
        _set(_q("kind"), "options", ["alpha"]),
        ["question 'kind'", "at least two", "only one option"],
        ("id: kind", "options:"),
    ),
    (
        "duplicate_option",
        _set(_q("kind"), "options", ["alpha", "beta", "alpha"]),
        ["question 'kind'", "option 'alpha' is listed twice"],
        ("id: kind", "- alpha", "- alpha"),
    ),
    (
        "option_key_with_spaces",
        _set(_q("kind"), "options", ["alpha", "big rival"]),
        ["question 'kind'", "'big rival' is not a valid key", "lowercase", "fr.yaml"],
        ("- big rival",),
    ),
    (
        "option_key_with_capitals",
        _set(_q("kind"), "options", ["Alpha", "beta"]),
        ["question 'kind'", "'Alpha' is not a valid key"],
        ("- Alpha",),
    ),
    (
        "option_key_is_a_number",
        _set(_q("kind"), "options", ["alpha", 3]),
        ["question 'kind'", "the option (found 3) is not a valid key"],
        ("id: kind", "- 3"),
    ),
    (
        "option_named_notyet",
        _set(_q("kind"), "options", ["alpha", "notyet"]),
        ["question 'kind'", "'notyet' cannot be an option", "notyet: true"],
        ("- notyet",),
    ),
    (
        "options_on_a_text_question",
        _set(_q("company"), "options", ["a", "b"]),
        ["question 'company'", "'options' applies only to choice and multi", "this one is text"],
        ("id: company", "options:"),
    ),
    (
        "exclusive_names_an_unknown_option",
        _set(_q("picks"), "exclusive", ["none"]),
        ["question 'picks'", "'exclusive' names 'none'", "x, y, z"],
        ("exclusive:", "- none"),
    ),
    (
        "exclusive_on_a_choice",
        _set(_q("kind"), "exclusive", ["alpha"]),
        ["question 'kind'", "'exclusive' applies only to multi"],
        ("exclusive:",),
    ),
    (
        "min_above_max",
        lambda data: question(data, "sessions").update(min=12, max=3),
        ["question 'sessions'", "stage 'two'", "'min' (12) is larger than 'max' (3)"],
        ("min: 12",),
    ),
    (
        "scale_max_out_of_bounds",
        _set(_q("level"), "max", 11),
        ["question 'level'", "a scale runs from 'min' to 'max'", "<= 10", "here 1 to 11"],
        ("max: 11",),
    ),
    (
        "scale_min_zero",
        _set(_q("level"), "min", 0),
        ["question 'level'", "1 <= min < max", "here 0 to 5"],
        ("min: 0",),
    ),
    (
        "scale_min_equals_max",
        lambda data: question(data, "level").update(min=3, max=3),
        ["question 'level'", "here 3 to 3"],
        ("min: 3",),
    ),
    (
        "min_on_a_text_question",
        _set(_q("company"), "min", 1),
        ["question 'company'", "'min' applies only to number and scale"],
        ("min: 1",),
    ),
    (
        "min_not_whole",
        _set(_q("sessions"), "min", 1.5),
        ["question 'sessions'", "'min' must be a whole number", "found 1.5"],
        ("min: 1.5",),
    ),
    (
        "max_length_negative",
        _set(_q("company"), "max_length", -5),
        ["question 'company'", "'max_length' must be a whole number, 1 or more", "found -5"],
        ("max_length: -5",),
    ),
    (
        "max_length_zero",
        _set(_q("company"), "max_length", 0),
        ["question 'company'", "1 or more", "found 0"],
        ("max_length: 0",),
    ),
    (
        "max_length_text",
        _set(_q("company"), "max_length", "long"),
        ["question 'company'", "'max_length'", "found the text 'long'"],
        ("max_length: long",),
    ),
    (
        "max_length_on_a_choice",
        _set(_q("kind"), "max_length", 20),
        ["question 'kind'", "'max_length' applies only to text questions"],
        ("id: kind", "max_length: 20"),
    ),
    (
        "todo_days_text",
        _set(_q("when_start"), "todo_days", "two weeks"),
        ["question 'when_start'", "'todo_days' must be a whole number, 0 or more"],
        ("todo_days: two weeks",),
    ),
    (
        "optional_maybe",
        _set(_q("note"), "optional", "maybe"),
        ["question 'note'", "'optional' must be true or false", "found the text 'maybe'"],
        ("optional: maybe",),
    ),
    (
        "optional_yes_is_not_a_boolean",
        _set(_q("note"), "optional", "yes"),
        ["question 'note'", "'optional' must be true or false", "found the text 'yes'"],
        ("optional:",),
    ),
    (
        "notyet_maybe",
        _set(_q("sessions"), "notyet", "maybe"),
        ["question 'sessions'", "'notyet' must be true or false"],
        ("id: sessions", "notyet: maybe"),
    ),
    (
        "notyet_false_on_yesno",
        _set(_q("coop"), "notyet", False),
        ["question 'coop'", "always offers 'not yet'", "remove 'notyet: false'"],
        ("notyet: false",),
    ),
    (
        "weight_negative",
        _set(_q("level"), "weight", -1),
        ["question 'level'", "'weight' must be a number, 0 or more", "found -1"],
        ("weight: -1",),
    ),
    (
        "weight_text",
        _set(_q("level"), "weight", "heavy"),
        ["question 'level'", "'weight'", "found the text 'heavy'"],
        ("weight: heavy",),
    ),
    (
        "weight_not_a_number",
        _set(_q("level"), "weight", float("nan")),
        ["question 'level'", "'weight' must be a number"],
        ("id: level", "weight:"),
    ),
    (
        "score_unknown_answer",
        _set(_q("kind"), "score", {"alpha": 1, "gamma": 0}),
        ["question 'kind'", "'gamma'", "not one of its answers", "alpha, beta, competitor"],
        ("id: kind", "score:"),
    ),
    (
        "score_above_one",
        _set(_q("kind"), "score", {"alpha": 2}),
        ["question 'kind'", "score of 'alpha' must be a number from 0 to 1", "found 2"],
        ("id: kind", "score:"),
    ),
    (
        "score_negative",
        _set(_q("coop"), "score", {"yes": 1, "no": -0.5}),
        ["question 'coop'", "score of 'no'", "from 0 to 1"],
        ("id: coop", "score:"),
    ),
    (
        "score_boolean_value",
        _set(_q("coop"), "score", {"yes": True}),
        ["question 'coop'", "score of 'yes'", "found true"],
        ("id: coop", "score:"),
    ),
    (
        "score_is_text",
        _set(_q("coop"), "score", "high"),
        ["question 'coop'", "'score' must map answers", "found the text 'high'"],
        ("id: coop", "score:"),
    ),
    (
        "score_scale_value_out_of_range",
        _set(_q("level"), "score", {"7": 1}),
        ["question 'level'", "'7'", "its answers: 1, 2, 3, 4, 5, notyet"],
        ("id: level", "score:"),
    ),
    (
        "score_comparison_with_text",
        _set(_q("sessions"), "score", {"ge": "four"}),
        ["question 'sessions'", "'ge' takes a number", "found the text 'four'"],
        ("id: sessions", "score:"),
    ),
    (
        "score_number_unknown_key",
        _set(_q("sessions"), "score", {"above": 4}),
        ["question 'sessions'", "'above'", "a number question scores with a comparison"],
        ("id: sessions", "score:"),
    ),
    # unknown keys
    (
        "unknown_top_level_key",
        _set(_top, "title", "Alliance"),
        ["unknown key 'title'", "at the top of the file", "id, stages, alliance_type"],
        ("title: Alliance",),
    ),
    (
        "misspelt_top_level_key",
        lambda data: {("red_flag" if k == "red_flags" else k): v for k, v in data.items()},
        ["unknown key 'red_flag'", "did you mean 'red_flags'?"],
        ("red_flag:",),
    ),
    (
        "unknown_stage_key",
        _set(_stage("one"), "title", "One"),
        ["stage 'one'", "unknown key 'title'", "id, seed, questions"],
        ("title: One",),
    ),
    (
        "unknown_question_key",
        _set(_q("kind"), "optionz", ["a", "b"]),
        ["question 'kind'", "unknown key 'optionz'", "did you mean 'options'?"],
        ("optionz:",),
    ),
    (
        "unknown_red_flag_key",
        _set(_rule("red_flags", "few_sessions"), "text", "Too few"),
        ["red flag 'few_sessions'", "unknown key 'text'", "id, when, seed"],
        ("text: Too few",),
    ),
    (
        "days_on_a_red_flag",
        _set(_rule("red_flags", "few_sessions"), "days", 3),
        ["red flag 'few_sessions'", "unknown key 'days'"],
        ("days: 3",),
    ),
    (
        "unknown_criterion_key",
        _set(_rule("criteria", "big"), "weight", 2),
        ["alliance_type criterion 'big'", "unknown key 'weight'"],
        ("id: big", "weight: 2"),
    ),
    (
        "unknown_alliance_type_key",
        _set(lambda data: data["alliance_type"], "treshold", 1),
        ["alliance_type", "unknown key 'treshold'", "did you mean 'threshold'?"],
        ("treshold:",),
    ),
    # ids
    (
        "duplicate_question_id",
        _set(_q("picks"), "id", "company"),
        ["question 'company'", "stage 'two'", "'company' is used twice", "first on line"],
        ("- id: company", "- id: company"),
    ),
    (
        "missing_question_id",
        _del(_q("coop"), "id"),
        ["stage 'one'", "question 3", "needs an 'id'", "found nothing"],
        ("- type: yesno",),
    ),
    (
        "question_id_with_capitals",
        _set(_q("coop"), "id", "Coop"),
        ["stage 'one'", "question 3", "lowercase", "found the text 'Coop'"],
        ("id: Coop",),
    ),
    (
        "duplicate_stage_id",
        _set(_stage("two"), "id", "one"),
        ["stage id 'one' is used twice", "first on line"],
        ("- id: one", "- id: one"),
    ),
    (
        "dialogue_id_missing",
        _del(_top, "id"),
        ["'id' must be a short word", "found nothing"],
        None,
    ),
    # conditions
    (
        "when_tests_an_unknown_question",
        _set(_q("coop"), "when", {"kindd": "competitor"}),
        ["question 'coop'", "tests 'kindd'", "not a question id", "did you mean 'kind'?"],
        ("id: coop", "when:"),
    ),
    (
        "when_tests_a_later_question",
        _set(_q("coop"), "when", {"level": {"ge": 3}}),
        ["question 'coop'", "tests 'level'", "not asked before this question"],
        ("id: coop", "when:"),
    ),
    (
        "when_tests_its_own_question",
        _set(_q("coop"), "when", {"coop": "yes"}),
        ["question 'coop'", "tests 'coop'", "not asked before this question"],
        ("id: coop", "when:"),
    ),
    (
        "when_unknown_operator",
        _set(_q("coop"), "when", {"kind": {"is": "competitor"}}),
        ["question 'coop'", "unknown test 'is' on 'kind'", "lt, le, gt, ge"],
        ("id: coop", "when:"),
    ),
    (
        "when_option_the_question_does_not_have",
        _set(_q("coop"), "when", {"kind": "gamma"}),
        ["question 'coop'", "'gamma' is not an answer of 'kind'", "alpha, beta, competitor"],
        ("id: coop", "when:"),
    ),
    (
        "when_any_of_with_a_missing_option",
        _set(_q("picks"), "when", {"coop": ["yes", "maybe"]}),
        ["question 'picks'", "'maybe' is not an answer of 'coop'", "yes, no, notyet"],
        ("id: picks", "when:"),
    ),
    (
        "when_compares_a_choice_with_a_number",
        _set(_q("coop"), "when", {"kind": {"ge": 2}}),
        ["question 'coop'", "'ge' compares numbers", "'kind' is answered with one of"],
        ("id: coop", "when:"),
    ),
    (
        "when_compares_with_text",
        _set(_rule("red_flags", "few_sessions"), "when", {"sessions": {"ge": "four"}}),
        ["red flag 'few_sessions'", "'ge' on 'sessions' takes a number"],
        ("id: few_sessions", "when:"),
    ),
    (
        "when_any_not_a_list",
        _set(_q("coop"), "when", {"any": {"kind": "alpha"}}),
        ["question 'coop'", "'any' takes a list of conditions"],
        ("id: coop", "when:"),
    ),
    (
        "when_all_empty",
        _set(_q("coop"), "when", {"all": []}),
        ["question 'coop'", "'all' takes a list of conditions"],
        ("id: coop", "when:"),
    ),
    (
        "when_not_empty_mapping",
        _set(_q("coop"), "when", {"not": {}}),
        ["question 'coop'", "'not' takes one non-empty condition"],
        ("id: coop", "when:"),
    ),
    (
        "when_empty_mapping",
        _set(_q("coop"), "when", {}),
        ["question 'coop'", "a condition must be a non-empty mapping"],
        ("id: coop", "when:"),
    ),
    (
        "when_is_a_sentence",
        _set(_q("coop"), "when", "kind is competitor"),
        ["question 'coop'", "a condition must be a non-empty mapping"],
        ("id: coop", "when:"),
    ),
    (
        "when_without_value",
        _set(_q("coop"), "when", {"kind": None}),
        ["question 'coop'", "the condition on 'kind' has no value"],
        ("id: coop", "when:"),
    ),
    (
        "when_answered_not_boolean",
        _set(_q("coop"), "when", {"kind": {"answered": "yes"}}),
        ["question 'coop'", "'answered' on 'kind' takes true or false"],
        ("id: coop", "when:"),
    ),
    (
        "first_question_has_a_when",
        _set(_q("company"), "when", {"kind": "alpha"}),
        ["question 'company'", "first question", "always asked", "cannot have a 'when'"],
        ("id: company", "when:"),
    ),
    # dangling conditions in the diagnosis rules
    (
        "red_flag_tests_an_unknown_question",
        _set(_rule("red_flags", "few_sessions"), "when", {"sesions": {"lt": 4}}),
        ["red flag 'few_sessions'", "tests 'sesions'", "did you mean 'sessions'?"],
        ("id: few_sessions", "when:"),
    ),
    (
        "next_step_tests_an_unknown_question",
        _set(_rule("next_steps", "plan"), "when", {"partner": "no"}),
        ["next step 'plan'", "tests 'partner'", "not a question id"],
        ("id: plan", "when:"),
    ),
    (
        "next_step_tests_a_missing_option",
        _set(_rule("next_steps", "plan"), "when", {"coop": "never"}),
        ["next step 'plan'", "'never' is not an answer of 'coop'"],
        ("id: plan", "when:"),
    ),
    (
        "criterion_tests_an_unknown_question",
        _set(_rule("criteria", "big"), "when", {"lvl": {"ge": 4}}),
        ["alliance_type criterion 'big'", "tests 'lvl'"],
        ("id: big", "when:"),
    ),
    (
        "red_flag_without_when",
        _del(_rule("red_flags", "few_sessions"), "when"),
        ["red flag 'few_sessions'", "needs a 'when'"],
        ("- id: few_sessions",),
    ),
    (
        "duplicate_red_flag_id",
        lambda data: data["red_flags"].append(dict(rule(data, "red_flags", "few_sessions"))),
        ["red flag 'few_sessions'", "used twice in 'red_flags'", "first on line"],
        ("- id: few_sessions", "- id: few_sessions"),
    ),
    (
        "red_flags_not_a_list",
        _set(_top, "red_flags", {"few_sessions": {"sessions": {"lt": 4}}}),
        ["'red_flags' must be a list", "found a block of keys"],
        ("red_flags:",),
    ),
    (
        "red_flag_is_a_string",
        _set(_top, "red_flags", ["few_sessions"]),
        ["'red_flags'", "entry 1", "found the text 'few_sessions'"],
        ("red_flags:", "- few_sessions"),
    ),
    (
        "next_step_days_negative",
        _set(_rule("next_steps", "plan"), "days", -7),
        ["next step 'plan'", "'days' must be a whole number, 0 or more", "found -7"],
        ("days: -7",),
    ),
    (
        "threshold_above_the_criteria",
        _set(lambda data: data["alliance_type"], "threshold", 5),
        ["'threshold' is 5", "there is only 1 criterion", "could ever be strategic"],
        ("threshold: 5",),
    ),
    (
        "threshold_text",
        _set(lambda data: data["alliance_type"], "threshold", "two"),
        ["alliance_type", "'threshold'", "found the text 'two'"],
        ("threshold: two",),
    ),
    (
        "alliance_type_missing",
        _del(_top, "alliance_type"),
        ["'alliance_type' needs a threshold and criteria"],
        None,
    ),
    # seed labels
    (
        "question_seed_not_in_seed_yaml",
        _set(_q("company"), "seed", ["p.three"]),
        ["question 'company'", "seed passage 'p.three' is not in seed.yaml"],
        ("id: company", "- p.three"),
    ),
    (
        "stage_seed_not_in_seed_yaml",
        _set(_stage("one"), "seed", ["p.one", "p.nine"]),
        ["stage 'one'", "'p.nine' is not in seed.yaml"],
        ("- p.nine",),
    ),
    (
        "red_flag_seed_not_in_seed_yaml",
        _set(_rule("red_flags", "few_sessions"), "seed", ["sessions"]),
        ["red flag 'few_sessions'", "'sessions' is not in seed.yaml"],
        ("- sessions",),
    ),
    (
        "question_without_seed",
        _del(_q("company"), "seed"),
        ["question 'company'", "needs 'seed'", "seed.yaml passage labels", "found nothing"],
        ("- id: company",),
    ),
    (
        "seed_label_not_text",
        _set(_q("company"), "seed", [{"p.one": 1}]),
        ["question 'company'", "a seed label is text", "found a block of keys"],
        ("id: company", "- p.one: 1"),
    ),
]


@pytest.mark.parametrize(
    ("change", "words", "at"),
    [case[1:] for case in CHECKLIST_CASES],
    ids=[case[0] for case in CHECKLIST_CASES],
)
def test_checklist_mistakes_are_refused(mini, change, words, at):
    mutate(mini, "checklist.yaml", change)
    refused(mini, "checklist.yaml", *words, at=at)


# --- seed.yaml ----------------------------------------------------------------------------------

SEED_CASES = [
    (
        "passages_not_a_list",
        lambda data: {"passages": "p.one, p.two"},
        ["'passages:'", "a list of passages"],
        ("passages:",),
    ),
    (
        "passages_missing",
        lambda data: {"items": data["passages"]},
        ["'passages:'"],
        None,
    ),
    (
        "passage_without_summary",
        _drop("passages", 1, "summary"),
        ["passage 2 needs a 'summary'", "found nothing"],
        ("label: p.two",),
    ),
    (
        "passage_is_a_string",
        lambda data: data["passages"].append("p.three"),
        ["passage 3 must be a block with label, section and summary"],
        ("- p.three",),
    ),
    (
        "duplicate_label",
        lambda data: data["passages"][1].update(label="p.one"),
        ["the label 'p.one' is used by two passages", "first on line"],
        ("label: p.one", "label: p.one"),
    ),
]


@pytest.mark.parametrize(
    ("change", "words", "at"),
    [case[1:] for case in SEED_CASES],
    ids=[case[0] for case in SEED_CASES],
)
def test_seed_mistakes_are_refused(mini, change, words, at):
    mutate(mini, "seed.yaml", change)
    refused(mini, "seed.yaml", *words, at=at)


# --- fr.yaml / en.yaml / ui.*.yaml --------------------------------------------------------------


# (id, [(file, change), ...], refused file, words, snippets locating the line)
TEXT_CASES = [
    (
        "question_text_missing_in_en",
        [("en.yaml", _drop("questions", "kind", "text"))],
        "en.yaml",
        ["the text of question 'kind'", "'questions.kind.text'", "missing here", "fr.yaml has it"],
        ("questions:", "  kind:"),
    ),
    (
        "option_label_missing_in_fr",
        [("fr.yaml", _drop("questions", "kind", "options", "beta"))],
        "fr.yaml",
        ["the label of option 'beta' of question 'kind'", "en.yaml has it on line"],
        ("  kind:", "options:"),
    ),
    (
        "stage_title_missing_in_both",
        [
            ("fr.yaml", _drop("stages", "two", "title")),
            ("en.yaml", _drop("stages", "two", "title")),
        ],
        "fr.yaml",
        ["the title of stage 'two'", "'stages.two.title'", "is missing: add it"],
        ("stages:", "  two:"),
    ),
    (
        "option_label_missing_in_both",
        [
            ("fr.yaml", _drop("questions", "picks", "options", "z")),
            ("en.yaml", _drop("questions", "picks", "options", "z")),
        ],
        "fr.yaml",
        ["the label of option 'z' of question 'picks'", "is missing"],
        ("  picks:", "options:"),
    ),
    (
        "question_missing_in_both",
        [("fr.yaml", _drop("questions", "note")), ("en.yaml", _drop("questions", "note"))],
        "fr.yaml",
        ["of question 'note'", "'questions.note.text'", "is missing"],
        ("questions:",),
    ),
    (
        "red_flag_text_missing_in_en",
        [("en.yaml", _drop("red_flags", "few_sessions"))],
        "en.yaml",
        ["the text of red flag 'few_sessions'", "missing here"],
        ("red_flags:",),
    ),
    (
        "red_flag_text_missing_in_both",
        [
            ("fr.yaml", _drop("red_flags", "few_sessions")),
            ("en.yaml", _drop("red_flags", "few_sessions")),
        ],
        "fr.yaml",
        ["the text of red flag 'few_sessions'", "is missing: add it"],
        ("red_flags:",),
    ),
    (
        "next_step_text_missing_in_both",
        [("fr.yaml", _drop("next_steps", "plan")), ("en.yaml", _drop("next_steps", "plan"))],
        "fr.yaml",
        ["the text of next step 'plan'", "is missing"],
        ("next_steps:",),
    ),
    (
        "criterion_text_missing_in_both",
        [
            ("fr.yaml", _drop("alliance_type", "criteria", "big")),
            ("en.yaml", _drop("alliance_type", "criteria", "big")),
        ],
        "fr.yaml",
        ["alliance_type criterion 'big'", "is missing"],
        ("alliance_type:", "criteria:"),
    ),
    (
        "extra_key_in_en_only",
        [("en.yaml", _put("Hint-en", "questions", "company", "hint"))],
        "fr.yaml",
        ["'questions.company.hint'", "missing here", "en.yaml has it on line"],
        ("questions:", "  company:"),
    ),
    (
        "different_placeholders",
        [
            ("fr.yaml", _put("Nom de {company} ?", "questions", "kind", "help")),
            ("en.yaml", _put("Name of {firm}?", "questions", "kind", "help")),
        ],
        "en.yaml",
        ["the help of question 'kind'", "{firm} here but {company} in fr.yaml", "the same"],
        ("{firm}",),
    ),
    (
        "placeholder_only_in_one_language",
        [("en.yaml", _put("Stage {stage}", "stages", "one", "title"))],
        "en.yaml",
        ["the title of stage 'one'", "{stage} here but none in fr.yaml"],
        ("Stage {stage}",),
    ),
    (
        "unbalanced_brace_in_fr",
        [("fr.yaml", _put("Nom {company ?", "questions", "company", "text"))],
        "fr.yaml",
        ["the text of question 'company'", "unbalanced { or }"],
        ("Nom {company ?",),
    ),
    (
        "unbalanced_brace_in_en",
        [("en.yaml", _put("Name company} ?", "questions", "company", "text"))],
        "en.yaml",
        ["the text of question 'company'", "unbalanced { or }"],
        ("Name company} ?",),
    ),
    (
        "placeholder_without_a_name",
        [
            ("fr.yaml", _put("Étape {}", "stages", "one", "title")),
            ("en.yaml", _put("Stage {}", "stages", "one", "title")),
        ],
        "fr.yaml",
        ["the title of stage 'one'", "the placeholder {}", "a name in braces"],
        ("Étape {}",),
    ),
    (
        "text_is_a_list",
        [("en.yaml", _put(["Name?", "(en)"], "questions", "company", "text"))],
        "en.yaml",
        ["the text of question 'company'", "is a list", "must be one text"],
        ("  company:", "text:"),
    ),
    (
        "text_is_a_number",
        [("fr.yaml", _put(2024, "stages", "one", "title"))],
        "fr.yaml",
        ["the title of stage 'one'", "must be text", "found 2024", "quotes"],
        ("title: 2024",),
    ),
    (
        "text_is_empty",
        [("en.yaml", _put(None, "questions", "kind", "label"))],
        "en.yaml",
        ["the label of question 'kind'", "is empty"],
        ("  kind:", "label:"),
    ),
    (
        "text_is_a_block_in_one_language",
        [
            (
                "en.yaml",
                _put({"short": "A", "long": "Alpha"}, "questions", "kind", "options", "alpha"),
            )
        ],
        "en.yaml",
        ["the label of option 'alpha' of question 'kind'", "a block of keys here", "fr.yaml"],
        ("options:", "alpha:"),
    ),
    (
        "ui_text_in_a_content_file",
        [("fr.yaml", _put({"welcome": "Bonjour"}, "ui"))],
        "fr.yaml",
        ["unknown key 'ui'", "interface texts go in the ui.*.yaml files"],
        ("ui:",),
    ),
    (
        "ui_file_with_an_extra_top_level_key",
        [("ui.en.yaml", _put("Hello", "welcome"))],
        "ui.en.yaml",
        ["unknown key 'welcome' at the top of the file", "one block, 'ui:'"],
        ("welcome: Hello",),
    ),
    (
        "ui_file_without_ui",
        [("ui.fr.yaml", lambda data: {"interface": data["ui"]})],
        "ui.fr.yaml",
        ["one block, 'ui:'"],
        None,
    ),
    (
        "ui_keys_differ",
        [("ui.fr.yaml", _drop("ui", "answers", "notyet"))],
        "ui.fr.yaml",
        ["'ui.answers.notyet'", "missing here", "ui.en.yaml has it on line"],
        ("ui:", "answers:"),
    ),
    (
        "ui_answer_missing_in_both",
        [
            ("ui.fr.yaml", _drop("ui", "answers", "notyet")),
            ("ui.en.yaml", _drop("ui", "answers", "notyet")),
        ],
        "ui.fr.yaml",
        ["the interface text 'ui.answers.notyet' is missing"],
        ("ui:", "answers:"),
    ),
]


@pytest.mark.parametrize(
    ("changes", "file", "words", "at"),
    [case[1:] for case in TEXT_CASES],
    ids=[case[0] for case in TEXT_CASES],
)
def test_text_mistakes_are_refused(mini, changes, file, words, at):
    for name, change in changes:
        mutate(mini, name, change)
    refused(mini, file, *words, at=at)


# --- YAML itself: syntax, encoding, empty files, tags -------------------------------------------


def test_duplicate_key_in_a_mapping(mini):
    path = edit_text(
        mini,
        "checklist.yaml",
        "        max_length: 20\n",
        "        max_length: 20\n        max_length: 30\n",
    )
    error = refused(
        mini,
        "checklist.yaml",
        "the key 'max_length' appears twice",
        "keep only one",
        at=("max_length: 30",),
    )
    assert f"first on line {line_at(path, 'max_length: 20')}" in error.message


def test_duplicate_key_in_a_flow_mapping(mini):
    edit_text(mini, "en.yaml", 'label: "Name-en"}', 'label: "Name-en", text: "Again"}')
    refused(mini, "en.yaml", "the key 'text' appears twice", at=("Again",))


def test_bad_indentation_points_at_the_line(mini):
    edit_text(mini, "checklist.yaml", "        type: yesno\n", "       type: yesno\n")
    refused(mini, "checklist.yaml", "indentation", at=("       type: yesno",))


def test_a_colon_too_deep_points_at_the_line(mini):
    edit_text(mini, "checklist.yaml", "        type: yesno\n", "          type: yesno\n")
    refused(mini, "checklist.yaml", "indentation", at=("          type: yesno",))


def test_tab_indentation_is_explained(mini):
    edit_text(mini, "checklist.yaml", "        type: yesno\n", "\ttype: yesno\n")
    refused(mini, "checklist.yaml", "tab character", "spaces", at=("\ttype: yesno",))


def test_unclosed_quote_at_the_end(mini):
    edit_text(mini, "en.yaml", 'next_steps: {plan: "Plan-en"}', 'next_steps: {plan: "Plan-en}')
    refused(mini, "en.yaml", "quote", "never closed", at=('"Plan-en}',))


def test_unclosed_quote_in_the_middle(mini):
    # The next quote in the file closes it: YAML stops a line later; the message points back.
    edit_text(mini, "en.yaml", '  strategic: "Strategic-en"', '  strategic: "Strategic-en')
    refused(mini, "en.yaml", "quote", "never closed", at=('strategic: "Strategic-en',))


def test_unclosed_flow_mapping(mini):
    edit_text(mini, "checklist.yaml", "when: {kind: competitor}", "when: {kind: competitor")
    refused(mini, "checklist.yaml", "{ or [", "not closed", at=("when: {kind: competitor",))


def test_two_documents_in_one_file(mini):
    path = mini / "seed.yaml"
    path.write_text(path.read_text() + "---\npassages: []\n")
    refused(mini, "seed.yaml", "more than one document", at=("---",))


def test_non_utf8_bytes(mini):
    path = mini / "fr.yaml"
    text = path.read_text(encoding="utf-8").replace('"Why kind fr"', '"Pourquoi ÉTAPE"')
    path.write_bytes(text.encode("latin-1"))
    refused(mini, "fr.yaml", "not UTF-8", "save it with the UTF-8 encoding", at=("Pourquoi",))


def test_a_byte_order_mark_is_accepted(mini):
    path = mini / "fr.yaml"
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    load_dialogue(mini)


def test_control_character(mini):
    edit_text(mini, "en.yaml", "Why kind en", "Why kind\x07 en")
    refused(mini, "en.yaml", "control character", "U+0007", at=("Why kind",))


@pytest.mark.parametrize(
    "file", ["checklist.yaml", "seed.yaml", "fr.yaml", "en.yaml", "ui.fr.yaml"]
)
@pytest.mark.parametrize("content", ["", "\n\n", "# only a comment\n"])
def test_empty_file(mini, file, content):
    (mini / file).write_text(content)
    refused(mini, file, "the file is empty")


@pytest.mark.parametrize("file", ["checklist.yaml", "seed.yaml", "en.yaml", "ui.en.yaml"])
def test_missing_file(mini, file):
    (mini / file).unlink()
    refused(mini, file, "file not found")


def test_file_that_is_a_list(mini):
    (mini / "checklist.yaml").write_text("- id: mini\n- stages: []\n")
    refused(mini, "checklist.yaml", "block of keys", "found a list")


@pytest.mark.parametrize(
    ("value", "tag"),
    [
        ('!!python/object/apply:os.system ["echo hi"]', "!!python/object/apply:os.system"),
        ("!!python/name:os.system", "!!python/name:os.system"),
        ("!!python/object/new:builtins.dict {}", "!!python/object/new:builtins.dict"),
        ("!!binary aGk=", "!!binary"),
        ("!!set {a, b}", "!!set"),
        ("!!timestamp 2026-01-01", "!!timestamp"),
        ("!!omap [a: 1]", "!!omap"),
        ("!custom 20", "!custom"),
    ],
)
def test_tags_are_refused(mini, value, tag):
    edit_text(mini, "checklist.yaml", "max_length: 20", f"max_length: {value}")
    refused(
        mini,
        "checklist.yaml",
        f"the tag '{tag}' is not allowed",
        "plain text, numbers",
        "remove the tag",
        at=("max_length: !",),
    )


@pytest.mark.parametrize("file", ["seed.yaml", "fr.yaml", "ui.en.yaml"])
def test_tags_are_refused_in_every_file(mini, file):
    path = mini / file
    path.write_text(path.read_text() + 'extra: !!python/object/apply:os.system ["echo hi"]\n')
    refused(mini, file, "is not allowed", at=("extra:",))


def _payloads(target: Path) -> list[str]:
    return [
        f'!!python/object/apply:os.system ["echo pwned > {target}"]',
        f'!!python/object/apply:builtins.open ["{target}", "w"]',
        f'!!python/object/apply:subprocess.call [["touch", "{target}"]]',
    ]


def test_the_payloads_would_run_under_an_unsafe_loader(tmp_path):
    # The control: these documents do create the file when loaded unsafely, so the next test
    # proves something.
    for index, payload in enumerate(_payloads(tmp_path / "made")):
        target = tmp_path / "made"
        result = yaml.unsafe_load(f"a: {payload}")
        if hasattr(result["a"], "close"):
            result["a"].close()
        assert target.exists(), index
        target.unlink()


@pytest.mark.parametrize("index", range(3))
@pytest.mark.parametrize("file", ["checklist.yaml", "fr.yaml"])
def test_nothing_is_executed(mini, tmp_path, capfd, index, file):
    target = tmp_path / "pwned"
    payload = _payloads(target)[index]
    if file == "checklist.yaml":
        edit_text(mini, file, "max_length: 20", f"max_length: {payload}")
    else:
        path = mini / file
        path.write_text(path.read_text() + f"extra: {payload}\n")
    refused(mini, file, "is not allowed")
    assert main(["validate", str(mini)]) == 1
    assert not target.exists()
    assert "pwned" not in capfd.readouterr().out


def test_recursive_alias_is_refused(mini):
    path = mini / "fr.yaml"
    path.write_text(path.read_text() + "extra: &loop [1, *loop]\n")
    refused(mini, "fr.yaml", "alias", at=("extra:",))


def test_alias_explosion_is_refused(mini):
    lines = ["lol0: &l0 [a, a, a, a, a, a, a, a, a, a]"]
    lines += [f"lol{n}: &l{n} [{', '.join([f'*l{n - 1}'] * 10)}]" for n in range(1, 9)]
    path = mini / "en.yaml"
    path.write_text(path.read_text() + "\n".join(lines) + "\n")
    refused(mini, "en.yaml", "too many values")


def test_absurd_nesting_is_refused(mini):
    path = mini / "en.yaml"
    path.write_text(path.read_text() + "extra: " + "[" * 5000 + "]" * 5000 + "\n")
    refused(mini, "en.yaml", "too deeply")


def test_anchors_and_aliases_still_work(mini):
    edit_text(
        mini, "checklist.yaml", "when: {kind: competitor}", "when: &rival {kind: competitor}"
    )
    edit_text(
        mini,
        "checklist.yaml",
        "when: {sessions: {lt: 4}}",
        "when: {all: [*rival, {sessions: {lt: 4}}]}",
    )
    dialogue = load_dialogue(mini)
    flag = dialogue.red_flags[0]
    assert flag.when({"kind": "competitor", "sessions": 2})
    assert not flag.when({"kind": "alpha", "sessions": 2})


def test_only_safe_yaml_loading_in_the_code():
    assert issubclass(yamlsource._LineLoader, yaml.SafeLoader)
    unsafe = re.compile(
        r"unsafe_load|full_load|FullLoader|UnsafeLoader|yaml\.Loader\b|Loader=yaml\.Loader"
        r"|yaml\.load\((?![^)]*Loader=_LineLoader)|yaml\.load_all"
    )
    package = Path(__file__).resolve().parent.parent / "bot"
    offenders = [
        f"{path.relative_to(package.parent)}:{number}"
        for path in package.rglob("*.py")
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if unsafe.search(line)
    ]
    assert offenders == []


# --- plain values: yes/no/on/off stay words, dates stay text ------------------------------------


def test_yes_no_on_off_stay_strings(tmp_path):
    path = tmp_path / "values.yaml"
    path.write_text(
        "a: yes\nb: no\nc: on\nd: off\ne: y\nf: n\ng: Yes\nh: NO\n"
        "t: true\nu: false\nday: 2026-01-31\nn: 4\nx: 0.5\nz: null\nlist: [no, off]\n"
    )
    data = load_yaml(path)
    assert data == {
        "a": "yes",
        "b": "no",
        "c": "on",
        "d": "off",
        "e": "y",
        "f": "n",
        "g": "Yes",
        "h": "NO",
        "t": True,
        "u": False,
        "day": "2026-01-31",
        "n": 4,
        "x": 0.5,
        "z": None,
        "list": ["no", "off"],
    }


def test_when_coop_no_means_the_answer_no(mini):
    edit_text(mini, "checklist.yaml", "when: {coop: [no, notyet]}", "when: {coop: no}")
    plan = load_dialogue(mini).next_steps[0]
    assert plan.id == "plan"
    assert plan.when({"coop": "no"})
    assert not plan.when({"coop": "yes"})
    assert not plan.when({"coop": "notyet"})
    assert not plan.when({})


def test_options_named_like_booleans_stay_words(mini):
    edit_text(
        mini,
        "checklist.yaml",
        "options: [alpha, beta, competitor]",
        "options: [on, off, competitor]",
    )
    edit_text(mini, "checklist.yaml", "when: {kind: competitor}", "when: {kind: [on, off]}")
    for lang in ("fr", "en"):
        edit_text(mini, f"{lang}.yaml", "{alpha: ", "{on: ")
        edit_text(mini, f"{lang}.yaml", ", beta: ", ", off: ")
    dialogue = load_dialogue(mini)
    assert dialogue.questions["kind"].options == ("on", "off", "competitor")
    assert dialogue.questions["coop"].when({"kind": "off"})
    assert dialogue.texts["en"].get("questions.kind.options.on") == "Alpha-en"


# --- no crash: every value replaced by a wrong one is a DialogueError, never a traceback ---------


def _paths(node, prefix=()):
    yield prefix
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _paths(value, (*prefix, index))


def _replaced(data, path, value):
    if not path:
        return value
    node = data
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    return data


def _load_error(folder):
    """The DialogueError loading raises, or None; any other exception fails the test."""
    try:
        load_dialogue(folder)
    except DialogueError as error:
        return error
    return None


RELATED = {
    "checklist.yaml": {"checklist.yaml"},
    "seed.yaml": {"seed.yaml", "checklist.yaml"},
    "fr.yaml": {"fr.yaml", "en.yaml"},
}
# Every place gets None (an empty value, the commonest slip) and one of the others in turn.
WRONG_VALUES = ["Two words", -1, True, ["a"], {"k": "v"}]


@pytest.mark.parametrize("file", ["checklist.yaml", "fr.yaml", "seed.yaml"])
def test_any_wrong_value_is_a_dialogue_error(tmp_path, monkeypatch, file):
    folder = mini_dir(tmp_path / "mini")
    parsed = {}

    def load_once(path):
        # Hundreds of loads: the files left unchanged are parsed once.
        key = (path, path.read_bytes())
        if key not in parsed:
            parsed[key] = load_yaml(path)
        return parsed[key]

    monkeypatch.setattr(loader, "load_yaml", load_once)
    original = plain(load_yaml(folder / file))
    path = folder / file
    checked = 0
    for index, where in enumerate(_paths(original)):
        for wrong in (None, WRONG_VALUES[index % len(WRONG_VALUES)]):
            data = _replaced(plain(original), where, wrong)
            path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
            error = _load_error(folder)
            if error is not None:
                # A wrong label in seed.yaml shows where checklist.yaml uses it; a wrong text
                # may show in the other language's file, which disagrees with it.
                assert Path(error.path).name in RELATED[file], (where, wrong, str(error))
                if where:
                    assert error.line is not None, (where, wrong, str(error))
            checked += 1
    assert checked >= 20


# --- the command ---------------------------------------------------------------------------------


def test_validate_accepts_the_mini_dialogue(mini, capsys):
    assert main(["validate", str(mini)]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("OK")
    assert str(mini) in out
    assert err == ""


@pytest.mark.parametrize(
    ("file", "old", "new", "words"),
    [
        ("checklist.yaml", "type: yesno", "type: boolean", ["question 'coop'", "'type'"]),
        ("checklist.yaml", "when: {kind: competitor}", "when: {kind: gamma}", ["'gamma'"]),
        ("en.yaml", '"Plan-en"}', '"Plan-en}', ["quote"]),
        ("fr.yaml", "Kind? (fr)", "Genre\xe9 ?", ["UTF-8"]),
        ("seed.yaml", "label: p.two", "label: p.one", ["used by two passages"]),
        ("checklist.yaml", "max_length: 20", "max_length: !!binary aGk=", ["'!!binary'"]),
    ],
    ids=["type", "condition", "quote", "encoding", "seed", "tag"],
)
def test_validate_refuses_a_broken_dialogue(mini, capsys, file, old, new, words):
    path = mini / file
    line = line_at(path, old)
    # latin-1 writes the \xe9 of the encoding case as one non-UTF-8 byte; the rest is ASCII.
    path.write_bytes(path.read_bytes().replace(old.encode(), new.encode("latin-1"), 1))
    assert main(["validate", str(mini)]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("Invalid dialogue: ")
    assert f"{file}, line {line}: " in err
    for word in words:
        assert word in err
    assert "Traceback" not in err
    assert err.count("\n") == 1


def test_validate_refuses_a_missing_folder(tmp_path, capsys):
    assert main(["validate", str(tmp_path / "nowhere")]) == 1
    err = capsys.readouterr().err
    assert "nowhere" in err
    assert "does not exist" in err
    assert "Traceback" not in err


def test_the_real_dialogues_validate(capsys):
    assert (DEFAULT_DIR / "checklist.yaml").exists()
    assert main(["validate", str(DEFAULT_DIR)]) == 0, capsys.readouterr().err
    assert capsys.readouterr().out.startswith("OK")


# --- Order constraints, severities and verdicts (on a copy of the real dialogue) ----------------
@pytest.fixture
def real(tmp_path):
    target = tmp_path / "dialogues"
    shutil.copytree(DEFAULT_DIR, target)
    return target


def _step_block(path: Path, step: str, key: str) -> int:
    return line_at(path, f"- id: {step}", f"    {key}:")


def test_an_unknown_step_in_before_is_refused_with_its_line(real, capsys):
    path = edit_text(
        real,
        "checklist.yaml",
        "    before: [draft_contract, finalise_contract]\n    seed: [success.contract]",
        "    before: [draft_contract, sign_the_contract]\n    seed: [success.contract]",
    )
    error = refused(real, "checklist.yaml", "'before' names 'sign_the_contract'", "next step")
    assert error.line == _step_block(path, "build_forecast", "before")
    assert "finalise_contract" in error.message  # the nearest id is suggested
    assert main(["validate", str(real)]) == 1
    err = capsys.readouterr().err
    assert f"checklist.yaml, line {error.line}: " in err


def test_an_unknown_milestone_in_on_is_refused(real):
    path = edit_text(real, "checklist.yaml", "    on: decision\n", "    on: signature\n")
    error = refused(real, "checklist.yaml", "'on' must be one of the milestones", "signature")
    assert error.line == _step_block(path, "decide_go_no_go", "on")


def test_a_cycle_of_order_constraints_is_refused_with_its_line(real, capsys):
    # The declaration of intent comes before the decision; the decision cannot also precede it.
    path = edit_text(
        real,
        "checklist.yaml",
        "    on: decision\n    after: [last_session]\n",
        "    on: decision\n    after: [last_session]\n    before: [draft_intent_declaration]\n",
    )
    error = refused(real, "checklist.yaml", "cycle", "decide_go_no_go", "draft_intent_declaration")
    assert error.line in {
        _step_block(path, "decide_go_no_go", "before"),
        _step_block(path, "draft_intent_declaration", "before"),
    }
    assert main(["validate", str(real)]) == 1
    assert f"checklist.yaml, line {error.line}: " in capsys.readouterr().err


def test_a_cycle_through_the_milestones_is_refused(real):
    # Before the next session yet after the last one: no date fits.
    path = edit_text(
        real,
        "checklist.yaml",
        "    before: [next_session, fill_grid,",
        "    after: [last_session]\n    before: [next_session, fill_grid,",
    )
    error = refused(real, "checklist.yaml", "cycle", "next_session", "last_session")
    assert error.line in {
        _step_block(path, "sign_letter_before_session", "after"),
        _step_block(path, "sign_letter_before_session", "before"),
    }


def test_an_unknown_severity_is_refused(real):
    path = edit_text(real, "checklist.yaml", "    severity: critical\n", "    severity: fatal\n")
    error = refused(real, "checklist.yaml", "'severity' must be one of critical, major, minor")
    assert error.line == _step_block(path, "no_strategy", "severity")


def test_a_verdict_naming_an_unknown_red_flag_is_refused(real):
    path = edit_text(
        real,
        "checklist.yaml",
        "      flags: [competitor_without_common_goal,",
        "      flags: [competitor_without_goal,",
    )
    error = refused(real, "checklist.yaml", "'competitor_without_goal' is not one")
    assert error.line == line_at(path, "- id: reconsider", "flags:")


def test_the_last_verdict_has_no_condition(real):
    path = edit_text(
        real, "checklist.yaml", "    - id: ready\n", "    - id: ready\n      below: 90\n"
    )
    error = refused(real, "checklist.yaml", "the last verdict", "remove its conditions")
    assert error.line == line_at(path, "    - id: ready")


def test_a_verdict_needs_its_words_in_both_languages(real):
    def drop(data):
        del data["verdicts"]["ready"]

    mutate(real, "en.yaml", drop)
    refused(real, "en.yaml", "verdict 'ready'", "is missing here")


def test_a_step_resolving_an_unknown_red_flag_is_refused(real):
    path = edit_text(
        real, "checklist.yaml", "    resolves: [no_strategy]\n", "    resolves: [no_strategies]\n"
    )
    error = refused(real, "checklist.yaml", "'resolves' names 'no_strategies'", "no_strategy")
    assert error.line == _step_block(path, "write_strategy", "resolves")


def test_a_step_quoting_a_question_that_is_not_text_is_refused(real):
    path = edit_text(
        real, "checklist.yaml", "    quote: coop_boundaries\n", "    quote: coop_vs_bigger\n"
    )
    error = refused(real, "checklist.yaml", "'quote' names a text question", "coop_vs_bigger")
    assert error.line == _step_block(path, "set_competition_rules", "quote")
