"""Label and field selectors as the API server parses them (`k=v`, `k!=v`, `k in (a,b)`, `!k`...)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from sandbox.kube.errors import ApiError

Matcher = Callable[[dict[str, Any]], bool]

_KEY = r"[A-Za-z0-9][-A-Za-z0-9_./]*"
_SET_TERM = re.compile(rf"^({_KEY})\s+(in|notin)\s+\(([^)]*)\)$")
_EQ_TERM = re.compile(rf"^({_KEY})\s*(==|!=|=)\s*([-A-Za-z0-9_.]*)$")
_EXISTS_TERM = re.compile(rf"^(!?)\s*({_KEY})$")

FIELD_LABELS: dict[str, tuple[str, ...]] = {
    "pods": ("metadata.name", "metadata.namespace", "status.phase", "spec.nodeName"),
}
DEFAULT_FIELD_LABELS = ("metadata.name", "metadata.namespace")


def _split_terms(text: str) -> list[str]:
    """Split on commas that are not inside parentheses."""
    terms: list[str] = []
    depth, current = 0, ""
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            terms.append(current.strip())
            current = ""
        else:
            current += ch
    terms.append(current.strip())
    return [t for t in terms if t]


def _label_term(term: str) -> Matcher:
    m = _SET_TERM.match(term)
    if m:
        key, op, raw = m.groups()
        values = {v.strip() for v in raw.split(",") if v.strip()}
        if op == "in":
            return lambda labels: labels.get(key) in values
        return lambda labels: labels.get(key) not in values
    m = _EQ_TERM.match(term)
    if m:
        key, op, value = m.groups()
        if op == "!=":
            return lambda labels: labels.get(key) != value
        return lambda labels: labels.get(key) == value
    m = _EXISTS_TERM.match(term)
    if m:
        negated, key = m.groups()
        if negated:
            return lambda labels: key not in labels
        return lambda labels: key in labels
    raise ApiError(400, f"unable to parse requirement: invalid label selector term {term!r}")


def label_matcher(selector: str | None) -> Matcher:
    """Object → does its `metadata.labels` satisfy the selector (empty selector matches all)."""
    if not selector:
        return lambda obj: True
    terms = [_label_term(t) for t in _split_terms(selector)]

    def match(obj: dict[str, Any]) -> bool:
        labels = obj.get("metadata", {}).get("labels") or {}
        return all(t(labels) for t in terms)

    return match


def _field_value(obj: dict[str, Any], path: str) -> str:
    value: Any = obj
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return "" if value is None else str(value)


def field_matcher(selector: str | None, plural: str) -> Matcher:
    """Object → does it satisfy the field selector; unsupported field labels are a 400 like the real one."""
    if not selector:
        return lambda obj: True
    allowed = FIELD_LABELS.get(plural, DEFAULT_FIELD_LABELS)
    checks: list[tuple[str, bool, str]] = []
    for term in _split_terms(selector):
        m = _EQ_TERM.match(term)
        if not m:
            raise ApiError(400, f"invalid field selector term {term!r}")
        path, op, value = m.groups()
        if path not in allowed:
            raise ApiError(400, f'field label not supported: "{path}"')
        checks.append((path, op != "!=", value))

    def match(obj: dict[str, Any]) -> bool:
        return all((_field_value(obj, p) == v) == eq for p, eq, v in checks)

    return match


def selector_string(match_labels: dict[str, str]) -> str:
    """`{"app": "x"}` → `app=x`, as the Scale subresource reports `status.selector`."""
    return ",".join(f"{k}={v}" for k, v in sorted(match_labels.items()))
