"""`/maas scale litellm 3` from Slack to the cluster: approval, denial, expiry, races, locks, roles."""

from __future__ import annotations

import threading

import psycopg

from bot.locks import TargetLocks
from tests.e2e.harness import BotHarness, operation_id_of, wait_until


def test_operator_request_approved_by_approver_scales_and_reports(harness: BotHarness) -> None:
    response, key = harness.command("bob", "scale litellm 3")
    assert response.status_code == 200
    assert "Approval requested" in harness.wait_reply(key)
    card = harness.wait_card()
    assert "scale litellm 3" in card["text"]
    assert harness.replicas() == 1, "nothing may change before the approval"

    op_id = operation_id_of(card)
    response, _ = harness.click("dave", "approval.approve", op_id, message_ts=card["ts"])
    assert response.status_code == 200

    wait_until(lambda: harness.replicas() == 3, what="litellm scaled to 3")
    wait_until(lambda: ("scale", "succeeded") in harness.operations(), what="operation succeeded")
    wait_until(
        lambda: "Succeeded" in str(harness.slack.message("C0OPS", card["ts"])["blocks"]),
        what="card: Succeeded",
    )
    result = wait_until(
        lambda: [m for m in harness.slack.messages("C0OPS") if "scaled from 1 to 3" in str(m)],
        what="the result message",
    )
    assert result
    expected = ["requested", "approved", "succeeded"]
    wait_until(
        lambda: [o for _, c, o in harness.audit_outcomes() if c == "scale"] == expected, what="the audit rows"
    )
    with psycopg.connect(harness.pg_url) as conn:
        approver, duration = conn.execute(
            "SELECT approver, duration_ms FROM chatops.audit WHERE outcome = 'succeeded'"
        ).fetchone() or (None, None)
    assert approver == "U0DAVE"
    assert duration is not None and duration >= 0

    # the rollout watch must not leave a half-read stream behind for the next Kubernetes call
    _, status_key = harness.command("carol", "status")
    status = wait_until(lambda: harness.slack.responses(status_key), what="status after the scale")
    assert "3/3" in str(status)


def test_deny_changes_nothing(harness: BotHarness) -> None:
    harness.command("bob", "scale litellm 2")
    card = harness.wait_card()
    harness.click("dave", "approval.deny", operation_id_of(card), message_ts=card["ts"])
    wait_until(
        lambda: "Denied" in str(harness.slack.message("C0OPS", card["ts"])["blocks"]), what="denied card"
    )
    assert harness.replicas() == 1
    assert not [r for r in harness.mutations() if "litellm" in r.path]
    assert ("scale", "denied") in harness.operations()


def test_self_approval_is_refused(harness: BotHarness) -> None:
    harness.command("alice", "scale litellm 2")
    card = harness.wait_card()
    _, key = harness.click("alice", "approval.approve", operation_id_of(card), message_ts=card["ts"])
    assert "your own request" in harness.wait_reply(key)
    assert harness.replicas() == 1
    assert ("scale", "requested") in harness.operations()


def test_non_approver_click_is_refused_and_audited(harness: BotHarness) -> None:
    harness.command("bob", "scale litellm 2")
    card = harness.wait_card()
    _, key = harness.click("carol", "approval.approve", operation_id_of(card), message_ts=card["ts"])
    assert "not an approver" in harness.wait_reply(key)
    assert harness.replicas() == 1
    assert ("U0CAROL", "scale", "blocked") in harness.audit_outcomes()


def test_expired_request_cannot_be_approved(harness: BotHarness) -> None:
    harness.command("bob", "scale litellm 2")
    card = harness.wait_card()
    with psycopg.connect(harness.pg_url) as conn:
        conn.execute("UPDATE chatops.operations SET expires_at = now() - interval '1 minute'")
    _, key = harness.click("dave", "approval.approve", operation_id_of(card), message_ts=card["ts"])
    assert "expired" in harness.wait_reply(key)
    assert harness.replicas() == 1
    wait_until(
        lambda: "Expired" in str(harness.slack.message("C0OPS", card["ts"])["blocks"]), what="expired card"
    )


def test_twenty_simultaneous_approvals_run_once(harness: BotHarness) -> None:
    harness.command("bob", "scale litellm 4")
    card = harness.wait_card()
    op_id = operation_id_of(card)
    barrier = threading.Barrier(20)

    def click() -> None:
        barrier.wait()
        harness.click("dave", "approval.approve", op_id, message_ts=card["ts"])

    threads = [threading.Thread(target=click) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    wait_until(lambda: ("scale", "succeeded") in harness.operations(), what="the run")
    harness.bot.wait_idle(10)
    scale_patches = [r for r in harness.kube.requests if r.method == "PATCH" and r.path.endswith("/scale")]
    assert len(scale_patches) == 1
    assert [o for _, _, o in harness.audit_outcomes()].count("approved") == 1


def test_request_on_locked_target_names_the_holder(harness: BotHarness) -> None:
    locks = TargetLocks(harness.bot.redis, harness.bot.settings.redis_prefix)
    with locks.acquire("deployment/litellm", owner="U0ALICE", reason="/maas upgrade litellm"):
        _, key = harness.command("bob", "scale litellm 2")
        reply = harness.wait_reply(key)
    assert "locked by <@U0ALICE>" in reply
    assert harness.cards() == []


def test_user_without_role_is_refused_and_audited_blocked(harness: BotHarness) -> None:
    _, key = harness.command("eve", "scale litellm 2")
    assert "no role" in harness.wait_reply(key)
    assert ("U0EVE", "scale", "blocked") in harness.audit_outcomes()
    assert harness.cards() == []


def test_viewer_cannot_scale(harness: BotHarness) -> None:
    _, key = harness.command("carol", "scale litellm 2")
    assert "needs the operator role" in harness.wait_reply(key)
    assert ("U0CAROL", "scale", "blocked") in harness.audit_outcomes()


def test_dry_run_shows_the_plan_and_changes_nothing(harness: BotHarness) -> None:
    _, key = harness.command("bob", "scale litellm 3 --dry-run")
    reply = harness.wait_reply(key)
    assert "1" in reply and "3" in reply
    assert harness.cards() == []
    assert harness.mutations() == []


def test_status_lists_components_with_image_tags(harness: BotHarness) -> None:
    _, key = harness.command("carol", "status")
    response = wait_until(lambda: harness.slack.responses(key), what="status reply")[-1]
    blob = str(response)
    for name in (
        "litellm",
        "litellm-backend",
        "litellm-frontend",
        "0.4.0",
        "run-migrations",
        "copy-custom-logos",
    ):
        assert name in blob
