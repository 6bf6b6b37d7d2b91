"""Following a rollout while watching its new pods, so that a rollout that cannot finish ends early.

Two watches run side by side in threads: the Deployment (kubectl's rollout verdict, as
`iter_rollout`) and the pods of its selector. The first new pod that fails for good (`pod_failure`)
ends the wait with a failed status naming it, within the watch event that showed it, instead of at the
progress deadline. Pods of the current template that were already ready when following began are
established ones and are not judged (a scale adds pods beside them). The watches are re-opened every
`WATCH_SECONDS` at most, so a stopped follower's threads end within that time.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Iterator
from typing import Any

from commands.clients.kube import KubeClient
from commands.clients.kube_errors import KubeError
from commands.clients.pod_failures import PodFailure, is_ready, matches_template, pod_failure
from commands.clients.rollout import RolloutStatus, iter_rollout
from commands.clients.selectors import selector_string
from commands.environment import FailFast

log = logging.getLogger(__name__)

WATCH_SECONDS = 60
Put = Callable[[tuple[str, Any]], None]


def follow_rollout_failing_fast(
    kube: KubeClient, name: str, timeout: float, limits: FailFast
) -> Iterator[RolloutStatus]:
    """Each new rollout status of Deployment `name`; the last is final: done, failed (the progress
    deadline, the timeout, or a new pod's failure in `failure`). Raises KubeError as `iter_rollout`."""
    if not limits.enabled:
        yield from iter_rollout(kube, name, timeout)
        return
    deployment = kube.get_deployment(name)
    events: queue.Queue[tuple[str, Any]] = queue.Queue()
    stop = threading.Event()
    workers = (
        threading.Thread(
            target=_follow_deployment, args=(kube, name, timeout, stop, events.put), daemon=True
        ),
        threading.Thread(target=_watch_pods, args=(kube, deployment, limits, stop, events.put), daemon=True),
    )
    for worker in workers:
        worker.start()
    last: RolloutStatus | None = None
    try:
        while True:
            kind, value = events.get()
            if kind == "status":
                last = value
                yield value
                if value.done or value.failed:
                    return
            elif kind == "pod":
                yield _failed_by(value, last)
                return
            elif kind == "error":
                raise value
    finally:
        stop.set()


def _failed_by(failure: PodFailure, last: RolloutStatus | None) -> RolloutStatus:
    return RolloutStatus(
        done=False,
        failed=True,
        message=f"a new pod failed: {failure.describe()}",
        updated=last.updated if last else 0,
        desired=last.desired if last else 0,
        available=last.available if last else 0,
        failure=failure,
    )


def _follow_deployment(kube: KubeClient, name: str, timeout: float, stop: threading.Event, put: Put) -> None:
    try:
        for status in iter_rollout(kube, name, timeout, watch_seconds=WATCH_SECONDS, stopped=stop.is_set):
            put(("status", status))
            if stop.is_set():
                return
    except KubeError as exc:
        put(("error", exc))
    except Exception as exc:  # a bug must not leave the follower waiting forever
        log.exception("following deployment %s failed", name)
        put(("error", KubeError(0, type(exc).__name__, "following the rollout failed unexpectedly")))


def _watch_pods(
    kube: KubeClient, deployment: dict[str, Any], limits: FailFast, stop: threading.Event, put: Put
) -> None:
    """Report the first failed new pod; quietly give up when pods cannot be watched (the Deployment
    watch still decides, at the progress deadline)."""
    selector = selector_string((deployment.get("spec") or {}).get("selector") or {})
    established: set[str] = set()

    def failed(pod: dict[str, Any]) -> bool:
        uid = str((pod.get("metadata") or {}).get("uid") or "")
        if uid in established or not matches_template(pod, deployment):
            return False
        found = pod_failure(pod, limits)
        if found is not None:
            put(("pod", found))
        return found is not None

    try:
        pods, version = kube.list_pods_versioned(selector)
        for pod in pods:
            if matches_template(pod, deployment) and is_ready(pod):
                established.add(str(pod["metadata"].get("uid") or ""))
            elif failed(pod):
                return
        while not stop.is_set():
            try:
                for pod in kube.watch_pods(selector, version, WATCH_SECONDS):
                    version = str((pod.get("metadata") or {}).get("resourceVersion") or version)
                    if stop.is_set() or failed(pod):
                        return
            except KubeError as exc:
                if exc.status != 410:
                    raise
                pods, version = kube.list_pods_versioned(selector)
                if any(failed(pod) for pod in pods):
                    return
    except KubeError as exc:
        log.info("new pods of %s are not watched (%s); the progress deadline decides", selector, exc)
    except Exception:
        log.exception("watching the new pods of %s failed", selector)
