"""Which pod states end a rollout early (`pod_failure`), from pod objects as the kubelet reports them."""

from __future__ import annotations

from typing import Any

import pytest

from commands.clients.pod_failures import pod_failure
from commands.environment import FailFast

ABSENT = "initializing source docker://q.io/x:1: reading manifest 1 in q.io/x: manifest unknown"
TRANSIENT = "rpc error: code = Unknown desc = pinging container registry q.io: i/o timeout"


def pod(main: dict[str, Any], init: dict[str, Any] | None = None) -> dict[str, Any]:
    status: dict[str, Any] = {"containerStatuses": [{"name": "app", "restartCount": 0, **main}]}
    if init is not None:
        status["initContainerStatuses"] = [{"name": "run-migrations", "restartCount": 0, **init}]
    return {"metadata": {"name": "p-1"}, "status": status}


def waiting(reason: str, message: str = "", **extra: Any) -> dict[str, Any]:
    return {"state": {"waiting": {"reason": reason, "message": message}}, **extra}


@pytest.mark.parametrize(
    ("state", "limits", "reason"),
    [
        (waiting("ErrImagePull", ABSENT), FailFast(), "ErrImagePull"),  # the image does not exist
        (waiting("ErrImagePull", TRANSIENT), FailFast(), None),  # a registry blip: the kubelet retries
        (waiting("ErrImagePull", TRANSIENT), FailFast(pull_errors=1), "ErrImagePull"),
        (waiting("ImagePullBackOff", 'Back-off pulling image "q.io/x:1"'), FailFast(), "ImagePullBackOff"),
        (waiting("CrashLoopBackOff", restartCount=2), FailFast(), None),
        (waiting("CrashLoopBackOff", restartCount=3), FailFast(), "CrashLoopBackOff"),
        (
            waiting("CreateContainerConfigError", 'secret "x" not found'),
            FailFast(),
            "CreateContainerConfigError",
        ),
        (
            {"state": {"running": {}}, "lastState": {"terminated": {"reason": "OOMKilled", "exitCode": 137}}},
            FailFast(),
            "OOMKilled",
        ),
        ({"state": {"running": {}}}, FailFast(), None),
    ],
)
def test_main_container_states(state: dict[str, Any], limits: FailFast, reason: str | None) -> None:
    found = pod_failure(pod(state), limits)
    assert (found.reason if found else None) == reason


def test_an_init_container_that_exited_non_zero_fails_first() -> None:
    init = {"state": {"terminated": {"reason": "Error", "exitCode": 2}}}
    found = pod_failure(pod(waiting("PodInitializing"), init), FailFast())
    assert found is not None
    assert (found.reason, found.container, found.init, found.message) == (
        "Init:Error",
        "run-migrations",
        True,
        "exited with code 2",
    )
    assert pod_failure(pod(waiting("PodInitializing"), {"state": {"running": {}}}), FailFast()) is None
