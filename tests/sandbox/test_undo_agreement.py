"""The bot's `rollback` and real `kubectl rollout undo` do the same thing on twin sandboxes.

Two sandboxes get the same history (the same image changes, settled); then the bot rolls one back and
kubectl the other. The Deployments must end with the same pod template and revision annotation, the
PATCH requests must carry the same JSON patch, and both must refuse (or skip) the same cases without
writing anything.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import sandbox.kube as sandbox_kube
from commands.clients.kube import KubeClient
from commands.cluster.rollback import RollbackArgs, RollbackOperation
from commands.contract import OperationError, Result
from commands.environment import Environment

KUBECTL = shutil.which("kubectl.1.32") or shutil.which("kubectl")
NAMESPACE = "litellm-rhpds"
FRONTEND = "litellm-frontend"
REPO = "quay.io/rh-aiservices-bu/litemaas-frontend"
REVISION = "deployment.kubernetes.io/revision"

pytestmark = [pytest.mark.kubectl, pytest.mark.skipif(KUBECTL is None, reason="kubectl is not on PATH")]


class Twin:
    """One seeded sandbox with a kubeconfig and a client of its own."""

    def __init__(self, directory: Path) -> None:
        self.sb = sandbox_kube.KubeSandbox(namespace=NAMESPACE, seed=True).start()
        self.sb.settle()
        self.kubeconfig = self.sb.write_kubeconfig(directory / "kubeconfig")
        self.cache_dir = directory / "kube-cache"
        self.kube = KubeClient.from_kubeconfig(self.kubeconfig, NAMESPACE)

    def close(self) -> None:
        self.kube.close()
        self.sb.stop()

    def set_image(self, tag: str) -> None:
        """The same image change on either twin (frontend and its same-image init container), settled."""
        self.kube.patch_deployment(
            FRONTEND,
            {
                "spec": {
                    "template": {
                        "spec": {
                            "containers": [{"name": "frontend", "image": f"{REPO}:{tag}"}],
                            "initContainers": [{"name": "copy-custom-logos", "image": f"{REPO}:{tag}"}],
                        }
                    }
                }
            },
            "application/strategic-merge-patch+json",
        )
        self.sb.settle()

    def kubectl(self, *args: str) -> subprocess.CompletedProcess[str]:
        assert KUBECTL is not None
        return subprocess.run(
            [
                KUBECTL,
                f"--kubeconfig={self.kubeconfig}",
                f"--cache-dir={self.cache_dir}",
                f"--namespace={NAMESPACE}",
                "--request-timeout=10s",
                *args,
            ],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )

    def bot_rollback(self, to_revision: int | None = None) -> Result:
        """The bot's rollback, its rollout stepped from a thread until the operation ends."""
        env = Environment(
            name="t", namespace=NAMESPACE, kube=self.kube, litellm_redis_ping=lambda: True, rollout_timeout=15
        )
        args = RollbackArgs(component="frontend", to_revision=to_revision)
        op = RollbackOperation()
        stop = threading.Event()

        def step() -> None:
            deadline = time.monotonic() + 15
            while not stop.is_set() and time.monotonic() < deadline:
                self.sb.step()
                stop.wait(0.02)

        stepper = threading.Thread(target=step, daemon=True)
        stepper.start()
        try:
            *_, result = op.execute(env, args, op.plan(env, args))
        finally:
            stop.set()
            stepper.join(timeout=5)
        assert isinstance(result, Result)
        return result

    def deployment(self) -> dict[str, Any]:
        return dict(self.sb.get("deployments", FRONTEND))

    def patches(self) -> list[Any]:
        return [r for r in self.sb.requests if r.method == "PATCH"]


def pruned(value: Any) -> Any:
    """Without null, {} and [] (Go's `creationTimestamp: null`, `resources: {}`): semantic equality."""
    if isinstance(value, dict):
        items = {k: pruned(v) for k, v in value.items()}
        return {k: v for k, v in items.items() if v not in (None, {}, [])}
    if isinstance(value, list):
        return [pruned(v) for v in value]
    return value


@pytest.fixture
def twins(tmp_path: Path) -> Iterator[tuple[Twin, Twin]]:
    (tmp_path / "bot").mkdir()
    (tmp_path / "kubectl").mkdir()
    bot, kubectl = Twin(tmp_path / "bot"), Twin(tmp_path / "kubectl")
    try:
        for twin in (bot, kubectl):
            twin.set_image("0.5.0")
            twin.set_image("0.6.0")
            twin.sb.clear_requests()
        yield bot, kubectl
    finally:
        bot.close()
        kubectl.close()


@pytest.mark.parametrize("to_revision", [None, 1])
def test_rollback_matches_kubectl_rollout_undo(twins: tuple[Twin, Twin], to_revision: int | None) -> None:
    bot, kubectl = twins

    result = bot.bot_rollback(to_revision)
    flags = [f"--to-revision={to_revision}"] if to_revision else []
    undone = kubectl.kubectl("rollout", "undo", f"deployment/{FRONTEND}", *flags)
    kubectl.sb.settle()

    assert result.ok, result
    assert undone.returncode == 0, undone.stderr
    assert undone.stdout.strip() == f"deployment.apps/{FRONTEND} rolled back"
    ours, theirs = bot.deployment(), kubectl.deployment()
    assert pruned(ours["spec"]["template"]) == pruned(theirs["spec"]["template"])
    assert ours["metadata"]["annotations"][REVISION] == theirs["metadata"]["annotations"][REVISION] == "4"
    expected_tag = "0.5.0" if to_revision is None else "0.4.0"
    assert ours["spec"]["template"]["spec"]["containers"][0]["image"] == f"{REPO}:{expected_tag}"

    [our_patch], [their_patch] = bot.patches(), kubectl.patches()
    assert our_patch.content_type == their_patch.content_type == "application/json-patch+json"
    assert pruned(json.loads(our_patch.body)) == pruned(json.loads(their_patch.body))


def test_both_skip_a_rollback_to_the_current_template(twins: tuple[Twin, Twin]) -> None:
    bot, kubectl = twins

    plan = RollbackOperation().plan(
        Environment(name="t", namespace=NAMESPACE, kube=bot.kube, litellm_redis_ping=lambda: True),
        RollbackArgs(component="frontend", to_revision=3),
    )
    skipped = kubectl.kubectl("rollout", "undo", f"deployment/{FRONTEND}", "--to-revision=3")

    assert plan.noop and "skipped rollback (current template already matches revision 3)" in plan.summary
    assert skipped.returncode == 0, skipped.stderr
    assert "skipped rollback (current template already matches revision 3)" in skipped.stdout
    assert bot.patches() == kubectl.patches() == []


def test_both_refuse_an_unknown_revision(twins: tuple[Twin, Twin]) -> None:
    bot, kubectl = twins

    with pytest.raises(OperationError) as caught:
        RollbackOperation().plan(
            Environment(name="t", namespace=NAMESPACE, kube=bot.kube, litellm_redis_ping=lambda: True),
            RollbackArgs(component="frontend", to_revision=999),
        )
    refused = kubectl.kubectl("rollout", "undo", f"deployment/{FRONTEND}", "--to-revision=999")

    assert "no revision 999; known revisions: 1, 2, 3" in str(caught.value)
    assert refused.returncode != 0
    assert "unable to find specified revision 999 in history" in refused.stderr
    assert bot.patches() == kubectl.patches() == []
