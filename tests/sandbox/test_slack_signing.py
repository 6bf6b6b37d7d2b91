"""Signed slash-command and block_actions bodies, checked by slack_sdk's verifier and by a real Bolt app."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Sequence
from typing import Any
from urllib.parse import parse_qs

import pytest
from slack_bolt import Ack, App, BoltRequest
from slack_sdk import WebClient
from slack_sdk.signature import SignatureVerifier

from sandbox.slack import SlackSandbox, block_actions_body, sign, slash_command_body

SECRET = "sandbox-signing-secret"


def test_signature_matches_slack_sdk_verifier() -> None:
    body = slash_command_body(text="status", user_id="U0ALICE", channel_id="C0OPS", response_url="http://x/r")
    headers = sign(SECRET, body)
    verifier = SignatureVerifier(SECRET)
    assert verifier.is_valid(body, headers["X-Slack-Request-Timestamp"], headers["X-Slack-Signature"])
    assert verifier.is_valid_request(body.encode(), headers)
    assert headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert not SignatureVerifier("another-secret").is_valid_request(body, headers)
    assert not verifier.is_valid_request(body + "&text=scale", headers)


def test_signature_uses_the_given_timestamp() -> None:
    body = b"payload=%7B%7D"
    headers = sign(SECRET, body, timestamp=1_700_000_000)
    assert headers["X-Slack-Request-Timestamp"] == "1700000000"
    expected = SignatureVerifier(SECRET).generate_signature(timestamp="1700000000", body=body)
    assert headers["X-Slack-Signature"] == expected
    stale = sign(SECRET, body, timestamp=int(time.time()) - 600)
    assert not SignatureVerifier(SECRET).is_valid_request(body, stale)


def test_slash_command_body_has_slacks_fields() -> None:
    body = slash_command_body(
        text="scale litellm 3 & more",
        user_id="U0ALICE",
        channel_id="C0OPS",
        response_url="http://127.0.0.1:1/response_url/cmd1",
        user_name="alice",
        channel_name="ops",
    )
    fields = {k: v[0] for k, v in parse_qs(body).items()}
    assert fields["command"] == "/maas"
    assert fields["text"] == "scale litellm 3 & more"
    assert (fields["user_id"], fields["user_name"], fields["channel_id"]) == ("U0ALICE", "alice", "C0OPS")
    assert fields["team_id"] == "T0SANDBOX"
    assert fields["response_url"].endswith("/response_url/cmd1")
    assert fields["trigger_id"]


def test_block_actions_body_has_the_full_shape() -> None:
    message = {"type": "message", "ts": "1700000000.000100", "text": "approve?"}
    body = block_actions_body(
        user_id="U0DAVE",
        action_id="approve",
        value="op-42",
        channel_id="C0OPS",
        message_ts="1700000000.000100",
        response_url="http://127.0.0.1:1/response_url/act1",
        block_id="decision",
        message=message,
    )
    assert body.startswith("payload=")
    payload = json.loads(parse_qs(body)["payload"][0])
    assert payload["type"] == "block_actions"
    assert payload["user"]["id"] == "U0DAVE"
    assert payload["container"] == {
        "type": "message",
        "message_ts": "1700000000.000100",
        "channel_id": "C0OPS",
        "is_ephemeral": False,
    }
    assert payload["message"] == message
    (action,) = payload["actions"]
    assert (action["action_id"], action["block_id"], action["value"], action["type"]) == (
        "approve",
        "decision",
        "op-42",
        "button",
    )
    assert float(action["action_ts"]) > 0


def signed(body: str, headers: dict[str, str]) -> BoltRequest:
    as_bolt_wants: dict[str, str | Sequence[str]] = dict(headers)
    return BoltRequest(body=body, headers=as_bolt_wants)


@pytest.fixture
def bolt_app() -> Iterator[tuple[App, list[dict[str, Any]]]]:
    with SlackSandbox(bot_token="xoxb-sandbox") as sb:
        seen: list[dict[str, Any]] = []
        app = App(signing_secret=SECRET, client=WebClient(token="xoxb-sandbox", base_url=sb.api_url))

        @app.command("/maas")
        def on_command(ack: Ack, command: dict[str, Any]) -> None:
            seen.append(command)
            ack("got it")

        @app.action("approve")
        def on_approve(ack: Ack, body: dict[str, Any]) -> None:
            seen.append(body)
            ack()

        yield app, seen


def test_bolt_accepts_signed_bodies_and_rejects_bad_signatures(
    bolt_app: tuple[App, list[dict[str, Any]]],
) -> None:
    app, seen = bolt_app
    command = slash_command_body(text="status", user_id="U0BOB", channel_id="C0OPS", response_url="http://r")
    response = app.dispatch(signed(command, sign(SECRET, command)))
    assert (response.status, response.body) == (200, "got it")
    click = block_actions_body(
        user_id="U0DAVE",
        action_id="approve",
        value="v1",
        channel_id="C0OPS",
        message_ts="1.000001",
        response_url="r",
    )
    assert app.dispatch(signed(click, sign(SECRET, click))).status == 200
    assert seen[0]["text"] == "status"
    assert seen[1]["actions"][0]["value"] == "v1"
    assert app.dispatch(signed(command, sign("wrong-secret", command))).status == 401
    stale = sign(SECRET, command, timestamp=int(time.time()) - 400)
    assert app.dispatch(signed(command, stale)).status == 401
    assert len(seen) == 2
