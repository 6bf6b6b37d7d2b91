"""`rollback <component> [--to-revision N]`: `kubectl rollout undo`, then follow the rollout.

kubectl's semantics (kube-api-surface.md §2.7, §3.2): the owned ReplicaSets by revision; the previous
revision (the second-newest) or `--to-revision N`; nothing to do when that template is the current one
(ignoring `pod-template-hash`); else one JSON patch replacing `/spec/template` (without the hash label)
and `/metadata/annotations`. An unknown revision is refused with the known ones, nothing changed.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from pydantic import Field

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
from commands.cluster.images import container_images, image_tag
from commands.cluster.revisions import (
    owned_replicasets,
    revision_of,
    rollback_annotations,
    same_template,
    template_without_hash,
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
    shown_as,
)
from commands.environment import Component, ComponentName, Environment

JSON_PATCH = "application/json-patch+json"


class RollbackArgs(Args):
    """`rollback <component> [--to-revision N]`."""

    positional = ("component",)

    component: ComponentName
    to_revision: int | None = Field(default=None, ge=1, json_schema_extra=shown_as("N"))


@dataclass(frozen=True)
class Undo:
    """The revision to return to, read from the cluster."""

    component: Component
    deployment: dict[str, Any]
    current: int | None
    revision: int
    replicaset: dict[str, Any]

    @property
    def template(self) -> dict[str, Any]:
        return template_without_hash((self.replicaset.get("spec") or {}).get("template") or {})

    @property
    def noop(self) -> bool:
        return same_template(self.template, (self.deployment.get("spec") or {}).get("template") or {})

    def patch(self) -> list[dict[str, Any]]:
        """kubectl's JSON patch: the old template, and the annotations rollback.go computes."""
        return [
            {"op": "replace", "path": "/spec/template", "value": self.template},
            {
                "op": "replace",
                "path": "/metadata/annotations",
                "value": rollback_annotations(self.deployment, self.replicaset),
            },
        ]


def find_undo(env: Environment, component: Component, to_revision: int | None) -> Undo:
    """The revision `rollout undo` would return to; OperationError when there is none."""
    deployment = read_deployment(env, component.deployment)
    if is_paused(deployment):
        raise OperationError(
            f"deployment/{component.deployment} is paused: resume it before rolling back; nothing changed"
        )
    try:
        history = owned_replicasets(env.kube, deployment)
    except KubeError as exc:
        raise OperationError(
            f"cannot read the revisions of deployment/{component.deployment}: {kube_problem(exc)}"
        ) from None
    known = ", ".join(str(r) for r in sorted(history)) or "none"
    current = revision_of(deployment)
    if to_revision is not None:
        if to_revision not in history:
            raise OperationError(
                f"{component.name} has no revision {to_revision}; known revisions: {known}. Nothing changed"
            )
        revision = to_revision
    else:
        ordered = sorted(history)
        if len(ordered) < 2:
            raise OperationError(
                f"{component.name} has no previous revision to roll back to (revisions: {known})"
            )
        revision = ordered[-2]
    return Undo(component, deployment, current, revision, history[revision])


class RollbackOperation(Operation[RollbackArgs]):
    """Roll a component back to its previous revision (or --to-revision N), as kubectl rollout undo."""

    name = "rollback"
    args_model = RollbackArgs
    mutating = True
    default_role = "admin"
    default_approval = True

    def plan(self, env: Environment, args: RollbackArgs) -> Plan:
        """The revision returned to and the images that change; a no-op when it is the current template."""
        component = env.component(args.component)
        target = f"deployment/{component.deployment}"
        undo = find_undo(env, component, args.to_revision)
        observed = {
            "deployment": component.deployment,
            "generation": generation(undo.deployment),
            "revision": undo.current,
            "to_revision": undo.revision,
        }
        if undo.noop:
            return Plan(
                summary=f"{component.name}: skipped rollback (current template already matches revision "
                f"{undo.revision})",
                target=target,
                noop=True,
                observed=observed,
            )
        now = (undo.deployment.get("spec") or {}).get("template") or {}
        shown_now = "?" if undo.current is None else str(undo.current)
        changes = [Change(target, "revision", shown_now, f"{undo.revision} (as a new revision)")]
        for init in (False, True):
            before = container_images({"spec": {"template": now}}, init=init)
            after = container_images({"spec": {"template": undo.template}}, init=init)
            for name in sorted(set(before) | set(after)):
                if before.get(name) != after.get(name):
                    old, new = before.get(name), after.get(name)
                    changes.append(
                        Change(
                            target,
                            f"image ({name})",
                            image_tag(old) if old else "—",
                            image_tag(new) if new else "—",
                        )
                    )
        return Plan(
            summary=f"Roll {component.name} back to revision {undo.revision}",
            target=target,
            changes=tuple(changes),
            observed=observed,
        )

    def execute(self, env: Environment, args: RollbackArgs, plan: Plan | None) -> Iterator[Event]:
        """Patch the old template back, then follow the rollout."""
        try:
            component = env.component(args.component)
            undo = find_undo(env, component, args.to_revision)
        except OperationError as exc:
            yield Result(ok=False, summary=str(exc))
            return
        if undo.noop:
            yield Result(
                ok=True,
                summary=f"{component.name}: skipped rollback (current template already matches "
                f"revision {undo.revision})",
            )
            return

        yield Progress(f"{component.name}: rolling back to revision {undo.revision}")
        try:
            env.kube.patch_deployment(component.deployment, undo.patch(), JSON_PATCH)
        except KubeError as exc:
            yield Result(
                ok=False,
                summary=f"rolling back {component.name} failed, nothing changed: {kube_problem(exc)}",
            )
            return
        try:
            final = yield from follow_rollout(env, component)
        except KubeError as exc:
            yield Result(
                ok=False,
                summary=f"{component.name} was set back to revision {undo.revision}, but following the "
                f"rollout failed: {kube_problem(exc)}",
            )
            return

        target = f"deployment/{component.deployment}"
        fields = {
            f"image ({n})": image_tag(i)
            for n, i in container_images({"spec": {"template": undo.template}}, init=False).items()
        }
        fields["replicas"] = f"{final.available}/{final.desired} available"
        fields["rollout"] = final.message
        section = Section(title=f"{component.name} ({target})", fields=fields)
        if final.done:
            summary = f"{component.name} rolled back to revision {undo.revision}; rollout complete"
        else:
            summary = f"rolling {component.name} back to revision {undo.revision} failed: " + rollout_failure(
                component, final
            )
        failing = failure_section(env, final)
        sections = (section,) if failing is None else (section, failing)
        yield Result(ok=final.done, summary=summary, sections=sections)
