"""`restart <component> | all`: `kubectl rollout restart`, then follow the rollout.

The restart sets the pod template annotation `kubectl.kubernetes.io/restartedAt` with the strategic-merge
patch kubectl sends (kube-api-surface.md §2.5). `all` restarts backend → litellm → frontend, each only
after the previous one has rolled out; a failure stops the rest, and the result names what was not
restarted. `all` always needs an approval, whatever the policy.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from datetime import UTC, datetime

from pydantic import Field

from commands import targets
from commands.clients.kube import STRATEGIC_MERGE
from commands.clients.kube_errors import KubeError
from commands.clients.rolling import (
    failure_section,
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
    Operation,
    OperationError,
    Plan,
    Progress,
    Result,
    Section,
    rollback,
    shown_as,
)
from commands.environment import ALL, Component, ComponentOrAll, Environment

RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"
ALL_ORDER = ("backend", "litellm", "frontend")


class RestartArgs(Args):
    """`restart <component> | all`."""

    positional = ("component",)

    component: ComponentOrAll = Field(json_schema_extra=shown_as("component|all"))


def _targets(env: Environment, args: RestartArgs) -> list[Component]:
    if args.component == ALL:
        return env.components_in_order(ALL_ORDER)
    return [env.component(args.component)]


def _lock_set(env: Environment, args: RestartArgs) -> tuple[str, ...]:
    """Every lock the run takes: `all` also takes each component's Deployment (issue 12)."""
    if args.component == ALL:
        return targets.every_deployment([c.deployment for c in env.components.values()])
    return (_lock(env, args),)


def _lock(env: Environment, args: RestartArgs) -> str:
    """The component's Deployment; `all` locks LiteMaaS as a whole."""
    if args.component == ALL:
        return targets.ALL_DEPLOYMENTS
    return targets.deployment(env.component(args.component).deployment)


def restart_patch(at: datetime) -> dict[str, object]:
    """The body of `kubectl rollout restart`: the restartedAt annotation in RFC 3339, seconds, UTC."""
    stamp = at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: stamp}}}}}


class RestartOperation(Operation[RestartArgs]):
    """Restart a component's pods (or all: backend → litellm → frontend) and follow each rollout."""

    name = "restart"
    args_model = RestartArgs
    mutating = True
    default_role = "operator"
    default_approval = False

    def needs_approval(self, args: RestartArgs) -> bool:
        """Restarting everything at once is a two-person decision."""
        return args.component == ALL

    def plan(self, env: Environment, args: RestartArgs) -> Plan:
        """One change per Deployment (its restartedAt annotation), in restart order."""
        target = _lock(env, args)
        changes: list[Change] = []
        observed: dict[str, int] = {}
        for component in _targets(env, args):
            deployment = read_deployment(env, component.deployment)
            if is_paused(deployment):
                raise OperationError(
                    f"deployment/{component.deployment} is paused: resume it before restarting; "
                    "nothing changed"
                )
            template = (deployment.get("spec") or {}).get("template") or {}
            before = ((template.get("metadata") or {}).get("annotations") or {}).get(RESTARTED_AT)
            changes.append(
                Change(f"deployment/{component.deployment}", "restartedAt", str(before or "never"), "now")
            )
            observed[component.deployment] = generation(deployment)
        names = " → ".join(c.target.removeprefix("deployment/") for c in changes)
        risks = (
            ("each component restarts only after the previous one has rolled out; a failure stops the rest",)
            if len(changes) > 1
            else ()
        )
        return Plan(
            summary=f"Restart {names}",
            target=target,
            targets=_lock_set(env, args),
            changes=tuple(changes),
            risks=risks,
            observed=observed,
        )

    def execute(self, env: Environment, args: RestartArgs, plan: Plan | None) -> Iterator[Event]:
        """Restart each target in order, waiting for its rollout; stop at the first failure."""
        try:
            targets = _targets(env, args)
        except OperationError as exc:
            yield Result(ok=False, summary=str(exc))
            return
        done: list[str] = []
        sections: list[Section] = []
        for index, component in enumerate(targets):
            failure, section = yield from _restart_one(env, component)
            if section is not None:
                sections.append(section)
            if failure is None:
                done.append(component.name)
                continue
            summary = failure
            if done:
                summary = f"restarted {', '.join(done)}; then {summary}"
            rest = [c.name for c in targets[index + 1 :]]
            if rest:
                summary += f". Not restarted: {', '.join(rest)}"
            follow_ups = (rollback(component.name),) if section is not None else ()
            yield Result(ok=False, summary=summary, sections=tuple(sections), follow_ups=follow_ups)
            return
        yield Result(
            ok=True, summary=f"restarted {', '.join(done)}; rollout complete", sections=tuple(sections)
        )


def _restart_one(
    env: Environment, component: Component
) -> Generator[Progress, None, tuple[str | None, Section | None]]:
    """Patch the annotation and follow the rollout: (None, section) on success, else (why, section or
    None when nothing changed)."""
    name = component.name
    yield Progress(f"{name}: restarting deployment/{component.deployment}")
    try:
        env.kube.patch_deployment(component.deployment, restart_patch(datetime.now(UTC)), STRATEGIC_MERGE)
    except KubeError as exc:
        return f"restarting {name} failed, it was not restarted: {kube_problem(exc)}", None
    try:
        final = yield from follow_rollout(env, component)
    except KubeError as exc:
        section = Section(title=f"{name} (deployment/{component.deployment})", fields={"rollout": "?"})
        return f"{name} was restarted, but following the rollout failed: {kube_problem(exc)}", section
    section = Section(
        title=f"{name} (deployment/{component.deployment})",
        fields={"replicas": f"{final.available}/{final.desired} available", "rollout": final.message},
    )
    if final.done:
        return None, section
    failing = failure_section(env, final)
    if failing is not None:  # the failing pod's reason and log, under the component's own fields
        section = Section(
            title=section.title,
            fields={**section.fields, **failing.fields},
            lines=(failing.title, *failing.lines),
        )
    return f"restarting {name} failed: {rollout_failure(component, final)}", section
