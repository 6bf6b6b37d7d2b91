"""Alerts as the ops channel sees them: one message per problem, edited, resolved in its thread, and
buttons that obey permissions and approvals exactly like typed commands."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bot.alerts.pipeline import ALERT_ACTION
from bot.alerts.watching import Watch
from sandbox.kube import KubeSandbox
from sandbox.world import DEMO_ACCESS_FILE
from tests.e2e.harness import BotHarness, wait_until

ALERTS = "C0ALERTS"
AUTOMATION = f"""\
alerts:
  channel: {ALERTS}
  routes:
    - {{severity: [info], channel: C0QUIET}}
  watchers:  # alert at the first sight and resolve at the first clean pass (the defaults wait minutes)
    pods: {{pending_seconds: 0, clear_seconds: 0}}
    deployments: {{pending_seconds: 0, failed_pending_seconds: 0, clear_seconds: 0}}
schedules: {{}}
"""


@pytest.fixture
def alerting(start_bot: Callable[..., BotHarness], tmp_path: Path) -> BotHarness:
    path = tmp_path / "automation.yaml"
    path.write_text(AUTOMATION)
    access = tmp_path / "access-alerts.yaml"  # fixes are accepted in the alerts channel too
    access.write_text(DEMO_ACCESS_FILE.replace("channels: [C0OPS]", f"channels: [C0OPS, {ALERTS}]"))
    return start_bot(automation_config=path, access_config=access)


def watch(harness: BotHarness, name: str) -> Watch:
    return next(w for w in harness.bot.watchers.watches if w.name == name)


def top_level(harness: BotHarness, channel: str = ALERTS) -> list[dict[str, Any]]:
    return [m for m in harness.slack.messages(channel) if not m.get("thread_ts")]


def thread_replies(harness: BotHarness, ts: str, channel: str = ALERTS) -> list[dict[str, Any]]:
    return [m for m in harness.slack.messages(channel) if m.get("thread_ts") == ts and m.get("ts") != ts]


def alert_buttons(message: dict[str, Any]) -> dict[str, str]:
    return {
        e["text"]["text"]: e["value"]
        for b in message.get("blocks") or []
        for e in b.get("elements") or []
        if e.get("action_id") == ALERT_ACTION
    }


def crash(kube: KubeSandbox, deployment: str, count: int | None = None) -> list[str]:
    pods = [p["metadata"]["name"] for p in kube.pods_of(deployment)][:count]
    container = kube.get("deployments", deployment)["spec"]["template"]["spec"]["containers"][0]["name"]
    for pod in pods:
        kube.set_pod_state(pod, container, waiting_reason="CrashLoopBackOff", restart_count=7, ready=False)
    return pods


def test_crashloop_posts_one_alert_then_resolves_it_in_its_thread(alerting: BotHarness) -> None:
    pods = crash(alerting.kube, "litellm", 1)
    pods_watch = watch(alerting, "pods")
    alerting.bot.watchers.run_once(pods_watch)
    alerting.bot.watchers.run_once(pods_watch)  # still failing: the same message, not a new one

    messages = top_level(alerting)
    assert len(messages) == 1
    assert "CrashLoopBackOff" in str(messages[0]["blocks"]) and pods[0] in str(messages[0]["blocks"])
    assert {"Logs"} <= set(alert_buttons(messages[0]))

    container = alerting.kube.get("deployments", "litellm")["spec"]["template"]["spec"]["containers"][0][
        "name"
    ]
    alerting.kube.set_pod_state(pods[0], container, waiting_reason=None, ready=True)
    alerting.bot.watchers.run_once(pods_watch)

    messages = top_level(alerting)
    assert len(messages) == 1, "recovery must not post a new message"
    assert messages[0]["text"].startswith("✅ Resolved")
    assert alert_buttons(messages[0]) == {}
    replies = thread_replies(alerting, messages[0]["ts"])
    assert [r["text"] for r in replies] == [replies[0]["text"]] and "Resolved" in replies[0]["text"]


def test_twenty_failing_pods_of_one_deployment_are_one_message(alerting: BotHarness) -> None:
    kube = alerting.kube
    alerting.bot.kube.patch_scale("litellm", 20)
    kube.settle()
    assert len(kube.pods_of("litellm")) == 20
    crash(kube, "litellm")
    alerting.bot.watchers.run_once(watch(alerting, "pods"))

    messages = top_level(alerting)
    assert len(messages) == 1
    assert "20" in messages[0]["text"] or "20" in str(messages[0]["blocks"])


def test_alert_button_is_checked_like_a_typed_command(alerting: BotHarness) -> None:
    alerting.kube.fail_rollout("litellm")  # a new image whose rollout never completes
    image = {"name": "litellm", "image": "ghcr.io/berriai/litellm:v9.9.9"}
    patch = {"spec": {"template": {"spec": {"containers": [image]}}}}
    alerting.bot.kube.patch_deployment("litellm", patch, "application/strategic-merge-patch+json")
    alerting.kube.settle()
    alerting.bot.watchers.run_once(watch(alerting, "deployments"))
    message = wait_until(lambda: top_level(alerting), 5, "the deployment alert")[0]
    buttons = alert_buttons(message)
    assert "Rollback" in buttons
    rollback_id = buttons["Rollback"]
    assert len(rollback_id) <= 64 and "rollback" not in rollback_id  # only an id travels with the button

    before = len(alerting.mutations())
    for user in ("carol", "bob"):  # a viewer, an operator: rollback needs the admin role
        _, key = alerting.click(user, ALERT_ACTION, rollback_id, message_ts=message["ts"], channel=ALERTS)
        assert "needs the admin role" in alerting.wait_reply(key)
    assert len(alerting.mutations()) == before and alerting.cards(ALERTS) == []

    _, key = alerting.click("alice", ALERT_ACTION, rollback_id, message_ts=message["ts"], channel=ALERTS)
    assert "Approval requested" in alerting.wait_reply(key)
    card = alerting.wait_card(ALERTS)
    assert "rollback litellm" in card["text"] or "rollback litellm" in str(card["blocks"])
    assert len(alerting.mutations()) == before, "an approval-required fix must not run before approval"


def test_unknown_alert_button_is_refused_plainly(alerting: BotHarness) -> None:
    _, key = alerting.click("alice", ALERT_ACTION, "0" * 24, message_ts="1.1", channel=ALERTS)
    assert "expired" in alerting.wait_reply(key)


def click_alert_button(harness: BotHarness, user: str, message: dict[str, Any], label: str) -> str:
    _, key = harness.click(
        user, ALERT_ACTION, alert_buttons(message)[label], message_ts=message["ts"], channel=ALERTS
    )
    return harness.wait_reply(key)


def current(harness: BotHarness, ts: str) -> dict[str, Any]:
    return next(m for m in harness.slack.messages(ALERTS) if m["ts"] == ts)


def test_acknowledge_shows_who_is_on_it_and_silence_hides_the_component_until_unsilenced(
    alerting: BotHarness,
) -> None:
    crash(alerting.kube, "litellm", 1)
    alerting.bot.watchers.run_once(watch(alerting, "pods"))
    [message] = top_level(alerting)
    assert {"Acknowledge", "Silence 1h", "Silence 4h", "Silence 24h"} <= set(alert_buttons(message))

    assert "is on it" in click_alert_button(alerting, "carol", message, "Acknowledge")
    message = current(alerting, message["ts"])
    assert "<@U0CAROL> is on it" in str(message["blocks"])
    assert "Acknowledge" not in alert_buttons(message)

    assert "needs the operator role" in click_alert_button(alerting, "carol", message, "Silence 4h")
    assert "Silenced" in click_alert_button(alerting, "bob", message, "Silence 4h")
    message = current(alerting, message["ts"])
    assert "🔕 silenced until" in str(message["blocks"]) and "<@U0BOB>" in str(message["blocks"])
    assert not any(label.startswith("Silence") for label in alert_buttons(message))
    assert ("U0BOB", "alerts silence", "succeeded") in alerting.audit_outcomes()
    assert ("U0CAROL", "alerts ack", "succeeded") in alerting.audit_outcomes()

    _, key = alerting.command("carol", "alerts", channel=ALERTS)
    listing = alerting.wait_reply(key)
    assert "🔕 silenced" in listing and "until" in listing and "<@U0BOB>" in listing

    _, key = alerting.command("bob", "alerts silence backend 1h planned maintenance", channel=ALERTS)
    assert "Silenced" in alerting.wait_reply(key)
    crash(alerting.kube, "litellm-backend", 1)
    alerting.bot.watchers.run_once(watch(alerting, "pods"))
    assert len(top_level(alerting)) == 1, "a silenced component's new alert is not posted"
    _, key = alerting.command("carol", "alerts", channel=ALERTS)
    assert "backend" in alerting.wait_reply(key)

    silence_id = next(s.silence_id for s in alerting.bot.env.alerts.silences() if s.shown_as == "backend")
    _, key = alerting.command("bob", f"alerts unsilence {silence_id}", channel=ALERTS)
    assert "ended" in alerting.wait_reply(key)
    alerting.bot.watchers.run_once(watch(alerting, "pods"))
    assert len(top_level(alerting)) == 2, "once unsilenced, the backend's alert is posted"


def test_silence_refuses_unknown_targets_and_durations_plainly(alerting: BotHarness) -> None:
    for text, said in [
        ("alerts silence nothing 1h", "no firing alert or component `nothing`"),
        ("alerts silence litellm 8d", "at most 7d"),
        ("alerts silence litellm forever", "duration"),
        ("alerts unsilence 0badc0de", "no silence `0badc0de`"),
    ]:
        _, key = alerting.command("bob", text, channel=ALERTS)
        assert said in alerting.wait_reply(key), text
    assert alerting.bot.env.alerts is not None and alerting.bot.env.alerts.silences() == []
