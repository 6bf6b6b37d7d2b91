"""Which new pod has failed for good, read from its status as the kubelet reports it.

A rollout whose new pods cannot pull their image, crash-loop, are OOM-killed, cannot be configured,
or whose init container exited non-zero will never finish: `pod_failure` says so from one pod
object, so the follower can stop at once instead of waiting for the progress deadline. Thresholds
come from `FailFast` (settings).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from commands.environment import FailFast

RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"
PULL_ATTEMPTS = {"ErrImagePull": 1, "ImagePullBackOff": 2}  # ImagePullBackOff: the kubelet already retried
CONFIG_REASONS = ("CreateContainerConfigError", "CreateContainerError", "InvalidImageName")
# a pull that failed because the image does not exist (CRI-O, containerd, Docker): no retry will help
ABSENT_IMAGE = ("manifest unknown", "not found", "NotFound", "does not exist")


@dataclass(frozen=True)
class PodFailure:
    """One container of one pod that will not come up, and why (the kubelet's own words)."""

    reason: str  # ErrImagePull, ImagePullBackOff, CrashLoopBackOff, OOMKilled, Init:Error, …
    pod: str
    container: str
    init: bool
    message: str
    previous_log: bool  # the failing run's log is the previous container's
    has_log: bool = True  # False when the container never started (image pull, config)

    def describe(self) -> str:
        kind = "init container" if self.init else "container"
        text = f"{self.reason}: pod {self.pod}, {kind} {self.container}"
        return f"{text}: {self.message}" if self.message else text


def _images(spec: dict[str, Any], key: str) -> list[tuple[str, str]]:
    return [(str(c.get("name")), str(c.get("image"))) for c in spec.get(key) or [] if isinstance(c, dict)]


def matches_template(pod: dict[str, Any], deployment: dict[str, Any]) -> bool:
    """The pod runs the Deployment's current template (same images; same restartedAt annotation)."""
    template = (deployment.get("spec") or {}).get("template") or {}
    want_spec, have_spec = template.get("spec") or {}, pod.get("spec") or {}
    for key in ("containers", "initContainers"):
        if _images(want_spec, key) != _images(have_spec, key):
            return False
    wanted = ((template.get("metadata") or {}).get("annotations") or {}).get(RESTARTED_AT)
    have = ((pod.get("metadata") or {}).get("annotations") or {}).get(RESTARTED_AT)
    return wanted == have


def is_ready(pod: dict[str, Any]) -> bool:
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(
        c.get("type") == "Ready" and c.get("status") == "True" for c in conditions if isinstance(c, dict)
    )


def _terminated(status: dict[str, Any], key: str) -> dict[str, Any]:
    return dict(((status.get(key) or {}).get("terminated")) or {})


def _container_failure(status: dict[str, Any], pod: str, init: bool, limits: FailFast) -> PodFailure | None:
    name = str(status.get("name") or "")
    waiting = dict(((status.get("state") or {}).get("waiting")) or {})
    reason, message = str(waiting.get("reason") or ""), str(waiting.get("message") or "")
    restarts = int(status.get("restartCount") or 0)
    now, last = _terminated(status, "state"), _terminated(status, "lastState")

    def failure(why: str, text: str, previous: bool, has_log: bool = True) -> PodFailure:
        return PodFailure(why, pod, name, init, text, previous, has_log)

    if reason in PULL_ATTEMPTS and (
        PULL_ATTEMPTS[reason] >= limits.pull_errors or any(text in message for text in ABSENT_IMAGE)
    ):
        return failure(reason, message, False, has_log=False)
    if reason in CONFIG_REASONS:
        return failure(reason, message, False, has_log=False)
    for ended, previous in ((now, False), (last, True)):
        if ended.get("reason") == "OOMKilled":
            return failure(
                "OOMKilled",
                f"killed for exceeding its memory limit (exit {ended.get('exitCode', 137)})",
                previous,
            )
    if init:
        for ended, previous in ((now, False), (last, True)):
            code = int(ended.get("exitCode") or 0)
            if ended and code != 0:
                return failure(f"Init:{ended.get('reason') or 'Error'}", f"exited with code {code}", previous)
    if reason == "CrashLoopBackOff" and restarts >= limits.restarts:
        last_code = last.get("exitCode")
        detail = f"restarted {restarts} times" + (
            f", last exit code {last_code}" if last_code is not None else ""
        )
        return failure(reason, f"{detail}; {message}" if message else detail, True)
    return None


def pod_failure(pod: dict[str, Any], limits: FailFast) -> PodFailure | None:
    """The first container of `pod` that has failed for good (init containers first), or None."""
    name = str((pod.get("metadata") or {}).get("name") or "")
    status = pod.get("status") or {}
    for key, init in (("initContainerStatuses", True), ("containerStatuses", False)):
        for container in status.get(key) or []:
            if isinstance(container, dict):
                found = _container_failure(container, name, init, limits)
                if found is not None:
                    return found
    return None
