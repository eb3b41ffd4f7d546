"""Safe YAML loading that remembers the line of every mapping and list, for error messages.

Only the safe subset of YAML is accepted: plain text, numbers, true/false, empty values, lists and
mappings. Any other tag (`!!python/...`, `!!binary`, `!!set`, a custom `!tag`) is refused before
anything is built, and dates stay text (`2026-01-31` is the string, as answers store it).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from bot.errors import DialogueError

# The tags a plain value resolves to; every other tag is refused. `merge` is the `<<` key.
_PLAIN_TAGS = {
    f"tag:yaml.org,2002:{name}"
    for name in ("str", "int", "float", "bool", "null", "seq", "map", "merge")
}
_STR = "tag:yaml.org,2002:str"
# Aliases (`*name`) repeat a value without copying it; past this many values once repeated, the
# file is refused rather than letting a few lines expand into billions ("billion laughs").
_MAX_VALUES = 200_000


class LineDict(dict[str, Any]):
    """A mapping read from YAML that knows its own line and the line of each key (1-based)."""

    line: int = 0
    key_lines: dict[str, int]


class LineList(list[Any]):
    """A list read from YAML that knows its own line and the line of each item (1-based)."""

    line: int = 0
    item_lines: list[int]


class _LineLoader(yaml.SafeLoader):
    """SafeLoader whose mappings are LineDicts and lists LineLists."""


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> LineDict:
    loader.flatten_mapping(node)
    result = LineDict()
    result.line = node.start_mark.line + 1
    result.key_lines = {}
    for key_node, value_node in node.value:
        line = key_node.start_mark.line + 1
        key = _construct(loader, key_node)
        if not isinstance(key, str | int | bool | float):
            raise DialogueError(
                "this key is not a plain word: write a name followed by ':'", line=line
            )
        key = str(key)
        if key in result:
            raise DialogueError(
                f"the key '{key}' appears twice in the same block (first on line "
                f"{result.key_lines[key]}); keep only one",
                line=line,
            )
        result[key] = _construct(loader, value_node)
        result.key_lines[key] = line
    return result


def _construct(loader: _LineLoader, node: yaml.Node) -> Any:
    """The value of a node; a plain text is its own value, without the constructor's round
    (most of a dialogue's values are texts)."""
    if node.tag == _STR and node.__class__ is yaml.ScalarNode:
        return node.value
    return loader.construct_object(node, deep=True)


def _construct_sequence(loader: _LineLoader, node: yaml.SequenceNode) -> LineList:
    result = LineList([_construct(loader, item) for item in node.value])
    result.line = node.start_mark.line + 1
    result.item_lines = [item.start_mark.line + 1 for item in node.value]
    return result


# YAML 1.1 reads yes/no/on/off as booleans; an advisor writing `when: {coop: no}` means the
# answer "no". Only true/false are booleans here, as in YAML 1.2. Timestamps are dropped too:
# a date would become a Python object, and answers store dates as "YYYY-MM-DD" text.
_LineLoader.yaml_implicit_resolvers = {
    first: [
        (tag, regexp)
        for tag, regexp in resolvers
        if tag not in ("tag:yaml.org,2002:bool", "tag:yaml.org,2002:timestamp")
    ]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_LineLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)

_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)


def _short_tag(tag: str) -> str:
    return "!!" + tag.removeprefix("tag:yaml.org,2002:") if tag.startswith("tag:yaml.org") else tag


def _char_code(character: Any) -> str:
    code = character if isinstance(character, int) else ord(character)
    return f"U+{code:04X}"


def _check_plain(root: yaml.Node) -> None:
    """Refuse any tag that is not plain data, an alias that contains itself, and a file that
    aliases blow up; done on the parsed nodes, before any value is built."""
    sizes: dict[int, int] = {}  # id(node) -> how many values it expands to
    active: set[int] = set()

    def refuse_tag(node: yaml.Node) -> None:
        raise DialogueError(
            f"the tag '{_short_tag(node.tag)}' is not allowed: dialogue files hold only "
            "plain text, numbers, true/false, lists and mappings; remove the tag",
            line=node.start_mark.line + 1,
        )

    def walk(node: yaml.Node) -> int:
        if node.__class__ is yaml.ScalarNode:  # one value, holding no other
            if node.tag not in _PLAIN_TAGS:
                refuse_tag(node)
            return 1
        if id(node) in sizes:
            return sizes[id(node)]
        line = node.start_mark.line + 1
        if id(node) in active:
            raise DialogueError("an alias (*name) is used inside its own anchor", line=line)
        if node.tag not in _PLAIN_TAGS:
            refuse_tag(node)
        active.add(id(node))
        size = 1
        if isinstance(node, yaml.SequenceNode):
            size += sum(walk(item) for item in node.value)
        elif isinstance(node, yaml.MappingNode):
            size += sum(walk(key) + walk(value) for key, value in node.value)
        active.discard(id(node))
        if size > _MAX_VALUES:
            raise DialogueError(
                "the file expands to too many values (aliases *name repeat too much)", line=line
            )
        sizes[id(node)] = size
        return size

    walk(root)


def _c_line_loader() -> type[_LineLoader] | None:
    """_LineLoader with libyaml's parser, when PyYAML was built with it: ten times faster (the
    dialogue is read at every start). Used for files that parse; an error is reported by
    _LineLoader, in its words."""
    try:
        from yaml.cyaml import CParser  # type: ignore[attr-defined]
    except ImportError:  # PyYAML without libyaml
        return None

    class CLineLoader(CParser, _LineLoader):
        def __init__(self, stream: str) -> None:
            CParser.__init__(self, stream)
            yaml.constructor.SafeConstructor.__init__(self)
            yaml.resolver.Resolver.__init__(self)

    return CLineLoader


_C_LINE_LOADER = _c_line_loader()


def _parse(text: str) -> Any:
    if _C_LINE_LOADER is not None:
        try:
            return _compose_and_construct(_C_LINE_LOADER(text))
        except (yaml.YAMLError, DialogueError, RecursionError):
            pass  # read again below: the same error, in the words of the pure-Python reader
    return _compose_and_construct(_LineLoader(text))


def _compose_and_construct(loader: _LineLoader) -> Any:
    try:
        node = loader.get_single_node()
        if node is None:
            raise DialogueError("the file is empty")
        _check_plain(node)
        return loader.construct_document(node)
    finally:
        loader.dispose()


def _runaway_quote(text: str, line: int | None) -> int | None:
    """The line of a quoted text that runs over several lines and ends on the line of an error:
    most likely a closing quote forgotten there, the next quote in the file closing it instead."""
    found = None
    try:
        for token in yaml.scan(text, Loader=yaml.SafeLoader):
            if line is None or token.start_mark.line + 1 > line:
                break
            if (
                isinstance(token, yaml.ScalarToken)
                and token.style in ('"', "'")
                and token.start_mark.line < token.end_mark.line == line - 1
            ):
                found = token.start_mark.line + 1
    except yaml.YAMLError:
        pass  # the error itself; the tokens before it have been seen
    return found


def _syntax_message(exc: yaml.MarkedYAMLError, text: str) -> tuple[str, int | None]:
    """An advisor's reading of a YAML syntax error, and the line to look at."""
    problem = exc.problem or ""
    context = exc.context or ""
    line = exc.problem_mark.line + 1 if exc.problem_mark else None
    opened = exc.context_mark.line + 1 if exc.context_mark else line
    quote = _runaway_quote(text, line)
    if quote is not None and quote != line:
        return (
            f"a quote (\" or ') opened on this line seems never closed: YAML read on to line "
            f"{line} and stopped there ({problem})",
            quote,
        )
    if "quoted scalar" in context:
        return f"a quote (\" or ') opened on this line is never closed (YAML: {problem})", opened
    if "flow mapping" in context or "flow sequence" in context:
        return (
            f"a {{ or [ opened on this line is not closed, or a comma or a quote is missing "
            f"(YAML noticed it on line {line}: {problem})",
            opened,
        )
    if "'\\t'" in problem:
        return "a tab character: indent with spaces only", line
    if "mapping values are not allowed" in problem:
        return (
            "a ':' where none is expected: check this line's indentation, and put text that "
            "contains ': ' in quotes",
            line,
        )
    if "block end" in problem or "block mapping" in context or "block collection" in context:
        return (
            "the indentation of this line does not match the lines above it (YAML: "
            f"{context} {problem})",
            line,
        )
    if "single document" in context:
        return "the file holds more than one document ('---'); keep only one", line
    return (
        f"the YAML is malformed ({context} {problem}); check indentation and quotes".replace(
            "( ", "("
        ),
        line,
    )


def load_yaml(path: Path) -> Any:
    """Read one YAML file safely; any problem becomes a DialogueError naming file and line.

    Raises:
        DialogueError: the file is missing, unreadable, not UTF-8, empty, malformed, or uses a
            tag that is not plain data.
    """
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise DialogueError("file not found", path=str(path)) from None
    except OSError as exc:
        raise DialogueError(f"the file cannot be read ({exc.strerror})", path=str(path)) from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DialogueError(
            "the file is not UTF-8 text (a character on this line cannot be read); save it "
            "with the UTF-8 encoding",
            path=str(path),
            line=data[: exc.start].count(b"\n") + 1,
        ) from None
    try:
        return _parse(text)  # a SafeLoader subclass, and plain tags only
    except DialogueError as exc:
        raise DialogueError(exc.message, path=str(path), line=exc.line) from None
    except yaml.MarkedYAMLError as exc:
        message, line = _syntax_message(exc, text)
        raise DialogueError(message, path=str(path), line=line) from None
    except yaml.reader.ReaderError as exc:
        raise DialogueError(
            f"the file holds an invisible control character ({_char_code(exc.character)}); "
            "delete it",
            path=str(path),
            line=text[: exc.position].count("\n") + 1,
        ) from None
    except yaml.YAMLError as exc:
        raise DialogueError(f"the file cannot be read as YAML ({exc})", path=str(path)) from None
    except RecursionError:
        raise DialogueError("the file nests lists or blocks too deeply", path=str(path)) from None


def line_of(node: Any, key: str | int | None = None) -> int | None:
    """The line of a mapping or list (or of one of its keys or items), if known."""
    if isinstance(node, LineDict):
        if isinstance(key, str) and key in node.key_lines:
            return node.key_lines[key]
        return node.line
    if isinstance(node, LineList):
        if isinstance(key, int) and 0 <= key < len(node.item_lines):
            return node.item_lines[key]
        return node.line
    return None
