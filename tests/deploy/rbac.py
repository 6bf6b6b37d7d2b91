"""Kubernetes RBAC, as far as a namespaced Role goes: request attributes from an HTTP request, and
whether a Role's rules allow them.

Follows the API server's request-info rules (verb from method + path + `watch`, resource and
subresource from the path) and RBAC's rule matching (`*`, `resource/subresource`, resourceNames).
Used to check deploy/'s Role against requests recorded by the sandbox Kubernetes API.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

_WATCH_TRUE = ("true", "1")


@dataclass(frozen=True)
class RequestAttributes:
    """What RBAC decides on: verb, API group, resource, subresource, object name and namespace."""

    verb: str
    api_group: str
    resource: str
    subresource: str = ""
    name: str = ""
    namespace: str = ""

    @property
    def resource_path(self) -> str:
        """`resource` or `resource/subresource`, as a rule names it."""
        return f"{self.resource}/{self.subresource}" if self.subresource else self.resource

    def __str__(self) -> str:
        target = f"{self.api_group or 'core'}/{self.resource_path}"
        return f"{self.verb} {target}" + (f" {self.name!r}" if self.name else "")


def request_attributes(method: str, path: str, query: Mapping[str, str]) -> RequestAttributes | None:
    """The RBAC attributes of one API request; None for a non-resource path (discovery, /version)."""
    parts = [p for p in path.split("?", 1)[0].split("/") if p]
    if parts[:1] == ["api"] and len(parts) >= 2:
        group, rest = "", parts[2:]
    elif parts[:1] == ["apis"] and len(parts) >= 3:
        group, rest = parts[1], parts[3:]
    else:
        return None
    namespace = ""
    if len(rest) >= 2 and rest[0] == "namespaces" and len(rest) != 2:
        namespace, rest = rest[1], rest[2:]
    if not rest:
        return None
    resource = rest[0]
    name = rest[1] if len(rest) >= 2 else ""
    subresource = rest[2] if len(rest) >= 3 else ""
    collection = not name
    watching = query.get("watch", "").lower() in _WATCH_TRUE
    verb = {
        "GET": "watch" if watching else "list" if collection else "get",
        "POST": "create",
        "PUT": "update",
        "PATCH": "patch",
        "DELETE": "deletecollection" if collection else "delete",
    }.get(method.upper())
    if verb is None:
        raise ValueError(f"no RBAC verb for HTTP method {method}")
    return RequestAttributes(verb, group, resource, subresource, name, namespace)


@dataclass(frozen=True)
class PolicyRule:
    """One rule of a Role, as written in its manifest."""

    api_groups: tuple[str, ...]
    resources: tuple[str, ...]
    verbs: tuple[str, ...]
    resource_names: tuple[str, ...] = ()

    @classmethod
    def from_manifest(cls, rule: Mapping[str, Any]) -> PolicyRule:
        return cls(
            api_groups=tuple(rule.get("apiGroups") or ()),
            resources=tuple(rule.get("resources") or ()),
            verbs=tuple(rule.get("verbs") or ()),
            resource_names=tuple(rule.get("resourceNames") or ()),
        )

    def allows(self, attrs: RequestAttributes) -> bool:
        """RBAC's matching of one rule: verb, group, resource(/subresource) and, if listed, the name."""
        if not ("*" in self.verbs or attrs.verb in self.verbs):
            return False
        if not ("*" in self.api_groups or attrs.api_group in self.api_groups):
            return False
        if not any(_resource_matches(r, attrs) for r in self.resources):
            return False
        return not self.resource_names or attrs.name in self.resource_names


def _resource_matches(rule_resource: str, attrs: RequestAttributes) -> bool:
    if rule_resource in ("*", attrs.resource_path):
        return True
    if attrs.subresource:
        return rule_resource in (f"*/{attrs.subresource}", f"{attrs.resource}/*")
    return False


def role_rules(role: Mapping[str, Any]) -> list[PolicyRule]:
    """The rules of a Role manifest."""
    return [PolicyRule.from_manifest(rule) for rule in role.get("rules") or ()]


def allowed(rules: Sequence[PolicyRule], attrs: RequestAttributes) -> bool:
    """Whether any rule allows the request (RBAC only adds; there are no deny rules)."""
    return any(rule.allows(attrs) for rule in rules)


def grants(rules: Iterable[PolicyRule]) -> set[tuple[str, str, str, str]]:
    """Every (api group, resource path, verb, resource name or "") a set of wildcard-free rules grants."""
    granted: set[tuple[str, str, str, str]] = set()
    for rule in rules:
        for group in rule.api_groups:
            for resource in rule.resources:
                for verb in rule.verbs:
                    for name in rule.resource_names or ("",):
                        granted.add((group, resource, verb, name))
    return granted
