"""Two `serve` processes against one sandbox: one leader runs the watchers; `kill -9` it and the other
takes over within the lease; the alert it was tracking is edited and resolved, never posted twice."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from sandbox.kube import KubeSandbox
from sandbox.slack import SlackSandbox
from tests.e2e.harness import wait_until
from tests.e2e.processes import ServeProcess, write_env_file

pytestmark = pytest.mark.slow

LEASE_SECONDS = 3
AUTOMATION = """\
alerts:
  channel: C0ALERTS
  watchers:
    pods: {interval_seconds: 1, pending_seconds: 0, clear_seconds: 0}
    deployments: {enabled: false}
    readiness: {enabled: false}
    redis: {enabled: false}
    images: {enabled: false}
    drift: {enabled: false}
    backups: {enabled: false}
schedules:
  key-cleanup: {enabled: false}
  backup: {enabled: false}
  backup-verify: {enabled: false}
  drift: {enabled: false}
"""


@pytest.fixture
def replicas(
    settings_for: Callable[..., dict[str, Any]], tmp_path: Path
) -> Iterator[dict[str, ServeProcess]]:
    automation = tmp_path / "automation.yaml"
    automation.write_text(AUTOMATION)
    env_file = write_env_file(
        settings_for(automation_config=automation, leader_lease_seconds=LEASE_SECONDS), tmp_path / "serve.env"
    )
    started = {name: ServeProcess(env_file, POD_NAME=name) for name in ("replica-a", "replica-b")}
    yield started
    for process in started.values():
        process.stop()


def holder(kube: KubeSandbox) -> str | None:
    try:
        lease = kube.get("leases", "litemaas-chatops-leader")
    except KeyError:
        return None
    return lease.get("spec", {}).get("holderIdentity") or None


def leading(process: ServeProcess) -> bool:
    return "leading: starting watchers" in process.log()


def alerts(slack: SlackSandbox) -> list[dict[str, Any]]:
    return [m for m in slack.messages("C0ALERTS") if not m.get("thread_ts")]


def crash(kube: KubeSandbox) -> None:
    for pod in [p["metadata"]["name"] for p in kube.pods_of("litellm")]:
        kube.set_pod_state(pod, "litellm", waiting_reason="CrashLoopBackOff", restart_count=5, ready=False)


def test_one_leader_runs_the_watchers_and_the_other_takes_over_after_kill_9(
    replicas: dict[str, ServeProcess], kube: KubeSandbox, slack: SlackSandbox
) -> None:
    leader_name = wait_until(lambda: holder(kube), 20, "a leader")
    leader, follower = replicas[leader_name], next(p for n, p in replicas.items() if n != leader_name)
    wait_until(lambda: leading(leader), 10, "the leader to start its watchers")

    crash(kube)
    wait_until(lambda: alerts(slack), 15, "the crash-loop alert")
    time.sleep(2)  # several watcher passes: still one message
    assert len(alerts(slack)) == 1
    assert not leading(follower), "only the leader runs watchers"

    leader.proc.kill()
    killed_at = time.monotonic()
    wait_until(lambda: leading(follower), LEASE_SECONDS * 3, "the follower to take over")
    took = time.monotonic() - killed_at
    print(f"takeover after kill -9: {took:.2f} s (lease {LEASE_SECONDS} s)")
    assert holder(kube) != leader_name
    assert took <= LEASE_SECONDS + 2, f"takeover took {took:.1f} s with a {LEASE_SECONDS} s lease"

    time.sleep(3)  # the new leader's watcher passes see the same crash: it edits at most, never re-posts
    assert len(alerts(slack)) == 1

    for pod in [p["metadata"]["name"] for p in kube.pods_of("litellm")]:
        kube.set_pod_state(pod, "litellm", waiting_reason=None, ready=True)
    wait_until(lambda: alerts(slack)[0]["text"].startswith("✅ Resolved"), 15, "the resolution")
    assert len(alerts(slack)) == 1
