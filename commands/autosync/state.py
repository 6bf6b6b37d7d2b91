"""The backend's periodic model sync as its Deployment says (litemaas-facts.md §2.2), for the autosync verbs.

The backend syncs the catalogue from LiteLLM once at every start, whatever its env says; it ALSO syncs
every `LITELLM_SYNC_INTERVAL` minutes (default 60) only when `LITELLM_AUTO_SYNC` is exactly the string
`true`. RHDP sets neither (auto-sync off). These verbs read and set the two variables in the `backend`
container of the backend Deployment with the strategic-merge patch `kubectl set env` sends (env merges
by name, other variables stay), which rolls the backend out; the rollout is followed like any other.

Three verbs, one family: `autosync status` reads (no approval), `autosync on` / `autosync off` change the
Deployment (admin + approval by default).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from commands.clients.rolling import (
    generation,
    read_deployment,
)
from commands.contract import (
    OperationError,
)
from commands.environment import Component, Environment

AUTO_SYNC = "LITELLM_AUTO_SYNC"
INTERVAL = "LITELLM_SYNC_INTERVAL"
DEFAULT_INTERVAL_MINUTES = 60
MIN_INTERVAL, MAX_INTERVAL = 1, 1440
STARTUP_NOTE = (
    "the backend also syncs once at every start, whatever LITELLM_AUTO_SYNC says; each replica syncs on "
    "its own"
)
CASCADE_RISK = (
    "every periodic sync applies the cascade: a model removed in LiteLLM becomes unavailable, its active "
    "subscriptions inactive and keys left without models deactivated (sync never deletes; LiteLLM keys "
    "keep working, so drift remains — litemaas-facts §7)"
)
RESTART_RISK = (
    "changing the env rolls out the backend: its pod restarts (logins in progress are lost) and runs its "
    "start-up sync at once"
)


@dataclass(frozen=True)
class EnvValue:
    """One variable of the container's env: its literal value, or where it comes from when not literal."""

    name: str
    value: str | None  # the literal value; None when absent or set through valueFrom
    source: str | None = None  # e.g. "configMapKeyRef backend-config/LITELLM_AUTO_SYNC"

    @property
    def present(self) -> bool:
        return self.value is not None or self.source is not None

    def shown(self) -> str:
        if self.value is not None:
            return self.value
        return f"from {self.source}" if self.source else "not set"


def _env_value(container: dict[str, Any], name: str) -> EnvValue:
    for entry in container.get("env") or []:
        if isinstance(entry, dict) and entry.get("name") == name:
            if "value" in entry or not entry.get("valueFrom"):
                return EnvValue(name, str(entry.get("value") or ""))
            ref = entry["valueFrom"]
            kind = next(iter(ref), "valueFrom") if isinstance(ref, dict) else "valueFrom"
            detail = ref.get(kind) if isinstance(ref, dict) else None
            where = f"{detail.get('name', '?')}/{detail.get('key', '?')}" if isinstance(detail, dict) else ""
            return EnvValue(name, None, f"{kind} {where}".strip())
    return EnvValue(name, None)


@dataclass(frozen=True)
class AutoSyncState:
    """What the backend Deployment's pod template says about periodic sync."""

    deployment: dict[str, Any]
    container: dict[str, Any]
    auto_sync: EnvValue
    interval: EnvValue

    @property
    def enabled(self) -> bool:
        """The backend's own test: `process.env.LITELLM_AUTO_SYNC === 'true'`."""
        return self.auto_sync.value == "true"

    def interval_minutes(self) -> int | None:
        """The interval the backend would use (None when it cannot be read or is not a number)."""
        if not self.interval.present:
            return DEFAULT_INTERVAL_MINUTES
        try:
            return int(self.interval.value or "")
        except ValueError:
            return None

    @property
    def observed(self) -> dict[str, Any]:
        return {
            "generation": generation(self.deployment),
            AUTO_SYNC: self.auto_sync.shown(),
            INTERVAL: self.interval.shown(),
        }


def read_state(env: Environment) -> tuple[Component, AutoSyncState]:
    """The backend component and its current autosync env; OperationError in plain words otherwise."""
    component = env.component("backend")
    deployment = read_deployment(env, component.deployment)
    containers = ((deployment.get("spec") or {}).get("template") or {}).get("spec", {}).get(
        "containers"
    ) or []
    container = next((c for c in containers if c.get("name") == component.container), None)
    if container is None:
        names = ", ".join(str(c.get("name")) for c in containers) or "none"
        raise OperationError(
            f"deployment/{component.deployment} has no container {component.container!r} (it has: {names})"
        )
    return component, AutoSyncState(
        deployment, container, _env_value(container, AUTO_SYNC), _env_value(container, INTERVAL)
    )


def state_warnings(state: AutoSyncState) -> list[str]:
    warnings: list[str] = []
    value = state.auto_sync.value
    if value is not None and value != "true" and value.strip().lower() in {"true", "1", "yes", "on"}:
        warnings.append(
            f"{AUTO_SYNC} is {value!r}: the backend only accepts the exact string 'true', so periodic "
            "sync is OFF"
        )
    if state.auto_sync.source or state.interval.source:
        warnings.append("a variable is set from a ConfigMap or Secret: its value is not shown here")
    if state.interval.value is not None and state.interval_minutes() is None:
        warnings.append(f"{INTERVAL} is {state.interval.value!r}, not a number of minutes")
    if state.container.get("envFrom"):
        warnings.append(
            "the container also takes variables from envFrom: a value set there is overridden by env"
        )
    return warnings


def summary_of(state: AutoSyncState) -> str:
    if not state.enabled:
        reason = "not set" if not state.auto_sync.present else f"is {state.auto_sync.shown()!r}"
        return f"periodic model sync is off ({AUTO_SYNC} {reason})"
    minutes = state.interval_minutes()
    every = f"every {minutes} minutes" if minutes is not None else f"interval {state.interval.shown()!r}"
    return f"periodic model sync is on, {every}"


def state_fields(state: AutoSyncState) -> dict[str, str]:
    interval = state.interval.shown()
    if not state.interval.present:
        interval = f"not set (default {DEFAULT_INTERVAL_MINUTES} minutes)"
    elif state.interval.value is not None:
        interval += " minutes"
    return {AUTO_SYNC: state.auto_sync.shown(), INTERVAL: interval}


def env_patch(state: AutoSyncState, container: str, values: dict[str, str]) -> dict[str, Any]:
    """The strategic-merge body of `kubectl set env`: env entries merged by name into one container."""
    replaced_refs = {v.name for v in (state.auto_sync, state.interval) if v.source}
    entries = [
        {"name": name, "value": value, **({"valueFrom": None} if name in replaced_refs else {})}
        for name, value in values.items()
    ]
    containers = state.deployment["spec"]["template"]["spec"]["containers"]
    return {
        "spec": {
            "template": {
                "spec": {
                    "$setElementOrder/containers": [{"name": c["name"]} for c in containers],
                    "containers": [{"name": container, "env": entries}],
                }
            }
        }
    }
