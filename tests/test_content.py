"""The checklist's content: dialogues/checklist.yaml, fr.yaml, en.yaml, seed.yaml and
docs/seed-coverage.md hold together.

These tests read the YAML with yaml.safe_load only, so they check the content on its own terms,
independently of the loader in bot/dialogue/. A small evaluator of `when` conditions, written from
docs/dialogue-format.md, checks the branching and the diagnosis on sample managers.
"""

from __future__ import annotations

import itertools
import re
import string
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
DIALOGUES = ROOT / "dialogues"
LANGS = ("fr", "en")
STAGES = ("intro", "objectives", "risks", "preparation", "definition", "rules", "management")
TYPES = ("text", "choice", "multi", "scale", "yesno", "date", "number")
YESNO = ("yes", "no", "notyet")
OPERATORS = ("lt", "le", "gt", "ge", "eq", "ne", "in", "not_in", "answered")
NUMERIC_OPERATORS = ("lt", "le", "gt", "ge")
NOT_YET = "notyet"
MAX_BUTTON = 24  # characters: option labels are buttons, labels are buttons in /edit

# Question ids other code relies on, with their type.
REQUIRED = {
    "company": "text",
    "partner": "text",
    "partner_kind": "choice",
    "objectives": "multi",
    "importance": "scale",
    "involvement": "scale",
    "duration": "choice",
    "has_strategy": "yesno",
    "prep_first_session": "date",
    "prep_sessions": "number",
    "prep_months": "number",
    "confidentiality_letter": "yesno",
    "intent_declaration": "yesno",
    "activity_forecast": "yesno",
    "legal_form": "choice",
    "legal_counsel": "yesno",
    "attractiveness": "scale",
    "strengths": "scale",
    "shares_vision": "scale",
    "shares_gains": "scale",
    "shares_risks": "scale",
    "shares_powers": "scale",
    "shares_identity": "scale",
    "review_frequency": "choice",
}


def _load(name):
    return yaml.safe_load((DIALOGUES / name).read_text(encoding="utf-8"))


CHECKLIST = _load("checklist.yaml")
TEXTS = {lang: _load(f"{lang}.yaml") for lang in LANGS}
SEED = _load("seed.yaml")
QUESTIONS = [q for stage in CHECKLIST["stages"] for q in stage["questions"]]  # walk order
BY_ID = {q["id"]: q for q in QUESTIONS}
RULES = {
    "criteria": CHECKLIST["alliance_type"]["criteria"],
    "red_flags": CHECKLIST["red_flags"],
    "next_steps": CHECKLIST["next_steps"],
}


def _strings(node, path=""):
    """Every (dotted path, string) in a YAML tree."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _strings(value, f"{path}.{key}" if path else str(key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _strings(value, f"{path}[{index}]")
    elif isinstance(node, str):
        yield path, node


def _key_paths(node, path=""):
    if isinstance(node, dict):
        found = set()
        for key, value in node.items():
            sub = f"{path}.{key}" if path else str(key)
            found |= {sub} | _key_paths(value, sub)
        return found
    return set()


def _placeholders(text):
    return {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}


# --- A reference evaluator of `when`, from docs/dialogue-format.md -------------------------------
def _holds(spec, answers):
    """Whether a condition holds; an unanswered or "not yet" (non-yes/no) answer fails every test
    but `answered: false`, `ne`, `not_in` and `not`."""
    return all(_holds_key(key, value, answers) for key, value in spec.items())


def _holds_key(key, value, answers):
    if key == "any":
        return any(_holds(sub, answers) for sub in value)
    if key == "all":
        return all(_holds(sub, answers) for sub in value)
    if key == "not":
        return not _holds(value, answers)
    if isinstance(value, dict):
        return all(_test(key, op, arg, answers) for op, arg in value.items())
    if isinstance(value, list):
        return _test(key, "in", value, answers)
    return _test(key, "eq", value, answers)


def _test(key, op, arg, answers):
    answer = answers.get(key)
    is_yesno = BY_ID[key]["type"] == "yesno"
    answered = answer is not None and (answer != NOT_YET or is_yesno)
    if op == "answered":
        return answered == arg
    if op in ("ne", "not_in"):
        return not _test(key, "eq" if op == "ne" else "in", arg, answers)
    if not answered:
        return False
    if op in ("eq", "in"):
        wanted = arg if op == "in" else [arg]
        given = answer if isinstance(answer, list) else [answer]
        return any(item == want for item in given for want in wanted)
    return {
        "lt": answer < arg,
        "le": answer <= arg,
        "gt": answer > arg,
        "ge": answer >= arg,
    }[op]


def _walk(answers):
    """The question ids asked for these answers, in order."""
    return [q["id"] for q in QUESTIONS if "when" not in q or _holds(q["when"], answers)]


def _strategic(answers):
    criteria = CHECKLIST["alliance_type"]["criteria"]
    met = sum(_holds(rule["when"], answers) for rule in criteria)
    return met >= CHECKLIST["alliance_type"]["threshold"]


def _fired(section, answers):
    asked = set(_walk(answers))
    on_path = {qid: value for qid, value in answers.items() if qid in asked}
    return [rule["id"] for rule in RULES[section] if _holds(rule["when"], on_path)]


# --- Structure ---------------------------------------------------------------------------------
def test_stages_in_the_agreed_order():
    assert tuple(stage["id"] for stage in CHECKLIST["stages"]) == STAGES


def test_question_ids_are_unique_and_typed():
    ids = [q["id"] for q in QUESTIONS]
    assert len(ids) == len(set(ids))
    for question in QUESTIONS:
        assert question["type"] in TYPES, question["id"]
        assert question["seed"], question["id"]
        if question["type"] in ("choice", "multi"):
            assert len(question["options"]) >= 2, question["id"]
            assert NOT_YET not in question["options"], question["id"]
        else:
            assert "options" not in question, question["id"]
        if question["type"] == "text":
            assert isinstance(question.get("max_length"), int), question["id"]


def test_required_question_ids_exist_with_their_type():
    for qid, qtype in REQUIRED.items():
        assert qid in BY_ID, qid
        assert BY_ID[qid]["type"] == qtype, qid
    assert BY_ID["partner_kind"]["options"] == [
        "supplier",
        "distributor",
        "competitor",
        "manufacturer",
        "research",
        "other",
    ]
    assert {"partnership", "association", "grouping", "joint_venture", "merger"} <= set(
        BY_ID["legal_form"]["options"]
    )
    assert BY_ID["prep_first_session"].get("notyet") is True


def test_size_fits_a_15_to_20_minute_session():
    assert 35 <= len(QUESTIONS) <= 45
    for stage in CHECKLIST["stages"]:
        assert 3 <= len(stage["questions"]) <= 8, stage["id"]
    plain = _walk({"partner_kind": "supplier", "importance": 2, "legal_form": "partnership"})
    assert 35 <= len(plain) <= 40


def test_every_answer_type_is_used():
    assert {q["type"] for q in QUESTIONS} == set(TYPES)


def test_readiness_comes_from_preparation_not_from_the_introduction():
    # The method's readiness is preparation: who the partner is, or what the manager seeks,
    # describes the project and shows no readiness; every stage from the risks on is scored.
    defaults = {"yesno": 1, "scale": 1}

    def weights(stage):
        return [q.get("weight", defaults.get(q["type"], 0)) for q in stage["questions"]]

    by_stage = {stage["id"]: stage for stage in CHECKLIST["stages"]}
    assert sum(weights(by_stage["intro"])) == 0
    for question in by_stage["objectives"]["questions"]:
        if question["id"] in ("objectives", "posture", "importance", "involvement", "duration"):
            assert question.get("weight", defaults.get(question["type"], 0)) == 0, question["id"]
    for stage_id in STAGES[2:]:
        assert sum(weights(by_stage[stage_id])) > 0, stage_id


def _score_rule_rewards_every_answer(question):
    score = question.get("score")
    return (
        isinstance(score, dict)
        and set(score) == set(question.get("options", ()))
        and all(value == 1 for value in score.values())
    )


def test_no_readiness_for_merely_answering():
    # A score giving full marks to every option measures having answered, not readiness;
    # a legal form chosen is the one exception (a decided form is preparation done).
    for question in QUESTIONS:
        if question.get("weight", 0) and _score_rule_rewards_every_answer(question):
            assert question["id"] == "legal_form", question["id"]


def test_scores_name_real_answers():
    for question in QUESTIONS:
        score = question.get("score")
        if score is None:
            continue
        if set(score) <= set(NUMERIC_OPERATORS) | {"eq"}:
            assert question["type"] in ("number", "scale"), question["id"]
            continue
        answers = set(question.get("options", [])) | {NOT_YET}
        if question["type"] == "yesno":
            answers = set(YESNO)
        assert set(score) <= answers, question["id"]
        assert all(0 <= value <= 1 for value in score.values()), question["id"]


def test_not_yet_to_dos_have_a_timing():
    for question in QUESTIONS:
        if question.get("notyet") or question["type"] == "yesno":
            assert isinstance(question.get("todo_days"), int), question["id"]


def test_next_steps_are_in_time_order():
    days = [rule["days"] for rule in CHECKLIST["next_steps"]]
    assert days == sorted(days)
    assert all(day > 0 for day in days)


# --- Conditions ------------------------------------------------------------------------------
def _check_condition(spec, known, where):
    assert isinstance(spec, dict), where
    assert spec, where
    for key, value in spec.items():
        if key in ("any", "all"):
            assert isinstance(value, list), where
            assert value, where
            for sub in value:
                _check_condition(sub, known, where)
        elif key == "not":
            _check_condition(value, known, where)
        else:
            assert key in known, f"{where}: '{key}' is not a question asked before"
            _check_value(BY_ID[key], value, where)


def _check_value(question, value, where):
    if isinstance(value, dict):
        for op, arg in value.items():
            assert op in OPERATORS, f"{where}: unknown test {op}"
            if op == "answered":
                assert isinstance(arg, bool), where
            elif op in NUMERIC_OPERATORS:
                assert question["type"] in ("number", "scale"), where
                assert isinstance(arg, int | float), where
                assert not isinstance(arg, bool), where
            else:
                _check_value(question, arg, where)
        return
    values = value if isinstance(value, list) else [value]
    if question["type"] in ("choice", "multi"):
        allowed = set(question["options"]) | ({NOT_YET} if question.get("notyet") else set())
    elif question["type"] == "yesno":
        allowed = set(YESNO)  # quoted in the YAML: a bare yes/no would read as a boolean
    else:
        return
    for item in values:
        assert item in allowed, f"{where}: '{item}' is not an answer of {question['id']}"


def test_question_conditions_test_earlier_questions_and_real_answers():
    known = set()
    for question in QUESTIONS:
        if "when" in question:
            _check_condition(question["when"], known, f"question {question['id']}")
        known.add(question["id"])
    assert "when" not in QUESTIONS[0]


def test_rule_conditions_test_real_questions_and_answers():
    for section, rules in RULES.items():
        ids = [rule["id"] for rule in rules]
        assert len(ids) == len(set(ids)), section
        for rule in rules:
            _check_condition(rule["when"], set(BY_ID), f"{section}.{rule['id']}")


def test_a_competitor_opens_the_cooperation_questions():
    base = {"partner_kind": "supplier"}
    rival = {"partner_kind": "competitor"}
    extra = set(_walk(rival)) - set(_walk(base))
    assert extra == {"coop_vs_bigger", "coop_boundaries"}


@pytest.mark.parametrize(
    "form", ["partnership", "association", "grouping", "joint_venture", "merger", NOT_YET]
)
def test_legal_counsel_is_asked_for_every_contract(form):
    # The method finds a law firm useful for any contract; a joint venture or a merger is the
    # case where going without one is a critical flag.
    assert "legal_counsel" in _walk({"legal_form": form})
    answers = {"legal_form": form, "legal_counsel": "no"}
    flagged = "no_legal_counsel" in _fired("red_flags", answers)
    assert flagged == (form in ("joint_venture", "merger"))
    assert "consult_lawyer" in _fired("next_steps", answers)


def test_the_strategic_branch_is_exactly_alliance_type_strategic():
    # integration_level and integration_steps repeat alliance_type's rule as a `when`.
    gated = {"integration_level", "integration_steps"}
    durations = [*BY_ID["duration"]["options"], NOT_YET, None]
    for importance, involvement, duration in itertools.product(
        [1, 2, 3, 4, 5, None], [1, 2, 3, 4, 5, None], durations
    ):
        answers = {"importance": importance, "involvement": involvement, "duration": duration}
        answers = {k: v for k, v in answers.items() if v is not None}
        asked = set(_walk(answers)) & gated
        assert asked == (gated if _strategic(answers) else set()), answers


# --- Diagnosis on sample managers ----------------------------------------------------------------
WELL_PREPARED = {
    "company": "Atelier Martin",
    "partner": "Dupont Distribution",
    "partner_kind": "distributor",
    "new_identity": "no",
    "objectives": ["secure_sector", "development"],
    "posture": "offensive",
    "importance": 3,
    "involvement": 3,
    "duration": "medium",
    "has_strategy": "yes",
    "interdependence": 4,
    "sharing_principle": "equity",
    "evolution_plan": "yes",
    "prep_first_session": "2026-12-03",
    "prep_sessions": 5,
    "prep_months": 3,
    "values_convergence": 5,
    "trust": 4,
    "fit_gaps": ["none"],
    "confidentiality_letter": "yes",
    "intent_declaration": "yes",
    "perimeter": "Vente de nos meubles dans l'Ouest",
    "attractiveness": 4,
    "strengths": 5,
    "key_factors": "Délais, service après-vente",
    "activity_forecast": "yes",
    "contract_stage": "drafting",
    "legal_form": "partnership",
    "shares_vision": 5,
    "shares_gains": 4,
    "shares_risks": 4,
    "shares_powers": 4,
    "shares_identity": 5,
    "rules_roles": "yes",
    "rules_practicalities": "yes",
    "review_frequency": "quarterly",
    "renegotiation": "yes",
    "staff_plus": 4,
}


def test_a_well_prepared_manager_gets_no_red_flag():
    assert _fired("red_flags", WELL_PREPARED) == []
    assert _fired("next_steps", WELL_PREPARED) == [
        "present_to_staff",
        "finalise_contract",  # the contract is being drafted
        "first_review_quarterly",
    ]
    assert not _strategic(WELL_PREPARED)


def test_a_hasty_manager_gets_the_flags_the_sheet_warns_about():
    hasty = {
        **WELL_PREPARED,
        "partner_kind": "competitor",
        "coop_vs_bigger": "no",
        "importance": 5,
        "involvement": 4,
        "duration": "long",
        "has_strategy": "no",
        "sharing_principle": "perfect_balance",
        "evolution_plan": "notyet",
        "integration_level": 2,
        "prep_sessions": 2,
        "prep_months": 6,
        "values_convergence": 2,
        "trust": 1,
        "fit_gaps": ["availability"],
        "confidentiality_letter": "no",
        "intent_declaration": "no",
        "attractiveness": 2,
        "activity_forecast": "no",
        "contract_stage": "signed",
        "legal_form": "joint_venture",
        "legal_counsel": "no",
        "shares_powers": 2,
        "rules_roles": "no",
        "review_frequency": "yearly",
        "renegotiation": "no",
        "staff_plus": 1,
        "integration_steps": "no",
    }
    assert _strategic(hasty)
    flags = set(_fired("red_flags", hasty))
    assert flags == {rule["id"] for rule in CHECKLIST["red_flags"]} - {
        "interdependence_refused",
        "identity_form_mismatch",
        "no_evolution_plan",  # asked of a tactical alliance only: this one is strategic
    }
    steps = _fired("next_steps", hasty)
    assert steps[0] == "write_strategy"
    assert "consult_lawyer" in steps
    assert "draft_contract" not in steps  # a contract is already signed


def test_not_yet_is_a_to_do_early_and_a_red_flag_once_the_contract_is_drafted():
    early = {
        **WELL_PREPARED,
        "confidentiality_letter": "notyet",
        "intent_declaration": "notyet",
        "contract_stage": "not_started",
    }
    assert _fired("red_flags", early) == []
    steps = _fired("next_steps", early)
    assert {"sign_confidentiality_letter", "draft_intent_declaration"} <= set(steps)
    late = {**early, "contract_stage": "drafting"}
    assert {"no_confidentiality_letter", "no_intent_declaration"} <= set(_fired("red_flags", late))
    # With a competitor, the letter cannot wait: sessions already exchange sensitive facts.
    rival = {**early, "partner_kind": "competitor", "coop_vs_bigger": "yes"}
    assert "no_confidentiality_letter" in _fired("red_flags", rival)
    assert "sign_letter_before_session" in _fired("next_steps", rival)


# --- Words -------------------------------------------------------------------------------------
def test_languages_have_the_same_keys_and_placeholders():
    fr, en = TEXTS["fr"], TEXTS["en"]
    assert fr["language"] == "fr"
    assert en["language"] == "en"
    assert _key_paths(fr) == _key_paths(en)
    en_strings = dict(_strings(en))
    for path, text in _strings(fr):
        assert _placeholders(text) == _placeholders(en_strings[path]), path
        # The checklist's texts are shown as they are; only follow-up intros name the session
        # and the partner.
        allowed = {"session", "partner"} if path.startswith("followups.") else set()
        if path.startswith("verdicts."):
            allowed = {"when", "critical", "major"}  # the decision date, flag counts
        assert _placeholders(text) <= allowed, path


def test_every_item_has_its_words_in_both_languages():
    for lang, texts in TEXTS.items():
        assert set(texts["stages"]) == set(STAGES), lang
        for stage in STAGES:
            assert texts["stages"][stage]["title"].strip(), (lang, stage)
            assert texts["stages"][stage]["intro"].strip(), (lang, stage)
        assert set(texts["questions"]) == set(BY_ID), lang
        for question in QUESTIONS:
            words = texts["questions"][question["id"]]
            for part in ("text", "help", "label"):
                assert isinstance(words.get(part), str), (lang, question["id"], part)
                assert words[part].strip(), (lang, question["id"], part)
            if "options" in question:
                assert list(words["options"]) == question["options"], (lang, question["id"])
            else:
                assert "options" not in words, (lang, question["id"])
        criteria = {rule["id"] for rule in RULES["criteria"]}
        assert set(texts["alliance_type"]) == {"strategic", "tactical", "criteria"}, lang
        assert set(texts["alliance_type"]["criteria"]) == criteria, lang
        assert set(texts["red_flags"]) == {rule["id"] for rule in RULES["red_flags"]}, lang
        assert set(texts["next_steps"]) == {rule["id"] for rule in RULES["next_steps"]}, lang
        levels = {level["id"] for level in CHECKLIST["verdicts"]["levels"]}
        assert set(texts["verdicts"]) == levels, lang
        for level in levels:
            assert set(texts["verdicts"][level]) == {"title", "why"}, (lang, level)


def test_buttons_and_texts_fit_a_phone():
    for lang, texts in TEXTS.items():
        for qid, words in texts["questions"].items():
            assert len(words["text"]) <= 120, (lang, qid)
            assert len(words["help"]) <= 400, (lang, qid)
            assert len(words["label"]) <= MAX_BUTTON, (lang, qid)
            for key, label in words.get("options", {}).items():
                assert len(label) <= MAX_BUTTON, (lang, qid, key)


def test_the_alliance_type_texts_carry_the_90_percent():
    for lang, texts in TEXTS.items():
        assert "90" in texts["alliance_type"]["tactical"], lang


def test_next_steps_start_with_a_verb():
    # Imperatives with "vous" end in -ez (or -es: faites, dites); English ones are bare verbs.
    for text in TEXTS["fr"]["next_steps"].values():
        assert re.match(r"^[A-ZÉ]\w*(ez|es)\b", text), text
    for text in TEXTS["en"]["next_steps"].values():
        assert re.match(r"^[A-Z][a-z]+ ", text), text
        assert not re.match(r"^(The|A|An|Your|You) ", text), text


def test_french_typography_is_consistent():
    for path, text in _strings(TEXTS["fr"]):
        assert "'" not in text, f"{path}: use ’ for the apostrophe"
        assert not re.search(r"\S[?!;:]", text), f"{path}: a space goes before ? ! ; :"
        assert not re.search(r"«\S|\S»", text), f"{path}: spaces inside « »"
        assert "\u00a0" not in text, f"{path}: plain spaces, as in ui.fr.yaml"
        assert "\u202f" not in text, f"{path}: plain spaces, as in ui.fr.yaml"


def test_english_typography_is_consistent():
    for path, text in _strings(TEXTS["en"]):
        assert not re.search(r"\s[?!;:]", text), f"{path}: no space before ? ! ; :"
        assert '"' not in text, f"{path}: use “ ” for quotes, as ui.en"


# --- The seed ----------------------------------------------------------------------------------
SEED_LABELS = [passage["label"] for passage in SEED["passages"]]


def _used_labels():
    used = set()
    for stage in CHECKLIST["stages"]:
        used |= set(stage.get("seed", []))
    for question in QUESTIONS:
        used |= set(question["seed"])
    for rules in RULES.values():
        for rule in rules:
            used |= set(rule.get("seed", []))
    return used


def test_seed_passages_are_well_formed():
    assert len(SEED_LABELS) == len(set(SEED_LABELS))
    for passage in SEED["passages"]:
        assert set(passage) == {"label", "section", "summary"}, passage
        assert passage["label"].split(".")[0] == passage["section"], passage
        assert passage["summary"].strip(), passage


def test_every_seed_label_used_exists():
    assert _used_labels() <= set(SEED_LABELS)


def test_every_seed_passage_is_carried():
    assert set(SEED_LABELS) - _used_labels() == set()


def test_every_red_flag_and_next_step_names_its_passages():
    for section in ("red_flags", "next_steps"):
        for rule in RULES[section]:
            assert rule.get("seed"), f"{section}.{rule['id']}"


def test_the_coverage_doc_lists_exactly_the_seed_passages():
    rows = []
    for line in (ROOT / "docs" / "seed-coverage.md").read_text(encoding="utf-8").splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if not line.startswith("|") or len(cells) != 3:
            continue
        if cells[0] == "passage" or set(cells[0]) <= set("-: "):
            continue
        rows.append(cells[0].strip("`"))
    assert sorted(rows) == sorted(SEED_LABELS)


# Words by which a help text would give away how an answer is judged.
SCORING_WORDS = {
    "fr": r"signal|score|note de \d|notes?\b.*\bcompte|nous vous proposerons|nous le signal|"
    r"deviendra un sujet|devient une étape|nous l’ajoutons|nous en faisons|nous vérifions",
    "en": r"flag|score|we will suggest|we add it|we make it|we check that|becomes a step",
}


def test_help_texts_say_why_a_point_matters_not_how_it_is_judged():
    # Knowing that "a 1 or 2 will be flagged" invites answering 3: a help explains the method.
    for lang, pattern in SCORING_WORDS.items():
        for qid, words in TEXTS[lang]["questions"].items():
            assert not re.search(pattern, words["help"], re.IGNORECASE), (lang, qid)


def test_a_red_flag_opens_with_its_finding_in_one_short_sentence():
    # The verdict quotes that first sentence as the reason it holds back.
    for lang in LANGS:
        for rule_id, text in TEXTS[lang]["red_flags"].items():
            first = text.split(". ", 1)[0]
            assert 10 <= len(first) <= 110, (lang, rule_id, first)
            assert ". " in text, (lang, rule_id)  # then what to do about it


def test_a_rule_for_one_alliance_type_names_that_type():
    names = {
        "fr": {"strategic": "stratégique", "tactical": "tactique"},
        "en": {"strategic": "strategic", "tactical": "tactical"},
    }
    limited = [
        (section, rule)
        for section in ("red_flags", "next_steps")
        for rule in RULES[section]
        if "alliance" in rule
    ]
    assert {rule["alliance"] for _, rule in limited} == {"strategic", "tactical"}
    for lang in LANGS:
        for section, rule in limited:
            text = TEXTS[lang][section][rule["id"]].lower()
            assert names[lang][rule["alliance"]] in text, (lang, rule["id"])
