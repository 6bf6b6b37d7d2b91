"""Alert metrics: the real pipeline on Redis and the Slack fake counts what Slack accepted, by severity
and kind, and Slack's refusals as API errors instead."""

from __future__ import annotations

import pytest
import redis
from prometheus_client.parser import text_string_to_metric_families
from slack_sdk import WebClient

from bot.alerts.pipeline import AlertNotDelivered, AlertPipeline
from bot.messenger import Messenger
from bot.metrics import BotMetrics
from bot.redaction import Redactor
from sandbox.slack import SlackSandbox
from tests.integration.conftest import SLACK_TOKEN as TOKEN
from tests.integration.test_alert_pipeline import CONFIG, Clock, alert


@pytest.fixture
def slack(alert_slack: SlackSandbox) -> SlackSandbox:
    return alert_slack


def counts(metrics: BotMetrics, name: str, *labels: str) -> dict[tuple[str, ...], float]:
    """Values of `labels` → value, for every sample of counter `name` (its `_total` samples)."""
    text = metrics.exposition()[0].decode()
    return {
        tuple(sample.labels[label] for label in labels): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == f"litemaas_chatops_{name}_total"
    }


def test_alerts_are_counted_by_severity_and_kind_when_slack_accepts_them(
    slack: SlackSandbox, rds: redis.Redis, redis_prefix: str
) -> None:
    metrics, clock = BotMetrics(), Clock()
    messenger = Messenger(WebClient(token=TOKEN, base_url=slack.api_url), Redactor([]), metrics)
    pipeline = AlertPipeline(
        client=rds, prefix=redis_prefix, messenger=messenger, config=CONFIG, clock=clock, metrics=metrics
    )

    pipeline.fire(alert())
    pipeline.fire(alert())  # unchanged: nothing sent
    pipeline.fire(alert("deployment/litellm: 1 of 2 available"))
    clock.now += 61 * 60
    pipeline.fire(alert("deployment/litellm: 1 of 2 available"))
    pipeline.resolve(alert().fingerprint)

    slack.fail("chat.postMessage", error="channel_not_found")
    with pytest.raises(AlertNotDelivered):
        pipeline.fire(alert(fingerprint="watch:pods:critical", severity="critical", title="crash loop"))

    assert counts(metrics, "alerts_sent", "severity", "kind") == {
        ("warning", "posted"): 1,
        ("warning", "updated"): 1,
        ("warning", "reminded"): 1,
        ("warning", "resolved"): 1,
    }
    assert counts(metrics, "slack_api_errors", "method", "error") == {
        ("chat.postMessage", "channel_not_found"): 1
    }

    pipeline.fire(alert(fingerprint="watch:pods:critical", severity="critical", title="crash loop"))
    assert counts(metrics, "alerts_sent", "severity", "kind")[("critical", "posted")] == 1, (
        "posted on the next pass"
    )


def test_a_failing_pending_count_reports_nan_and_the_rest_still_scrapes() -> None:
    metrics = BotMetrics()

    def unreachable() -> int:
        raise ConnectionError("PostgreSQL is down")

    metrics.watch_pending_approvals(unreachable)
    metrics.command("help", "read")
    text = metrics.exposition()[0].decode()
    assert "litemaas_chatops_approvals_pending NaN" in text
    assert 'litemaas_chatops_command_outcomes_total{command="help",outcome="read"} 1.0' in text
