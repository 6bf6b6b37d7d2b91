"""Fidelity of the Slack fake's Socket Mode link: slack_sdk's own builtin SocketModeClient connects to it,
receives envelopes shaped as Slack sends them, and its acks are recorded; the raw protocol over `websockets`.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.socket_mode.builtin import SocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from sandbox.slack import SlackSandbox
from tests.e2e.harness import wait_until

APP_TOKEN = "xapp-1-sandbox-socket"
BOT_TOKEN = "xoxb-sandbox-socket"


@pytest.fixture
def sb() -> Iterator[SlackSandbox]:
    sandbox = SlackSandbox(bot_token=BOT_TOKEN, app_token=APP_TOKEN).start()
    yield sandbox
    sandbox.stop()


class Recorder:
    """What a SocketModeClient saw: raw messages and the Socket Mode requests (envelopes)."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        self.requests: list[SocketModeRequest] = []
        self.lock = threading.Lock()

    def on_message(self, client: SocketModeClient, message: dict[str, Any], raw: str | None) -> None:
        with self.lock:
            self.messages.append(message)

    def on_request(self, client: SocketModeClient, request: SocketModeRequest) -> None:
        with self.lock:
            self.requests.append(request)
        reply = {"text": f"got {request.payload.get('text')}"} if request.type == "slash_commands" else None
        client.send_socket_mode_response(SocketModeResponse(envelope_id=request.envelope_id, payload=reply))


@pytest.fixture
def sdk_client(sb: SlackSandbox) -> Iterator[tuple[SocketModeClient, Recorder]]:
    recorder = Recorder()
    client = SocketModeClient(app_token=APP_TOKEN, web_client=WebClient(token=BOT_TOKEN, base_url=sb.api_url))
    client.message_listeners.append(recorder.on_message)  # type: ignore[arg-type]
    client.socket_mode_request_listeners.append(recorder.on_request)  # type: ignore[arg-type]
    client.connect()
    try:
        wait_until(sb.socket_connected, 10, "the SDK client to connect")
        yield client, recorder
    finally:
        client.close()


def test_sdk_client_gets_hello_and_a_slash_command_envelope_and_its_ack_is_recorded(
    sb: SlackSandbox, sdk_client: tuple[SocketModeClient, Recorder]
) -> None:
    _, recorder = sdk_client
    hello = wait_until(lambda: [m for m in recorder.messages if m.get("type") == "hello"], 5, "hello")[0]
    assert hello["num_connections"] == 1
    assert hello["connection_info"]["app_id"].startswith("A")

    envelope_id = sb.socket_deliver_command("bob", "#ops", "status")

    ack = sb.wait_for_ack(envelope_id)
    assert ack == {"envelope_id": envelope_id, "payload": {"text": "got status"}}
    request = recorder.requests[-1]
    assert request.type == "slash_commands" and request.accepts_response_payload is True
    assert request.payload["command"] == "/maas"
    assert request.payload["user_id"] == "U0BOB" and request.payload["channel_id"] == "C0OPS"
    assert request.payload["response_url"].endswith("/response_url/" + envelope_id)
    assert sb.responses(envelope_id) == [{"text": "got status"}], "an ack payload is shown like a response"
    assert sb.socket_acks == [ack]


def test_sdk_client_gets_a_block_actions_click_with_the_clicked_message(
    sb: SlackSandbox, sdk_client: tuple[SocketModeClient, Recorder]
) -> None:
    _, recorder = sdk_client
    posted = WebClient(token=BOT_TOKEN, base_url=sb.api_url).chat_postMessage(
        channel="C0OPS",
        text="Approval needed",
        blocks=[
            {
                "type": "actions",
                "block_id": "decide",
                "elements": [
                    {
                        "type": "button",
                        "action_id": "approval.approve",
                        "value": "op-1",
                        "text": {"type": "plain_text", "text": "Approve"},
                    }
                ],
            }
        ],
    )

    envelope_id = sb.socket_deliver_action(
        "dave", "approval.approve", "op-1", channel="C0OPS", message_ts=str(posted["ts"])
    )

    assert sb.wait_for_ack(envelope_id) == {"envelope_id": envelope_id}
    request = recorder.requests[-1]
    assert request.type == "interactive" and request.accepts_response_payload is False
    payload = request.payload
    assert payload["type"] == "block_actions" and payload["user"]["id"] == "U0DAVE"
    assert payload["actions"][0]["action_id"] == "approval.approve"
    assert payload["actions"][0]["value"] == "op-1" and payload["actions"][0]["block_id"] == "decide"
    assert payload["actions"][0]["text"]["text"] == "Approve"
    assert payload["message"]["ts"] == posted["ts"] and payload["message"]["blocks"]
    assert sb.responses(envelope_id) == []


@pytest.mark.slow
def test_sdk_client_reconnects_on_disconnect_and_keeps_receiving(
    sb: SlackSandbox, sdk_client: tuple[SocketModeClient, Recorder]
) -> None:
    assert sb.socket_disconnect("refresh_requested") == 1
    wait_until(lambda: sb.socket_connections_opened >= 2, 10, "a second connection")
    opens = sb.calls_to("apps.connections.open")
    assert len(opens) == 2, "each connection asks apps.connections.open for a fresh URL"

    envelope_id = wait_until(lambda: _deliver_when_connected(sb), 10, "a delivery to the new connection")
    assert sb.wait_for_ack(envelope_id)["payload"] == {"text": "got help"}


def _deliver_when_connected(sb: SlackSandbox) -> str | None:
    try:
        return sb.socket_deliver_command("carol", "C0OPS", "help")
    except RuntimeError:
        return None


def test_apps_connections_open_refuses_the_bot_token_and_hands_out_one_time_urls(sb: SlackSandbox) -> None:
    with pytest.raises(SlackApiError) as refused:
        WebClient(token=BOT_TOKEN, base_url=sb.api_url).apps_connections_open(app_token=BOT_TOKEN)
    assert refused.value.response["error"] == "not_allowed_token_type"

    url = str(WebClient(base_url=sb.api_url).apps_connections_open(app_token=APP_TOKEN)["url"])
    assert url.startswith("ws://127.0.0.1:") and "/link/?ticket=" in url
    with connect(url, open_timeout=5) as ws:
        hello = json.loads(ws.recv(timeout=5))
        assert hello["type"] == "hello"
        with pytest.raises(InvalidStatus) as reused:
            connect(url, open_timeout=5)
        assert reused.value.response.status_code == 401
    with pytest.raises(InvalidStatus):
        connect(url.replace("ticket=", "ticket=forged"), open_timeout=5)


def test_raw_client_garbage_is_ignored_and_acks_are_recorded(sb: SlackSandbox) -> None:
    url = str(WebClient(base_url=sb.api_url).apps_connections_open(app_token=APP_TOKEN)["url"])
    with connect(url, open_timeout=5) as ws:
        ws.recv(timeout=5)  # hello
        wait_until(sb.socket_connected, 5, "the raw client")
        ws.send("not json")
        ws.send(json.dumps(["no", "envelope"]))
        ws.send(json.dumps({"envelope_id": 7}))
        envelope_id = sb.socket_deliver(
            "events_api", {"type": "event_callback"}, accepts_response_payload=False
        )
        envelope = json.loads(ws.recv(timeout=5))
        assert envelope == {
            "envelope_id": envelope_id,
            "type": "events_api",
            "payload": {"type": "event_callback"},
            "accepts_response_payload": False,
        }
        ws.send(json.dumps({"envelope_id": envelope_id}))
        assert sb.wait_for_ack(envelope_id) == {"envelope_id": envelope_id}
    assert sb.socket_acks == [{"envelope_id": envelope_id}]
    wait_until(lambda: not sb.socket_connected(), 5, "the closed connection to be forgotten")


def test_delivering_without_a_client_fails_plainly(sb: SlackSandbox) -> None:
    with pytest.raises(RuntimeError, match="no Socket Mode client"):
        sb.socket_deliver_command("bob", "C0OPS", "help")
    with pytest.raises(ValueError):
        sb.socket_disconnect("bored")
