"""What `autosync on` and `autosync off` share: plan the env change, patch, follow the rollout."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from commands.autosync.state import (
    AUTO_SYNC,
    INTERVAL,
    STARTUP_NOTE,
    AutoSyncState,
    env_patch,
    read_state,
    state_fields,
    summary_of,
)
from commands.clients.kube import STRATEGIC_MERGE
from commands.clients.kube_errors import KubeError
from commands.clients.rolling import (
    failure_section,
    follow_rollout,
    is_paused,
    kube_problem,
    rollout_failure,
)
from commands.contract import (
    Change,
    Event,
    Operation,
    OperationError,
    Plan,
    Progress,
    Result,
    Section,
    rollback,
)
from commands.environment import Environment


class AutosyncChange(Operation[Any]):
    """Shared by on/off: plan the env change, patch, follow the backend's rollout."""

    mutating = True
    default_role = "admin"
    default_approval = True

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
            summary = f"nothing to change: {summary_of(state)}"
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
            yield Result(ok=True, summary=f"nothing changed: {summary_of(state)}")
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
        fields = state_fields(after)
        fields["rollout"] = final.message
        section = Section(title=f"{component.name} ({target})", fields=fields, lines=(STARTUP_NOTE,))
        if not final.done:
            yield Result(
                ok=False,
                summary=f"{summary_of(after)} in the template, but {rollout_failure(component, final)}",
                sections=tuple(s for s in (section, failure_section(env, final)) if s is not None),
                follow_ups=(rollback(component.name),),
            )
            return
        yield Result(
            ok=True,
            summary=f"{summary_of(after)}; the backend rolled out and ran its start-up sync",
            sections=(section,),
        )
