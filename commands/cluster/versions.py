"""`versions [component] [--pre]`: what runs against what the registry has.

Per component: the running tag, the digest its pods report (`imageID`), and the newer tags of its
repository in semantic-version order, newest first (pre-releases only with `--pre`). Registry answers
come from the tag cache (one call per repository per hour at most), so asking often costs nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from commands.clients.kube_errors import KubeError
from commands.clients.rolling import kube_problem, read_deployment
from commands.cluster.pods import pods_of
from commands.cluster.preflight import short_digest
from commands.cluster.updates import component_versions
from commands.contract import Args, Event, Operation, OperationError, Plan, Result, Section
from commands.environment import Component, ComponentName, Environment

SHOWN_NEWER = 8


class VersionsArgs(Args):
    """`versions [component] [--pre]`."""

    positional = ("component",)

    component: ComponentName | None = None
    pre: bool = False


def running_digest(env: Environment, component: Component, deployment: dict[str, Any]) -> str | None:
    """The digest the component's pods report for its main container (the first that reports one)."""
    for pod in pods_of(env.kube, deployment):
        for status in (pod.get("status") or {}).get("containerStatuses") or []:
            image_id = str(status.get("imageID") or "")
            if status.get("name") == component.container and "@sha256:" in image_id:
                return image_id.split("@", 1)[1]
    return None


class VersionsOperation(Operation[VersionsArgs]):
    """Running image tags and digests against the newer tags on the registry."""

    name = "versions"
    args_model = VersionsArgs
    mutating = False
    default_role = "viewer"
    default_approval = False

    def execute(self, env: Environment, args: VersionsArgs, plan: Plan | None = None) -> Iterator[Event]:
        if env.image_registry is None:
            yield Result(ok=False, summary="no image registry is configured for this environment")
            return
        try:
            targets = [env.component(args.component)] if args.component else list(env.components.values())
            sections, available, problems = [], [], []
            for component in targets:
                deployment = read_deployment(env, component.deployment)
                found = component_versions(env, component, deployment, prereleases=args.pre)
                if found is None:
                    continue
                digest = running_digest(env, component, deployment)
                fields = {"image": found.repository, "running": found.tag}
                fields["digest"] = short_digest(digest) if digest else "not reported by the pods"
                if found.newer is None:
                    fields["newer"] = f"unknown: {found.problem}"
                    problems.append(component.name)
                elif found.newer:
                    shown = list(found.newer[:SHOWN_NEWER])
                    more = len(found.newer) - len(shown)
                    fields["newer"] = ", ".join(shown) + (f" (+{more} older)" if more > 0 else "")
                    available.append(f"{component.name} {found.newer[0]}")
                else:
                    fields["newer"] = "none: this is the newest release"
                sections.append(Section(title=component.name, fields=fields))
        except OperationError as exc:
            yield Result(ok=False, summary=str(exc))
            return
        except KubeError as exc:
            yield Result(ok=False, summary=f"cannot read the pods: {kube_problem(exc)}")
            return
        if available:
            summary = f"update available: {', '.join(available)}"
        elif problems:
            summary = f"the registry could not be asked for {', '.join(problems)}"
        else:
            summary = "every component runs its newest release"
        yield Result(ok=not problems, summary=summary, sections=tuple(sections))
