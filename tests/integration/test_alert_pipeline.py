"""The alert pipeline against real Redis and the Slack fake: one message per alert, edits, reminders,
resolution in the thread, routing, and nothing lost or doubled when Slack fails or replicas race."""

from __future__ import annotations

import threading
from typing import Any

import pytest
import redis
from slack_sdk import WebClient

from bot.alerts.model import Alert
from bot.alerts.pipeline import AlertNotDelivered, AlertPipeline
from bot.automation import Alerts, Route
from bot.messenger import Messenger
from bot.redaction import Redactor
from commands.contract import FollowUp
from sandbox.slack import SlackSandbox
from tests.integration.conftest import SLACK_TOKEN

CONFIG = Alerts(
    channel="C0ALERTS",
    routes=[Route(channel="C0CRIT", severity=["critical"]), Route(channel="C0BACKUP", component=["backup"])],
    renotify_minutes=60,
)


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def slack(alert_slack: SlackSandbox) -> SlackSandbox:
    return alert_slack


def make_pipeline(slack: SlackSandbox, rds: redis.Redis, prefix: str, clock: Clock) -> AlertPipeline:
    messenger = Messenger(WebClient(token=SLACK_TOKEN, base_url=slack.api_url), Redactor([]))
    return AlertPipeline(client=rds, prefix=prefix, messenger=messenger, config=CONFIG, clock=clock)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def pipeline(slack: SlackSandbox, rds: redis.Redis, redis_prefix: str, clock: Clock) -> AlertPipeline:
    return make_pipeline(slack, rds, redis_prefix, clock)


def alert(title: str = "deployment/litellm: 0 of 2 available", **changes: Any) -> Alert:
    values: dict[str, Any] = {
        "fingerprint": "watch:deployments:deployment/litellm",
        "severity": "warning",
        "component": "litellm",
        "title": title,
        "actions": (FollowUp("Rollback", "rollback litellm", danger=True),),
        "source": "watch:deployments",
    }
    values.update(changes)
    return Alert(**values)


def calls(slack: SlackSandbox, method: str) -> list[dict[str, Any]]:
    return [c.args for c in slack.calls if c.method == method]


def test_one_message_per_alert_edited_only_when_it_changes(
    pipeline: AlertPipeline, slack: SlackSandbox
) -> None:
    pipeline.fire(alert())
    pipeline.fire(alert())
    assert len(calls(slack, "chat.postMessage")) == 1
    assert calls(slack, "chat.update") == []

    pipeline.fire(alert("deployment/litellm: 1 of 2 available"))
    updates = calls(slack, "chat.update")
    assert len(updates) == 1 and "1 of 2" in updates[0]["text"]
    assert len(calls(slack, "chat.postMessage")) == 1


def test_resolution_edits_the_message_and_replies_in_its_thread(
    pipeline: AlertPipeline, slack: SlackSandbox
) -> None:
    pipeline.fire(alert())
    ts = slack.messages("C0ALERTS")[0]["ts"]
    pipeline.resolve(alert().fingerprint)
    pipeline.resolve(alert().fingerprint)  # a second resolution is a no-op

    posts = calls(slack, "chat.postMessage")
    assert len(posts) == 2 and posts[1]["thread_ts"] == ts and "Resolved" in posts[1]["text"]
    top = slack.messages("C0ALERTS")[0]
    assert top["text"].startswith("✅ Resolved") and "Rollback" not in str(top["blocks"])

    pipeline.fire(alert())  # firing again later is a new message
    assert len([m for m in slack.messages("C0ALERTS") if not m.get("thread_ts")]) == 2


def test_reminder_in_the_thread_after_the_renotify_interval(
    pipeline: AlertPipeline, slack: SlackSandbox, clock: Clock
) -> None:
    pipeline.fire(alert())
    clock.now += 59 * 60
    pipeline.fire(alert())
    assert len(calls(slack, "chat.postMessage")) == 1
    clock.now += 2 * 60
    pipeline.fire(alert())
    posts = calls(slack, "chat.postMessage")
    assert len(posts) == 2 and posts[1]["thread_ts"] and "Still firing after 61 min" in posts[1]["text"]
    assert posts[1].get("reply_broadcast") in (True, "true", "1")


def test_routes_by_severity_and_component(pipeline: AlertPipeline, slack: SlackSandbox) -> None:
    pipeline.fire(alert(severity="critical"))
    pipeline.fire(
        alert(fingerprint="watch:backups:newest", component="backup", title="no backup for 40 days")
    )
    pipeline.fire(alert(fingerprint="watch:images:frontend", component="frontend", title="image mismatch"))
    channels = [c["channel"] for c in calls(slack, "chat.postMessage")]
    assert channels == ["C0CRIT", "C0BACKUP", "C0ALERTS"]


def test_report_resolves_what_a_source_no_longer_sees(pipeline: AlertPipeline, slack: SlackSandbox) -> None:
    other = alert(fingerprint="watch:pods:pods/backend", source="watch:pods", title="backend crash-looping")
    pipeline.report("watch:deployments", [alert()])
    pipeline.report("watch:pods", [other])
    pipeline.report("watch:deployments", [])
    assert set(pipeline.firing()) == {other.fingerprint}


def test_slack_refusing_a_post_loses_nothing(pipeline: AlertPipeline, slack: SlackSandbox) -> None:
    slack.fail("chat.postMessage", error="fatal_error")
    with pytest.raises(AlertNotDelivered):
        pipeline.fire(alert())
    assert slack.messages("C0ALERTS") == []
    pipeline.fire(alert())
    assert len(slack.messages("C0ALERTS")) == 1


def test_two_replicas_firing_at_once_post_one_message(
    slack: SlackSandbox, rds: redis.Redis, redis_prefix: str, clock: Clock
) -> None:
    replicas = [make_pipeline(slack, rds, redis_prefix, clock) for _ in range(2)]
    barrier = threading.Barrier(8)

    def fire(p: AlertPipeline) -> None:
        barrier.wait()
        p.fire(alert())

    threads = [threading.Thread(target=fire, args=(replicas[i % 2],)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(slack.messages("C0ALERTS")) == 1


def test_buttons_carry_an_id_that_maps_back_to_the_command(
    pipeline: AlertPipeline, slack: SlackSandbox
) -> None:
    pipeline.fire(alert())
    blocks = slack.messages("C0ALERTS")[0]["blocks"]
    values = [
        e["value"] for b in blocks for e in b.get("elements") or [] if e.get("action_id") == "alert.action"
    ]
    assert all("rollback" not in value for value in values)
    commands = [pipeline.action(value) for value in values]
    fired = alert()
    assert commands == [
        "rollback litellm",
        f"alerts ack {fired.alert_id}",
        *(f"alerts silence {fired.alert_id} {d}" for d in ("1h", "4h", "24h")),
    ]
    assert pipeline.action("not-an-id") is None
    assert pipeline.action("x" * 500) is None
