"""Block Kit rendering: what lands in Slack for results, progress, approval cards and errors."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from slack_sdk.models.blocks import Block

from bot.rendering import (
    Button,
    Message,
    progress_bar,
    render_approval_card,
    render_error,
    render_progress,
    render_result,
    render_text,
)
from commands.contract import Change, Plan, Progress, Result, Section

EXPIRES = datetime(2025, 3, 1, 12, 30, tzinfo=UTC)
PLAN = Plan(
    summary="scale deployment/litellm from 1 to 3 replicas",
    target="deployment/litellm",
    changes=(Change("deployment/litellm", "replicas", "1", "3"),),
    risks=("LiteLLM with more than one replica needs Redis",),
)


def all_texts(message: Message) -> list[str]:
    """Every text string anywhere in the blocks."""
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("text"), str):
                found.append(node["text"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(message["blocks"])
    return found


def joined(message: Message) -> str:
    return "\n".join(all_texts(message))


def blocks_of(message: Message, kind: str) -> list[dict[str, Any]]:
    return [b for b in message["blocks"] if b["type"] == kind]


def assert_valid(message: Message) -> None:
    """Within Slack's limits, re-checked by slack_sdk's own validators, and JSON-serialisable."""
    assert message["text"].strip()
    assert 1 <= len(message["blocks"]) <= 50
    for raw in message["blocks"]:
        block = Block.parse(raw)
        assert block is not None
        block.validate_json()
        if raw["type"] == "section":
            assert len(raw.get("text", {}).get("text", "")) <= 3000
            assert len(raw.get("fields", [])) <= 10
            assert all(len(f["text"]) <= 2000 for f in raw.get("fields", []))
            assert raw.get("text", {}).get("text", "x").strip() or raw.get("fields")
        if raw["type"] == "actions":
            assert len(raw["elements"]) <= 25
            for element in raw["elements"]:
                assert len(element["text"]["text"]) <= 75
                assert len(element["value"]) <= 2000
                assert len(element["action_id"]) <= 255
        if raw["type"] == "header":
            assert len(raw["text"]["text"]) <= 150
    json.dumps(message)


# --- progress bar -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("done", "total", "width", "expected"),
    [
        (3, 10, 10, "▰▰▰▱▱▱▱▱▱▱ 3/10"),
        (3, 5, 5, "▰▰▰▱▱ 3/5"),
        (0, 5, 5, "▱▱▱▱▱ 0/5"),
        (5, 5, 5, "▰▰▰▰▰ 5/5"),
        (9, 5, 5, "▰▰▰▰▰ 5/5"),
        (-2, 5, 5, "▱▱▱▱▱ 0/5"),
        (0, 0, 4, "▱▱▱▱ 0/0"),
        (40_000, 100_000, 10, "▰▰▰▰▱▱▱▱▱▱ 40,000/100,000"),
        (1, 2, 0, "▱ 1/2"),
    ],
)
def test_progress_bar(done: int, total: int, width: int, expected: str) -> None:
    assert progress_bar(done, total, width) == expected


# --- results ----------------------------------------------------------------------------------------


def test_result_shows_summary_sections_warnings_and_context() -> None:
    result = Result(
        ok=True,
        summary="litellm scaled to 3",
        sections=(
            Section("deployment/litellm", fields={"ready": "3/3", "image": "v1.74.0"}),
            Section("pods", lines=("litellm-abc Running", "litellm-def Running")),
        ),
        warnings=("backend replicas > 1: OAuth state is in-memory",),
    )
    message = render_result(result, command_text="scale litellm 3", requester="U0ALICE", duration_s=4.2)
    assert_valid(message)
    assert message["text"] == "✅ litellm scaled to 3"
    blocks = message["blocks"]
    assert blocks[0]["text"]["text"] == "✅ *litellm scaled to 3*"
    assert blocks[1]["text"]["text"] == "*deployment/litellm*"
    assert [f["text"] for f in blocks[1]["fields"]] == ["*ready*\n3/3", "*image*\nv1.74.0"]
    assert blocks[2]["text"]["text"] == "*pods*\n```\nlitellm-abc Running\nlitellm-def Running\n```"
    assert blocks[3]["text"]["text"] == "⚠️ backend replicas &gt; 1: OAuth state is in-memory"
    assert blocks[-1] == {
        "type": "context",
        "elements": [{"type": "mrkdwn", "text": "requested by <@U0ALICE> · `/maas scale litellm 3` · 4.2 s"}],
    }


def test_failed_result_and_buttons() -> None:
    result = Result(ok=False, summary="rollout of litellm stuck")
    message = render_result(
        result,
        command_text="/maas upgrade litellm v2",
        requester="U0BOB",
        buttons=[
            Button("Rollback", "alert.rollback", "op-7", "danger"),
            Button("Logs", "alert.logs", "op-7"),
        ],
    )
    assert_valid(message)
    assert message["text"].startswith("❌ rollout of litellm stuck")
    (actions,) = blocks_of(message, "actions")
    assert [(e["action_id"], e["value"], e.get("style")) for e in actions["elements"]] == [
        ("alert.rollback", "op-7", "danger"),
        ("alert.logs", "op-7", None),
    ]
    assert "`/maas upgrade litellm v2`" in joined(message)


def test_huge_result_stays_within_limits() -> None:
    sections = tuple(
        Section(
            f"section {i} " + "t" * 500,
            fields={f"k{j}": "v" * 3000 for j in range(25)},
            lines=tuple("x" * 10_000 for _ in range(5)),
        )
        for i in range(200)
    )
    result = Result(
        ok=True, summary="s" * 10_000, sections=sections, warnings=tuple("w" * 5000 for _ in range(9))
    )
    message = render_result(
        result,
        command_text="status " + "a" * 5000,
        requester="U0ALICE",
        buttons=[Button("b" * 200, "x", "y")] * 40,
    )
    assert_valid(message)
    assert len(message["blocks"]) == 50
    assert "more blocks not shown" in joined(message)
    assert message["blocks"][-1]["type"] == "context"  # who/what is never cut
    (actions,) = blocks_of(message, "actions")
    assert len(actions["elements"]) == 25
    assert len(actions["elements"][0]["text"]["text"]) == 75
    assert len(message["text"]) <= 3000


def test_long_lines_say_how_many_were_left_out() -> None:
    result = Result(
        ok=True, summary="logs", sections=(Section("log", lines=tuple(f"line {i}" for i in range(2000))),)
    )
    message = render_result(result, command_text="logs litellm", requester="U0ALICE")
    assert_valid(message)
    text = message["blocks"][1]["text"]["text"]
    assert text.startswith("*log*\n```\nline 0\nline 1\n")
    assert "more lines_" in text
    assert text.count("```") == 2


def test_user_text_cannot_ping_or_break_formatting() -> None:
    result = Result(ok=True, summary="<!channel> hi & bye", sections=(Section("x", lines=("a ``` b",)),))
    message = render_result(result, command_text="status `<!here>`", requester="alice")
    text = joined(message)
    assert "<!channel>" not in text and "<!here>" not in text
    assert "&lt;!channel&gt; hi &amp; bye" in text
    assert "requested by alice" in text
    assert text.count("```") == 2


def test_empty_summary_still_has_fallback_text() -> None:
    message = render_result(Result(ok=False, summary="  "), command_text="", requester="")
    assert_valid(message)
    assert message["text"] == "❌ failed"


# --- progress ---------------------------------------------------------------------------------------


def test_progress_with_count_shows_bar() -> None:
    message = render_progress(
        command_text="scale litellm 5",
        requester="U0ALICE",
        progress=Progress("replicas ready", done=3, total=5),
        started_by="U0DAVE",
    )
    assert_valid(message)
    assert message["blocks"][0]["text"]["text"] == "⏳ replicas ready\n`▰▰▰▰▰▰▱▱▱▱ 3/5`"
    assert message["text"] == "⏳ replicas ready (3/5)"
    context = message["blocks"][1]["elements"][0]["text"]
    assert context == "requested by <@U0ALICE> · `/maas scale litellm 5` · started by <@U0DAVE>"


def test_progress_without_count_has_no_bar() -> None:
    message = render_progress(
        command_text="status", requester="U0ALICE", progress=Progress("reading deployments")
    )
    assert_valid(message)
    assert message["blocks"][0]["text"]["text"] == "⏳ reading deployments"
    assert "▱" not in joined(message)


# --- approval card ----------------------------------------------------------------------------------


def card(state: str, **kwargs: Any) -> Message:
    return render_approval_card(
        operation_id="op-42",
        requester="U0BOB",
        command_text="scale litellm 3",
        plan=PLAN,
        expires_at=EXPIRES,
        state=state,
        **kwargs,
    )


def test_requested_card_has_plan_risks_expiry_and_buttons() -> None:
    message = card("requested")
    assert_valid(message)
    blocks = message["blocks"]
    assert blocks[0] == {
        "type": "header",
        "text": {"type": "plain_text", "text": "Approval needed: scale litellm 3"},
    }
    fields = [f["text"] for f in blocks[1]["fields"]]
    epoch = int(EXPIRES.timestamp())
    assert fields == [
        "*Requested by*\n<@U0BOB>",
        f"*Expires*\n<!date^{epoch}^{{date_short_pretty}} {{time}}|2025-03-01 12:30 UTC>",
        "*Command*\n`/maas scale litellm 3`",
        "*Target*\ndeployment/litellm",
    ]
    text = joined(message)
    assert "*Plan:* scale deployment/litellm from 1 to 3 replicas" in text
    assert "• deployment/litellm replicas: 1 → 3" in text
    assert "⚠️ LiteLLM with more than one replica needs Redis" in text
    (actions,) = blocks_of(message, "actions")
    assert [(e["text"]["text"], e["action_id"], e["value"], e["style"]) for e in actions["elements"]] == [
        ("Approve", "approval.approve", "op-42", "primary"),
        ("Deny", "approval.deny", "op-42", "danger"),
    ]
    assert not blocks_of(message, "context")
    assert "Approval needed: scale litellm 3" in message["text"]


@pytest.mark.parametrize(
    ("state", "decided_by", "line"),
    [
        ("approved", "U0DAVE", "✅ Approved by <@U0DAVE>"),
        ("denied", "U0DAVE", "🚫 Denied by <@U0DAVE>"),
        ("expired", None, "⌛ Expired"),
        ("running", None, "▶️ Running"),
        ("succeeded", "U0DAVE", "✅ Succeeded · approved by <@U0DAVE>"),
        ("failed", None, "❌ Failed"),
        ("interrupted", None, "⚠️ Interrupted"),
    ],
)
def test_decided_card_has_state_line_and_no_buttons(state: str, decided_by: str | None, line: str) -> None:
    message = card(state, decided_by=decided_by)
    assert_valid(message)
    assert not blocks_of(message, "actions")
    assert message["blocks"][-1] == {"type": "context", "elements": [{"type": "mrkdwn", "text": line}]}
    assert line in message["text"]


def test_card_of_a_request_needing_two_approvals_shows_the_count_and_who() -> None:
    waiting = card("requested", approvals_required=2)
    assert_valid(waiting)
    assert "Needs 2 approvals, from approvers other than the requester" in joined(waiting)
    half = card("requested", approvals_required=2, approvers=("U0DAVE",))
    assert_valid(half)
    assert "1 of 2 approvals — <@U0DAVE>" in joined(half) and "1 of 2 approvals" in half["text"]
    assert blocks_of(half, "actions"), "it still waits for the second approver"
    done = card("succeeded", decided_by="U0FRANK", approvals_required=2, approvers=("U0DAVE", "U0FRANK"))
    assert "✅ Succeeded · approved by <@U0DAVE> and <@U0FRANK>" in done["text"]
    denied = card("denied", decided_by="U0FRANK", approvals_required=2, approvers=("U0DAVE",))
    assert "🚫 Denied by <@U0FRANK>" in denied["text"]


def test_card_note_explains_a_changed_target() -> None:
    note = "the target changed since the request: replicas were 1, now 2 — request again"
    message = card("expired", note=note)
    assert_valid(message)
    assert f":information_source: {note}" in joined(message)


def test_card_expiry_from_other_time_zone_and_naive_datetime() -> None:
    paris = EXPIRES.astimezone(timezone(timedelta(hours=1)))
    assert "|2025-03-01 12:30 UTC>" in joined(
        render_approval_card(
            operation_id="x",
            requester="U0BOB",
            command_text="s",
            plan=PLAN,
            expires_at=paris,
            state="requested",
        )
    )
    naive = EXPIRES.replace(tzinfo=None)
    assert "|2025-03-01 12:30 UTC>" in joined(
        render_approval_card(
            operation_id="x",
            requester="U0BOB",
            command_text="s",
            plan=PLAN,
            expires_at=naive,
            state="requested",
        )
    )


def test_huge_plan_stays_within_limits() -> None:
    plan = Plan(
        summary="p" * 10_000,
        target="t" * 5000,
        changes=tuple(Change("deployment/x" * 50, "f", "a" * 500, "b" * 500) for _ in range(500)),
        risks=tuple("r" * 1000 for _ in range(100)),
    )
    message = render_approval_card(
        operation_id="op-1",
        requester="U0BOB",
        command_text="models add " + "k=v " * 2000,
        plan=plan,
        expires_at=EXPIRES,
        state="requested",
        note="n" * 9000,
    )
    assert_valid(message)
    assert blocks_of(message, "actions")


# --- errors and text --------------------------------------------------------------------------------


def test_error_with_usage_and_suggestion() -> None:
    message = render_error("unknown command `scael`", usage="/maas help", suggestion="scale")
    assert_valid(message)
    assert message["blocks"][0]["text"]["text"] == (
        ":warning: unknown command `scael`\nDid you mean `scale`?\nUsage: `/maas help`"
    )
    assert message["text"] == ":warning: unknown command `scael`"


def test_error_without_extras() -> None:
    message = render_error("replicas must be a whole number of 0 or more (got 'abc')")
    assert_valid(message)
    assert (
        message["blocks"][0]["text"]["text"]
        == ":warning: replicas must be a whole number of 0 or more (got 'abc')"
    )
    assert render_error("")["text"].strip()


def test_render_text_splits_long_text() -> None:
    assert render_text("hello")["blocks"] == [
        {"type": "section", "text": {"type": "mrkdwn", "text": "hello"}}
    ]
    long = render_text("y" * 7000)
    assert_valid(long)
    assert len(long["blocks"]) == 3
    huge = render_text("z" * 500_000)
    assert_valid(huge)
    assert len(huge["blocks"]) == 50
    assert huge["blocks"][-1]["text"]["text"].endswith("…")
    assert render_text("")["text"] == "(empty)"
