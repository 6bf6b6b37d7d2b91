"""Chaos (issue 12): two `serve` processes share PostgreSQL and Redis; `kill -9` the one running an upgrade.

The other marks the upgrade interrupted within the lock TTL plus one reaper pass (never while the
dead holder's lock still stands), edits its Slack message to say so, the targets are free, and the
same command run again through the survivor finishes the rollout the dead one left.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import redis

from sandbox.kube import KubeSandbox
from sandbox.slack import SlackSandbox, block_actions_body, sign, slash_command_body
from tests.conftest import SECRET_IN_LOG
from tests.e2e.harness import SIGNING_SECRET, U, operation_id_of, wait_until
from tests.e2e.processes import ServeProcess, write_env_file

pytestmark = [pytest.mark.slow, pytest.mark.stepped_rollouts]

LOCK_TTL = 3.0
REAPER_INTERVAL = 1.0
COMMAND = "upgrade frontend 0.5.0"


@pytest.fixture
def replicas(tmp_path: Path, settings_for: Callable[..., dict[str, Any]]) -> Iterator[list[ServeProcess]]:
    """Replicas A and B from one env file: short lock TTL and reaper interval."""
    settings = settings_for(
        lock_ttl_seconds=LOCK_TTL, reaper_interval_seconds=REAPER_INTERVAL, rollout_timeout_seconds=300
    )
    env_file = write_env_file(settings, tmp_path / "chaos.env")
    started = [ServeProcess(env_file, POD_NAME=name) for name in ("replica-a", "replica-b")]
    yield started
    for replica in started:
        replica.stop()
    survivor = started[1].log()
    assert "Traceback" not in survivor, survivor[-3000:]
    leaked = sorted(set(SECRET_IN_LOG.findall(survivor)))
    assert not leaked, f"secret-shaped values in B's log: {[v[:8] + '…' for v in leaked]}"


class Stepper:
    """Steps the sandbox's rollouts from a thread until stopped (the kubelet back to normal)."""

    def __init__(self, kube: KubeSandbox) -> None:
        self._kube = kube
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            self._kube.step()

    def __enter__(self) -> Stepper:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)


def post(url: str, body: str) -> None:
    assert httpx.post(url, content=body, headers=sign(SIGNING_SECRET, body), timeout=10).status_code == 200


def request_and_approve(replica: ServeProcess, slack: SlackSandbox) -> str:
    """alice asks `COMMAND` on `replica`, dave approves there; the operation id."""
    cards_before = len(cards(slack))
    post(
        replica.events_url,
        slash_command_body(
            text=COMMAND,
            user_id=U["alice"],
            channel_id="C0OPS",
            response_url=slack.response_url(f"r-{uuid.uuid4().hex}"),
            trigger_id=f"trig-{uuid.uuid4().hex}",
        ),
    )
    card = wait_until(lambda: cards(slack)[cards_before:], 20, "the approval card")[-1]
    operation_id = operation_id_of(card)
    post(
        replica.events_url,
        block_actions_body(
            user_id=U["dave"],
            action_id="approval.approve",
            value=operation_id,
            channel_id="C0OPS",
            message_ts=card["ts"],
            response_url=slack.response_url(f"a-{uuid.uuid4().hex}"),
        ),
    )
    return operation_id


def cards(slack: SlackSandbox) -> list[dict[str, Any]]:
    return [m for m in slack.messages("C0OPS") if str(m.get("text", "")).startswith("Approval needed")]


def row(pg_url: str, operation_id: str) -> tuple[str, str | None, str | None]:
    """(state, error, progress message ts) of an operation."""
    with psycopg.connect(pg_url) as conn:
        found = conn.execute(
            "SELECT state, error, progress_ts FROM chatops.operations WHERE id = %s", (operation_id,)
        ).fetchone()
    assert found is not None
    return str(found[0]), found[1], found[2]


def message(slack: SlackSandbox, ts: str | None) -> str:
    return next((str(m.get("text", "")) for m in slack.messages("C0OPS") if m.get("ts") == ts), "")


def held_locks(redis_url: str, redis_prefix: str) -> list[str]:
    client = redis.Redis.from_url(redis_url)
    try:
        return sorted(key.decode() for key in client.scan_iter(match=f"{redis_prefix}lock:*"))
    finally:
        client.close()


def frontend_image(kube: KubeSandbox) -> str:
    containers = kube.get("deployments", "litellm-frontend")["spec"]["template"]["spec"]["containers"]
    return str(next(c["image"] for c in containers if c["name"] == "frontend"))


def test_kill_9_mid_upgrade_the_other_replica_marks_it_interrupted_and_the_rerun_completes(
    replicas: list[ServeProcess],
    kube: KubeSandbox,
    slack: SlackSandbox,
    pg_url: str,
    redis_url: str,
    redis_prefix: str,
) -> None:
    a, b = replicas
    first = request_and_approve(a, slack)
    wait_until(lambda: row(pg_url, first)[0] == "running", 20, "the upgrade to run on A")
    wait_until(lambda: frontend_image(kube).endswith(":0.5.0"), 20, "A to set the image")
    assert f"{redis_prefix}lock:deployment/litellm-frontend" in held_locks(redis_url, redis_prefix)
    time.sleep(0.5)  # A now follows a rollout that does not move

    a.proc.kill()  # kill -9 mid-rollout
    killed_at = time.monotonic()
    lock_gone_at = None
    while (state := row(pg_url, first)[0]) == "running":  # the row first, then the lock: see below
        if lock_gone_at is None and not held_locks(redis_url, redis_prefix):
            lock_gone_at = time.monotonic()
        assert time.monotonic() - killed_at < LOCK_TTL + REAPER_INTERVAL + 10, "B never marked it"
        time.sleep(0.02)
    took = time.monotonic() - killed_at
    # a lock never comes back once gone: held after the row said interrupted = marked while held
    assert lock_gone_at is not None or not held_locks(redis_url, redis_prefix), "marked under a live lock"
    bound = LOCK_TTL + REAPER_INTERVAL
    expired = (lock_gone_at or time.monotonic()) - killed_at
    print(
        f"kill -9 to interrupted (by B): {took:.2f} s (lock expired after {expired:.2f} s); "
        f"bound TTL + one reaper pass = {bound:.1f} s"
    )

    state, error, progress_ts = row(pg_url, first)
    assert state == "interrupted"
    assert "crashed or was killed" in str(error)
    # 1 s of slack: the polling, the pass's own queries and a loaded machine
    assert took <= bound + 1.0, f"marked after {took:.2f} s; TTL + one reaper pass is {bound:.1f} s"
    shown = wait_until(lambda: "Interrupted" in (text := message(slack, progress_ts)) and text, 5, "the edit")
    assert "crashed or was killed" in shown
    assert held_locks(redis_url, redis_prefix) == [], "the targets are free"

    again = request_and_approve(b, slack)
    with Stepper(kube):  # the kubelet moves again
        wait_until(lambda: row(pg_url, again)[0] in ("succeeded", "failed"), 30, "the re-run on B")
    state, error, progress_ts = row(pg_url, again)
    assert state == "succeeded", error
    assert "frontend upgraded to 0.5.0; rollout complete" in message(slack, progress_ts)
    assert held_locks(redis_url, redis_prefix) == []
    assert row(pg_url, first)[0] == "interrupted"
