"""Bad input, forged requests, Slack retries, outages of PostgreSQL/Redis and secrets in errors."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from sandbox.slack import slash_command_body
from tests.conftest import DEAD_URL_PORT
from tests.e2e.harness import BotHarness, wait_until

BAD_INPUT = [
    ("scale litellm -1", "replicas"),
    ("scale litellm abc", "replicas"),
    ("scale nosuch 2", "nosuch"),
    ("scael litellm 2", "scale"),
    ("", "help"),
    ("x" * 5000, "long"),
]


@pytest.mark.parametrize(("text", "expected"), BAD_INPUT)
def test_bad_input_gets_usage_and_changes_nothing(harness: BotHarness, text: str, expected: str) -> None:
    response, key = harness.command("bob", text)
    assert response.status_code == 200
    reply = harness.slack.responses(key) or wait_until(lambda: harness.slack.responses(key), what="reply")
    body = reply[-1]
    assert body.get("response_type") == "ephemeral"
    assert expected in str(body).lower() or expected in str(body)
    if text.startswith(("scale", "scael")):
        assert "Usage" in str(body) or "Did you mean" in str(body)
    assert harness.mutations() == []
    assert harness.operations() == []


def test_did_you_mean_names_the_verb(harness: BotHarness) -> None:
    _, key = harness.command("bob", "scael litellm 2")
    assert "scale" in harness.wait_reply(key) or "scale" in str(harness.slack.responses(key))


def test_bad_signature_is_401_and_runs_nothing(harness: BotHarness) -> None:
    response, _ = harness.command("bob", "scale litellm 3", secret="not-the-secret")
    assert response.status_code == 401
    stale, _ = harness.command("bob", "scale litellm 3", timestamp=int(time.time()) - 600)
    assert stale.status_code == 401
    time.sleep(0.3)
    assert harness.cards() == []
    assert harness.operations() == []


def test_slack_retry_of_a_handled_request_runs_nothing_twice(harness: BotHarness) -> None:
    body = slash_command_body(
        text="scale litellm 3",
        user_id="U0BOB",
        channel_id="C0OPS",
        response_url=harness.slack.response_url("retry"),
        trigger_id="trig-retry-1",
    )
    first, _ = harness.command("bob", "", body=body)
    retry, _ = harness.command(
        "bob", "", body=body, extra_headers={"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}
    )
    assert first.status_code == 200 and retry.status_code == 200
    harness.wait_card()
    time.sleep(0.3)
    assert len(harness.cards()) == 1
    assert len(harness.operations()) == 1


def test_redis_down_refuses_changes_but_help_answers(start_bot: Callable[..., BotHarness]) -> None:
    bot = start_bot(redis_url=f"redis://127.0.0.1:{DEAD_URL_PORT}/0")
    _, key = bot.command("bob", "scale litellm 2")
    reply = bot.wait_reply(key)
    assert "Redis" in reply and "refused" in reply
    _, help_key = bot.command("bob", "help")
    assert "scale" in bot.wait_reply(help_key)
    assert bot.mutations() == []


def test_postgres_down_refuses_changes_but_help_answers(start_bot: Callable[..., BotHarness]) -> None:
    bot = start_bot(bot_database_url=f"postgresql://postgres@127.0.0.1:{DEAD_URL_PORT}/nowhere")
    _, key = bot.command("bob", "scale litellm 2")
    reply = bot.wait_reply(key)
    assert "PostgreSQL" in reply and "refused" in reply
    _, help_key = bot.command("bob", "help")
    assert "status" in bot.wait_reply(help_key)
    assert bot.mutations() == []


def test_secret_in_a_kubernetes_error_never_reaches_slack(harness: BotHarness) -> None:
    secret = "sk-live-4f9a8b7c6d5e4f3a2b1c"
    harness.kube.inject_error(
        "GET",
        r"/deployments/litellm$",
        500,
        f"etcd failure while reading DATABASE_URL=postgresql://litellm:hunter2pw@db/litellm key {secret}",
        times=5,
    )
    _, key = harness.command("bob", "scale litellm 3")
    reply = harness.wait_reply(key)
    assert "refused" in reply or "failed" in reply
    _, status_key = harness.command("carol", "status")
    wait_until(lambda: harness.slack.responses(status_key), what="status reply")
    recorded = str([c.args for c in harness.slack.calls]) + str(
        [harness.slack.responses(k) for k in (key, status_key)]
    )
    assert secret not in recorded
    assert "hunter2pw" not in recorded


def test_a_dry_run_works_with_both_stores_down_and_says_it_is_not_audited(
    start_bot: Callable[..., BotHarness],
) -> None:
    """Issue 12 item 6: a dry run reads only the operated systems."""
    bot = start_bot(
        redis_url=f"redis://127.0.0.1:{DEAD_URL_PORT}/0",
        bot_database_url=f"postgresql://postgres@127.0.0.1:{DEAD_URL_PORT}/nowhere",
    )
    _, key = bot.command("bob", "scale litellm 2 --dry-run")
    reply = bot.wait_reply(key)
    assert "refused" not in reply and "litellm" in reply
    shown = str(bot.slack.responses(key))
    assert "not audited" in shown, shown
    assert bot.mutations() == []
