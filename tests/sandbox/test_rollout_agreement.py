"""The bot's `rollout_status` and real `kubectl rollout status --watch=false` agree on every sandbox state.

Each test drives a rollout in the sandbox one `step()` at a time and, at every state, asks both: our
port of kubectl's rules (on the object as the sandbox holds it) and kubectl itself over HTTP.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import sandbox.kube as sandbox_kube
from commands.clients.kube import KubeClient
from commands.clients.rollout import rollout_status

KUBECTL = shutil.which("kubectl.1.32") or shutil.which("kubectl")
NAMESPACE = "litellm-rhpds"
MAX_STEPS = 20

pytestmark = [
    pytest.mark.kubectl,
    pytest.mark.skipif(KUBECTL is None, reason="kubectl is not on PATH"),
]


class Kubectl:
    """Runs the real kubectl against the sandbox with a private discovery cache."""

    def __init__(self, kubeconfig: Path, cache_dir: Path) -> None:
        self.kubeconfig = kubeconfig
        self.cache_dir = cache_dir

    def rollout_status(self, name: str) -> tuple[int, str, str]:
        assert KUBECTL is not None
        done = subprocess.run(
            [
                KUBECTL,
                f"--kubeconfig={self.kubeconfig}",
                f"--cache-dir={self.cache_dir}",
                f"--namespace={NAMESPACE}",
                "rollout",
                "status",
                f"deployment/{name}",
                "--watch=false",
                "--request-timeout=10s",
            ],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        return done.returncode, done.stdout.strip(), done.stderr.strip()


@pytest.fixture
def sb() -> Iterator[Any]:
    sandbox = sandbox_kube.KubeSandbox(namespace=NAMESPACE, seed=True).start()
    try:
        sandbox.settle()
        yield sandbox
    finally:
        sandbox.stop()


@pytest.fixture
def kubeconfig(sb: Any, tmp_path: Path) -> Path:
    path = tmp_path / "kubeconfig"
    sb.write_kubeconfig(path)
    return path


@pytest.fixture
def kubectl(kubeconfig: Path, tmp_path: Path) -> Kubectl:
    return Kubectl(kubeconfig, tmp_path / "kube-cache")


@pytest.fixture
def kube(kubeconfig: Path) -> Iterator[KubeClient]:
    client = KubeClient.from_kubeconfig(kubeconfig, NAMESPACE)
    try:
        yield client
    finally:
        client.close()


def assert_agree(sb: Any, kubectl: Kubectl, name: str) -> tuple[bool, bool, str]:
    """Both verdicts on the sandbox's current state of `name`; returns ours (done, failed, message)."""
    ours = rollout_status(sb.get("deployments", name))
    code, out, err = kubectl.rollout_status(name)
    if ours.failed:
        assert (code, err) == (1, f"error: {ours.message}"), (out, err)
    else:
        assert code == 0, err
        assert out == ours.message, err
    return ours.done, ours.failed, ours.message


def step_through(sb: Any, kubectl: Kubectl, name: str) -> list[str]:
    """Agree at every state, one step at a time, until the rollout is done; returns the messages seen."""
    seen: list[str] = []
    for _ in range(MAX_STEPS):
        done, failed, message = assert_agree(sb, kubectl, name)
        seen.append(message)
        if done or failed:
            return seen
        sb.step(name)
    raise AssertionError(f"rollout of {name} not done after {MAX_STEPS} steps: {seen}")


def test_agree_through_a_scale_up(sb: Any, kubectl: Kubectl, kube: KubeClient) -> None:
    kube.patch_scale("litellm", 3)
    seen = step_through(sb, kubectl, "litellm")
    assert seen[0] == "Waiting for deployment spec update to be observed..."
    assert seen[-1] == 'deployment "litellm" successfully rolled out'


def test_agree_through_an_image_change(sb: Any, kubectl: Kubectl, kube: KubeClient) -> None:
    kube.patch_deployment(
        "litellm-frontend",
        {
            "spec": {
                "template": {
                    "spec": {
                        "$setElementOrder/containers": [{"name": "frontend"}],
                        "containers": [
                            {"name": "frontend", "image": "quay.io/rh-aiservices-bu/litemaas-frontend:0.5.0"}
                        ],
                    }
                }
            }
        },
        "application/strategic-merge-patch+json",
    )
    seen = step_through(sb, kubectl, "litellm-frontend")
    assert len(seen) >= 3, seen
    assert seen[-1] == 'deployment "litellm-frontend" successfully rolled out'


def test_agree_on_a_failed_rollout(sb: Any, kubectl: Kubectl, kube: KubeClient) -> None:
    kube.patch_scale("litellm", 2)
    sb.step("litellm")
    sb.fail_rollout("litellm")
    done, failed, message = assert_agree(sb, kubectl, "litellm")
    assert (done, failed) == (False, True)
    assert message == 'deployment "litellm" exceeded its progress deadline'
