"""Stops and crashes of a real `serve` process in the middle of an operation.

SIGTERM: the process stops accepting; the running operation stops before its next step, records itself
`interrupted` (row, audit, its Slack message) and only then frees its lock. One still inside a step
when the grace runs out is marked interrupted but keeps its lock until the TTL. `kill -9`: the lock
frees itself after its TTL, and the next start marks the operation interrupted and says so.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import redis

from sandbox.kube import KubeSandbox
from sandbox.slack import SlackSandbox, block_actions_body, sign, slash_command_body
from tests.e2e.harness import SIGNING_SECRET, operation_id_of, wait_until
from tests.e2e.processes import write_env_file
from tests.e2e.test_cli import BOT, clean_env

pytestmark = [pytest.mark.slow, pytest.mark.stepped_rollouts]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Serve:
    """One `litemaas-bot serve` process in HTTP mode, and signed requests to it."""

    def __init__(self, env_file: Path, log_path: Path, slack: SlackSandbox) -> None:
        self.port = free_port()
        self.slack = slack
        self.log_path = log_path
        with log_path.open("a") as log:
            self.proc = subprocess.Popen(
                [*BOT, "serve", "--env-file", str(env_file), "--host", "127.0.0.1", "--port", str(self.port)],
                env=clean_env(),
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        wait_until(self._ready, 60, "serve to answer /healthz")

    def _ready(self) -> bool:
        try:
            return httpx.get(f"http://127.0.0.1:{self.port}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def post(self, body: str) -> httpx.Response:
        headers = sign(SIGNING_SECRET, body)
        return httpx.post(
            f"http://127.0.0.1:{self.port}/slack/events", content=body, headers=headers, timeout=10
        )

    def command(self, user: str, text: str) -> None:
        body = slash_command_body(
            text=text,
            user_id=user,
            channel_id="C0OPS",
            response_url=self.slack.response_url(f"c-{time.time()}"),
        )
        assert self.post(body).status_code == 200

    def click(self, user: str, action_id: str, value: str, message_ts: str) -> None:
        body = block_actions_body(
            user_id=user,
            action_id=action_id,
            value=value,
            channel_id="C0OPS",
            message_ts=message_ts,
            response_url=self.slack.response_url(f"a-{time.time()}"),
        )
        assert self.post(body).status_code == 200

    def log(self) -> str:
        return self.log_path.read_text()[-3000:]


@pytest.fixture
def serve_with(
    settings_for: Callable[..., dict[str, Any]], tmp_path: Path, slack: SlackSandbox
) -> Iterator[Callable[..., Serve]]:
    started: list[Serve] = []

    def start(**overrides: Any) -> Serve:
        settings = settings_for(lock_ttl_seconds=3, shutdown_grace_seconds=2, rollout_timeout_seconds=300)
        settings.update(overrides)
        env_file = write_env_file(settings, tmp_path / "serve.env")
        serve = Serve(env_file, tmp_path / "serve.log", slack)
        started.append(serve)
        return serve

    yield start
    for serve in started:
        if serve.proc.poll() is None:
            serve.proc.kill()
            serve.proc.wait(10)


def start_running_scale(serve: Serve, slack: SlackSandbox, pg_url: str) -> str:
    """bob asks to scale litellm, dave approves; returns the operation id once it is running."""
    serve.command("U0BOB", "scale litellm 4")
    card = wait_until(
        lambda: [m for m in slack.messages("C0OPS") if m["text"].startswith("Approval needed")], 15, "a card"
    )[-1]
    operation_id = operation_id_of(card)
    serve.click("U0DAVE", "approval.approve", operation_id, card["ts"])
    wait_until(lambda: state_of(pg_url, operation_id) == "running", 15, "the scale to run")
    wait_until(lambda: progress_message(slack) is not None, 10, "the progress message")
    return operation_id


def state_of(pg_url: str, operation_id: str) -> str | None:
    with psycopg.connect(pg_url) as conn:
        row = conn.execute("SELECT state FROM chatops.operations WHERE id = %s", (operation_id,)).fetchone()
    return None if row is None else str(row[0])


def audit_of(pg_url: str, operation_id: str) -> list[str]:
    with psycopg.connect(pg_url) as conn:
        rows = conn.execute(
            "SELECT outcome FROM chatops.audit WHERE operation_id = %s ORDER BY id", (operation_id,)
        ).fetchall()
    return [str(r[0]) for r in rows]


def progress_message(slack: SlackSandbox) -> dict[str, Any] | None:
    """The message that shows the scale's progress (⏳ …), or what it became."""
    found = [
        m
        for m in slack.messages("C0OPS")
        if "scale litellm 4" in str(m) and not m["text"].startswith("Approval")
    ]
    return found[-1] if found else None


def lock_held(redis_url: str, redis_prefix: str) -> bool:
    client = redis.Redis.from_url(redis_url)
    try:
        return bool(client.exists(f"{redis_prefix}lock:deployment/litellm"))
    finally:
        client.close()


def first_free(redis_url: str, redis_prefix: str, timeout: float) -> float:
    """Poll the lock until it is gone; the moment it was first seen free (monotonic)."""
    deadline = time.monotonic() + timeout
    while lock_held(redis_url, redis_prefix):
        assert time.monotonic() < deadline, "the lock was never released"
        time.sleep(0.01)
    return time.monotonic()


def test_sigterm_stops_the_run_at_its_next_step_records_it_then_frees_the_lock(
    serve_with: Callable[..., Serve],
    slack: SlackSandbox,
    kube: KubeSandbox,
    pg_url: str,
    redis_url: str,
    redis_prefix: str,
) -> None:
    serve = serve_with(shutdown_grace_seconds=20)
    operation_id = start_running_scale(serve, slack, pg_url)
    wait_until(lambda: kube.get("deployments", "litellm")["spec"]["replicas"] == 4, 10, "the scale's patch")
    time.sleep(1.0)  # its worker now waits inside a step, for a rollout that does not move by itself
    serve.proc.send_signal(signal.SIGTERM)

    time.sleep(1.5)
    assert serve.proc.poll() is None, "serve exited while its worker was still in a step"
    assert lock_held(redis_url, redis_prefix), "the lock must stay held while the worker runs"
    assert state_of(pg_url, operation_id) == "running"

    stepped_at = time.monotonic()
    kube.step()  # the rollout moves: the run reaches its next checkpoint and stops there
    freed_at = first_free(redis_url, redis_prefix, 15)
    assert state_of(pg_url, operation_id) == "interrupted", "the lock was freed before the row said so"
    message = progress_message(slack)
    assert message is not None and "interrupted (the bot was stopped)" in message["text"], message
    assert audit_of(pg_url, operation_id)[-1] == "interrupted"
    assert serve.proc.wait(15) == 0, serve.log()
    print(f"step to lock freed: {freed_at - stepped_at:.2f} s")


def test_sigterm_past_the_grace_marks_the_run_but_leaves_its_lock_to_the_ttl(
    serve_with: Callable[..., Serve],
    slack: SlackSandbox,
    kube: KubeSandbox,
    pg_url: str,
    redis_url: str,
    redis_prefix: str,
) -> None:
    serve = serve_with()  # grace 2 s, lock TTL 3 s
    operation_id = start_running_scale(serve, slack, pg_url)
    wait_until(lambda: kube.get("deployments", "litellm")["spec"]["replicas"] == 4, 10, "the scale's patch")

    stopped_at = time.monotonic()
    serve.proc.send_signal(signal.SIGTERM)
    code = serve.proc.wait(30)
    took = time.monotonic() - stopped_at
    print(f"SIGTERM to exit: {took:.2f} s with a 2 s grace")

    assert code == 0, serve.log()
    assert took < 30, f"took {took:.1f} s: past the Deployment's terminationGracePeriodSeconds"
    assert lock_held(redis_url, redis_prefix), "a worker still in a step must keep its lock (TTL frees it)"
    assert state_of(pg_url, operation_id) == "interrupted"
    assert audit_of(pg_url, operation_id)[-1] == "interrupted"
    message = progress_message(slack)
    assert message is not None and "Interrupted" in message["text"], message
    assert "did not stop within the grace period" in message["text"]
    wait_until(lambda: not lock_held(redis_url, redis_prefix), 5, "the lock to expire (TTL 3 s)")


def test_kill_9_is_marked_interrupted_by_the_next_start_and_the_lock_expires(
    serve_with: Callable[..., Serve], slack: SlackSandbox, pg_url: str, redis_url: str, redis_prefix: str
) -> None:
    serve = serve_with()
    operation_id = start_running_scale(serve, slack, pg_url)
    serve.proc.kill()
    serve.proc.wait(10)
    assert state_of(pg_url, operation_id) == "running"

    wait_until(
        lambda: not lock_held(redis_url, redis_prefix), 10, "the dead holder's lock to expire (TTL 3 s)"
    )
    serve_with()
    wait_until(lambda: state_of(pg_url, operation_id) == "interrupted", 20, "the restart to mark it")
    assert audit_of(pg_url, operation_id)[-1] == "interrupted"
    message = wait_until(
        lambda: (m := progress_message(slack)) is not None and "Interrupted" in m["text"] and m,
        10,
        "the message",
    )
    assert "crashed or was killed" in message["text"]
