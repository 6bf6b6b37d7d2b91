"""The order of a stop (issue 12 item 2): a run stops before its next step, records itself interrupted,
and only then frees its locks; a run still queued when the bot stops is marked and never starts."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from tests.e2e.harness import BotHarness, operation_id_of, wait_until

pytestmark = pytest.mark.stepped_rollouts  # rollouts move only when the test steps them


def approve(harness: BotHarness, text: str) -> str:
    """bob asks, dave approves; the operation's id."""
    before = len(harness.cards())
    _, key = harness.command("bob", text)
    assert "Approval requested" in harness.wait_reply(key), harness.reply_texts(key)
    card = wait_until(lambda: harness.cards()[before:], 10, f"the card of {text}")[-1]
    operation_id = operation_id_of(card)
    harness.click("dave", "approval.approve", operation_id, message_ts=card["ts"])
    return operation_id


def test_stop_interrupts_the_running_run_at_its_next_step_and_the_queued_one_before_it_starts(
    start_bot: Callable[..., BotHarness],
) -> None:
    harness = start_bot(worker_threads=1)
    approve(harness, "scale litellm 4")
    wait_until(lambda: harness.kube.get("deployments", "litellm")["spec"]["replicas"] == 4, 15, "the patch")
    approve(harness, "scale frontend 2")  # queued: the only worker is busy
    wait_until(
        lambda: [s for _, s in harness.operations()] == ["running", "approved"], 10, "one running, one queued"
    )
    inflight = harness.bot.service.recovery.inflight
    wait_until(lambda: len(inflight.ids()) == 2, 10, "the approved run handed to the worker pool")
    frontend_before = harness.kube.get("deployments", "litellm-frontend")["spec"]["replicas"]

    closing = threading.Thread(target=harness.bot.close, kwargs={"grace": 15.0})
    closing.start()
    try:
        wait_until(lambda: harness.bot.service.recovery.inflight.stopping.is_set(), 5, "the stop")
        harness.kube.step()  # the rollout moves: the first run reaches its next checkpoint
        closing.join(20)
    finally:
        closing.join(20)
    assert not closing.is_alive()

    states = [s for _, s in harness.operations()]
    assert states == ["interrupted", "interrupted"], harness.operations()
    assert harness.kube.get("deployments", "litellm-frontend")["spec"]["replicas"] == frontend_before
    texts = [str(m.get("text", "")) for m in harness.slack.messages("C0OPS")]
    assert any("interrupted (the bot was stopped)" in t for t in texts), texts
    assert any("stopped before this started; nothing was changed" in t for t in texts), texts
    assert not harness.bot.service.locks.holders(), "every lock is freed once its worker stopped"
