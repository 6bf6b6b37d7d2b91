"""Issue 12 item 2: a run whose lock is lost stops before its next step and ends `interrupted (lock lost)`."""

from __future__ import annotations

import time

import psycopg
import pytest
import redis

from tests.e2e.harness import BotHarness, operation_id_of, wait_until

pytestmark = pytest.mark.stepped_rollouts  # rollouts move only when the test steps them


def test_a_run_whose_lock_is_lost_stops_and_says_interrupted_lock_lost(
    start_bot: object, redis_url: str, redis_prefix: str, pg_url: str
) -> None:
    harness: BotHarness = start_bot(lock_ttl_seconds=1)  # type: ignore[operator]
    harness.command("bob", "scale litellm 4")
    card = harness.wait_card()
    harness.click("dave", "approval.approve", operation_id_of(card), message_ts=card["ts"])
    wait_until(lambda: ("scale", "running") in harness.operations(), 15, "the scale to run")
    client = redis.Redis.from_url(redis_url)
    try:  # Redis loses the key (a pause past the TTL); another run takes the target
        client.delete(f"{redis_prefix}lock:deployment/litellm")
        client.set(
            f"{redis_prefix}lock:deployment/litellm",
            '{"owner": "U0OTHER", "reason": "x", "since": "2026-01-01T00:00:00+00:00", "operation": "other"}',
            px=30000,
        )
        time.sleep(1.0)  # three renewals (TTL 1 s): the holder has noticed
        wait_until(  # the rollout moves on: the run's next step finds its lock lost
            lambda: [harness.kube.step(), ("scale", "interrupted") in harness.operations()][-1],
            15,
            "the stop",
        )
        holder = client.get(f"{redis_prefix}lock:deployment/litellm")
    finally:
        client.close()
    assert holder is not None and b"U0OTHER" in holder, "the stopped run must not free someone else's lock"
    with psycopg.connect(pg_url) as conn:
        row = conn.execute("SELECT error FROM chatops.operations WHERE command = 'scale'").fetchone()
    assert row is not None and "interrupted (lock lost)" in str(row[0])
    texts = [str(m.get("text", "")) for m in harness.slack.messages("C0OPS")]
    assert any("lock lost" in t for t in texts), texts
