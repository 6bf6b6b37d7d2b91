"""Rollout state of a Deployment, decided exactly as `kubectl rollout status` decides it.

`rollout_status` ports kubectl's `DeploymentStatusViewer.Status` (pkg/polymorphichelpers/
rollout_status.go): same checks, same order, same texts (without the trailing newline), so the bot and
kubectl always agree. `watch_rollout` follows a rollout through the watch API, not by polling.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from commands.clients.kube import KubeClient
from commands.clients.kube_errors import KubeError
from commands.clients.pod_failures import PodFailure

TIMED_OUT_REASON = "ProgressDeadlineExceeded"
MAX_WATCH_SECONDS = 300  # one watch request never stays open longer than this; it is re-opened


@dataclass(frozen=True)
class RolloutStatus:
    """kubectl's verdict on one Deployment: finished, failed (progress deadline), or still waiting."""

    done: bool
    failed: bool
    message: str
    updated: int
    desired: int
    available: int
    failure: PodFailure | None = None  # a new pod failed for good (the follower stopped early)


def _int(value: Any) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


def _go_quote(text: str) -> str:
    """Go's %q for the plain names Kubernetes allows."""
    return json.dumps(text, ensure_ascii=False)


def rollout_status(deployment: dict[str, Any]) -> RolloutStatus:
    """The rollout status of a Deployment object (a dict as served), with kubectl's rules and texts."""
    metadata = deployment.get("metadata") or {}
    spec = deployment.get("spec") or {}
    status = deployment.get("status") or {}
    name = _go_quote(str(metadata.get("name") or ""))

    spec_replicas = spec.get("replicas")
    desired = _int(spec_replicas) if spec_replicas is not None else 1
    updated = _int(status.get("updatedReplicas"))
    replicas = _int(status.get("replicas"))
    available = _int(status.get("availableReplicas"))

    def waiting(message: str) -> RolloutStatus:
        return RolloutStatus(False, False, message, updated, desired, available)

    if _int(metadata.get("generation")) > _int(status.get("observedGeneration")):
        return waiting("Waiting for deployment spec update to be observed...")

    for condition in status.get("conditions") or []:
        if isinstance(condition, dict) and condition.get("type") == "Progressing":
            if condition.get("reason") == TIMED_OUT_REASON:
                message = f"deployment {name} exceeded its progress deadline"
                return RolloutStatus(False, True, message, updated, desired, available)
            break

    prefix = f"Waiting for deployment {name} rollout to finish: "
    if spec_replicas is not None and updated < desired:
        return waiting(f"{prefix}{updated} out of {desired} new replicas have been updated...")
    if replicas > updated:
        return waiting(f"{prefix}{replicas - updated} old replicas are pending termination...")
    if available < updated:
        return waiting(f"{prefix}{available} of {updated} updated replicas are available...")
    message = f"deployment {name} successfully rolled out"
    return RolloutStatus(True, False, message, updated, desired, available)


def _resource_version(deployment: dict[str, Any]) -> str:
    return str((deployment.get("metadata") or {}).get("resourceVersion") or "")


def iter_rollout(
    kube: KubeClient,
    name: str,
    timeout: float,
    *,
    watch_seconds: int = MAX_WATCH_SECONDS,
    stopped: Callable[[], bool] = lambda: False,
) -> Iterator[RolloutStatus]:
    """Each new rollout status of Deployment `name`, the last one final (done, failed or timed out).

    GETs the Deployment, then watches from its resourceVersion, re-opening the watch when the server
    ends it (each watch asks for at most `watch_seconds`) and re-reading the object when the server
    says the resourceVersion expired (410). Ends quietly once `stopped()` is true.
    Raises KubeError when the Deployment cannot be read.
    """
    deadline = time.monotonic() + max(0.0, timeout)
    deployment = kube.get_deployment(name)
    current = rollout_status(deployment)
    yield current
    if current.done or current.failed:
        return
    version = _resource_version(deployment)
    while (remaining := deadline - time.monotonic()) > 0:
        if stopped():
            return
        seconds = max(1, min(watch_seconds, math.ceil(remaining)))
        try:
            for obj in kube.watch_deployment(name, version, seconds):
                version = _resource_version(obj) or version
                latest = rollout_status(obj)
                if latest != current:
                    current = latest
                    yield current
                    if current.done or current.failed:
                        return
                if time.monotonic() >= deadline or stopped():
                    break
        except KubeError as exc:
            if exc.status != 410:
                raise
            deployment = kube.get_deployment(name)
            version = _resource_version(deployment)
            latest = rollout_status(deployment)
            if latest != current:
                current = latest
                yield current
                if current.done or current.failed:
                    return
    yield RolloutStatus(
        done=False,
        failed=True,
        message=f"timed out after {timeout:g}s waiting for deployment {_go_quote(name)} rollout: "
        f"{current.message}",
        updated=current.updated,
        desired=current.desired,
        available=current.available,
    )


def watch_rollout(
    kube: KubeClient,
    name: str,
    timeout: float,
    on_status: Callable[[RolloutStatus], None] | None = None,
) -> RolloutStatus:
    """Follow the rollout of `name` until done, failed or `timeout` seconds; returns the final status.

    `on_status` is called with the first status and then on every change. Raises KubeError when the
    Deployment cannot be read or watched.
    """
    final: RolloutStatus | None = None
    for status in iter_rollout(kube, name, timeout):
        final = status
        if on_status is not None:
            on_status(status)
    assert final is not None  # iter_rollout always yields at least once
    return final
