"""The real Prometheus Alertmanager notifying the whole bot: one Slack message per alert group, and a
"resolved" reply in its thread when the alert ends."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.alerts.alertmanager import PATH
from tests.alertmanager import AlertmanagerProcess, alertmanager_binary
from tests.e2e.harness import BotHarness, wait_until

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(alertmanager_binary() is None, reason="prometheus-alertmanager is not installed"),
]

TOKEN = "am-e2e-token-0123456789abcdef"
CHANNEL = "C0OPS"  # a channel the Slack fake knows
AUTOMATION = f"alerts:\n  channel: {CHANNEL}\nschedules: {{}}\n"
LABELS = {"alertname": "LiteLLMDown", "severity": "critical", "component": "litellm", "instance": "litellm-0"}
ANNOTATIONS = {"summary": "LiteLLM has no ready pods", "description": "litellm-0 not ready for 5 minutes"}


@pytest.fixture
def bot(start_bot: Callable[..., BotHarness], tmp_path: Path) -> BotHarness:
    automation = tmp_path / "automation.yaml"
    automation.write_text(AUTOMATION)
    return start_bot(alertmanager_token=TOKEN, automation_config=automation)


@pytest.fixture
def start_alertmanager(tmp_path: Path, bot: BotHarness) -> Iterator[Callable[[str], AlertmanagerProcess]]:
    started: list[AlertmanagerProcess] = []

    def start(token: str) -> AlertmanagerProcess:
        workdir = tmp_path / f"alertmanager-{len(started)}"
        workdir.mkdir()
        process = AlertmanagerProcess(workdir, webhook_url=f"{bot.server.url}{PATH}", token=token)
        started.append(process)
        return process.start()

    yield start
    for process in started:
        process.stop()


def top_level(bot: BotHarness) -> list[dict[str, Any]]:
    return [m for m in bot.slack.messages(CHANNEL) if not m.get("thread_ts") or m.get("thread_ts") == m["ts"]]


def replies(bot: BotHarness, ts: str) -> list[dict[str, Any]]:
    return [m for m in bot.slack.messages(CHANNEL) if m.get("thread_ts") == ts and m["ts"] != ts]


def test_a_firing_then_resolved_alert_is_one_message_and_a_resolved_reply(
    bot: BotHarness, start_alertmanager: Callable[[str], AlertmanagerProcess]
) -> None:
    alertmanager = start_alertmanager(TOKEN)
    started = datetime.now(UTC) - timedelta(minutes=2)
    alertmanager.post_alert(LABELS, ANNOTATIONS, starts_at=started)

    (message,) = wait_until(lambda: top_level(bot), timeout=30, what="the alert's message in Slack")
    shown = str(message["blocks"])
    assert message["text"].startswith("🔴 Critical: LiteLLM has no ready pods")
    assert "litellm" in shown and "from alertmanager" in shown
    assert "LiteLLMDown" in shown and "not ready for 5 minutes" in shown

    alertmanager.resolve_alert(LABELS, ANNOTATIONS, started=started)
    (reply,) = wait_until(
        lambda: replies(bot, message["ts"]), timeout=30, what="a resolved reply in the thread"
    )
    assert "Resolved" in reply["text"]
    (resolved,) = top_level(bot)
    assert resolved["ts"] == message["ts"] and resolved["text"].startswith("✅ Resolved")

    posts = bot.slack.calls_to("chat.postMessage")
    assert [call.args.get("thread_ts") for call in posts] == [None, message["ts"]]
    assert TOKEN not in str([call.args for call in bot.slack.calls])


def test_an_alertmanager_with_the_wrong_token_posts_nothing(
    bot: BotHarness,
    start_alertmanager: Callable[[str], AlertmanagerProcess],
    caplog: pytest.LogCaptureFixture,
) -> None:
    alertmanager = start_alertmanager(TOKEN + "-wrong")
    alertmanager.post_alert(LABELS, ANNOTATIONS)

    wait_until(
        lambda: "status code 401" in alertmanager.log(), timeout=30, what="Alertmanager's 401 in its log"
    )
    assert "do not match ALERTMANAGER_TOKEN" in caplog.text
    assert bot.slack.calls_to("chat.postMessage") == []
    assert TOKEN not in caplog.text
