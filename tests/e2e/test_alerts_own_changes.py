"""The bot's own changes own their side effects, as the channels see it: an approved `scale litellm 3`
under way is said in its own progress thread, never as an alert with a Rollback button; the same
shortfall made outside the bot (kubectl) alerts."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.harness import BotHarness, operation_id_of, wait_until
from tests.e2e.test_alerts_flow import ALERTS, AUTOMATION, top_level, watch

pytestmark = pytest.mark.stepped_rollouts  # rollouts move only when the test steps them


@pytest.fixture
def alerting(start_bot: Callable[..., BotHarness], tmp_path: Path) -> BotHarness:
    path = tmp_path / "automation.yaml"
    path.write_text(AUTOMATION)  # pending 0: any shortfall the watcher sees would alert at once
    return start_bot(automation_config=path)


def thread_of(harness: BotHarness, text: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    ops = harness.slack.messages("C0OPS")
    head = next(
        m for m in ops if not m.get("thread_ts") and text in str(m.get("blocks")) and "⏳" in m["text"]
    )
    return head, [m for m in ops if m.get("thread_ts") == head["ts"] and m["ts"] != head["ts"]]


def test_an_approved_scale_up_under_way_is_said_in_its_thread_not_alerted(alerting: BotHarness) -> None:
    deployments = watch(alerting, "deployments")
    alerting.command("bob", "scale litellm 3")
    card = alerting.wait_card()
    alerting.click("dave", "approval.approve", operation_id_of(card), message_ts=card["ts"])
    wait_until(lambda: ("scale", "running") in alerting.operations(), 10, "the scale to run")
    wait_until(lambda: alerting.replicas() == 3 and alerting.kube.step() is not None, 10, "the new replicas")

    for _ in range(3):
        alerting.bot.watchers.run_once(deployments)
    assert top_level(alerting) == [], "the bot's own healthy scale-up must not page the alerts channel"
    _, notes = thread_of(alerting, "scale litellm 3")
    assert len(notes) == 1 and "of 3 replicas available" in notes[0]["text"]

    alerting.kube.settle()
    wait_until(lambda: ("scale", "succeeded") in alerting.operations(), 10, "the scale to finish")
    alerting.bot.watchers.run_once(deployments)
    assert top_level(alerting) == []


def test_the_same_shortfall_made_outside_the_bot_alerts(alerting: BotHarness) -> None:
    alerting.bot.kube.patch_scale("litellm", 3)  # as `kubectl scale` would
    alerting.kube.step()
    alerting.bot.watchers.run_once(watch(alerting, "deployments"))
    [alert] = top_level(alerting)
    assert "of 3 replicas available" in alert["text"] and alert["channel"] == ALERTS
