"""Cluster operations from Slack: upgrade with approval, a stuck rollout's Rollback button, logs as a file."""

from __future__ import annotations

from typing import Any

from sandbox.registry import RegistrySandbox
from tests.e2e.harness import BotHarness, operation_id_of, wait_until


def images(harness: BotHarness, deployment: str) -> dict[str, str]:
    spec = harness.kube.get("deployments", deployment)["spec"]["template"]["spec"]
    return {c["name"]: c["image"] for c in spec.get("initContainers", []) + spec["containers"]}


def approve_latest_card(harness: BotHarness, approver: str = "dave") -> dict[str, Any]:
    card = harness.wait_card()
    harness.click(approver, "approval.approve", operation_id_of(card), message_ts=card["ts"])
    return card


def follow_up_button(message: dict[str, Any], label: str) -> dict[str, Any]:
    for block in message.get("blocks") or []:
        for element in block.get("elements") or []:
            if element.get("action_id") == "followup.run" and element["text"]["text"] == label:
                return dict(element)
    raise AssertionError(f"no {label} button on {message.get('text')!r}")


def test_upgrade_frontend_moves_main_and_init_container_together(harness: BotHarness) -> None:
    harness.command("alice", "upgrade frontend 0.5.0")
    card = approve_latest_card(harness)
    assert "copy-custom-logos" in str(card["blocks"]), "the card shows old → new per container"
    wait_until(
        lambda: ("upgrade", "succeeded") in harness.operations(), timeout=30, what="the upgrade to finish"
    )
    after = images(harness, "litellm-frontend")
    assert after["frontend"].endswith(":0.5.0")
    assert after["copy-custom-logos"].endswith(":0.5.0")


def test_stuck_rollout_offers_rollback_that_goes_through_approval(harness: BotHarness) -> None:
    before = images(harness, "litellm-frontend")
    harness.kube.fail_new_pods("litellm-frontend", "ImagePullBackOff")
    harness.command("alice", "upgrade frontend 0.5.1")
    approve_latest_card(harness)
    failed = wait_until(
        lambda: [m for m in harness.slack.messages("C0OPS") if "Rollback" in str(m.get("blocks"))],
        timeout=30,
        what="a failed result with a Rollback button",
    )[-1]
    assert "failed: ImagePullBackOff" in str(failed)  # the new pod's failure ends the wait
    button = follow_up_button(failed, "Rollback")

    # an operator may not roll back (admin only): refused, nothing runs
    _, key = harness.click("bob", "followup.run", button["value"], message_ts=failed["ts"])
    assert "admin" in harness.wait_reply(key)

    # an admin's click is a request for approval, not an execution
    cards_before = len(harness.cards())
    harness.click("alice", "followup.run", button["value"], message_ts=failed["ts"])
    wait_until(lambda: len(harness.cards()) > cards_before, what="a rollback approval card")
    assert images(harness, "litellm-frontend") != before
    approve_latest_card(harness)
    wait_until(lambda: ("rollback", "succeeded") in harness.operations(), timeout=30, what="the rollback")
    assert images(harness, "litellm-frontend") == before


def test_a_typo_is_refused_before_approval(harness: BotHarness) -> None:
    _, key = harness.command("alice", "upgrade backend 0.5.1-typo")
    refusal = harness.wait_reply(key)
    assert (
        "0.5.1-typo is not in quay.io/rh-aiservices-bu/litemaas-backend; nearest: 0.5.1, 0.5.0, 0.4.1"
        in refusal
    )
    assert harness.cards() == [] and harness.mutations() == []

    harness.command("alice", "upgrade frontend 0.5.2")
    card = harness.wait_card()
    digest = harness.kube.images.digest("quay.io/rh-aiservices-bu/litemaas-frontend:0.5.2") or ""
    assert digest[:19] in str(card["blocks"]), "the card shows the digest that will run"


def test_a_bad_tag_approved_during_a_registry_outage_fails_fast(
    harness: BotHarness, registry: RegistrySandbox
) -> None:
    registry.set_unavailable()
    harness.command("alice", "upgrade backend 0.9.9")
    card = harness.wait_card()
    assert "could not be checked" in str(card["blocks"]), "the card says the registry did not answer"
    harness.click("dave", "approval.approve", operation_id_of(card), message_ts=card["ts"])
    failed = wait_until(
        lambda: [m for m in harness.slack.messages("C0OPS") if "failed: ErrImagePull" in str(m)],
        timeout=30,
        what="the ErrImagePull result",
    )[-1]
    assert "Rollback" in str(failed.get("blocks"))
    assert "manifest unknown" in str(failed)


def test_long_logs_arrive_as_a_redacted_file(harness: BotHarness) -> None:
    pod = harness.kube.pods_of("litellm")[0]["metadata"]["name"]
    secret = "sk-leaked-1234567890abcdef"
    lines = [f"request {i} served in 12ms" for i in range(400)] + [f"LITELLM_MASTER_KEY={secret}"]
    harness.kube.set_logs(pod, "litellm", lines)
    _, key = harness.command("carol", "logs litellm --tail 1000")
    wait_until(lambda: harness.slack.responses(key), what="the logs reply")
    upload = wait_until(lambda: harness.slack.files, what="a file upload")[-1]
    content = str(upload.get("content", ""))
    assert "request 399 served" in content
    assert secret not in content and secret not in str(harness.slack.responses(key))
