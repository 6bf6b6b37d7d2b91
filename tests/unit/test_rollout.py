"""Table tests of `rollout_status`: each branch of kubectl's DeploymentStatusViewer, in its order."""

from __future__ import annotations

from typing import Any

import pytest

from commands.clients.rollout import RolloutStatus, rollout_status


def deployment(
    *,
    name: str = "litellm",
    generation: int = 2,
    observed: int | None = 2,
    spec_replicas: int | None = 3,
    replicas: int | None = 3,
    updated: int | None = 3,
    available: int | None = 3,
    progressing_reason: str | None = "NewReplicaSetAvailable",
) -> dict[str, Any]:
    """A Deployment as the API server serves it; None leaves a field out (as the server omits zeros)."""
    status: dict[str, Any] = {}
    for key, value in (
        ("observedGeneration", observed),
        ("replicas", replicas),
        ("updatedReplicas", updated),
        ("availableReplicas", available),
    ):
        if value is not None:
            status[key] = value
    if progressing_reason is not None:
        status["conditions"] = [
            {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable"},
            {
                "type": "Progressing",
                "status": "False" if progressing_reason == "ProgressDeadlineExceeded" else "True",
                "reason": progressing_reason,
            },
        ]
    spec: dict[str, Any] = {"selector": {"matchLabels": {"app": name}}}
    if spec_replicas is not None:
        spec["replicas"] = spec_replicas
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": "litellm-rhpds", "generation": generation},
        "spec": spec,
        "status": status,
    }


WAIT = 'Waiting for deployment "litellm" rollout to finish: '

CASES: list[tuple[str, dict[str, Any], bool, bool, str]] = [
    (
        "spec change not yet observed",
        deployment(generation=3, observed=2),
        False,
        False,
        "Waiting for deployment spec update to be observed...",
    ),
    (
        "observedGeneration missing counts as 0",
        deployment(generation=1, observed=None),
        False,
        False,
        "Waiting for deployment spec update to be observed...",
    ),
    (
        "stale generation wins over a progress deadline",
        deployment(generation=3, observed=2, progressing_reason="ProgressDeadlineExceeded"),
        False,
        False,
        "Waiting for deployment spec update to be observed...",
    ),
    (
        "progress deadline exceeded",
        deployment(updated=1, available=0, progressing_reason="ProgressDeadlineExceeded"),
        False,
        True,
        'deployment "litellm" exceeded its progress deadline',
    ),
    (
        "progress deadline wins over a finished-looking status",
        deployment(progressing_reason="ProgressDeadlineExceeded"),
        False,
        True,
        'deployment "litellm" exceeded its progress deadline',
    ),
    (
        "new replicas not all updated",
        deployment(replicas=3, updated=1, available=1),
        False,
        False,
        WAIT + "1 out of 3 new replicas have been updated...",
    ),
    (
        "no updated replicas yet (field omitted)",
        deployment(replicas=None, updated=None, available=None),
        False,
        False,
        WAIT + "0 out of 3 new replicas have been updated...",
    ),
    (
        "old replicas pending termination",
        deployment(replicas=5, updated=3, available=3),
        False,
        False,
        WAIT + "2 old replicas are pending termination...",
    ),
    (
        "updated replicas not all available",
        deployment(replicas=3, updated=3, available=2),
        False,
        False,
        WAIT + "2 of 3 updated replicas are available...",
    ),
    (
        "complete",
        deployment(),
        True,
        False,
        'deployment "litellm" successfully rolled out',
    ),
    (
        "scaled to zero is complete",
        deployment(spec_replicas=0, replicas=None, updated=None, available=None),
        True,
        False,
        'deployment "litellm" successfully rolled out',
    ),
    (
        "spec.replicas absent skips the updated-count check (as kubectl)",
        deployment(spec_replicas=None, replicas=None, updated=None, available=None),
        True,
        False,
        'deployment "litellm" successfully rolled out',
    ),
    (
        "a Progressing condition with another reason is not a failure",
        deployment(updated=2, available=2, progressing_reason="ReplicaSetUpdated"),
        False,
        False,
        WAIT + "2 out of 3 new replicas have been updated...",
    ),
]


@pytest.mark.parametrize(
    ("obj", "done", "failed", "message"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_rollout_status_follows_kubectl(obj: dict[str, Any], done: bool, failed: bool, message: str) -> None:
    status = rollout_status(obj)
    assert (status.done, status.failed, status.message) == (done, failed, message)


def test_counts_are_reported_for_progress_bars() -> None:
    status = rollout_status(deployment(spec_replicas=3, replicas=3, updated=3, available=2))
    assert status == RolloutStatus(
        done=False,
        failed=False,
        message=WAIT + "2 of 3 updated replicas are available...",
        updated=3,
        desired=3,
        available=2,
    )


def test_deployment_name_is_quoted_like_go() -> None:
    status = rollout_status(deployment(name="litellm-frontend"))
    assert status.message == 'deployment "litellm-frontend" successfully rolled out'


@pytest.mark.parametrize(
    "obj",
    [{}, {"metadata": None, "spec": None, "status": None}, {"status": {"replicas": "many"}}],
    ids=["empty", "nulls", "garbage-count"],
)
def test_malformed_objects_do_not_crash(obj: dict[str, Any]) -> None:
    status = rollout_status(obj)
    assert isinstance(status.message, str) and status.message
