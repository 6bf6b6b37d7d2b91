"""The "pods" check: pods in CrashLoopBackOff or OOMKilled, one finding per component (20 crashing pods
of one Deployment are one alert), each failing container named with its last reason."""

from __future__ import annotations

from typing import Any

from commands.checks.finding import Finding
from commands.checks.workloads import component_deployments, plural
from commands.cluster.pods import ContainerState, cap_lines, container_states, owned_pods
from commands.contract import FollowUp
from commands.environment import Component, Environment

MAX_DETAIL_LINES = 10  # failing containers listed; past it, "… and N more"


def failing_containers(pods: list[dict[str, Any]]) -> list[ContainerState]:
    """The containers of `pods` that are crash-looping or were OOMKilled, pod by pod."""
    return [s for pod in pods for s in container_states(pod) if s.crash_looping or s.oom_killed]


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
    if crashing and oom:
        what = f"failing ({len(crashing)} in CrashLoopBackOff, {len(oom)} OOMKilled)"
    else:
        what = "in CrashLoopBackOff" if crashing else "OOMKilled"
    title = f"{component.name}: {len(crashing | oom)} of {plural(len(pods), 'pod')} {what}"
    return Finding(
        key=f"pods/{component.name}",
        severity="critical" if len(crashing) == len(pods) else "warning",
        component=component.name,
        title=title,
        details=cap_lines([s.line() for s in failing], MAX_DETAIL_LINES + 1),
        actions=(FollowUp("Logs", _logs_command(component, failing)),),
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
