"""`/metrics` scraped over HTTP from the real bot while users run commands, Slack fails and PostgreSQL is
down; and the operation id on the log lines of a real operation."""

from __future__ import annotations

import io
import json
import logging
import math
from collections.abc import Callable, Iterator

import pytest
from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client.parser import text_string_to_metric_families

from bot.logging_setup import build_handler
from tests.conftest import DEAD_URL_PORT
from tests.e2e.harness import BotHarness, operation_id_of, wait_until

P = "litemaas_chatops_"

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(harness: BotHarness) -> Samples:
    response = harness.http.get(f"{harness.server.url}/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"] == CONTENT_TYPE_LATEST
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    """A sample's value; 0 when the labelled child was never touched (absent)."""
    return samples.get((P + name, frozenset(labels.items())), 0.0)


def outcome(harness: BotHarness, command: str, result: str) -> float:
    return value(scrape(harness), "command_outcomes_total", command=command, outcome=result)


def test_commands_approvals_and_durations_are_counted(harness: BotHarness) -> None:
    before = scrape(harness)
    assert value(before, "approvals_pending") == 0
    assert value(before, "command_outcomes_total", command="help", outcome="read") == 0

    _, key = harness.command("carol", "help")
    harness.wait_reply(key)
    _, key = harness.command("carol", "status")
    harness.wait_reply(key)
    _, key = harness.command("eve", "scale litellm 2")  # no role: blocked
    harness.wait_reply(key)
    _, key = harness.command("bob", "scale litellm 1")  # already 1: refused as a no-op
    assert "Nothing to do" in harness.wait_reply(key)

    harness.command("bob", "scale litellm 3")
    card = harness.wait_card()
    wait_until(lambda: value(scrape(harness), "approvals_pending") == 1, what="one pending approval")
    harness.click("dave", "approval.approve", operation_id_of(card), message_ts=card["ts"])
    wait_until(lambda: outcome(harness, "scale", "succeeded") == 1, what="scale counted as succeeded")

    after = scrape(harness)
    counts = {
        (command, result): value(after, "command_outcomes_total", command=command, outcome=result)
        for command, result in [
            ("help", "read"),
            ("status", "read"),
            ("scale", "blocked"),
            ("scale", "refused"),
            ("scale", "requested"),
            ("scale", "approved"),
            ("scale", "succeeded"),
            ("scale", "failed"),
        ]
    }
    assert counts == {
        ("help", "read"): 1,
        ("status", "read"): 1,
        ("scale", "blocked"): 1,
        ("scale", "refused"): 1,
        ("scale", "requested"): 1,
        ("scale", "approved"): 1,
        ("scale", "succeeded"): 1,
        ("scale", "failed"): 0,
    }
    assert value(after, "operation_duration_seconds_count", command="scale") == 1
    assert value(after, "operation_duration_seconds_sum", command="scale") > 0
    assert value(after, "operation_duration_seconds_count", command="status") == 1
    assert value(after, "approval_decision_latency_seconds_count", decision="approved") == 1
    assert value(after, "approval_decision_latency_seconds_count", decision="denied") == 0
    assert value(after, "approvals_pending") == 0
    assert value(after, "slack_api_errors_total", method="chat.postMessage", error="fatal_error") == 0


def test_denial_latency_is_measured(harness: BotHarness) -> None:
    harness.command("bob", "scale litellm 2")
    card = harness.wait_card()
    harness.click("dave", "approval.deny", operation_id_of(card), message_ts=card["ts"])
    wait_until(lambda: outcome(harness, "scale", "denied") == 1, what="scale counted as denied")
    samples = scrape(harness)
    assert value(samples, "approval_decision_latency_seconds_count", decision="denied") == 1
    assert value(samples, "approvals_pending") == 0


def test_slack_errors_and_retries_are_counted(harness: BotHarness) -> None:
    harness.slack.fail("chat.postMessage", retry_after=0)  # one 429, retried by the client
    harness.command("bob", "scale litellm 2")
    harness.wait_card()
    samples = scrape(harness)
    assert value(samples, "slack_retries_total", reason="rate_limited") == 1
    assert value(samples, "slack_api_errors_total", method="chat.postMessage", error="ratelimited") == 0

    harness.slack.fail("chat.postMessage", error="channel_not_found")
    _, key = harness.command("bob", "scale litellm 3")
    assert "Approval requested" in harness.wait_reply(key)
    wait_until(
        lambda: (
            value(
                scrape(harness),
                "slack_api_errors_total",
                method="chat.postMessage",
                error="channel_not_found",
            )
            == 1
        ),
        what="the refused post counted",
    )
    assert len(harness.cards()) == 1, "the second card was refused by Slack"


def test_metrics_answer_while_postgresql_is_down(start_bot: Callable[..., BotHarness]) -> None:
    bot = start_bot(bot_database_url=f"postgresql://postgres@127.0.0.1:{DEAD_URL_PORT}/nowhere")
    _, key = bot.command("bob", "scale litellm 2")
    assert "refused" in bot.wait_reply(key)
    samples = scrape(bot)
    assert math.isnan(value(samples, "approvals_pending"))
    assert value(samples, "command_outcomes_total", command="scale", outcome="refused") == 1
    assert bot.http.get(f"{bot.server.url}/readyz").status_code == 503


@pytest.fixture
def debug_json_lines() -> Iterator[io.StringIO]:
    """Every record of the process (DEBUG and up) as JSON lines, for the duration of a test."""
    stream = io.StringIO()
    root = logging.getLogger()
    handler = build_handler("json", stream)
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield stream
    root.removeHandler(handler)
    root.setLevel(level)


def test_an_operations_log_lines_carry_its_id(harness: BotHarness, debug_json_lines: io.StringIO) -> None:
    harness.command("bob", "scale litellm 2")
    card = harness.wait_card()
    op_id = operation_id_of(card)
    harness.click("dave", "approval.approve", op_id, message_ts=card["ts"])
    wait_until(lambda: ("scale", "succeeded") in harness.operations(), what="scale succeeded")
    assert harness.bot.wait_idle(10)
    entries = [json.loads(line) for line in debug_json_lines.getvalue().splitlines()]
    tagged = [e for e in entries if e.get("operation_id") == op_id]
    # the Kubernetes calls the operation made (urllib3 logs each request at DEBUG) are tagged
    assert any("PATCH" in e["message"] and "deployments/litellm" in e["message"] for e in tagged)
    assert {e.get("operation_id") for e in entries} <= {op_id, None}
    assert any(e.get("operation_id") is None for e in entries), "lines outside the operation carry none"
