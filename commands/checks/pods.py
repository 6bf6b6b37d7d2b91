"""The "pods" check: pods in CrashLoopBackOff, OOMKilled or unable to pull their image, one finding per
component (20 crashing pods of one Deployment are one alert), each failing container named with its last
reason. An image that cannot be pulled is a failure Kubernetes already established: it alerts sooner."""

from __future__ import annotations

from typing import Any

from commands.checks.finding import Finding
from commands.checks.workloads import component_deployments, plural
from commands.cluster.pods import ContainerState, cap_lines, container_states, owned_pods
from commands.contract import FollowUp, rollback
from commands.environment import Component, Environment

MAX_DETAIL_LINES = 10  # failing containers listed; past it, "… and N more"


IMAGE_PULL_FAILURES = frozenset({"ErrImagePull", "ImagePullBackOff", "InvalidImageName"})


def failing_containers(pods: list[dict[str, Any]]) -> list[ContainerState]:
    """The containers of `pods` that are crash-looping, were OOMKilled or cannot pull their image."""
    return [
        s
        for pod in pods
        for s in container_states(pod)
        if s.crash_looping or s.oom_killed or s.waiting in IMAGE_PULL_FAILURES
    ]


def _logs_command(component: Component, failing: list[ContainerState]) -> str:
    """The logs of the run that crashed, of the failing container when that is not the main one."""
    command = f"logs {component.name} --previous --tail 100"
    names = {s.container for s in failing}
    if len(names) == 1 and (name := names.pop()) != component.container:
        command += f" --container {name}"
    return command


def pods_finding(component: Component, pods: list[dict[str, Any]]) -> Finding | None:
    """One finding for all the component's failing pods, or None when none fails."""
    failing = failing_containers(pods)
    if not failing:
        return None
    crashing = {s.pod for s in failing if s.crash_looping}
    oom = {s.pod for s in failing if s.oom_killed}
    unpullable = {s.pod for s in failing if s.waiting in IMAGE_PULL_FAILURES}
    kinds = [
        (crashing, "in CrashLoopBackOff"),
        (oom, "OOMKilled"),
        (unpullable, "unable to pull their image"),
    ]
    present = [(pods_, what) for pods_, what in kinds if pods_]
    if len(present) == 1:
        what = present[0][1]
    else:
        what = "failing (" + ", ".join(f"{len(p)} {w}" for p, w in present) + ")"
    title = f"{component.name}: {len(crashing | oom | unpullable)} of {plural(len(pods), 'pod')} {what}"
    actions: tuple[FollowUp, ...] = (FollowUp("Logs", _logs_command(component, failing)),)
    if unpullable:  # new pods that cannot start: undoing the change is the usual fix
        actions = (rollback(component.name), *actions)
    return Finding(
        key=f"pods/{component.name}",
        severity="critical" if len(crashing) == len(pods) else "warning",
        component=component.name,
        title=title,
        details=cap_lines([s.line() for s in failing], MAX_DETAIL_LINES + 1),
        actions=actions,
        failed=bool(unpullable),
    )


def pods_check(env: Environment) -> list[Finding]:
    """CrashLoopBackOff and OOMKilled pods of the components' Deployments, grouped by component."""
    deployments = component_deployments(env)
    replicasets = env.kube.list_replicasets("")
    pods = env.kube.list_pods("")
    findings: list[Finding] = []
    for component, deployment in deployments:
        if deployment is None:
            continue
        finding = pods_finding(component, owned_pods(deployment, replicasets, pods))
        if finding is not None:
            findings.append(finding)
    return findings
