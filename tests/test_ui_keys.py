"""Every text the code asks for exists in both languages, keys built at run time included.

How the keys are found: the code's calls `ui(...)`, `plural(...)` and `get(...)` on texts are read
with Python's own parser (`ast`), not with a pattern over the text, so formatting does not
matter. A call with a literal key names that key. A call whose key is an f-string names a key
*family* ("errors.{reason}"): each family must be listed in FAMILIES below with the enum or the
ids that build it (the parser's reasons, the question types, the dialogue's stage ids...), and
every member is checked. A new f-string family in the code fails this test until it is listed,
so a key built at run time can no longer slip through.
"""

import ast
from collections.abc import Callable, Iterable
from pathlib import Path

import pytest
from babel import Locale

from bot.dialogue.divergence import DIMENSIONS
from bot.dialogue.engine import DATE_ORDERS, ENGINE_ERRORS, SKIP_REASONS, WORD_COMMANDS
from bot.dialogue.loader import DEFAULT_DIR, load_dialogue
from bot.dialogue.model import QUESTION_TYPES, SEVERITIES, YESNO_OPTIONS, Dialogue, Texts
from bot.dialogue.parsing import REASONS
from bot.dialogue.partner import WALK_TEXTS
from bot.dialogue.plan import DEFAULT_COUNT, FEWER_SESSIONS, MORE_SESSIONS, RESTARTED, SHORTER
from bot.export import FORMATS
from bot.export.content import SHARES
from bot.reminders import Kind
from bot.telegram.app import MENU_COMMANDS

ROOT = Path(__file__).resolve().parent.parent
DIALOGUE: Dialogue = load_dialogue(DEFAULT_DIR)
LANGS = ("fr", "en")
METHODS = {"ui": "ui.", "plural": "ui.", "get": "", "has": ""}


def _stage_parts(dialogue: Dialogue) -> set[str]:
    return {f"stages.{s.id}.{part}" for s in dialogue.stages for part in ("title", "intro")}


def _question_parts(dialogue: Dialogue) -> set[str]:
    keys = {f"questions.{q}.{part}" for q in dialogue.questions for part in ("text", "help")}
    return keys | {f"questions.{q}.label" for q in dialogue.questions}


def _followups(dialogue: Dialogue) -> set[str]:
    keys = set()
    for fid, questions in dialogue.followups.items():
        keys |= {f"followups.{fid}.done", f"followups.{fid}.intro"}
        for q in questions:
            keys.add(f"followups.{fid}.questions.{q.id}.text")
            keys |= {f"followups.{fid}.questions.{q.id}.options.{o}" for o in q.options}
    return keys


def _dimension_parts(part: str) -> set[str]:
    return {f"ui.divergence.dimensions.{d.id}.{part}" for d in DIMENSIONS}


# f-string key (its constant parts, "{}" for what is computed) -> every key it can build.
FAMILIES: dict[str, Callable[[Dialogue], Iterable[str]]] = {
    "ui.errors.{}": lambda d: {f"ui.errors.{r}" for r in REASONS | set(ENGINE_ERRORS)},
    "ui.errors.cannot_skip.{}": lambda d: {f"ui.errors.cannot_skip.{r}" for r in SKIP_REASONS},
    "ui.hints.{}": lambda d: {f"ui.hints.{t}" for t in QUESTION_TYPES},
    "ui.answers.{}": lambda d: {f"ui.answers.{a}" for a in YESNO_OPTIONS},
    "ui.date_read.{}": lambda d: {f"ui.date_read.{o}" for o in DATE_ORDERS},
    "ui.commands.words.{}": lambda d: {f"ui.commands.words.{c}" for c in WORD_COMMANDS},
    "ui.telegram.commands.{}": lambda d: {f"ui.telegram.commands.{c}" for c in MENU_COMMANDS},
    "ui.export.chat.buttons.{}": lambda d: {f"ui.export.chat.buttons.{f}" for f in FORMATS},
    "ui.export.chat.captions.{}": lambda d: {f"ui.export.chat.captions.{f}" for f in FORMATS},
    "ui.reminders.kinds.{}": lambda d: {
        f"ui.reminders.kinds.{k}" for k in (Kind.PREP_EVE, Kind.GO_NO_GO)
    },
    # Reminder buttons are named by literals inside the reminder handlers: the family is the
    # whole `reminders.buttons` block, which the loader keeps identical in both languages.
    "ui.reminders.buttons.{}": lambda d: {
        f"ui.reminders.buttons.{b}" for b in d.texts["fr"]._data["ui"]["reminders"]["buttons"]
    },
    # Texts.plural(key, n) and Texts.ui / Texts.get themselves: any key, checked at their callers.
    "ui.{}": lambda d: set(),
    "ui.{}.{}": lambda d: set(),
    # The checklist's words, from the dialogue's own ids.
    "stages.{}.title": _stage_parts,
    "stages.{}.intro": _stage_parts,
    "questions.{}.{}": _question_parts,
    "questions.{}.notyet": lambda d: set(),  # optional: Texts.option falls back to "Not yet"
    "questions.{}.options.{}": lambda d: {
        f"questions.{q.id}.options.{o}" for q in d.questions.values() for o in q.options
    },
    "red_flags.{}": lambda d: {f"red_flags.{r.id}" for r in d.red_flags},
    "next_steps.{}": lambda d: {f"next_steps.{r.id}" for r in d.next_steps},
    "alliance_type.{}": lambda d: {"alliance_type.strategic", "alliance_type.tactical"},
    "alliance_type.criteria.{}": lambda d: {
        f"alliance_type.criteria.{r.id}" for r in d.alliance_type.criteria
    },
    # The verdict, its reasons and the priorities' "why", by severity and verdict level.
    "verdicts.{}.title": lambda d: {f"verdicts.{v.id}.title" for v in d.verdicts.levels},
    "verdicts.{}.why": lambda d: {f"verdicts.{v.id}.why" for v in d.verdicts.levels},
    "ui.advice.why.{}": lambda d: {f"ui.advice.why.{s}" for s in SEVERITIES},
    "ui.advice.severity.{}": lambda d: {f"ui.advice.severity.{s}" for s in SEVERITIES},
    # Only the two severities that hold a verdict back are quoted as its reasons.
    "ui.advice.because.{}": lambda d: {f"ui.advice.because.{s}" for s in SEVERITIES[:2]},
    # What the preparation plan changed from the answers.
    "ui.advice.plan.{}": lambda d: {
        f"ui.advice.plan.{c}"
        for c in (MORE_SESSIONS, FEWER_SESSIONS, DEFAULT_COUNT, SHORTER, RESTARTED)
    },
    # The divergence report: each dimension's words; the partner's walk: the engine's messages.
    "ui.divergence.dimensions.{}.label": lambda d: _dimension_parts("label"),
    "ui.divergence.dimensions.{}.source": lambda d: _dimension_parts("source"),
    "ui.divergence.dimensions.{}.reason": lambda d: _dimension_parts("reason"),
    "ui.partner.walk.{}": lambda d: {f"ui.partner.walk.{key}" for key in WALK_TEXTS},
    "followups.{}.intro": _followups,
    "followups.{}.done": _followups,
    "followups.{}.questions.{}.text": _followups,
    "followups.{}.questions.{}.options.{}": _followups,
}
# Keys passed through a variable: the module, the variable, and every key it can hold.
INDIRECT: dict[tuple[str, str], set[str]] = {
    ("bot/export/pictures.py", "key"): {f"ui.{key}" for _, key in SHARES},
    ("bot/telegram/reminder_handlers.py", "key"): {
        "ui.reminders.done",
        "ui.reminders.stopped",
        "ui.reminders.cancelled",
        *(f"ui.errors.{r}" for r in REASONS),
        "ui.errors.invalid",
    },
    ("bot/reminders/flow/core.py", "key"): {  # its ui() wrapper, and a closed reminder's note
        "ui.reminders.done",
        "ui.reminders.stopped",
        "ui.reminders.cancelled",
    },
    ("bot/reminders/flow/core.py", "error"): {
        *(f"ui.errors.{r}" for r in REASONS),
        "ui.errors.invalid",
    },
    ("bot/dialogue/model.py", "path"): set(),  # Texts.get/has themselves
    ("bot/dialogue/model.py", "key"): set(),  # Texts.ui/plural themselves
    ("bot/reminders/texts.py", "key"): {f"next_steps.{r.id}" for r in DIALOGUE.next_steps},
}
PLURAL_CATEGORIES = {lang: set(Locale.parse(lang).plural_form.tags) | {"other"} for lang in LANGS}


def _pattern(node: ast.JoinedStr) -> str:
    return "".join(
        str(part.value) if isinstance(part, ast.Constant) else "{}" for part in node.values
    )


def calls_in_code():
    """(module, method, kind, key) for every texts call: kind is literal, family or variable."""
    found = []
    for path in sorted((ROOT / "bot").rglob("*.py")):
        module = path.relative_to(ROOT).as_posix()
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=module)
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call) or not node.args:
                continue
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            if name not in METHODS:
                continue
            if isinstance(func, ast.Attribute) and not _on_texts(func, module):
                continue
            if isinstance(func, ast.Name) and name != "ui":  # `ui = texts.ui`, not config's get
                continue
            arg = node.args[0]
            prefix = METHODS[name]
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                found.append((module, name, "literal", prefix + arg.value))
            elif isinstance(arg, ast.JoinedStr):
                found.append((module, name, "family", prefix + _pattern(arg)))
            elif isinstance(arg, ast.BinOp):  # "ui." + key inside Texts itself
                continue
            elif isinstance(arg, ast.Name):
                found.append((module, name, "variable", arg.id))
    return found


def _on_texts(func: ast.Attribute, module: str) -> bool:
    """`texts.ui(...)`, `self.texts.get(...)`, `turn.texts.has(...)`, and `self.get(...)` inside
    Texts itself: calls on a Texts, not on a dict (`dialogue.texts.get(lang)`, `os.environ`)."""
    owner = func.value
    if func.attr in ("ui", "plural"):
        return True
    if isinstance(owner, ast.Name):
        return owner.id == "texts" or (owner.id == "self" and module == "bot/dialogue/model.py")
    if isinstance(owner, ast.Attribute) and owner.attr == "texts":
        holder = owner.value
        holder_name = (
            holder.attr if isinstance(holder, ast.Attribute) else getattr(holder, "id", "")
        )
        return holder_name != "dialogue"
    return False


def used_keys():
    keys: set[str] = set()
    plural: set[str] = set()
    unknown: list[str] = []
    for module, method, kind, key in calls_in_code():
        if kind == "literal":
            (plural if method == "plural" else keys).add(key)
        elif kind == "family":
            if key in FAMILIES:
                keys |= set(FAMILIES[key](DIALOGUE))
            else:
                unknown.append(f"{module}: {key}")
        elif (module, key) in INDIRECT:
            keys |= INDIRECT[(module, key)]
        else:
            unknown.append(f"{module}: a key in the variable '{key}'")
    return keys, plural, unknown


def test_every_key_family_built_at_run_time_is_enumerated():
    _, _, unknown = used_keys()
    assert unknown == [], "list these in FAMILIES or INDIRECT, with the ids that build them"


@pytest.mark.parametrize("lang", LANGS)
def test_every_key_the_code_uses_exists(lang):
    texts: Texts = DIALOGUE.texts[lang]
    keys, _, _ = used_keys()
    assert len(keys) > 300  # families included
    missing = sorted(key for key in keys if not texts.has(key))
    assert missing == []


def plural_texts(node, path=""):
    """The dotted paths of the texts with plural forms (a block of CLDR categories)."""
    if isinstance(node, dict):
        if "other" in node and set(node) <= {"zero", "one", "two", "few", "many", "other"}:
            yield path
            return
        for key, value in node.items():
            yield from plural_texts(value, f"{path}.{key}" if path else key)


@pytest.mark.parametrize("lang", LANGS)
def test_every_plural_has_the_forms_its_language_needs(lang):
    data = DIALOGUE.texts[lang]._data
    found = list(plural_texts(data))
    assert "ui.reminders.all_scheduled" in found
    for path in found:
        node = data
        for part in path.split("."):
            node = node[part]
        assert set(node) == PLURAL_CATEGORIES[lang] - {"many"}, path  # French "many": "other"


def test_a_missing_key_in_a_family_is_caught(tmp_path):
    """The check can fail: a reason the parser may raise, without its message."""
    texts: Texts = DIALOGUE.texts["en"]
    family = FAMILIES["ui.errors.{}"](DIALOGUE)
    assert "ui.errors.date_order" in family
    trimmed = {k: v for k, v in texts._data["ui"]["errors"].items() if k != "date_order"}
    broken = Texts("en", {**texts._data, "ui": {**texts._data["ui"], "errors": trimmed}})
    assert [key for key in sorted(family) if not broken.has(key)] == ["ui.errors.date_order"]


def test_telegram_limits_of_descriptions():
    for lang in LANGS:
        catalog = DIALOGUE.texts[lang]
        assert len(catalog.ui("telegram.description")) <= 512
        assert len(catalog.ui("telegram.short_description")) <= 120
        for name in MENU_COMMANDS:
            assert 3 <= len(catalog.ui(f"telegram.commands.{name}")) <= 256
