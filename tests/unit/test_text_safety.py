"""The outbound order: raw text redacted, then escaped, then clipped, in every field of every message."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot import alert_card, rendering, text_safety
from bot.rendering import Button, Message
from commands.contract import Change, Plan, Progress, Result, Section

AMP_SECRET = "acc-signing-s&cr<et>-0123456789"  # escaped, it is no longer the registered value
LONG_SECRET = "acc-signing-se" + "Q7xv" * 200  # 814 characters: longer than any clip limit
SECRETS = (AMP_SECRET, LONG_SECRET)
MENTIONS = ("<!channel>", "<!here>", "<!everyone>", "<@U0HACKER>", "<#C0HACK>", "<!subteam^S0HACK>")
text_safety.register_secrets(SECRETS)


def dumped(message: Message) -> str:
    return json.dumps(message, ensure_ascii=False)


def leaks(message: Message, secret: str) -> list[str]:
    """The secret, its escaped form, or any 12-character piece of it, found in the message."""
    out = dumped(message)
    escaped = secret.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    pieces = {secret[i : i + 12] for i in range(len(secret) - 11)} | {
        escaped[i : i + 12] for i in range(len(escaped) - 11)
    }
    return sorted(piece for piece in pieces if piece in out)


def every_message(raw: str) -> list[Message]:
    """Each renderer, with `raw` in every field that can hold input (plus the bot's own mention)."""
    plan = Plan(summary=raw, target=raw, changes=(Change(raw, raw, raw, raw),), risks=(raw,))
    result = Result(
        ok=False,
        summary=raw,
        sections=(Section(title=raw, fields={raw: raw}, lines=(raw, f"line {raw}")),),
        warnings=(raw,),
    )
    since = datetime(2025, 3, 1, tzinfo=UTC)
    return [
        rendering.render_result(result, command_text=raw, requester="U0BOB", buttons=[Button(raw, "a", "v")]),
        rendering.render_progress(command_text=raw, requester="U0BOB", progress=Progress(raw, 1, 2)),
        rendering.render_approval_card(
            operation_id="op-1",
            requester="U0BOB",
            command_text=raw,
            plan=plan,
            expires_at=since,
            state="requested",
            note=raw,
        ),
        rendering.render_error(raw, usage=raw, suggestion=raw),
        rendering.render_text(raw),
        rendering.render_text(f"<@U0BOB> said {rendering.escape_text(raw)}", escape=False),
        rendering.render_plan(plan, command_text=raw),
        alert_card.render_alert(
            severity="critical", component=raw, title=raw, details=(raw,), source=raw, since=since
        ),
    ]


@pytest.mark.parametrize("secret", SECRETS, ids=["with &<>", "longer than any clip"])
def test_no_renderer_leaks_a_registered_secret_or_a_prefix_of_it(secret: str) -> None:
    for message in every_message(f"before {secret} after"):
        assert leaks(message, secret) == [], message["text"][:80]


@pytest.mark.parametrize("secret", SECRETS, ids=["with &<>", "longer than any clip"])
def test_a_secret_cut_by_the_500_character_line_limit_leaks_no_prefix(secret: str) -> None:
    line = "x" * 480 + secret  # the line clip (500) falls inside the secret
    message = rendering.render_result(
        Result(ok=True, summary="logs", sections=(Section("logs", lines=(line,)),)),
        command_text="/maas logs litellm",
        requester="U0BOB",
    )
    assert leaks(message, secret) == []


def test_input_mentions_never_reach_any_field_raw_but_the_bots_own_do() -> None:
    raw = " ".join(MENTIONS) + " *bold* _it_ `code` ~strike~ <https://evil.example|click>"
    for message in every_message(raw):
        out = dumped(message)
        for mention in (*MENTIONS, "<https://evil.example"):
            assert mention not in out, f"{mention} in {message['text'][:60]!r}"
    card = every_message(raw)[2]
    assert "<@U0BOB>" in card["text"]  # the requester, rendered by the bot itself


@given(st.text(max_size=300))
def test_any_text_has_no_raw_angle_bracket_in_the_text_fallback(raw: str) -> None:
    for message in every_message(raw):
        fallback = message["text"].replace("<@U0BOB>", "").replace("<!date^", "")
        assert "<" not in fallback and ">" not in fallback.replace("→", "")


def test_the_order_is_redact_then_escape_then_clip() -> None:
    pipeline: Callable[[str, int], str] = text_safety.safe
    assert pipeline(f"key {AMP_SECRET}", 200) == "key ***"
    assert pipeline(LONG_SECRET, 20) == "***"
    assert pipeline("a & b", 4) == "a …"  # never half an entity
