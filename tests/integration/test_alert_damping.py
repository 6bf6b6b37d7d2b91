"""Watchers an SRE keeps on: a finding alerts only after its pending duration, resolves only after its
clear duration, and while one of the bot's own operations holds the target it is said in that
operation's thread instead; an alert that outlives the operation names it. Real Kubernetes sandbox
(through the official client), real Redis locks, real PostgreSQL operation rows, the Slack fake."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import redis
from slack_sdk import WebClient

from bot.alerts.holding import Holds
from bot.alerts.pipeline import AlertPipeline
from bot.alerts.watching import Watch, Watchers
from bot.automation import Alerts, Watcher
from bot.locks import TargetLocks
from bot.messenger import Messenger
from bot.redaction import Redactor
from bot.rendering import render_text
from bot.store import Database, OperationStore
from commands.checks.deployments import deployments_check
from commands.clients.kube import KubeClient
from commands.environment import Environment
from sandbox.kube import KubeSandbox
from sandbox.slack import SlackSandbox
from tests.integration.conftest import SLACK_TOKEN, make_env

ALERTS = "C0ALERTS"
OPS = "C0BACKUP"  # the channel the operation was typed in (any channel the fake knows)


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def env(kube: KubeClient) -> Environment:
    return make_env(kube, lambda: True)


@pytest.fixture
def store(pg_url: str) -> Iterator[OperationStore]:
    db = Database(pg_url)
    db.migrate()
    yield OperationStore(db)
    db.close()


@pytest.fixture
def messenger(alert_slack: SlackSandbox) -> Messenger:
    return Messenger(WebClient(token=SLACK_TOKEN, base_url=alert_slack.api_url), Redactor([]))


@pytest.fixture
def locks(rds: redis.Redis, redis_prefix: str) -> TargetLocks:
    return TargetLocks(rds, redis_prefix, ttl_seconds=30)


def watchers(
    env: Environment,
    rds: redis.Redis,
    prefix: str,
    messenger: Messenger,
    clock: Clock,
    timing: Watcher,
    holds: Holds | None = None,
) -> tuple[Watchers, Watch]:
    pipeline = AlertPipeline(
        client=rds, prefix=prefix, messenger=messenger, config=Alerts(channel=ALERTS), clock=clock
    )
    watch = Watch("deployments", deployments_check, 1, timing)
    return Watchers([watch], environments=[env], pipeline=pipeline, redactor=Redactor([]), holds=holds), watch


def posted(slack: SlackSandbox, channel: str = ALERTS) -> list[dict[str, Any]]:
    return [m for m in slack.messages(channel) if not m.get("thread_ts")]


def shortfall(sb: KubeSandbox, kube: KubeClient, replicas: int = 3) -> None:
    """A scale-up whose new pods are not ready yet: the controller has not stepped."""
    kube.patch_scale("litellm", replicas)


def test_a_shortfall_alerts_only_after_its_pending_duration_and_resolves_after_its_clear_duration(
    sb: KubeSandbox,
    kube: KubeClient,
    env: Environment,
    rds: redis.Redis,
    redis_prefix: str,
    messenger: Messenger,
    alert_slack: SlackSandbox,
    clock: Clock,
) -> None:
    timing = Watcher(pending_seconds=900, clear_seconds=300)
    watching, watch = watchers(env, rds, redis_prefix, messenger, clock, timing)
    shortfall(sb, kube)
    watching.run_once(watch)
    clock.now += 890
    watching.run_once(watch)
    assert posted(alert_slack) == [], "a replica shortfall younger than 15 min is not an alert"

    clock.now += 20
    watching.run_once(watch)
    [message] = posted(alert_slack)
    assert "1 of 3 replicas available" in message["text"]
    assert "Rollback" not in str(message["blocks"]), "no Rollback while nothing has failed"

    sb.settle()  # healthy now: the alert waits out its clear duration (flap damping)
    watching.run_once(watch)
    clock.now += 200
    watching.run_once(watch)
    assert not posted(alert_slack)[0]["text"].startswith("✅")

    clock.now += 200
    watching.run_once(watch)
    watching.run_once(watch)
    [message] = posted(alert_slack)
    assert message["text"].startswith("✅ Resolved")
    resolved = [m for m in alert_slack.messages(ALERTS) if "Resolved after" in m.get("text", "")]
    assert len(resolved) == 1, "resolved exactly once"


def test_a_finding_that_flaps_before_its_pending_duration_never_alerts(
    sb: KubeSandbox,
    kube: KubeClient,
    env: Environment,
    rds: redis.Redis,
    redis_prefix: str,
    messenger: Messenger,
    alert_slack: SlackSandbox,
    clock: Clock,
) -> None:
    watching, watch = watchers(env, rds, redis_prefix, messenger, clock, Watcher(pending_seconds=60))
    for _ in range(3):
        shortfall(sb, kube)
        watching.run_once(watch)
        clock.now += 50
        sb.settle()
        watching.run_once(watch)  # clear again: the pending time starts afresh
        clock.now += 50
        kube.patch_scale("litellm", 1)
        sb.settle()
    assert posted(alert_slack) == []


def test_a_failed_rollout_alerts_sooner_and_offers_rollback(
    sb: KubeSandbox,
    kube: KubeClient,
    env: Environment,
    rds: redis.Redis,
    redis_prefix: str,
    messenger: Messenger,
    alert_slack: SlackSandbox,
    clock: Clock,
) -> None:
    timing = Watcher(pending_seconds=900, failed_pending_seconds=60)
    watching, watch = watchers(env, rds, redis_prefix, messenger, clock, timing)
    sb.fail_rollout("litellm")
    image = {"name": "litellm", "image": "ghcr.io/berriai/litellm:v9.9.9"}
    patch = {"spec": {"template": {"spec": {"containers": [image]}}}}
    kube.patch_deployment("litellm", patch, "application/strategic-merge-patch+json")
    for _ in range(5):
        sb.step()
    watching.run_once(watch)
    clock.now += 61
    watching.run_once(watch)
    [message] = posted(alert_slack)
    assert "progress deadline" in message["text"] and "Rollback" in str(message["blocks"])


def test_the_bots_own_operation_owns_its_findings_and_an_alert_that_outlives_it_names_it(
    sb: KubeSandbox,
    kube: KubeClient,
    env: Environment,
    rds: redis.Redis,
    redis_prefix: str,
    messenger: Messenger,
    alert_slack: SlackSandbox,
    clock: Clock,
    store: OperationStore,
    locks: TargetLocks,
) -> None:
    holds = Holds(locks=locks, store=store, messenger=messenger, client=rds, prefix=redis_prefix)
    watching, watch = watchers(env, rds, redis_prefix, messenger, clock, Watcher(pending_seconds=60), holds)
    record = store.create(
        command="scale",
        args={"component": "litellm", "replicas": 3},
        text="/maas scale litellm 3",
        requester="U0ALICE",
        channel=OPS,
        environment="test",
        target="deployment/litellm",
        state="running",
        approval_required=False,
    )
    progress_ts = messenger.post(OPS, render_text("⏳ scaling"))
    assert progress_ts is not None
    store.set_progress_message(record.id, progress_ts)

    lock = locks.acquire("deployment/litellm", owner="U0ALICE", reason=record.text, operation=str(record.id))
    shortfall(sb, kube)
    for _ in range(3):
        watching.run_once(watch)
        clock.now += 120  # far past the pending duration, but the operation holds the Deployment
    assert posted(alert_slack) == [], "the bot's own scale-up must not page the alerts channel"
    thread = [m for m in alert_slack.messages(OPS) if m.get("thread_ts") == progress_ts]
    notes = [m for m in thread if m["ts"] != progress_ts]
    assert len(notes) == 1 and "1 of 3 replicas available" in notes[0]["text"]

    lock.release()  # the operation ended, its new pods still not ready
    watching.run_once(watch)
    clock.now += 30
    watching.run_once(watch)
    assert posted(alert_slack) == [], "the pending duration counts from the operation's end"
    clock.now += 31
    watching.run_once(watch)
    [message] = posted(alert_slack)
    assert "after `/maas scale litellm 3` by <@U0ALICE>" in str(message["blocks"])
    assert f"op {str(record.id)[:8]}" in str(message["blocks"])
