"""The bot's own commands, answered through the same path as every other: help, whoami, audit,
approvals, locks — what each user sees, and who is named as a mention."""

from __future__ import annotations

from typing import Any

from tests.e2e.harness import BotHarness, wait_until


def _blocks_text(harness: BotHarness, key: str) -> str:
    reply: dict[str, Any] = wait_until(lambda: harness.slack.responses(key), 10, "a reply")[-1]
    return " ".join(str((block.get("text") or {}).get("text", "")) for block in reply.get("blocks") or [])


def test_help_lists_what_the_caller_may_run_and_help_takes_a_two_word_verb(harness: BotHarness) -> None:
    _, key = harness.command("carol", "help")
    viewer = harness.wait_reply(key)
    assert "`/maas status`" in viewer and "`/maas approvals`" in viewer
    assert "/maas scale" not in viewer  # carol is a viewer

    _, key = harness.command("carol", "help models list")
    assert harness.wait_reply(key).startswith("`/maas models list`")
    _, key = harness.command("carol", 'help "models list"')
    assert harness.wait_reply(key).startswith("`/maas models list`")

    _, key = harness.command("carol", "help scale")
    refused = harness.wait_reply(key)
    assert "No command `scale` that you may run" in refused

    _, key = harness.command("eve", "help")
    assert "You have no role yet" in harness.wait_reply(key)


def test_whoami_names_the_caller_as_a_mention(harness: BotHarness) -> None:
    _, key = harness.command("bob", "whoami")
    text = _blocks_text(harness, key)
    assert "You are <@U0BOB> (`U0BOB`): operator." in text


def test_audit_approvals_and_locks_show_the_bot_state_with_mentions(harness: BotHarness) -> None:
    harness.command("bob", "scale litellm 2")
    harness.wait_card()

    _, key = harness.command("carol", "approvals")
    assert "`/maas scale litellm 2` requested by <@U0BOB>" in _blocks_text(harness, key)

    _, key = harness.command("carol", "audit 5")
    assert "<@U0BOB> scale → requested" in _blocks_text(harness, key)

    _, key = harness.command("carol", "locks")
    assert "No locks are held." in harness.wait_reply(key)
