"""The "deployments" check: a component Deployment short of available replicas, or whose rollout is
past its progress deadline (Progressing=False, ProgressDeadlineExceeded), with Rollback and Logs."""

from __future__ import annotations

from typing import Any

from commands.checks.finding import Finding
from commands.checks.pods import IMAGE_PULL_FAILURES
from commands.checks.workloads import component_deployments, plural
from commands.clients.kube import KubeClient
from commands.clients.kube_errors import KubeError
from commands.clients.rollout import rollout_status
from commands.cluster.pods import cap_lines, container_states, pod_report, pods_of
from commands.contract import FollowUp, rollback
from commands.environment import Component, Environment

MAX_POD_LINES = 5  # pod troubles shown under a Deployment finding (the "pods" check has the rest)


def _condition_messages(deployment: dict[str, Any]) -> list[str]:
    """The messages of the Available and Progressing conditions that are not True."""
    messages: list[str] = []
    for condition in (deployment.get("status") or {}).get("conditions") or []:
        if not isinstance(condition, dict) or condition.get("status") == "True":
            continue
        if condition.get("type") in ("Available", "Progressing") and condition.get("message"):
            messages.append(f"{condition['type']}: {condition['message']}")
    return messages


def _pods(kube: KubeClient, deployment: dict[str, Any]) -> tuple[list[str], bool, bool]:
    """What the Deployment's pods show (not ready, waiting reasons…) or why they could not be read,
    whether one cannot pull its image, and whether one crash-loops or was OOMKilled."""
    try:
        pods = pods_of(kube, deployment)
    except KubeError as exc:
        return [f"pods: cannot read them ({exc})"], False, False
    states = [s for pod in pods for s in container_states(pod)]
    unpullable = any(s.waiting in IMAGE_PULL_FAILURES for s in states)
    crashing = any(s.crash_looping or s.oom_killed for s in states)
    return list(cap_lines(pod_report(pods).lines, MAX_POD_LINES)), unpullable, crashing


def deployment_finding(kube: KubeClient, component: Component, deployment: dict[str, Any]) -> Finding | None:
    """A finding when the Deployment lacks available replicas or its rollout failed, else None."""
    rollout = rollout_status(deployment)
    desired, available = rollout.desired, rollout.available
    short = available < desired
    if not (short or rollout.failed):
        return None
    target = f"deployment/{component.deployment}"
    availability = f"{available} of {plural(desired, 'replica')} available"
    if rollout.failed:
        title = f"{component.name}: the rollout of {target} exceeded its progress deadline ({availability})"
    else:
        title = f"{component.name}: {availability} ({target})"
    pod_lines, unpullable, crashing = _pods(kube, deployment)
    details = [rollout.message, *_condition_messages(deployment), *pod_lines]
    return Finding(
        key=f"deployment/{component.deployment}",
        severity="critical" if desired > 0 and available == 0 else "warning",
        component=component.name,
        title=title,
        details=tuple(details),
        actions=(
            # Rollback fits a failed rollout or failing pods, never a healthy rollout under way
            *((rollback(component.name),) if rollout.failed or unpullable or crashing else ()),
            FollowUp("Logs", f"logs {component.name} --tail 100"),
        ),
        failed=rollout.failed or unpullable,
    )


def deployments_check(env: Environment) -> list[Finding]:
    """Deployments short of available replicas or past their progress deadline; missing ones too."""
    findings: list[Finding] = []
    for component, deployment in component_deployments(env):
        if deployment is None:
            findings.append(
                Finding(
                    key=f"deployment/{component.deployment}",
                    severity="warning",
                    component=component.name,
                    title=f"{component.name}: Deployment {component.deployment} not found in {env.namespace}",
                )
            )
            continue
        finding = deployment_finding(env.kube, component, deployment)
        if finding is not None:
            findings.append(finding)
    return findings
