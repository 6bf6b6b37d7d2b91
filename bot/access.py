"""The access file (product.md §3) and the resolution of a Slack user to a role.

Deny by default: an unknown user has no role. Roles are granted to Slack user IDs and user groups;
group memberships come from Slack through `GroupDirectory` and are cached in Redis with a short TTL.
A bad access file is a start-up error that names the file and the line.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import redis
import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError
from pydantic_core import PydanticCustomError

from commands.contract import ROLE_ORDER, Role

log = logging.getLogger(__name__)

_ROLES_TEXT = ", ".join(ROLE_ORDER)


def _id_validator(kind: str, pattern: str, example: str) -> Callable[[str], str]:
    regex = re.compile(pattern)

    def check(value: str) -> str:
        if not regex.fullmatch(value):
            raise PydanticCustomError(
                "malformed_id",
                "malformed {kind} ID '{value}' (expected an ID like {example})",
                {"kind": kind, "value": value, "example": example},
            )
        return value

    return check


UserId = Annotated[str, AfterValidator(_id_validator("user", r"[UW][A-Z0-9]+", "U0123ABCD"))]
GroupId = Annotated[str, AfterValidator(_id_validator("user group", r"S[A-Z0-9]+", "S0123ABCD"))]
ChannelId = Annotated[str, AfterValidator(_id_validator("channel", r"[CGD][A-Z0-9]+", "C0123ABCD"))]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Grant(_Strict):
    """Who holds a role (or the approver flag): Slack user IDs and user-group IDs."""

    users: list[UserId] = Field(default_factory=list)
    groups: list[GroupId] = Field(default_factory=list)
    approver: bool = False


class ApprovalSettings(_Strict):
    """How long an approval request stays open and whether requesters may approve their own."""

    ttl_minutes: int = Field(default=30, ge=1, le=7 * 24 * 60)
    allow_self_approval: bool = False


class Policy(_Strict):
    """The role a command needs and whether it needs a second person's approval."""

    role: Role
    approval: bool = False


class AccessConfig(_Strict):
    """The whole access file."""

    channels: list[ChannelId]
    roles: dict[Role, Grant]
    approvers: Grant = Field(default_factory=Grant)
    approval: ApprovalSettings = Field(default_factory=ApprovalSettings)
    policy: dict[str, Policy] = Field(default_factory=dict)


class AccessConfigError(Exception):
    """The access file cannot be used; the message names the file and the line."""


# ---------------------------------------------------------------------------------------- loading


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


def _line_of(root: yaml.Node, loc: tuple[Any, ...]) -> int:
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


def _message(error: Any) -> str:
    loc = tuple(error.get("loc") or ())
    kind = error.get("type", "")
    where = ".".join(str(p) for p in loc if p != "[key]")
    if kind == "literal_error" and (loc[-1:] == ("[key]",) or loc[-1:] == ("role",)):
        return f"unknown role {error.get('input')!r} (expected {_ROLES_TEXT})"
    if kind == "extra_forbidden":
        return f"unknown key {loc[-1]!r}" + (f" in {'.'.join(str(p) for p in loc[:-1])}" if loc[:-1] else "")
    if kind == "missing":
        return f"missing key {loc[-1]!r}" + (f" in {'.'.join(str(p) for p in loc[:-1])}" if loc[:-1] else "")
    if kind == "malformed_id":
        return str(error.get("msg"))
    message = str(error.get("msg", "invalid value"))
    return f"{where}: {message[:1].lower() + message[1:]}" if where else message


def load_access_config(path: Path, known_commands: Collection[str]) -> AccessConfig:
    """Read and validate the access file; unknown keys, roles or commands and bad IDs are errors."""
    name = path.name
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "not readable UTF-8 text"
        raise AccessConfigError(f"{name}: cannot read the access file: {reason}") from None
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or "invalid YAML"
        line = f"{mark.line + 1}:" if mark is not None else ""
        raise AccessConfigError(f"{name}:{line} invalid YAML: {problem}") from None
    if root is None or not isinstance(data, dict):
        raise AccessConfigError(f"{name}:1: the access file must be a mapping with channels, roles, …")

    problems: list[tuple[int, str]] = []
    config: AccessConfig | None = None
    try:
        config = AccessConfig.model_validate(data)
    except ValidationError as exc:
        problems += [(_line_of(root, tuple(e["loc"])), _message(e)) for e in exc.errors()]
    policy = data.get("policy")
    if isinstance(policy, dict):
        known = sorted(known_commands)
        for command in policy:
            if command not in known_commands:
                problems.append(
                    (
                        _line_of(root, ("policy", command)),
                        f"unknown command {command!r} in policy (known: {', '.join(known)})",
                    )
                )
    if problems or config is None:
        problems.sort(key=lambda p: p[0])
        raise AccessConfigError("\n".join(f"{name}:{line}: {message}" for line, message in problems))
    return config


# ---------------------------------------------------------------------------------------- resolving


@dataclass(frozen=True)
class Caller:
    """A Slack user as the access file sees them: highest role (or None) and the approver flag."""

    user_id: str
    role: Role | None
    approver: bool

    def may(self, required: Role) -> bool:
        """Whether this caller's role includes `required` (viewer ⊂ operator ⊂ admin)."""
        return self.role is not None and ROLE_ORDER.index(self.role) >= ROLE_ORDER.index(required)


class GroupDirectory:
    """Slack user-group memberships, cached in Redis; deny (no members) when nothing is known.

    `fetch(group_id)` asks Slack (e.g. `usergroups_users_list`). A fresh cache entry (younger than
    `ttl_seconds`) is used as is; an older one, kept up to `stale_seconds`, only when Slack fails.
    When Redis fails, Slack is asked directly.
    """

    def __init__(
        self,
        fetch: Callable[[str], list[str]],
        redis: redis.Redis,
        prefix: str,
        ttl_seconds: int = 300,
        stale_seconds: int = 3600,
    ) -> None:
        self._fetch = fetch
        self._redis = redis
        self._prefix = prefix
        self._ttl = ttl_seconds
        self._stale = max(stale_seconds, ttl_seconds)

    def _key(self, group_id: str) -> str:
        return f"{self._prefix}usergroup:{group_id}"

    def _cached(self, group_id: str) -> tuple[frozenset[str], float] | None:
        try:
            raw = self._redis.get(self._key(group_id))
        except redis.RedisError as exc:
            log.warning("user-group cache unavailable (%s); asking Slack directly", type(exc).__name__)
            return None
        if raw is None:
            return None
        try:
            data = json.loads(raw)
            return frozenset(str(m) for m in data["members"]), float(data["at"])
        except (ValueError, KeyError, TypeError):
            return None

    def _store(self, group_id: str, members: frozenset[str]) -> None:
        value = json.dumps({"members": sorted(members), "at": time.time()})
        try:
            self._redis.set(self._key(group_id), value, ex=self._stale)
        except redis.RedisError as exc:
            log.warning("could not cache user group %s (%s)", group_id, type(exc).__name__)

    def members(self, group_id: str) -> frozenset[str]:
        """The user IDs in a Slack user group (empty when unknown: deny by default)."""
        cached = self._cached(group_id)
        if cached is not None and time.time() - cached[1] < self._ttl:
            return cached[0]
        try:
            members = frozenset(self._fetch(group_id))
        except Exception as exc:  # any Slack or network failure: fall back, never crash a command
            if cached is not None:
                log.warning("Slack user group %s unavailable (%s); using cached members", group_id, exc)
                return cached[0]
            log.warning("Slack user group %s unavailable (%s); treating it as empty", group_id, exc)
            return frozenset()
        self._store(group_id, members)
        return members


class AccessControl:
    """Resolves callers, command policies and allowed channels from the access file."""

    def __init__(self, config: AccessConfig, groups: GroupDirectory) -> None:
        self.config = config
        self.groups = groups

    @property
    def approval(self) -> ApprovalSettings:
        """The approval settings (TTL, self-approval)."""
        return self.config.approval

    def _holds(self, user_id: str, grant: Grant) -> bool:
        if user_id in grant.users:
            return True
        return any(user_id in self.groups.members(group) for group in grant.groups)

    def caller(self, user_id: str) -> Caller:
        """The caller's highest role and approver flag; an unknown user gets no role."""
        role: Role | None = None
        approver = False
        for candidate in reversed(ROLE_ORDER):
            grant = self.config.roles.get(candidate)
            if grant is None or (role is not None and not grant.approver):
                continue
            if self._holds(user_id, grant):
                role = role or candidate
                approver = approver or grant.approver
        if not approver:
            approver = self._holds(user_id, self.config.approvers)
        return Caller(user_id=user_id, role=role, approver=approver)

    def policy(self, command: str, default_role: Role, default_approval: bool) -> Policy:
        """The access file's policy for `command`, else the command's defaults."""
        return self.config.policy.get(command) or Policy(role=default_role, approval=default_approval)

    def channel_allowed(self, channel_id: str, mutating: bool) -> bool:
        """Configured channels accept everything; DMs only read-only commands; others nothing."""
        if channel_id in self.config.channels:
            return True
        return channel_id.startswith("D") and not mutating
