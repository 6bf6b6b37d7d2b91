"""Configuration files in YAML: read them, and say a validation error with its file and line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from commands.contract import ROLE_ORDER

_ROLES_TEXT = ", ".join(ROLE_ORDER)


class ConfigFileError(Exception):
    """A configuration file cannot be used; the message names the file and the line."""


def read_yaml(path: Path, what: str) -> tuple[yaml.Node, dict[str, Any]]:
    """The file's node tree (for lines) and its mapping; a `ConfigFileError` naming file and line."""
    name = path.name
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "not readable UTF-8 text"
        raise ConfigFileError(f"{name}: cannot read the {what}: {reason}") from None
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or "invalid YAML"
        line = f"{mark.line + 1}:" if mark is not None else ""
        raise ConfigFileError(f"{name}:{line} invalid YAML: {problem}") from None
    if root is None or not isinstance(data, dict):
        raise ConfigFileError(f"{name}:1: the {what} must be a mapping")
    return root, data


def _child(node: yaml.Node | None, key: Any) -> tuple[yaml.Node | None, yaml.Node | None]:
    """(key node, value node) of `key` inside a mapping or sequence node."""
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.value == str(key):
                return key_node, value_node
    if isinstance(node, yaml.SequenceNode) and isinstance(key, int) and 0 <= key < len(node.value):
        item: yaml.Node = node.value[key]
        return item, item
    return None, None


def line_of(root: yaml.Node, loc: tuple[Any, ...]) -> int:
    """1-based line of the deepest YAML node reached by a pydantic error location."""
    node: yaml.Node | None = root
    line = root.start_mark.line + 1
    for index, part in enumerate(loc):
        if part == "[key]":
            break
        key_node, value_node = _child(node, part)
        if key_node is None:
            break
        last = index == len(loc) - 1 or loc[index + 1] == "[key]"
        line = (key_node if last else value_node or key_node).start_mark.line + 1
        node = value_node
    return line


def describe(error: Any) -> str:
    """One pydantic error said plainly (unknown key, missing key, unknown role, bad value)."""
    loc = tuple(error.get("loc") or ())
    kind = error.get("type", "")
    where = ".".join(str(p) for p in loc if p != "[key]")
    if kind == "literal_error" and (loc[-1:] == ("[key]",) or loc[-1:] == ("role",)):
        return f"unknown role {error.get('input')!r} (expected {_ROLES_TEXT})"
    if kind == "extra_forbidden":
        return f"unknown key {loc[-1]!r}" + (f" in {'.'.join(str(p) for p in loc[:-1])}" if loc[:-1] else "")
    if kind == "missing":
        return f"missing key {loc[-1]!r}" + (f" in {'.'.join(str(p) for p in loc[:-1])}" if loc[:-1] else "")
    if kind in ("malformed_id", "unknown_environment"):
        return str(error.get("msg"))
    message = str(error.get("msg", "invalid value"))
    return f"{where}: {message[:1].lower() + message[1:]}" if where else message
