"""Several replicas in HTTP mode: two `litemaas-bot serve` processes share one PostgreSQL and one Redis.

A request taken by one replica is approved through the other, a Slack retry landing on the other
replica runs nothing twice, and a minute's worth of mixed load spread over both is all acknowledged,
all answered, and executes nothing without approval. Ack latencies are printed, never asserted
(bench/replica_load.py measures them).
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from bench._common import describe, latencies_by_kind, mixed_load, send_load
from sandbox.kube import KubeSandbox
from sandbox.slack import SlackSandbox, block_actions_body, sign, slash_command_body
from tests.conftest import SECRET_IN_LOG
from tests.e2e.harness import SIGNING_SECRET, U, operation_id_of, wait_until
from tests.e2e.processes import ServeProcess, write_env_file

pytestmark = pytest.mark.slow

LOAD_COMMANDS = 500
LOAD_SECONDS = 30.0  # 500 commands within a minute, and the whole test well under 90 s


@pytest.fixture
def replicas(tmp_path: Path, settings_for: Callable[..., dict[str, Any]]) -> Iterator[list[ServeProcess]]:
    """Replicas A and B, started at the same time (both migrate the fresh database) from one env file."""
    env_file = write_env_file(settings_for(), tmp_path / "replicas.env")
    with ThreadPoolExecutor(2) as pool:
        starting = [pool.submit(ServeProcess, env_file, POD_NAME=name) for name in ("replica-a", "replica-b")]
    started = [future.result() for future in starting if future.exception() is None]
    failures = [error for future in starting if (error := future.exception()) is not None]
    if failures:
        for replica in started:
            replica.stop()
        raise failures[0]
    yield started
    for replica in started:
        replica.stop()
    for replica in started:
        log = replica.log()
        assert "Traceback" not in log, log[-3000:]
        leaked = sorted(set(SECRET_IN_LOG.findall(log)))
        assert not leaked, f"secret-shaped values in a replica's log: {[v[:8] + '…' for v in leaked]}"


def post(url: str, body: str, *, timestamp: int | None = None, **headers: str) -> httpx.Response:
    """Deliver a signed body as Slack does."""
    return httpx.post(
        url, content=body, headers={**sign(SIGNING_SECRET, body, timestamp), **headers}, timeout=10
    )


def cards(slack: SlackSandbox) -> list[dict[str, Any]]:
    return [m for m in slack.messages("C0OPS") if str(m.get("text", "")).startswith("Approval needed")]


def rows(pg_url: str, query: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(pg_url) as conn:
        return list(conn.execute(query).fetchall())


def cluster_writes(kube: KubeSandbox) -> list[tuple[str, str]]:
    return [(r.method, r.path) for r in kube.requests if r.method in ("PATCH", "PUT", "POST", "DELETE")]


def command_body(user: str, text: str, response_url: str) -> str:
    return slash_command_body(
        text=text,
        user_id=U[user],
        channel_id="C0OPS",
        response_url=response_url,
        trigger_id=f"trig-{uuid.uuid4().hex}",
    )


def test_request_on_one_replica_is_approved_on_the_other_and_a_retry_runs_nothing_twice(
    replicas: list[ServeProcess], slack: SlackSandbox, kube: KubeSandbox, pg_url: str
) -> None:
    a, b = replicas
    body = command_body("bob", "scale litellm 3", slack.response_url("request"))
    sent_at = int(time.time())
    assert post(a.events_url, body, timestamp=sent_at).status_code == 200
    wait_until(lambda: slack.responses("request"), 15, "the answer to the request")
    assert "Approval requested" in str(slack.responses("request"))
    card = wait_until(lambda: cards(slack), 10, "the approval card")[-1]

    # Slack did not see the ack in time and delivers again, re-signed, and this time to replica B.
    retry = post(
        b.events_url,
        body,
        timestamp=sent_at + 3,
        **{"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"},
    )
    assert retry.status_code == 200
    # B answers a later command before anything else it was given: the retry had its chance to run.
    post(b.events_url, command_body("carol", "help", slack.response_url("after-retry")))
    wait_until(lambda: slack.responses("after-retry"), 15, "B's answer to a later command")
    time.sleep(0.5)
    assert len(cards(slack)) == 1, "the retry posted a second approval card"
    assert rows(pg_url, "SELECT command, state FROM chatops.operations") == [("scale", "requested")]

    # An approver clicks Approve on the card; Slack delivers the click to replica B.
    click = block_actions_body(
        user_id=U["dave"],
        action_id="approval.approve",
        value=operation_id_of(card),
        channel_id="C0OPS",
        message_ts=card["ts"],
        response_url=slack.response_url("click"),
    )
    assert post(b.events_url, click).status_code == 200

    wait_until(lambda: kube.get("deployments", "litellm")["spec"]["replicas"] == 3, 20, "litellm at 3")
    wait_until(
        lambda: rows(pg_url, "SELECT command, state FROM chatops.operations") == [("scale", "succeeded")],
        20,
        "the operation succeeded",
    )
    wait_until(
        lambda: (
            rows(pg_url, "SELECT outcome FROM chatops.audit WHERE command = 'scale' ORDER BY id")
            == [("requested",), ("approved",), ("succeeded",)]
        ),
        10,
        "audit rows requested, approved, succeeded",
    )
    assert rows(pg_url, "SELECT approver FROM chatops.audit WHERE outcome = 'succeeded'") == [("U0DAVE",)]
    writes = cluster_writes(kube)
    assert len(writes) == 1 and writes[0][0] == "PATCH" and "/deployments/litellm" in writes[0][1], writes
    wait_until(
        lambda: "Succeeded" in str(slack.message("C0OPS", card["ts"])["blocks"]), 10, "card: Succeeded"
    )
    assert len(cards(slack)) == 1


def test_a_minute_of_mixed_load_over_two_replicas_is_acknowledged_answered_and_runs_nothing(
    replicas: list[ServeProcess],
    slack: SlackSandbox,
    kube: KubeSandbox,
    pg_url: str,
    record_property: Callable[[str, object], None],
) -> None:
    commands = mixed_load(LOAD_COMMANDS)
    urls = [replica.events_url for replica in replicas]
    acks = send_load(commands, urls, SIGNING_SECRET, slack.response_url, duration=LOAD_SECONDS)

    for kind, latencies in latencies_by_kind(acks).items():  # recorded, not asserted (bench/ measures)
        record_property(f"ack latency {kind}", describe(kind, latencies))
        print(describe(kind, latencies))
    not_acked = [(ack.command.text, ack.url, ack.status, ack.error) for ack in acks if ack.status != 200]
    assert not not_acked, f"{len(not_acked)} deliveries not acknowledged with 200: {not_acked[:5]}"
    assert Counter(ack.url for ack in acks) == {urls[0]: LOAD_COMMANDS // 2, urls[1]: LOAD_COMMANDS // 2}

    wait_until(lambda: all(slack.responses(c.key) for c in commands), 45, "an answer to every command")
    answers = {c.key: str(slack.responses(c.key)) for c in commands}
    expected = {
        "help": "status",  # the viewer's help lists the commands a viewer may run
        "status": "litellm",
        "bad input": "Usage",
        "approval request": "Approval requested",
    }
    wrong = [
        (c.kind, c.text, answers[c.key][:200]) for c in commands if expected[c.kind] not in answers[c.key]
    ]
    assert not wrong, f"{len(wrong)} commands got the wrong answer, e.g. {wrong[:3]}"

    once = [
        (c.kind, c.text, len(slack.responses(c.key))) for c in commands if len(slack.responses(c.key)) != 1
    ]
    assert not once, f"commands answered more than once: {once[:5]}"
    requested = Counter(c.replicas for c in commands if c.replicas is not None)
    operations = rows(pg_url, "SELECT (args->>'replicas')::int, state FROM chatops.operations")
    assert Counter(n for n, _ in operations) == requested, "each approval request is exactly one operation"
    assert {state for _, state in operations} == {"requested"}, "nothing ran without an approval"
    assert len(cards(slack)) == requested.total()
    assert cluster_writes(kube) == [], "the cluster was changed without an approval"
