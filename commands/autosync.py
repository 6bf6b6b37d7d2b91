"""`autosync status | on | off [--interval MIN]`: the backend's periodic model sync (litemaas-facts.md §2.2).

The backend syncs the catalogue from LiteLLM once at every start, whatever its env says; it ALSO syncs
every `LITELLM_SYNC_INTERVAL` minutes (default 60) only when `LITELLM_AUTO_SYNC` is exactly the string
`true`. RHDP sets neither (auto-sync off). These verbs read and set the two variables in the `backend`
container of the backend Deployment with the strategic-merge patch `kubectl set env` sends (env merges
by name, other variables stay), which rolls the backend out; the rollout is followed like any other.

Three verbs, one family: `autosync status` reads (no approval), `autosync on` / `autosync off` change the
Deployment (admin + approval by default).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from pydantic import Field

from commands.cluster.rolling import (
    follow_rollout,
    generation,
    is_paused,
    kube_problem,
    read_deployment,
    rollout_failure,
)
from commands.contract import (
    Args,
    Change,
    Event,
    FollowUp,
    Operation,
    OperationError,
    Plan,
    Progress,
    Result,
    Section,
)
from commands.environment import Component, Environment
from commands.kube import STRATEGIC_MERGE, KubeError
from commands.rollout import rollout_status

USAGE = "autosync status | on | off [--interval MIN]"  # the family; each verb has its own usage
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
    try:
        component = env.component("backend")
    except KeyError:
        raise OperationError("this environment has no backend component configured") from None
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


def _state_warnings(state: AutoSyncState) -> list[str]:
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


def _summary(state: AutoSyncState) -> str:
    if not state.enabled:
        reason = "not set" if not state.auto_sync.present else f"is {state.auto_sync.shown()!r}"
        return f"periodic model sync is off ({AUTO_SYNC} {reason})"
    minutes = state.interval_minutes()
    every = f"every {minutes} minutes" if minutes is not None else f"interval {state.interval.shown()!r}"
    return f"periodic model sync is on, {every}"


def _fields(state: AutoSyncState) -> dict[str, str]:
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


# -- status ------------------------------------------------------------------------------------------


class AutosyncStatusArgs(Args):
    """`autosync status`."""


class AutosyncStatusOperation(Operation[AutosyncStatusArgs]):
    """Show whether the backend syncs the model catalogue periodically, and how often."""

    name = "autosync status"
    args_model = AutosyncStatusArgs
    usage = "autosync status"
    default_role = "viewer"

    def execute(self, env: Environment, args: AutosyncStatusArgs, plan: Plan | None) -> Iterator[Event]:
        try:
            component, state = read_state(env)
        except OperationError as exc:
            yield Result(ok=False, summary=str(exc))
            return
        fields = _fields(state)
        fields["rollout"] = rollout_status(state.deployment).message
        section = Section(
            title=f"{component.name} (deployment/{component.deployment}, container {component.container})",
            fields=fields,
            lines=(STARTUP_NOTE,),
        )
        yield Result(
            ok=True, summary=_summary(state), sections=(section,), warnings=tuple(_state_warnings(state))
        )


# -- on / off ----------------------------------------------------------------------------------------


class AutosyncOnArgs(Args):
    """`autosync on [--interval MIN]`."""

    interval: int | None = Field(default=None, ge=MIN_INTERVAL, le=MAX_INTERVAL)


class AutosyncOffArgs(Args):
    """`autosync off`."""


class _AutosyncChange(Operation[Any]):
    """Shared by on/off: plan the env change, patch, follow the backend's rollout."""

    mutating = True
    default_role = "admin"
    default_approval = True

    def lock_target(self, env: Environment, args: Any) -> str | None:
        try:
            return f"deployment/{env.component('backend').deployment}"
        except KeyError:
            raise OperationError("this environment has no backend component configured") from None

    def wanted(self, state: AutoSyncState, args: Any) -> dict[str, str]:
        """The variables to set (only those that change)."""
        raise NotImplementedError

    def risks(self) -> tuple[str, ...]:
        raise NotImplementedError

    def plan(self, env: Environment, args: Any) -> Plan:
        component, state = read_state(env)
        target = f"deployment/{component.deployment}"
        values = self.wanted(state, args)
        if not values:
            summary = f"nothing to change: {_summary(state)}"
            return Plan(summary=summary, target=target, noop=True, observed=state.observed)
        if is_paused(state.deployment):
            raise OperationError(f"{target} is paused: resume it first, or the change never rolls out")
        before = {AUTO_SYNC: state.auto_sync.shown(), INTERVAL: state.interval.shown()}
        changes = tuple(
            Change(target, f"env {name} ({component.container})", before[name], value)
            for name, value in values.items()
        )
        verb = "Turn on" if self.name.endswith("on") else "Turn off"
        return Plan(
            summary=f"{verb} the backend's periodic model sync: "
            + ", ".join(f"{n}={v}" for n, v in values.items())
            + f" on {target} (restarts the backend)",
            target=target,
            changes=changes,
            risks=self.risks(),
            observed=state.observed,
        )

    def execute(self, env: Environment, args: Any, plan: Plan | None) -> Iterator[Event]:
        try:
            component, state = read_state(env)
            values = self.wanted(state, args)
        except OperationError as exc:
            yield Result(ok=False, summary=str(exc))
            return
        target = f"deployment/{component.deployment}"
        if not values:
            yield Result(ok=True, summary=f"nothing changed: {_summary(state)}")
            return
        yield Progress(f"setting {', '.join(f'{n}={v}' for n, v in values.items())} on {target}")
        try:
            env.kube.patch_deployment(
                component.deployment, env_patch(state, component.container, values), STRATEGIC_MERGE
            )
        except KubeError as exc:
            yield Result(ok=False, summary=f"{target} unchanged: {kube_problem(exc)}")
            return
        try:
            final = yield from follow_rollout(env, component)
        except KubeError as exc:
            yield Result(
                ok=False,
                summary=f"{target} changed, but following its rollout failed: {kube_problem(exc)}",
            )
            return
        try:
            _, after = read_state(env)
        except OperationError:
            after = state
        fields = _fields(after)
        fields["rollout"] = final.message
        section = Section(title=f"{component.name} ({target})", fields=fields, lines=(STARTUP_NOTE,))
        if not final.done:
            yield Result(
                ok=False,
                summary=f"{_summary(after)} in the template, but {rollout_failure(component, final)}",
                sections=(section,),
                follow_ups=(FollowUp("Rollback", f"rollback {component.name}"),),
            )
            return
        yield Result(
            ok=True,
            summary=f"{_summary(after)}; the backend rolled out and ran its start-up sync",
            sections=(section,),
        )


class AutosyncOnOperation(_AutosyncChange):
    """Turn on the backend's periodic model sync (LITELLM_AUTO_SYNC=true); restarts the backend."""

    name = "autosync on"
    args_model = AutosyncOnArgs
    usage = "autosync on [--interval MIN] [--dry-run]"

    def wanted(self, state: AutoSyncState, args: Any) -> dict[str, str]:
        assert isinstance(args, AutosyncOnArgs)
        values: dict[str, str] = {}
        if not state.enabled:
            values[AUTO_SYNC] = "true"
        if args.interval is not None and state.interval.value != str(args.interval):
            values[INTERVAL] = str(args.interval)
        return values

    def risks(self) -> tuple[str, ...]:
        return (CASCADE_RISK, RESTART_RISK)


class AutosyncOffOperation(_AutosyncChange):
    """Turn off the backend's periodic model sync (LITELLM_AUTO_SYNC=false); restarts the backend."""

    name = "autosync off"
    args_model = AutosyncOffArgs
    usage = "autosync off [--dry-run]"

    def wanted(self, state: AutoSyncState, args: Any) -> dict[str, str]:
        if state.enabled or state.auto_sync.source:
            return {AUTO_SYNC: "false"}
        return {}

    def risks(self) -> tuple[str, ...]:
        return (RESTART_RISK, STARTUP_NOTE)
