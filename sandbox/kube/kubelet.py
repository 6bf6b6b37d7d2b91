"""The sandbox kubelet's image pulls, as a real kubelet reports them.

A container whose image the registry does not hold never starts: its status waits in `ErrImagePull`
(CRI-O's "manifest unknown" message), then in `ImagePullBackOff` ("Back-off pulling image …") for the
kubelet's back-off (10 s doubling up to 5 minutes; one controller step stands for 10 s), then tries
again. When the image appears (pushed to the registry), the next try starts the container. A missing
init container image keeps the pod in `Init:ErrImagePull` with its main containers `PodInitializing`.
Started containers report the registry's digest as `imageID`. Nothing here is scripted: the registry's
content decides.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from sandbox.kube.objects import now, set_condition
from sandbox.kube.pods import image_id, refresh_pod_conditions

ERR_IMAGE_PULL = "ErrImagePull"
IMAGE_PULL_BACKOFF = "ImagePullBackOff"
BACKOFF_CAP_STEPS = 30  # 5 minutes of 10-second steps


class ImageSource(Protocol):
    """What the kubelet asks the registry: can this reference be pulled, and at which digest."""

    def has_image(self, image: str) -> bool: ...

    def digest(self, image: str) -> str | None: ...


@dataclass
class _Pull:
    attempts: int = 1
    wait: int = 0  # steps left in ImagePullBackOff


def _statuses(pod: dict[str, Any]) -> list[tuple[dict[str, Any], bool]]:
    status = pod["status"]
    return [(s, True) for s in status.get("initContainerStatuses") or []] + [
        (s, False) for s in status.get("containerStatuses") or []
    ]


def _images(pod: dict[str, Any]) -> dict[str, str]:
    spec = pod["spec"]
    return {
        c["name"]: c.get("image", "")
        for c in (spec.get("initContainers") or []) + (spec.get("containers") or [])
    }


def pull_failure_message(image: str) -> str:
    """CRI-O's words for a tag the registry does not have."""
    name, _, _ = image.partition("@")
    repository, _, tag = name.rpartition(":") if ":" in name.rsplit("/", 1)[-1] else (name, "", "latest")
    return (
        f"initializing source docker://{image}: reading manifest {tag} in {repository}: "
        "manifest unknown: manifest unknown"
    )


class Kubelet:
    """Image pulls of the pods of one sandbox cluster, with per-pod back-off state."""

    def __init__(self, images: ImageSource | None) -> None:
        self.images = images
        self._pulls: dict[str, _Pull] = {}

    def missing(self, template_spec: dict[str, Any]) -> list[str]:
        """The images of a pod template that cannot be pulled now (empty without a registry)."""
        if self.images is None:
            return []
        containers = (template_spec.get("initContainers") or []) + (template_spec.get("containers") or [])
        return [c.get("image", "") for c in containers if not self.images.has_image(c.get("image", ""))]

    def record_digests(self, pod: dict[str, Any]) -> None:
        """Started containers report the registry's digest in `imageID`, as a runtime does."""
        if self.images is None:
            return
        images = _images(pod)
        for status, _ in _statuses(pod):
            image = images.get(status["name"], "")
            digest = self.images.digest(image)
            if digest and status.get("imageID"):
                repository = image.split("@")[0]
                if ":" in repository.rsplit("/", 1)[-1]:
                    repository = repository.rsplit(":", 1)[0]
                status["imageID"] = f"{repository}@{digest}"

    def start_pod(self, pod: dict[str, Any]) -> bool:
        """Try the first pull of a new pod's images; False (and ErrImagePull) when one is missing."""
        if not self._blocked(pod):
            return True
        self._pulls[pod["metadata"]["uid"]] = _Pull()
        self._wait(pod, ERR_IMAGE_PULL)
        return False

    def step(self, pod: dict[str, Any]) -> bool:
        """One step (10 s) of a pod waiting for its images; True once they are all pulled."""
        uid = pod["metadata"]["uid"]
        if uid not in self._pulls and not self._reason(pod):
            return True  # a pod that already runs (its image came before it went missing) keeps running
        pull = self._pulls.setdefault(uid, _Pull())
        if pull.wait > 0:
            pull.wait -= 1
            if pull.wait == 0 or self._reason(pod) != IMAGE_PULL_BACKOFF:
                self._wait(pod, IMAGE_PULL_BACKOFF)
            return False
        if self._reason(pod) == ERR_IMAGE_PULL:  # the failed pull is followed by its back-off
            pull.wait = min(2 ** (pull.attempts - 1), BACKOFF_CAP_STEPS)
            self._wait(pod, IMAGE_PULL_BACKOFF)
            return False
        if self._blocked(pod):  # the back-off ended: try again
            pull.attempts += 1
            self._wait(pod, ERR_IMAGE_PULL)
            return False
        self._pulls.pop(uid, None)
        self._start(pod)
        return True

    # -- pod status ----------------------------------------------------------------------------

    def _blocked(self, pod: dict[str, Any]) -> list[str]:
        if self.images is None:
            return []
        return [name for name, image in _images(pod).items() if not self.images.has_image(image)]

    @staticmethod
    def _reason(pod: dict[str, Any]) -> str:
        for status, _ in _statuses(pod):
            reason = ((status.get("state") or {}).get("waiting") or {}).get("reason")
            if reason in (ERR_IMAGE_PULL, IMAGE_PULL_BACKOFF):
                return str(reason)
        return ""

    def _wait(self, pod: dict[str, Any], reason: str) -> None:
        """The blocked containers wait in `reason`; with a blocked init container, the main ones wait
        in PodInitializing; nothing is ready; the pod is Pending."""
        blocked = set(self._blocked(pod))
        images = _images(pod)
        init_blocked = any(init and s["name"] in blocked for s, init in _statuses(pod))
        for status, init in _statuses(pod):
            status["ready"] = False
            status["started"] = False
            if status["name"] in blocked:
                image = images[status["name"]]
                message = (
                    pull_failure_message(image)
                    if reason == ERR_IMAGE_PULL
                    else f'Back-off pulling image "{image}"'
                )
                status["state"] = {"waiting": {"reason": reason, "message": message}}
                status["imageID"] = ""
                status.pop("containerID", None)
            elif not init and init_blocked:
                status["state"] = {"waiting": {"reason": "PodInitializing"}}
                status["imageID"] = ""
                status.pop("containerID", None)
        pod["status"]["phase"] = "Pending"
        refresh_pod_conditions(pod)
        if init_blocked:
            pending = [s["name"] for s, init in _statuses(pod) if init and s["name"] in blocked]
            set_condition(
                pod["status"],
                "Initialized",
                "False",
                "ContainersNotInitialized",
                f"containers with incomplete status: [{' '.join(pending)}]",
                with_update_time=False,
            )

    def _start(self, pod: dict[str, Any]) -> None:
        """Every image is there: init containers complete, main containers run (not yet ready)."""
        stamp = now()
        uid = pod["metadata"]["uid"]
        images = _images(pod)
        for status, init in _statuses(pod):
            container_id = f"cri-o://{uid[:8]}{status['name']}"
            if init:
                status["state"] = {
                    "terminated": {
                        "exitCode": 0,
                        "reason": "Completed",
                        "startedAt": stamp,
                        "finishedAt": stamp,
                    }
                }
                status["ready"] = True
            else:
                status["state"] = {"running": {"startedAt": stamp}}
                status["started"] = True
            status["containerID"] = container_id
            status["imageID"] = image_id(images.get(status["name"], ""))
        self.record_digests(pod)
        pod["status"]["phase"] = "Running"
        refresh_pod_conditions(pod)
