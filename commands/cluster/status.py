"""`status`: replicas, rollout state and image tags of every component Deployment, with LiteMaaS warnings."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from commands.cluster.images import container_images, image_tag, same_image_mismatches
from commands.contract import Args, Event, Operation, Plan, Result, Section
from commands.environment import Component, Environment
from commands.kube import KubeError
from commands.rollout import rollout_status

BACKEND_REPLICAS_WARNING = "OAuth state is in-memory: login breaks with more than one backend replica"
LITELLM_REDIS_WARNING = (
    "LiteLLM runs {n} replicas but litellm-redis does not answer: the replicas do not share their cache"
)


class StatusArgs(Args):
    """`status` takes no arguments."""


def _replicas(deployment: dict[str, Any]) -> int:
    try:
        return int((deployment.get("spec") or {}).get("replicas", 1) or 0)
    except (TypeError, ValueError):
        return 0


def redis_answers(env: Environment) -> bool:
    """True when LiteLLM's Redis answers; a failing probe counts as "does not answer"."""
    try:
        return bool(env.litellm_redis_ping())
    except Exception:
        return False


def deployment_section(component: Component, deployment: dict[str, Any]) -> Section:
    """One component's Deployment as a result section: replicas, rollout, image tag per container."""
    status = deployment.get("status") or {}
    ready = int(status.get("readyReplicas") or 0)
    fields = {
        "replicas": f"{ready}/{_replicas(deployment)}",
        "rollout": rollout_status(deployment).message,
    }
    for name, image in container_images(deployment, init=False).items():
        fields[f"image ({name})"] = image_tag(image)
    for name, image in container_images(deployment, init=True).items():
        fields[f"image ({name})"] = image_tag(image)
    return Section(title=f"{component.name} (deployment/{component.deployment})", fields=fields)


class StatusOperation(Operation[StatusArgs]):
    """Show replicas, rollout state and image tags of every LiteMaaS component, with warnings."""

    name = "status"
    args_model = StatusArgs
    usage = "status"
    mutating = False
    default_role = "viewer"
    default_approval = False

    def execute(self, env: Environment, args: StatusArgs, plan: Plan | None = None) -> Iterator[Event]:
        """One Result: a section per Deployment found, warnings for known LiteMaaS hazards."""
        try:
            served = {str((d.get("metadata") or {}).get("name")): d for d in env.kube.list_deployments()}
        except KubeError as exc:
            yield Result(ok=False, summary=f"Cannot read the Deployments of {env.namespace}: {exc}")
            return

        sections: list[Section] = []
        warnings: list[str] = []
        rolled_out = 0
        for component in env.components.values():
            deployment = served.get(component.deployment)
            if deployment is None:
                warnings.append(
                    f"{component.name}: Deployment {component.deployment} not found in {env.namespace}"
                )
                continue
            sections.append(deployment_section(component, deployment))
            rolled_out += rollout_status(deployment).done
            warnings.extend(same_image_mismatches(component, deployment))
            replicas = _replicas(deployment)
            if component.name == "backend" and replicas > 1:
                warnings.append(f"backend runs {replicas} replicas: {BACKEND_REPLICAS_WARNING}")
            if component.name == "litellm" and replicas > 1 and not redis_answers(env):
                warnings.append(LITELLM_REDIS_WARNING.format(n=replicas))

        found = len(sections)
        summary = f"{env.name} ({env.namespace}): {rolled_out} of {found} Deployments rolled out"
        if found < len(env.components):
            summary += f", {len(env.components) - found} missing"
        yield Result(ok=True, summary=summary, sections=tuple(sections), warnings=tuple(warnings))
