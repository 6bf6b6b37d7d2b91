"""Pods as a kubelet would report them: Running, with every OpenAPI-required container-status field."""

from __future__ import annotations

import copy
import hashlib
from typing import Any

from sandbox.kube.objects import new_uid, now, owner_reference, set_condition

NODE_NAME = "sandbox-node-1"


def image_id(image: str) -> str:
    """A plausible `imageID` (repository@sha256:...) for an image reference."""
    repo = image.split("@")[0].rsplit(":", 1)[0] if ":" in image.split("/")[-1] else image
    return f"{repo}@sha256:{hashlib.sha256(image.encode()).hexdigest()}"


def _container_id(pod_uid: str, name: str) -> str:
    return "cri-o://" + hashlib.sha256(f"{pod_uid}/{name}".encode()).hexdigest()


def build_pod(
    name: str, namespace: str, template: dict[str, Any], owner: dict[str, Any], *, ready: bool, ip_index: int
) -> dict[str, Any]:
    """A Running pod from a pod template, owned by `owner` (a ReplicaSet or StatefulSet)."""
    meta_t = template.get("metadata", {})
    spec = copy.deepcopy(template.get("spec", {}))
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec["nodeName"] = NODE_NAME
    uid = new_uid()
    started = now()
    meta: dict[str, Any] = {
        "name": name,
        "namespace": namespace,
        "uid": uid,
        "creationTimestamp": started,
        "labels": dict(meta_t.get("labels") or {}),
        "ownerReferences": [owner_reference(owner)],
    }
    if meta_t.get("annotations"):
        meta["annotations"] = dict(meta_t["annotations"])
    pod_ip = f"10.128.{ip_index // 250}.{ip_index % 250 + 2}"
    status: dict[str, Any] = {
        "phase": "Running",
        "hostIP": "10.0.0.10",
        "hostIPs": [{"ip": "10.0.0.10"}],
        "podIP": pod_ip,
        "podIPs": [{"ip": pod_ip}],
        "startTime": started,
        "qosClass": "BestEffort",
        "initContainerStatuses": [
            {
                "name": c["name"],
                "image": c.get("image", ""),
                "imageID": image_id(c.get("image", "")),
                "containerID": _container_id(uid, c["name"]),
                "ready": True,
                "restartCount": 0,
                "started": False,
                "state": {
                    "terminated": {
                        "exitCode": 0,
                        "reason": "Completed",
                        "startedAt": started,
                        "finishedAt": started,
                        "containerID": _container_id(uid, c["name"]),
                    }
                },
            }
            for c in spec.get("initContainers") or []
        ],
        "containerStatuses": [
            {
                "name": c["name"],
                "image": c.get("image", ""),
                "imageID": image_id(c.get("image", "")),
                "containerID": _container_id(uid, c["name"]),
                "ready": ready,
                "restartCount": 0,
                "started": True,
                "state": {"running": {"startedAt": started}},
            }
            for c in spec.get("containers") or []
        ],
    }
    if not status["initContainerStatuses"]:
        del status["initContainerStatuses"]
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec, "status": status}
    refresh_pod_conditions(pod)
    return pod


def pod_ready(pod: dict[str, Any]) -> bool:
    """A pod is ready when it runs and all its main containers are ready."""
    statuses = pod.get("status", {}).get("containerStatuses") or []
    return (
        pod.get("status", {}).get("phase") == "Running"
        and bool(statuses)
        and all(s["ready"] for s in statuses)
    )


def can_become_ready(pod: dict[str, Any]) -> bool:
    """Whether the toy kubelet may mark it ready: no container is scripted as waiting or terminated."""
    statuses = pod.get("status", {}).get("containerStatuses") or []
    return all("running" in s.get("state", {}) for s in statuses)


def mark_ready(pod: dict[str, Any]) -> None:
    """All main containers pass their readiness probes."""
    for s in pod["status"].get("containerStatuses") or []:
        s["ready"] = True
    refresh_pod_conditions(pod)


def refresh_pod_conditions(pod: dict[str, Any]) -> None:
    """Recompute the pod conditions from the container statuses."""
    status = pod["status"]
    unready = [s["name"] for s in status.get("containerStatuses") or [] if not s["ready"]]
    ready = "False" if unready else "True"
    reason = "ContainersNotReady" if unready else ""
    message = f"containers with unready status: [{' '.join(unready)}]" if unready else ""
    set_condition(status, "PodReadyToStartContainers", "True", "", "", with_update_time=False)
    set_condition(status, "Initialized", "True", "", "", with_update_time=False)
    set_condition(status, "Ready", ready, reason, message, with_update_time=False)
    set_condition(status, "ContainersReady", ready, reason, message, with_update_time=False)
    set_condition(status, "PodScheduled", "True", "", "", with_update_time=False)
    for c in status["conditions"]:
        for key in ("reason", "message"):
            if not c.get(key):
                c.pop(key, None)


def set_container_state(
    pod: dict[str, Any],
    container: str,
    *,
    waiting_reason: str | None,
    terminated_reason: str | None,
    restart_count: int | None,
    ready: bool | None,
) -> None:
    """Script one container's state (e.g. CrashLoopBackOff after OOMKilled); KeyError if no such container."""
    statuses = pod["status"].get("containerStatuses", []) + pod["status"].get("initContainerStatuses", [])
    status = next((s for s in statuses if s["name"] == container), None)
    if status is None:
        names = ", ".join(s["name"] for s in statuses)
        raise KeyError(f"pod {pod['metadata']['name']} has no container {container!r} (has: {names})")
    stamp = now()
    terminated = None
    if terminated_reason:
        code = 137 if terminated_reason == "OOMKilled" else 1
        terminated = {"exitCode": code, "reason": terminated_reason, "startedAt": stamp, "finishedAt": stamp}
    if waiting_reason:
        message = f"back-off 5m0s restarting failed container={container} pod={pod['metadata']['name']}"
        status["state"] = {"waiting": {"reason": waiting_reason, "message": message}}
        if terminated:
            status["lastState"] = {"terminated": terminated}
    elif terminated:
        status["state"] = {"terminated": terminated}
    if waiting_reason or terminated_reason:
        status["ready"] = False
        status["started"] = False
    if ready is not None:
        status["ready"] = ready
        if ready and "running" not in status.get("state", {}):
            status["state"] = {"running": {"startedAt": stamp}}
            status["started"] = True
    if restart_count is not None:
        status["restartCount"] = restart_count
    refresh_pod_conditions(pod)


CRASH_LOOP = "CrashLoopBackOff"
IMAGE_PULL_REASONS = ("ImagePullBackOff", "ErrImagePull")
FAILURE_REASONS = (CRASH_LOOP, *IMAGE_PULL_REASONS)


def _backoff(restarts: int) -> str:
    """kubelet's crash back-off: 10 s doubling per restart, capped at 5 minutes (Go duration text)."""
    seconds = min(10 * 2 ** max(0, restarts - 1), 300)
    minutes, rest = divmod(seconds, 60)
    return f"{minutes}m{rest}s" if minutes else f"{rest}s"


def make_failing(pod: dict[str, Any], reason: str) -> None:
    """The pod's main containers never become ready: crash-looping, or stuck pulling their image."""
    if reason not in FAILURE_REASONS:
        raise ValueError(f"unknown failure reason {reason!r}; use one of {', '.join(FAILURE_REASONS)}")
    stamp, name = now(), pod["metadata"]["name"]
    images = {c["name"]: c.get("image", "") for c in pod["spec"].get("containers") or []}
    for status in pod["status"].get("containerStatuses") or []:
        status["ready"] = False
        status["started"] = False
        if reason == CRASH_LOOP:
            status["restartCount"] = 1
            status["lastState"] = {
                "terminated": {"exitCode": 1, "reason": "Error", "startedAt": stamp, "finishedAt": stamp}
            }
            message = f"back-off {_backoff(1)} restarting failed container={status['name']} pod={name}"
        else:
            image = images.get(status["name"], "")
            status["imageID"] = ""
            status.pop("containerID", None)
            message = (
                f'Back-off pulling image "{image}"'
                if reason == "ImagePullBackOff"
                else f"rpc error: code = NotFound desc = failed to pull and unpack image {image!r}: not found"
            )
        status["state"] = {"waiting": {"reason": reason, "message": message}}
    if reason != CRASH_LOOP:
        pod["status"]["phase"] = "Pending"
    refresh_pod_conditions(pod)


def crash_again(pod: dict[str, Any]) -> bool:
    """One more crash of every crash-looping container (restartCount + 1); False when none crash-loops."""
    stamp, crashed = now(), False
    for status in pod["status"].get("containerStatuses") or []:
        waiting = status.get("state", {}).get("waiting") or {}
        if waiting.get("reason") != CRASH_LOOP:
            continue
        status["restartCount"] = status.get("restartCount", 0) + 1
        status["lastState"] = {
            "terminated": {"exitCode": 1, "reason": "Error", "startedAt": stamp, "finishedAt": stamp}
        }
        waiting["message"] = (
            f"back-off {_backoff(status['restartCount'])} restarting failed "
            f"container={status['name']} pod={pod['metadata']['name']}"
        )
        crashed = True
    return crashed


def recover(pod: dict[str, Any]) -> None:
    """Containers stuck waiting start running (not yet ready): what clearing a scripted failure does."""
    stamp = now()
    uid = pod["metadata"]["uid"]
    images = {c["name"]: c.get("image", "") for c in pod["spec"].get("containers") or []}
    for status in pod["status"].get("containerStatuses") or []:
        if "waiting" in status.get("state", {}):
            status["state"] = {"running": {"startedAt": stamp}}
            status["started"] = True
            status["imageID"] = image_id(images.get(status["name"], status.get("image", "")))
            status["containerID"] = _container_id(uid, status["name"])
    pod["status"]["phase"] = "Running"
    refresh_pod_conditions(pod)


def record_oom_kill(pod: dict[str, Any], container: str) -> None:
    """`container` was OOMKilled (exit 137) and restarted: lastState terminated, restartCount + 1."""
    status = next((s for s in pod["status"].get("containerStatuses") or [] if s["name"] == container), None)
    if status is None:
        names = ", ".join(s["name"] for s in pod["status"].get("containerStatuses") or [])
        raise KeyError(f"pod {pod['metadata']['name']} has no container {container!r} (has: {names})")
    stamp = now()
    started = (status.get("state", {}).get("running") or {}).get("startedAt", stamp)
    status["lastState"] = {
        "terminated": {
            "exitCode": 137,
            "reason": "OOMKilled",
            "startedAt": started,
            "finishedAt": stamp,
            "containerID": status.get("containerID", _container_id(pod["metadata"]["uid"], container)),
        }
    }
    status["restartCount"] = status.get("restartCount", 0) + 1
    status["state"] = {"running": {"startedAt": stamp}}
    status["started"] = True
    refresh_pod_conditions(pod)
