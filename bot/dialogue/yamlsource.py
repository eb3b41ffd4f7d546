"""Safe YAML loading that remembers the line of every mapping, for error messages.

Only the safe subset of YAML is accepted: a tag that would build a Python object is refused.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from bot.errors import DialogueError


class LineDict(dict[str, Any]):
    """A mapping read from YAML that knows its own line and the line of each key (1-based)."""

    line: int = 0
    key_lines: dict[str, int]


class _LineLoader(yaml.SafeLoader):
    """SafeLoader whose mappings are LineDicts."""


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> LineDict:
    loader.flatten_mapping(node)
    result = LineDict()
    result.line = node.start_mark.line + 1
    result.key_lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, str | int | bool | float) or key is None:
            raise DialogueError("a key must be a plain word", line=key_node.start_mark.line + 1)
        key = str(key)
        if key in result:
            raise DialogueError(f"'{key}' appears twice", line=key_node.start_mark.line + 1)
        result[key] = loader.construct_object(value_node, deep=True)
        result.key_lines[key] = key_node.start_mark.line + 1
    return result


# YAML 1.1 reads yes/no/on/off as booleans; an advisor writing `when: {coop: no}` means the
# answer "no". Only true/false are booleans here, as in YAML 1.2.
_LineLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_LineLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)

_LineLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
    _construct_mapping,
)


def load_yaml(path: Path) -> Any:
    """Read one YAML file safely; any problem becomes a DialogueError naming file and line."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DialogueError("file not found", path=str(path)) from None
    except UnicodeDecodeError:
        raise DialogueError("the file is not UTF-8 text", path=str(path)) from None
    try:
        return yaml.load(text, Loader=_LineLoader)  # a SafeLoader subclass
    except DialogueError as exc:
        raise DialogueError(exc.message, path=str(path), line=exc.line) from None
    except yaml.constructor.ConstructorError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else None
        raise DialogueError(
            f"unsupported YAML tag ({exc.problem}); only plain text, numbers, lists and "
            "mappings are allowed",
            path=str(path),
            line=line,
        ) from None
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else None
        raise DialogueError(
            f"the YAML is malformed ({exc.problem}); check indentation and quotes",
            path=str(path),
            line=line,
        ) from None


def line_of(node: Any, key: str | None = None) -> int | None:
    """The line of a mapping (or of one of its keys), if known."""
    if isinstance(node, LineDict):
        if key is not None and key in node.key_lines:
            return node.key_lines[key]
        return node.line
    return None
