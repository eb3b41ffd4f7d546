"""Conditions written in the dialogue YAML (`when:`), compiled once into plain functions.

Syntax (docs/dialogue-format.md):
    {q: value}            answer equals value (a multiple-choice answer: contains it)
    {q: [a, b]}           any of
    {q: {lt: 4}}          lt le gt ge eq ne in not_in answered
    {k1: ..., k2: ...}    all must hold
    {any: [...]}, {all: [...]}, {not: {...}}
An unanswered question, or one answered "not yet", fails every test but `answered: false`, `ne`,
`not_in` and `not`.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from typing import Any

NOT_YET = "notyet"

Answers = Mapping[str, Any]
Condition = Callable[[Answers], bool]

OPERATORS = ("lt", "le", "gt", "ge", "eq", "ne", "in", "not_in", "answered")
_NEGATIVE = ("ne", "not_in")


class ConditionError(ValueError):
    """A condition is malformed; the message says what is wrong in plain words."""


def always(_: Answers) -> bool:
    return True


def compile_condition(
    spec: Any,
    known: Mapping[str, tuple[str, ...] | None],
    later: Collection[str] = (),
) -> Condition:
    """Compile a `when` mapping. `known` maps the question ids it may test to their option keys
    (None for questions without options); anything else is refused with ConditionError.
    `later` names the questions asked after this one, only to explain why testing one is refused.
    """
    if not isinstance(spec, Mapping) or not spec:
        raise ConditionError("a condition must be a non-empty mapping, like {partner_kind: x}")
    parts = [_compile_key(str(key), value, known, later) for key, value in spec.items()]
    if len(parts) == 1:
        return parts[0]
    return lambda answers: all(part(answers) for part in parts)


def questions_in(spec: Any) -> set[str]:
    """Every question id a (valid) condition tests."""
    found: set[str] = set()
    if isinstance(spec, Mapping):
        for key, value in spec.items():
            if key in ("any", "all"):
                for sub in value:
                    found |= questions_in(sub)
            elif key == "not":
                found |= questions_in(value)
            else:
                found.add(str(key))
    return found


def _compile_key(
    key: str,
    value: Any,
    known: Mapping[str, tuple[str, ...] | None],
    later: Collection[str],
) -> Condition:
    if key in ("any", "all"):
        if not isinstance(value, list) or not value:
            raise ConditionError(
                f"'{key}' takes a list of conditions, like {key}: [{{a: x}}, {{b: y}}]"
            )
        subs = [compile_condition(item, known, later) for item in value]
        if key == "any":
            return lambda answers: any(sub(answers) for sub in subs)
        return lambda answers: all(sub(answers) for sub in subs)
    if key == "not":
        if not isinstance(value, Mapping) or not value:
            raise ConditionError("'not' takes one non-empty condition, like not: {a: x}")
        sub = compile_condition(value, known, later)
        return lambda answers: not sub(answers)
    if key not in known:
        if key in later:
            raise ConditionError(
                f"the condition tests '{key}', which is not asked before this question: a "
                "condition can only use the answers to earlier questions"
            )
        import difflib  # only for a dialogue with a mistake

        close = difflib.get_close_matches(key, [*known, *later], n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        raise ConditionError(f"the condition tests '{key}', which is not a question id{hint}")
    options = known[key]
    if value is None:
        raise ConditionError(f"the condition on '{key}' has no value")
    if isinstance(value, Mapping):
        tests = [_compile_operator(key, str(op), arg, options) for op, arg in value.items()]
        if not tests:
            raise ConditionError(f"the condition on '{key}' is empty")
        return lambda answers: all(test(answers) for test in tests)
    if isinstance(value, list):
        return _compile_operator(key, "in", value, options)
    return _compile_operator(key, "eq", value, options)


def _check_values(key: str, values: list[Any], options: tuple[str, ...] | None) -> None:
    if options is None:
        return
    for value in values:
        if str(value) not in options and value != NOT_YET:
            raise ConditionError(
                f"'{value}' is not an answer of '{key}' (its answers: {', '.join(options)})"
            )


def _compile_operator(key: str, op: str, arg: Any, options: tuple[str, ...] | None) -> Condition:
    if op not in OPERATORS:
        raise ConditionError(f"unknown test '{op}' on '{key}' (known: {', '.join(OPERATORS)})")
    if op == "answered":
        if not isinstance(arg, bool):
            raise ConditionError(f"'answered' on '{key}' takes true or false")
        return lambda answers: _is_answered(answers.get(key)) == arg
    if op in ("in", "not_in"):
        if not isinstance(arg, list) or not arg:
            raise ConditionError(f"'{op}' on '{key}' takes a list of values")
        _check_values(key, arg, options)
        values = tuple(arg)
        if op == "in":
            return lambda answers: _matches_any(answers.get(key), values)
        return lambda answers: not _matches_any(answers.get(key), values)
    if op in ("eq", "ne"):
        if isinstance(arg, list | dict) or arg is None:
            raise ConditionError(f"'{op}' on '{key}' takes a single value")
        _check_values(key, [arg], options)
        if op == "eq":
            return lambda answers: _matches_any(answers.get(key), (arg,))
        return lambda answers: not _matches_any(answers.get(key), (arg,))
    if not isinstance(arg, int | float) or isinstance(arg, bool):
        raise ConditionError(f"'{op}' on '{key}' takes a number")
    if options is not None:
        # A choice, multiple choice or yes/no answer is a word: a comparison would never hold.
        raise ConditionError(
            f"'{op}' compares numbers, but '{key}' is answered with one of: {', '.join(options)}"
        )
    compare = {
        "lt": lambda a, b: a < b,
        "le": lambda a, b: a <= b,
        "gt": lambda a, b: a > b,
        "ge": lambda a, b: a >= b,
    }[op]

    def numeric(answers: Answers) -> bool:
        value = answers.get(key)
        if not isinstance(value, int | float) or isinstance(value, bool):
            return False
        return compare(value, arg)

    return numeric


def _is_answered(value: Any) -> bool:
    return value is not None and value != NOT_YET


def _matches_any(value: Any, wanted: tuple[Any, ...]) -> bool:
    if value is None:
        return False
    if value == NOT_YET:
        return NOT_YET in wanted
    if isinstance(value, list):
        return any(_same(item, want) for item in value for want in wanted)
    return any(_same(value, want) for want in wanted)


def _same(value: Any, want: Any) -> bool:
    if isinstance(value, bool) or isinstance(want, bool):
        return value is want
    if isinstance(value, int | float) and isinstance(want, int | float):
        return value == want
    return str(value) == str(want)
