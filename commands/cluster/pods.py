"""The pods of a Deployment and their troubles (not ready, restarting, CrashLoopBackOff, OOMKilled), as
`status`, `logs`, `versions` and the watchers' checks read them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from commands.clients.kube import KubeClient
from commands.clients.selectors import selector_string


def object_name(obj: dict[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("name") or "")


# -- pods of a Deployment --------------------------------------------------------------------------


def label_selector(deployment: dict[str, Any]) -> str:
    """The Deployment's `spec.selector` as a label-selector string (matchLabels and matchExpressions)."""
    return selector_string((deployment.get("spec") or {}).get("selector") or {})


def _owners(obj: dict[str, Any], kind: str) -> set[str]:
    refs = (obj.get("metadata") or {}).get("ownerReferences") or []
    return {str(r.get("name")) for r in refs if isinstance(r, dict) and r.get("kind") == kind}


def owned_pods(
    deployment: dict[str, Any], replicasets: list[dict[str, Any]], pods: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The pods whose ReplicaSet is owned by `deployment`, sorted by name.

    Selector labels alone are not enough: LiteMaaS' key-cleanup CronJob pods carry `app=litellm` too.
    """
    name = object_name(deployment)
    mine = {object_name(rs) for rs in replicasets if name in _owners(rs, "Deployment")}
    return sorted((p for p in pods if _owners(p, "ReplicaSet") & mine), key=object_name)


def pods_of(kube: KubeClient, deployment: dict[str, Any]) -> list[dict[str, Any]]:
    """The current pods of `deployment` (every ReplicaSet it owns); raises KubeError."""
    selector = label_selector(deployment)
    return owned_pods(deployment, kube.list_replicasets(selector), kube.list_pods(selector))


# -- pod troubles ----------------------------------------------------------------------------------


@dataclass
class PodReport:
    """Counts and lines about the pods of one component."""

    total: int = 0
    not_ready: int = 0
    restarting: int = 0
    crash_looping: int = 0
    oom_killed: int = 0
    lines: list[str] = field(default_factory=list)
    first_crash: str = ""  # "pod/container (last terminated: OOMKilled)"
    first_oom: str = ""

    def summary(self) -> str:
        """E.g. "3, all ready" or "3: 1 not ready, 1 restarting, 1 CrashLoopBackOff, 1 OOMKilled"."""
        if self.total == 0:
            return "none"
        problems = [
            f"{n} {what}"
            for n, what in (
                (self.not_ready, "not ready"),
                (self.restarting, "restarting"),
                (self.crash_looping, "CrashLoopBackOff"),
                (self.oom_killed, "OOMKilled"),
            )
            if n
        ]
        return f"{self.total}: {', '.join(problems)}" if problems else f"{self.total}, all ready"


def pod_ready(pod: dict[str, Any]) -> bool:
    """True when the pod's Ready condition is True."""
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def _terminated(state: dict[str, Any] | None) -> dict[str, Any]:
    return dict((state or {}).get("terminated") or {})


@dataclass(frozen=True)
class ContainerState:
    """One container of one pod as its status shows it: waiting reason, terminations, restarts."""

    pod: str
    container: str
    init: bool
    restarts: int
    waiting: str  # e.g. "CrashLoopBackOff", "" when not waiting
    ended: str  # the current termination's reason ("" for an init container that completed)
    last_terminated: str  # `lastState.terminated.reason`, "" when none
    exit_code: Any

    @property
    def last(self) -> str:
        """The last termination's reason: the previous run's, else the current one's."""
        return self.last_terminated or self.ended

    @property
    def crash_looping(self) -> bool:
        return self.waiting == "CrashLoopBackOff"

    @property
    def oom_killed(self) -> bool:
        return "OOMKilled" in (self.ended, self.last_terminated)

    @property
    def troubled(self) -> bool:
        """Restarted, waiting, terminated or OOMKilled: worth a line."""
        return bool(self.restarts or self.waiting or self.ended or self.oom_killed)

    @property
    def label(self) -> str:
        return f"{self.pod}/{self.container}" + (" (init)" if self.init else "")

    def line(self) -> str:
        """E.g. "pod/litellm: CrashLoopBackOff, 5 restarts, last terminated: OOMKilled (exit 137)"."""
        parts = [self.waiting or (f"terminated: {self.ended}" if self.ended else "running")]
        if self.restarts:
            parts.append(f"{self.restarts} restart{'s' if self.restarts != 1 else ''}")
        if self.last:
            parts.append(
                f"last terminated: {self.last}" + (f" (exit {self.exit_code})" if self.exit_code else "")
            )
        return f"{self.label}: {', '.join(parts)}"


def container_states(pod: dict[str, Any]) -> list[ContainerState]:
    """The states of a pod's init containers, then of its main containers, as in its status."""
    pod_name = object_name(pod)
    status = pod.get("status") or {}
    statuses = [(s, True) for s in status.get("initContainerStatuses") or []] + [
        (s, False) for s in status.get("containerStatuses") or []
    ]
    states: list[ContainerState] = []
    for container, is_init in statuses:
        state = container.get("state") or {}
        current_end = _terminated(state)
        last_end = _terminated(container.get("lastState"))
        ended = str(current_end.get("reason") or "")
        if is_init and ended == "Completed":
            ended = ""  # an init container that finished is the normal case
        states.append(
            ContainerState(
                pod=pod_name,
                container=str(container.get("name") or "?"),
                init=is_init,
                restarts=int(container.get("restartCount") or 0),
                waiting=str((state.get("waiting") or {}).get("reason") or ""),
                ended=ended,
                last_terminated=str(last_end.get("reason") or ""),
                exit_code=last_end.get("exitCode", current_end.get("exitCode")),
            )
        )
    return states


def pod_report(pods: list[dict[str, Any]]) -> PodReport:
    """Not ready, restarting (restartCount > 0), CrashLoopBackOff and OOMKilled pods, with a line per
    troubled container: its state, restarts and last termination reason."""
    report = PodReport(total=len(pods))
    for pod in pods:
        states = [s for s in container_states(pod) if s.troubled]
        ready = pod_ready(pod)
        pod_lines = [s.line() for s in states]
        for s in states:
            if s.crash_looping and not report.first_crash:
                report.first_crash = f"{s.pod}/{s.container}" + (
                    f", last terminated: {s.last}" if s.last else ""
                )
            if s.oom_killed and not report.first_oom:
                report.first_oom = (
                    f"{s.pod}/{s.container}, {s.restarts} restart{'s' if s.restarts != 1 else ''}"
                )
        if not ready and not pod_lines:
            pod_lines.append(f"{object_name(pod)}: not ready")
        report.not_ready += not ready
        report.restarting += any(s.restarts > 0 for s in states)
        report.crash_looping += any(s.crash_looping for s in states)
        report.oom_killed += any(s.oom_killed for s in states)
        report.lines.extend(pod_lines)
    return report


def cap_lines(lines: list[str], limit: int) -> tuple[str, ...]:
    """At most `limit` lines: past it, the first `limit - 1` and "… and N more"."""
    if len(lines) <= limit:
        return tuple(lines)
    return (*lines[: limit - 1], f"… and {len(lines) - (limit - 1)} more")
