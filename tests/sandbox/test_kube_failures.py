"""Scripted pod failures and start-up logs, checked with the official client and the real kubectl.

A new ReplicaSet whose pods never become ready must make `kubectl rollout status` report what it
reports on a real cluster (pending, then "exceeded its progress deadline"), and `kubectl rollout undo`
must bring the Deployment back to a healthy, complete rollout.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from kubernetes import client, config

from sandbox.kube import KubeSandbox, litellm_startup_lines
from sandbox.kube.controller import PROGRESS_DEADLINE_STEPS

NS = "litellm-rhpds"
BACKEND_050 = "quay.io/rh-aiservices-bu/litemaas-backend:0.5.0"
BACKEND_040 = "quay.io/rh-aiservices-bu/litemaas-backend:0.4.0"
LITELLM_NEXT = "quay.io/rh-aiservices-bu/litellm-non-root:main-v1.82.0-stable-custom"
KubectlRunner = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def core(kubeconfig: Path) -> Iterator[client.CoreV1Api]:
    configuration = client.Configuration()
    config.load_kube_config(config_file=str(kubeconfig), client_configuration=configuration)
    with client.ApiClient(configuration) as api:
        yield client.CoreV1Api(api)


def patch(sb: KubeSandbox, path: str, content_type: str, body: dict[str, Any]) -> None:
    """PATCH over HTTP, as kubectl sends it."""
    url = f"{sb.url}/apis/apps/v1/namespaces/{NS}/deployments/{path}"
    reply = httpx.patch(url, content=json.dumps(body), headers={"Content-Type": content_type}, timeout=5)
    assert reply.status_code == 200, reply.text


def set_image(sb: KubeSandbox, deployment: str, container: str, image: str) -> None:
    """What `kubectl set image` sends: a strategic merge patch of the container's image."""
    body = {"spec": {"template": {"spec": {"containers": [{"name": container, "image": image}]}}}}
    patch(sb, deployment, "application/strategic-merge-patch+json", body)


def main_status(pod: dict[str, Any]) -> dict[str, Any]:
    return dict(pod["status"]["containerStatuses"][0])


def rollout_status(kubectl: KubectlRunner, deployment: str) -> tuple[int, str]:
    done = kubectl("rollout", "status", f"deployment/{deployment}", "--watch=false")
    return done.returncode, (done.stdout + done.stderr).strip()


@pytest.mark.kubectl
def test_crash_looping_rollout_exceeds_its_deadline_and_rollout_undo_heals_it(
    kube_sandbox: KubeSandbox, kubectl: KubectlRunner
) -> None:
    sb = kube_sandbox
    old_pod = sb.pods_of("litellm-backend")[0]["metadata"]["name"]
    sb.fail_new_pods("litellm-backend")
    assert kubectl("set", "image", "deployment/litellm-backend", f"backend={BACKEND_050}").returncode == 0

    seen: list[tuple[int, str]] = []
    restarts: list[int] = []
    for _ in range(PROGRESS_DEADLINE_STEPS + 2):
        sb.step()
        seen.append(rollout_status(kubectl, "litellm-backend"))
        new = [p for p in sb.pods_of("litellm-backend") if p["metadata"]["name"] != old_pod]
        restarts += [main_status(p)["restartCount"] for p in new]

    assert seen[1] == (
        0,
        'Waiting for deployment "litellm-backend" rollout to finish: '
        "1 old replicas are pending termination...",
    )
    assert seen[-1] == (1, 'error: deployment "litellm-backend" exceeded its progress deadline')
    assert restarts == sorted(restarts) and restarts[-1] > restarts[0]  # restartCount grows each step
    progressing = next(
        c
        for c in sb.get("deployments", "litellm-backend")["status"]["conditions"]
        if c["type"] == "Progressing"
    )
    assert (progressing["status"], progressing["reason"]) == ("False", "ProgressDeadlineExceeded")
    pods = {p["metadata"]["name"]: main_status(p) for p in sb.pods_of("litellm-backend")}
    assert pods[old_pod]["ready"] is True  # the old pod keeps serving
    crashing = next(s for name, s in pods.items() if name != old_pod)
    assert crashing["state"]["waiting"]["reason"] == "CrashLoopBackOff" and crashing["ready"] is False
    assert crashing["lastState"]["terminated"]["exitCode"] == 1

    undo = kubectl("rollout", "undo", "deployment/litellm-backend")
    assert undo.returncode == 0, undo.stderr
    sb.settle()

    assert rollout_status(kubectl, "litellm-backend") == (
        0,
        'deployment "litellm-backend" successfully rolled out',
    )
    healed = sb.get("deployments", "litellm-backend")
    assert healed["spec"]["template"]["spec"]["containers"][0]["image"] == BACKEND_040
    assert [p["metadata"]["name"] for p in sb.pods_of("litellm-backend")] == [old_pod]


@pytest.mark.kubectl
def test_image_pull_backoff_pod_is_pending_and_the_frontend_keeps_its_three_pods(
    kube_sandbox: KubeSandbox, kubectl: KubectlRunner
) -> None:
    sb = kube_sandbox
    sb.fail_new_pods("litellm-frontend", "ImagePullBackOff")
    image = "quay.io/rh-aiservices-bu/litemaas-frontend:9.9.9"
    assert kubectl("set", "image", "deployment/litellm-frontend", f"frontend={image}").returncode == 0
    sb.settle()  # settles: a failed rollout stops moving once past its deadline

    pods = sb.pods_of("litellm-frontend")
    stuck = [p for p in pods if p["status"]["phase"] == "Pending"]
    assert len(pods) == 4 and len(stuck) == 1
    waiting = main_status(stuck[0])["state"]["waiting"]
    assert waiting == {"reason": "ImagePullBackOff", "message": f'Back-off pulling image "{image}"'}
    assert sb.get("deployments", "litellm-frontend")["status"]["availableReplicas"] == 3
    assert rollout_status(kubectl, "litellm-frontend")[1] == (
        'error: deployment "litellm-frontend" exceeded its progress deadline'
    )


def test_only_the_next_new_replicaset_fails_and_clear_failures_lets_it_finish(
    kube_sandbox: KubeSandbox,
) -> None:
    sb = kube_sandbox
    sb.fail_new_pods("litellm-backend", "ErrImagePull")
    patch(sb, "litellm-backend/scale", "application/merge-patch+json", {"spec": {"replicas": 2}})
    sb.settle()  # a scale-only change keeps the ReplicaSet: nothing fails
    assert [main_status(p)["ready"] for p in sb.pods_of("litellm-backend")] == [True, True]

    set_image(sb, "litellm-backend", "backend", BACKEND_050)
    sb.settle()
    assert sorted(
        main_status(p)["state"].get("waiting", {}).get("reason", "") for p in sb.pods_of("litellm-backend")
    ) == [
        "",
        "",
        "ErrImagePull",
    ]

    sb.clear_failures("litellm-backend")
    sb.settle()

    deployment = sb.get("deployments", "litellm-backend")
    assert deployment["status"]["updatedReplicas"] == 2 and deployment["status"]["availableReplicas"] == 2
    assert {main_status(p)["image"] for p in sb.pods_of("litellm-backend")} == {BACKEND_050}
    assert all(main_status(p)["ready"] for p in sb.pods_of("litellm-backend"))


def test_bad_failure_requests_are_refused(kube_sandbox: KubeSandbox) -> None:
    with pytest.raises(ValueError, match="unknown failure reason"):
        kube_sandbox.fail_new_pods("litellm", "Exploded")
    with pytest.raises(KeyError):
        kube_sandbox.fail_new_pods("nosuch")
    with pytest.raises(KeyError):
        kube_sandbox.oom_kill("nosuch-pod")
    with pytest.raises(KeyError, match="no container"):
        kube_sandbox.set_startup_logs("litellm", "nosuch", ["x"])


@pytest.mark.kubectl
def test_oom_killed_container_restarts_and_its_previous_log_stays_readable(
    kube_sandbox: KubeSandbox, core: client.CoreV1Api, kubectl: KubectlRunner
) -> None:
    pod = kube_sandbox.pods_of("litellm")[0]["metadata"]["name"]
    kube_sandbox.oom_kill(pod)
    kube_sandbox.oom_kill(pod, "litellm")

    served = core.read_namespaced_pod(pod, NS)  # the pydantic models accept what we serve
    status = served.status.container_statuses[0]
    assert status.restart_count == 2
    assert (status.last_state.terminated.reason, status.last_state.terminated.exit_code) == ("OOMKilled", 137)
    assert status.state.running is not None and status.ready is True
    assert served.status.phase == "Running"
    previous = kubectl("logs", pod, "-c", "litellm", "--previous")
    assert previous.returncode == 0, previous.stderr
    assert "Uvicorn running" in previous.stdout


@pytest.mark.kubectl
def test_litellm_pods_print_prisma_migrations_and_scripted_startup_logs_reach_new_pods(
    kube_sandbox: KubeSandbox, kubectl: KubectlRunner
) -> None:
    sb = kube_sandbox
    seeded = kubectl("logs", "deploy/litellm", "-c", "litellm")
    assert seeded.returncode == 0, seeded.stderr
    assert "Applying migration `20250101000000_add_spend_logs`" in seeded.stdout
    assert "All migrations have been successfully applied." in seeded.stdout
    assert 'Datasource "client": PostgreSQL database "litellm"' in seeded.stdout

    failing = litellm_startup_lines(failed_migration="20250326162113_baseline")
    sb.set_startup_logs("litellm", "litellm", failing)
    set_image(sb, "litellm", "litellm", LITELLM_NEXT)
    sb.settle()

    new_log = kubectl("logs", "deploy/litellm", "-c", "litellm", "--tail=50")
    assert new_log.returncode == 0, new_log.stderr
    migration_lines = [line for line in new_log.stdout.splitlines() if "migrat" in line.lower()]
    assert any(line.startswith("Error: P3009 migrate found failed migrations") for line in migration_lines)
    assert "All migrations have been successfully applied." not in new_log.stdout
    with pytest.raises(ValueError, match="not one of the migrations"):
        litellm_startup_lines(failed_migration="nosuch")
