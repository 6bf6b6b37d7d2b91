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
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError
from pydantic_core import PydanticCustomError

from bot.yaml_lines import ConfigFileError, describe, line_of, read_yaml
from commands.contract import ROLE_ORDER, Role

log = logging.getLogger(__name__)


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
    """Who holds a role (or the approver flag): Slack user IDs and user-group IDs, in the environments
    named (none named: in every environment)."""

    users: list[UserId] = Field(default_factory=list)
    groups: list[GroupId] = Field(default_factory=list)
    approver: bool = False
    environments: list[str] = Field(default_factory=list)

    def covers(self, environment: str | None) -> bool:
        """Whether the grant holds in `environment` (None: the bot's single, unnamed environment)."""
        return not self.environments or environment is None or environment in self.environments


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
    # several environments: a channel bound to one of them, and policy overrides per environment
    channel_environments: dict[ChannelId, str] = Field(default_factory=dict)
    environment_policy: dict[str, dict[str, Policy]] = Field(default_factory=dict)


class AccessConfigError(ConfigFileError):
    """The access file cannot be used; the message names the file and the line."""


# ---------------------------------------------------------------------------------------- loading


def load_access_config(
    path: Path, known_commands: Collection[str], known_environments: Collection[str] | None = None
) -> AccessConfig:
    """Read and validate the access file; unknown keys, roles, commands or environments and bad IDs
    are errors (environments are checked when `known_environments` is given)."""
    try:
        root, data = read_yaml(path, "access file")
    except ConfigFileError as exc:
        raise AccessConfigError(str(exc)) from None
    problems: list[tuple[int, str]] = []
    config: AccessConfig | None = None
    try:
        config = AccessConfig.model_validate(data)
    except ValidationError as exc:
        problems += [(line_of(root, tuple(e["loc"])), describe(e)) for e in exc.errors()]
    known = sorted(known_commands)
    for where, policy in _policies(data):
        for command in policy:
            if command not in known_commands:
                problems.append(
                    (
                        line_of(root, (*where, command)),
                        f"unknown command {command!r} in policy (known: {', '.join(known)})",
                    )
                )
    if known_environments is not None:
        problems += [
            (line_of(root, where), f"unknown environment {name!r} (known: {', '.join(known_environments)})")
            for where, name in _environment_names(data)
            if name not in known_environments
        ]
    if problems or config is None:
        problems.sort(key=lambda p: p[0])
        raise AccessConfigError("\n".join(f"{path.name}:{line}: {message}" for line, message in problems))
    return config


def _policies(data: dict[str, Any]) -> list[tuple[tuple[Any, ...], dict[str, Any]]]:
    """Every policy table of the file with its location: the general one and each environment's."""
    found: list[tuple[tuple[Any, ...], dict[str, Any]]] = []
    if isinstance(data.get("policy"), dict):
        found.append((("policy",), data["policy"]))
    scoped = data.get("environment_policy")
    if isinstance(scoped, dict):
        found += [(("environment_policy", n), p) for n, p in scoped.items() if isinstance(p, dict)]
    return found


def _environment_names(data: dict[str, Any]) -> list[tuple[tuple[Any, ...], str]]:
    """Every environment name the file mentions, with its location (grants, bindings, policies)."""
    names: list[tuple[tuple[Any, ...], str]] = []
    grants = (
        [("roles", role, g) for role, g in (data.get("roles") or {}).items()]
        if isinstance(data.get("roles"), dict)
        else []
    )
    grants.append(("approvers", None, data.get("approvers")))
    for top, role, grant in grants:
        if isinstance(grant, dict) and isinstance(grant.get("environments"), list):
            base = (top, role) if role is not None else (top,)
            names += [((*base, "environments", i), str(n)) for i, n in enumerate(grant["environments"])]
    bound = data.get("channel_environments")
    if isinstance(bound, dict):
        names += [(("channel_environments", channel), str(n)) for channel, n in bound.items()]
    scoped = data.get("environment_policy")
    if isinstance(scoped, dict):
        names += [(("environment_policy", n), str(n)) for n in scoped]
    return names


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

    def caller(self, user_id: str, environment: str | None = None) -> Caller:
        """The caller's highest role and approver flag in `environment` (None: grants of every
        environment count); an unknown user gets no role."""
        role: Role | None = None
        approver = False
        for candidate in reversed(ROLE_ORDER):
            grant = self.config.roles.get(candidate)
            if grant is None or (role is not None and not grant.approver) or not grant.covers(environment):
                continue
            if self._holds(user_id, grant):
                role = role or candidate
                approver = approver or grant.approver
        if not approver and self.config.approvers.covers(environment):
            approver = self._holds(user_id, self.config.approvers)
        return Caller(user_id=user_id, role=role, approver=approver)

    def policy(
        self, command: str, default_role: Role, default_approval: bool, environment: str | None = None
    ) -> Policy:
        """The access file's policy for `command` in `environment` (its own override first, then the
        general one), else the command's defaults."""
        scoped = self.config.environment_policy.get(environment or "", {}).get(command)
        return (
            scoped or self.config.policy.get(command) or Policy(role=default_role, approval=default_approval)
        )

    def environment_of(self, channel_id: str) -> str | None:
        """The environment a channel is bound to, or None (it serves every environment)."""
        return self.config.channel_environments.get(channel_id)

    def channel_allowed(self, channel_id: str, mutating: bool) -> bool:
        """Configured (and environment-bound) channels accept everything; DMs only read-only commands;
        others nothing."""
        if channel_id in self.config.channels or channel_id in self.config.channel_environments:
            return True
        return channel_id.startswith("D") and not mutating
