"""The automation file (YAML): where alerts go, how often watchers look, and the schedules.

Loaded once at start-up from `AUTOMATION_CONFIG`; errors name the file and the field, never a value
that could be secret. Without the file (or without any channel in it) the bot runs no watchers and no
schedules, and says so in its log: quiet by default, config-driven.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from croniter import croniter
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from commands.checks.drift import validate_thresholds

Severity = Literal["critical", "warning", "info"]
_CHANNEL = r"^[CGD][A-Z0-9]{2,20}$"


class AutomationConfigError(Exception):
    """The automation file is unreadable or invalid; `str()` names the file and the field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Route(_Strict):
    """Alerts matching every given condition go to `channel`; the first matching route wins."""

    channel: str = Field(pattern=_CHANNEL)
    severity: list[Severity] | None = None
    component: list[str] | None = None

    def matches(self, severity: str, component: str) -> bool:
        return (self.severity is None or severity in self.severity) and (
            self.component is None or component in self.component
        )


class Watcher(_Strict):
    """How often a watcher looks, and how long a finding must hold before it alerts and stay gone before
    it resolves (flap damping). A finding Kubernetes itself calls failed (a rollout past its progress
    deadline, an image that cannot be pulled) waits only `failed_pending_seconds`."""

    enabled: bool = True
    interval_seconds: float = Field(default=60, ge=1, le=86400)
    pending_seconds: float = Field(default=0, ge=0, le=86400)
    failed_pending_seconds: float | None = Field(default=None, ge=0, le=86400)  # None: pending_seconds
    clear_seconds: float = Field(default=0, ge=0, le=86400)

    def pending_for(self, failed: bool) -> float:
        """How long a finding waits before it alerts."""
        if failed and self.failed_pending_seconds is not None:
            return min(self.pending_seconds, self.failed_pending_seconds)
        return self.pending_seconds


_15M, _5M = 900.0, 300.0  # kube-prometheus: KubeDeploymentReplicasMismatch and KubePodCrashLooping `for: 15m`
DEFAULT_WATCHERS: dict[str, Watcher] = {
    "deployments": Watcher(
        interval_seconds=30, pending_seconds=_15M, failed_pending_seconds=60, clear_seconds=_5M
    ),
    "pods": Watcher(interval_seconds=30, pending_seconds=_15M, failed_pending_seconds=60, clear_seconds=_5M),
    "readiness": Watcher(interval_seconds=30, pending_seconds=_5M, clear_seconds=_5M),
    "redis": Watcher(interval_seconds=60, pending_seconds=_5M, clear_seconds=_5M),
    "images": Watcher(interval_seconds=300),
    "drift": Watcher(interval_seconds=3600),
    "backups": Watcher(interval_seconds=3600),
}


class Alerts(_Strict):
    channel: str | None = Field(default=None, pattern=_CHANNEL)  # where unrouted alerts go
    routes: list[Route] = Field(default_factory=list)
    renotify_minutes: float = Field(default=240, ge=1)  # a reminder in the thread while still firing
    watchers: dict[str, Watcher] = Field(default_factory=dict)
    # drift findings above these counts alert (keys: drift kinds a-f as the drift report names them,
    # "c" for c1 and c2, "default" for every kind not named)
    drift_thresholds: dict[str, int] = Field(default_factory=lambda: {"default": 0})

    @field_validator("watchers", mode="before")
    @classmethod
    def _known_watchers(cls, value: Any) -> Any:
        """Each watcher's fields override its defaults one by one (`pods: {pending_seconds: 0}`)."""
        if not isinstance(value, dict):
            return value
        unknown = sorted(str(name) for name in set(value) - set(DEFAULT_WATCHERS))
        if unknown:
            raise ValueError(f"unknown watcher {unknown[0]!r}; known: {', '.join(DEFAULT_WATCHERS)}")
        return {
            name: {**DEFAULT_WATCHERS[name].model_dump(), **fields} if isinstance(fields, dict) else fields
            for name, fields in value.items()
        }

    @field_validator("drift_thresholds")
    @classmethod
    def _known_drift_kinds(cls, value: dict[str, int]) -> dict[str, int]:
        validate_thresholds(value)
        return value

    def watcher(self, name: str) -> Watcher:
        return self.watchers.get(name, DEFAULT_WATCHERS[name])

    def channel_for(self, severity: str, component: str) -> str | None:
        for route in self.routes:
            if route.matches(severity, component):
                return route.channel
        return self.channel


class Schedule(_Strict):
    """A recurring command, run by the leader as the `schedule:<name>` actor, result posted to a channel."""

    cron: str
    command: str = Field(min_length=1, max_length=300)
    channel: str | None = Field(default=None, pattern=_CHANNEL)  # default: the alerts channel
    enabled: bool = True

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str) -> str:
        if len(value.split()) != 5 or not croniter.is_valid(value):
            raise ValueError("must be a 5-field cron expression, e.g. '0 2 * * *'")
        return value


DEFAULT_SCHEDULES: dict[str, Schedule] = {
    "key-cleanup": Schedule(cron="0 2 * * *", command="keys cleanup"),
    "backup": Schedule(cron="0 3 1 * *", command="backup now"),
    "backup-verify": Schedule(cron="0 4 * * 0", command="backup verify"),  # weekly: the newest backup
    "drift": Schedule(cron="0 6 * * *", command="drift"),
}


class AutomationConfig(_Strict):
    alerts: Alerts = Field(default_factory=Alerts)
    schedules: dict[str, Schedule] = Field(default_factory=lambda: dict(DEFAULT_SCHEDULES))

    @field_validator("schedules")
    @classmethod
    def _names(cls, value: dict[str, Schedule]) -> dict[str, Schedule]:
        for name in value:
            if not name.replace("-", "").isalnum() or len(name) > 40:
                raise ValueError(f"schedule name {name[:40]!r} must be letters, digits and '-'")
        return value

    @model_validator(mode="after")
    def _schedules_have_a_channel(self) -> AutomationConfig:
        for name, schedule in self.schedules.items():
            if schedule.enabled and schedule.channel is None and self.alerts.channel is None:
                raise ValueError(f"schedule {name!r} has no channel and alerts.channel is not set")
        return self

    @property
    def active(self) -> bool:
        """Whether watchers run at all: alerts need a channel to go to."""
        return self.alerts.channel is not None or bool(self.alerts.routes)

    def schedule_channel(self, name: str) -> str | None:
        return self.schedules[name].channel or self.alerts.channel


def load_automation(path: Path | None) -> AutomationConfig:
    """The automation file's settings; no file → nothing automated (no watchers, no schedules)."""
    if path is None:
        return AutomationConfig(schedules={})
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except OSError as exc:
        raise AutomationConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        raise AutomationConfigError(f"{path}{where}: not valid YAML") from None
    if not isinstance(data, dict):
        raise AutomationConfigError(f"{path}: must be a mapping with 'alerts' and/or 'schedules'")
    given = data.get("schedules")
    if given is None or isinstance(given, dict):  # the defaults, each overridable field by field
        merged = {name: s.model_dump() for name, s in DEFAULT_SCHEDULES.items()}
        for name, fields in (given or {}).items():
            base = merged.get(name, {})
            merged[name] = {**base, **fields} if isinstance(fields, dict) else fields
        data = {**data, "schedules": merged}
    try:
        return AutomationConfig.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first.get("loc", ())) or "(top level)"
        message = str(first.get("ctx", {}).get("error", first.get("msg", "is invalid")))
        raise AutomationConfigError(f"{path}: {field}: {message}") from None
