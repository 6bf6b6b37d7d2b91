"""Following a rollout ends at the first new pod that failed for good, not at the progress deadline:
the sandbox's deadline is set far away, so only the fast failure can end these waits in time. What is
asserted: the reason and the pod in the result, the failing container's log (scrubbed), Rollback."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from commands.clients.kube import KubeClient
from commands.cluster.restart import RestartArgs, RestartOperation
from commands.cluster.upgrade import UpgradeArgs, UpgradeOperation
from commands.contract import FollowUp, Result
from commands.environment import Environment, FailFast
from sandbox.kube import KubeSandbox
from tests.integration.conftest import NAMESPACE, only_result
from tests.integration.test_upgrade_rollback_restart import Stepper

FAR_DEADLINE_STEPS = 10_000


@pytest.fixture
def sb() -> Iterator[KubeSandbox]:
    sandbox = KubeSandbox(namespace=NAMESPACE, progress_deadline_steps=FAR_DEADLINE_STEPS).start()
    try:
        sandbox.settle()
        yield sandbox
    finally:
        sandbox.stop()


@pytest.fixture
def env(kube: KubeClient, tmp_path: Path) -> Environment:
    return Environment(
        name="test",
        namespace=NAMESPACE,
        kube=kube,
        litellm_redis_ping=lambda: True,
        rollout_timeout=30.0,
        backup_dir=tmp_path / "backups",
    )


def new_pods(sb: KubeSandbox, deployment: str, old: set[str]) -> list[str]:
    return [p["metadata"]["name"] for p in sb.pods_of(deployment) if p["metadata"]["name"] not in old]


def timed(action: Callable[[], Result]) -> tuple[Result, float]:
    started = time.monotonic()
    result = action()
    return result, time.monotonic() - started


def test_a_tag_the_registry_lacks_fails_at_its_first_err_image_pull(
    sb: KubeSandbox, env: Environment
) -> None:
    op, args = UpgradeOperation(), UpgradeArgs(component="backend", tag="0.9.9")
    with Stepper(sb):
        result, seconds = timed(lambda: only_result(list(op.execute(env, args, op.plan(env, args)))))

    assert not result.ok
    assert result.summary.startswith("upgrading backend to 0.9.9 failed: ErrImagePull: pod litellm-backend-")
    assert (
        "reading manifest 0.9.9 in quay.io/rh-aiservices-bu/litemaas-backend: manifest unknown"
        in result.summary
    )
    assert result.follow_ups == (FollowUp("Rollback", "rollback backend", danger=True),)
    failing = next(s for s in result.sections if s.title.startswith("Failing pod"))
    assert failing.fields["reason"] == "ErrImagePull"
    assert failing.fields["init container"] == "run-migrations"  # the init container pulls first
    assert seconds < 20  # the wait ends at the failure, long before the 30 s timeout (loaded CI)


def test_crash_loop_past_the_restart_threshold_shows_the_previous_runs_log(
    sb: KubeSandbox, env: Environment
) -> None:
    env.fail_fast = FailFast(restarts=2)
    sb.fail_new_pods("litellm-frontend", "CrashLoopBackOff")
    sb.set_startup_logs("litellm-frontend", "frontend", ["booting", "fatal: token=abc123 rejected"])
    with Stepper(sb):
        result = only_result(list(RestartOperation().execute(env, RestartArgs(component="frontend"), None)))

    assert not result.ok
    assert (
        "CrashLoopBackOff: pod litellm-frontend-" in result.summary and "restarted 2 times" in result.summary
    )
    section = result.sections[0]
    assert section.fields["reason"] == "CrashLoopBackOff"
    assert section.lines[-2:] == ("booting", "fatal: token=*** rejected")
    assert result.follow_ups == (FollowUp("Rollback", "rollback frontend", danger=True),)


def test_a_failed_run_migrations_fails_the_upgrade_with_its_log(sb: KubeSandbox, env: Environment) -> None:
    old = {p["metadata"]["name"] for p in sb.pods_of("litellm-backend")}
    sb.set_startup_logs(
        "litellm-backend",
        "run-migrations",
        [
            "Running database migrations...",
            "error: relation users exists (postgresql://app:s3cret@db/litemaas)",
        ],
    )
    failed: set[str] = set()

    def action() -> None:
        sb.step()
        for pod in new_pods(sb, "litellm-backend", old):
            if pod not in failed:
                sb.set_pod_state(pod, "run-migrations", terminated_reason="Error")
                failed.add(pod)

    op, args = UpgradeOperation(), UpgradeArgs(component="backend", tag="0.5.1")
    with Stepper(sb, action=action):
        result = only_result(list(op.execute(env, args, op.plan(env, args))))

    assert not result.ok
    assert "failed: Init:Error: pod litellm-backend-" in result.summary
    assert "init container run-migrations: exited with code 1" in result.summary
    failing = next(s for s in result.sections if s.title.startswith("Failing pod"))
    assert failing.lines == (
        "Running database migrations...",
        "error: relation users exists (postgresql://app:***@db/litemaas)",
    )
    assert result.follow_ups == (FollowUp("Rollback", "rollback backend", danger=True),)


def test_an_oom_killed_new_pod_ends_a_restart(sb: KubeSandbox, env: Environment) -> None:
    old = {p["metadata"]["name"] for p in sb.pods_of("litellm")}
    killed: set[str] = set()

    def action() -> None:
        sb.step()
        for pod in new_pods(sb, "litellm", old):
            if pod not in killed:
                sb.set_pod_state(
                    pod, "litellm", waiting_reason="CrashLoopBackOff", terminated_reason="OOMKilled"
                )
                killed.add(pod)

    with Stepper(sb, action=action):
        result = only_result(list(RestartOperation().execute(env, RestartArgs(component="litellm"), None)))

    assert not result.ok
    assert "failed: OOMKilled: pod litellm-" in result.summary
    assert result.sections[0].fields["reason"] == "OOMKilled"


def test_a_create_container_config_error_ends_a_restart(sb: KubeSandbox, env: Environment) -> None:
    old = {p["metadata"]["name"] for p in sb.pods_of("litellm-backend")}
    broken: set[str] = set()

    def action() -> None:
        sb.step()
        for pod in new_pods(sb, "litellm-backend", old):
            if pod not in broken:
                sb.set_pod_state(pod, "backend", waiting_reason="CreateContainerConfigError")
                broken.add(pod)

    with Stepper(sb, action=action):
        result = only_result(list(RestartOperation().execute(env, RestartArgs(component="backend"), None)))

    assert not result.ok
    assert "CreateContainerConfigError: pod litellm-backend-" in result.summary


def test_with_fail_fast_off_only_the_deadline_ends_the_wait(sb: KubeSandbox, env: Environment) -> None:
    env.fail_fast = FailFast(enabled=False)
    env.rollout_timeout = 2.0
    op, args = UpgradeOperation(), UpgradeArgs(component="frontend", tag="0.9.9")
    with Stepper(sb):
        result = only_result(list(op.execute(env, args, op.plan(env, args))))

    assert "timed out after 2s" in result.summary
    assert not any(s.title.startswith("Failing pod") for s in result.sections)
