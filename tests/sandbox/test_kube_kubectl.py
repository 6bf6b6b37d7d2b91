"""The kube sandbox as the real kubectl 1.32 sees it: every command the bot's runbooks use.

kubectl is the independent oracle (kube-api-surface.md §2): if it accepts our answers and reaches
the same end state, the sandbox is faithful enough for the bot's tests.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable
from typing import Any

import pytest

from sandbox.kube import KubeSandbox

pytestmark = pytest.mark.kubectl

KubectlRunner = Callable[..., subprocess.CompletedProcess[str]]
FRONTEND_050 = "quay.io/rh-aiservices-bu/litemaas-frontend:0.5.0"
FRONTEND_040 = "quay.io/rh-aiservices-bu/litemaas-frontend:0.4.0"
LITELLM_NEXT = "quay.io/rh-aiservices-bu/litellm-non-root:main-v1.82.0-stable-custom"


def images(deployment: dict[str, Any], kind: str = "containers") -> dict[str, str]:
    return {c["name"]: c["image"] for c in deployment["spec"]["template"]["spec"].get(kind, [])}


def revision(obj: dict[str, Any]) -> str:
    return str(obj["metadata"]["annotations"]["deployment.kubernetes.io/revision"])


def wait_for_watch(sb: KubeSandbox, name: str, proc: subprocess.Popen[str], deadline_s: float = 15.0) -> None:
    """Block until kubectl has opened its watch on Deployment `name` (bounded)."""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if any(
            r.path.endswith("/deployments")
            and r.query.get("watch") == "true"
            and r.query.get("fieldSelector") == f"metadata.name={name}"
            for r in sb.requests
        ):
            return
        if proc.poll() is not None:
            raise AssertionError(f"kubectl exited early: {proc.communicate()}")
        time.sleep(0.02)
    raise AssertionError("kubectl never opened its watch")


def watch_rollout(sb: KubeSandbox, kubectl_args: list[str], name: str, steps: int) -> tuple[int, str, str]:
    """Run `kubectl rollout status` while stepping the sandbox `steps` times once kubectl watches."""
    proc = subprocess.Popen(
        [*kubectl_args, "rollout", "status", f"deployment/{name}", "--timeout=20s"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for_watch(sb, name, proc)
        for _ in range(steps):
            sb.step(name)
            time.sleep(0.05)  # let kubectl print each state from its own event
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    return proc.returncode, out, err


def test_dispatcher_picks_kubectl_1_32_and_get_deploy_json_lists_the_litemaas_deployments(
    kube_sandbox: KubeSandbox, kubectl: KubectlRunner
) -> None:
    done = kubectl("get", "deploy", "-o", "json")

    assert done.returncode == 0, done.stderr
    listed = {d["metadata"]["name"]: d for d in json.loads(done.stdout)["items"]}
    assert set(listed) == {"litellm", "litellm-backend", "litellm-frontend", "litellm-redis"}
    assert images(listed["litellm-frontend"], "initContainers")["copy-custom-logos"] == FRONTEND_040
    assert listed["litellm-frontend"]["status"]["availableReplicas"] == 3
    assert kube_sandbox.requests[0].path == "/version"


def test_scale_sets_spec_replicas_through_the_scale_subresource(
    kube_sandbox: KubeSandbox, kubectl: KubectlRunner
) -> None:
    done = kubectl("scale", "deployment/litellm", "--replicas=3")

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "deployment.apps/litellm scaled"
    assert kube_sandbox.get("deployments", "litellm")["spec"]["replicas"] == 3
    patch = [r for r in kube_sandbox.requests if r.method == "PATCH"]
    assert [(r.path, r.content_type) for r in patch] == [
        ("/apis/apps/v1/namespaces/litellm-rhpds/deployments/litellm/scale", "application/merge-patch+json")
    ]
    kube_sandbox.settle()
    assert len(kube_sandbox.pods_of("litellm")) == 3


def test_set_image_changes_main_and_init_container_in_one_patch(
    kube_sandbox: KubeSandbox, kubectl: KubectlRunner
) -> None:
    before = kube_sandbox.get("deployments", "litellm-frontend")

    done = kubectl(
        "set",
        "image",
        "deployment/litellm-frontend",
        f"frontend={FRONTEND_050}",
        f"copy-custom-logos={FRONTEND_050}",
    )

    assert done.returncode == 0, done.stderr
    after = kube_sandbox.get("deployments", "litellm-frontend")
    assert images(after) == {"frontend": FRONTEND_050}
    assert images(after, "initContainers") == {
        "copy-custom-logos": FRONTEND_050,
        "wait-for-backend": "busybox:1.36",
    }
    assert after["metadata"]["generation"] == before["metadata"]["generation"] + 1
    assert after["spec"]["template"]["spec"]["volumes"] == before["spec"]["template"]["spec"]["volumes"]


def test_rollout_status_follows_every_stage_to_success(
    kube_sandbox: KubeSandbox, kubectl: KubectlRunner, kubectl_args: list[str]
) -> None:
    assert kubectl("set", "image", "deployment/litellm-frontend", f"frontend={FRONTEND_050}").returncode == 0

    code, out, err = watch_rollout(kube_sandbox, kubectl_args, "litellm-frontend", steps=8)

    assert code == 0, err
    lines = [line for i, line in enumerate(out.splitlines()) if line not in out.splitlines()[:i]]
    waiting = 'Waiting for deployment "litellm-frontend" rollout to finish: '
    assert lines == [
        "Waiting for deployment spec update to be observed...",
        waiting + "0 out of 3 new replicas have been updated...",
        waiting + "1 out of 3 new replicas have been updated...",
        waiting + "2 out of 3 new replicas have been updated...",
        waiting + "3 old replicas are pending termination...",
        waiting + "0 of 3 updated replicas are available...",
        'deployment "litellm-frontend" successfully rolled out',
    ]


def test_rollout_status_fails_when_the_progress_deadline_is_exceeded(
    kube_sandbox: KubeSandbox, kubectl: KubectlRunner, kubectl_args: list[str]
) -> None:
    assert kubectl("set", "image", "deployment/litellm", f"litellm={LITELLM_NEXT}").returncode == 0
    kube_sandbox.fail_rollout("litellm")

    code, out, err = watch_rollout(kube_sandbox, kubectl_args, "litellm", steps=2)

    assert code == 1
    assert err.strip() == 'error: deployment "litellm" exceeded its progress deadline'
    assert out.splitlines()[0] == "Waiting for deployment spec update to be observed..."
    assert "0 out of 1 new replicas have been updated" in out
    assert kube_sandbox.in_progress() == []  # stuck for good: stepping does nothing more
    assert kube_sandbox.step("litellm") is False


def test_rollout_restart_creates_a_new_replicaset(kube_sandbox: KubeSandbox, kubectl: KubectlRunner) -> None:
    done = kubectl("rollout", "restart", "deployment/litellm-redis")

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "deployment.apps/litellm-redis restarted"
    kube_sandbox.settle()
    deployment = kube_sandbox.get("deployments", "litellm-redis")
    assert "kubectl.kubernetes.io/restartedAt" in deployment["spec"]["template"]["metadata"]["annotations"]
    assert revision(deployment) == "2"
    owned = [
        rs for rs in kube_sandbox.list("replicasets") if rs["metadata"]["name"].startswith("litellm-redis-")
    ]
    assert sorted(rs["status"]["replicas"] for rs in owned) == [0, 1]


def test_rollout_undo_restores_the_image_and_renumbers_the_old_replicaset(
    kube_sandbox: KubeSandbox, kubectl: KubectlRunner
) -> None:
    (original_rs,) = [
        r for r in kube_sandbox.list("replicasets") if r["metadata"]["name"].startswith("litellm-frontend-")
    ]
    assert kubectl("set", "image", "deployment/litellm-frontend", f"frontend={FRONTEND_050}").returncode == 0
    kube_sandbox.settle()

    done = kubectl("rollout", "undo", "deployment/litellm-frontend")

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "deployment.apps/litellm-frontend rolled back"
    kube_sandbox.settle()
    deployment = kube_sandbox.get("deployments", "litellm-frontend")
    assert images(deployment) == {"frontend": FRONTEND_040}
    assert revision(deployment) == "3"
    reused = kube_sandbox.get("replicasets", original_rs["metadata"]["name"])
    assert revision(reused) == "3"
    assert {
        p["metadata"]["labels"]["pod-template-hash"] for p in kube_sandbox.pods_of("litellm-frontend")
    } == {reused["metadata"]["labels"]["pod-template-hash"]}
    history = kubectl("rollout", "history", "deployment/litellm-frontend")
    assert [line.split()[0] for line in history.stdout.splitlines()[2:] if line.strip()] == ["2", "3"]


def test_logs_of_a_deployment_tail_the_scripted_lines(
    kube_sandbox: KubeSandbox, kubectl: KubectlRunner
) -> None:
    (pod,) = kube_sandbox.pods_of("litellm")
    kube_sandbox.set_logs(pod["metadata"]["name"], "litellm", ["one", "two", "three"])

    done = kubectl("logs", "deploy/litellm", "--tail=2")

    assert done.returncode == 0, done.stderr
    assert done.stdout == "two\nthree\n"
    assert 'Defaulted container "litellm"' in done.stderr


def test_get_an_unknown_deployment_says_not_found(kubectl: KubectlRunner) -> None:
    done = kubectl("get", "deploy", "litellm-x")

    assert done.returncode == 1
    assert done.stderr.strip() == 'Error from server (NotFound): deployments.apps "litellm-x" not found'
