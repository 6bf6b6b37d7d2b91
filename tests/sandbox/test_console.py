"""The demo console end to end against a tiny real Bolt app over HTTP, and its pure rendering."""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Iterator
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import pytest
from slack_bolt import Ack, App, Respond
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_sdk import WebClient

from sandbox.console import Console, message_buttons, mrkdwn_to_text, render_message
from sandbox.slack import SlackSandbox

SECRET = "console-test-secret"
TOKEN = "xoxb-sandbox"
USERS = {"U0ALICE": "alice", "U0DAVE": "dave"}


class QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        return


def clear(out: io.StringIO) -> None:
    out.truncate(0)
    out.seek(0)


def card(requester: str, decided: str | None = None) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": "Scale litellm"}},
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": f"*Requested by* <@{requester}>"},
            "fields": [{"type": "mrkdwn", "text": "*Replicas*\n1 → 3"}],
        },
    ]
    if decided:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": decided}]})
    else:
        blocks.append(
            {
                "type": "actions",
                "block_id": "decision",
                "elements": [
                    {
                        "type": "button",
                        "text": {"type": "plain_text", "text": "Approve"},
                        "action_id": "approve",
                        "value": "op-1",
                        "style": "primary",
                    },
                    {
                        "type": "button",
                        "text": {"type": "plain_text", "text": "Deny"},
                        "action_id": "deny",
                        "value": "op-1",
                        "style": "danger",
                    },
                ],
            }
        )
    return blocks


def build_app(sb: SlackSandbox) -> App:
    app = App(signing_secret=SECRET, client=WebClient(token=TOKEN, base_url=sb.api_url))

    @app.command("/maas")
    def on_command(ack: Ack, command: dict[str, Any], client: WebClient) -> None:
        if command["text"] == "broken":
            ack("usage: /maas scale <component> <n>")
            return
        ack()
        client.chat_postMessage(
            channel=command["channel_id"], text="approval needed", blocks=card(command["user_id"])
        )

    @app.action("approve")
    def on_approve(ack: Ack, body: dict[str, Any], client: WebClient, respond: Respond) -> None:
        ack()
        clicker = body["user"]["id"]
        if clicker == "U0ALICE":
            respond(
                text="you cannot approve your own request", response_type="ephemeral", replace_original=False
            )
            return
        client.chat_update(
            channel=body["container"]["channel_id"],
            ts=body["container"]["message_ts"],
            text="approved",
            blocks=card("U0ALICE", decided=f"approved by <@{clicker}>"),
        )
        client.chat_postMessage(
            channel=body["container"]["channel_id"],
            thread_ts=body["container"]["message_ts"],
            text="*scaling* now",
        )

    return app


@pytest.fixture
def world() -> Iterator[tuple[SlackSandbox, str]]:
    with SlackSandbox(bot_token=TOKEN, users=USERS) as sb:
        server: WSGIServer = make_server(
            "127.0.0.1", 0, SlackRequestHandler(build_app(sb)), handler_class=QuietHandler
        )
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        thread.start()
        try:
            yield sb, f"http://127.0.0.1:{server.server_port}"
        finally:
            server.shutdown()
            server.server_close()
            thread.join(timeout=5)


def test_console_shows_numbered_buttons_and_the_edit_after_a_click(world: tuple[SlackSandbox, str]) -> None:
    sb, bot_url = world
    out = io.StringIO()
    console = Console(sb, bot_url, SECRET, out=out)

    console.handle("as alice: /maas scale litellm 3")
    shown = out.getvalue()
    assert "alice in #ops: /maas scale litellm 3" in shown
    assert "SCALE LITELLM" in shown
    assert "Requested by @alice" in shown
    assert "Replicas: 1 → 3" in shown
    assert "[1] Approve  [2] Deny" in shown

    clear(out)
    console.handle("press 1 as alice")
    assert "(only visible to alice)" in out.getvalue()
    assert "you cannot approve your own request" in out.getvalue()

    clear(out)
    console.handle("as dave: press 1")
    after = out.getvalue()
    assert "dave pressed [1] Approve" in after
    assert "(edited)" in after
    assert "approved by @dave" in after
    assert "    ↳ #ops" in after and "scaling now" in after
    (card_message, reply) = [m for m in sb.messages("C0OPS") if not m["ephemeral"]]
    assert card_message["edited"] is not None and reply["thread_ts"] == card_message["ts"]

    clear(out)
    console.handle("press 2 as dave")
    assert "button [2] is gone" in out.getvalue()


def test_console_shows_an_acknowledgement_and_other_channels(world: tuple[SlackSandbox, str]) -> None:
    sb, bot_url = world
    out = io.StringIO()
    console = Console(sb, bot_url, SECRET, out=out)
    console.handle("in C0OTHER as dave: /maas broken")
    assert "dave in #random: /maas broken" in out.getvalue()
    assert "usage: /maas scale <component> <n>" in out.getvalue()
    assert "#random · litemaas-bot  (only visible to dave)" in out.getvalue()


def test_console_explains_bad_input_and_a_bot_that_is_down(world: tuple[SlackSandbox, str]) -> None:
    sb, _ = world
    out = io.StringIO()
    console = Console(sb, "http://127.0.0.1:1", SECRET, out=out)
    console.run(
        [
            "help",
            "users",
            "/maas status",
            "as zed: /maas status",
            "in C0NOPE as dave: /maas x",
            "as dave: press 9",
            "as dave: dance",
            "as dave: /maas status",
            "quit",
            "as dave: /maas never",
        ]
    )
    text = out.getvalue()
    assert "press 1 as dave" in text  # help
    assert "alice    U0ALICE" in text
    assert "who is acting?" in text
    assert "unknown user 'zed'" in text
    assert "unknown channel 'C0NOPE'" in text
    assert "no button [9] is shown" in text
    assert "not understood" in text
    assert "cannot reach the bot at http://127.0.0.1:1" in text
    assert text.rstrip().endswith("bye")
    assert console.finished


def test_render_message_is_readable() -> None:
    msg = {
        "channel": "C0OPS",
        "ts": "2.000000",
        "thread_ts": None,
        "text": "fallback",
        "ephemeral": False,
        "edited": None,
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": "Status"}},
            {
                "type": "section",
                "text": {
                    "type": "mrkdwn",
                    "text": "_all_ *good*, see <#C0OPS|ops> &amp; <https://x.io|docs>",
                },
                "accessory": {
                    "type": "button",
                    "text": {"type": "plain_text", "text": "Logs"},
                    "action_id": "logs",
                },
            },
            {"type": "context", "elements": [{"type": "mrkdwn", "text": "asked by <@U0DAVE>"}]},
            {"type": "divider"},
        ],
        "files": [{"title": "litellm logs", "name": "l.log", "size": 12, "preview": "line 1\nline 2"}],
    }
    text = render_message(msg, USERS, channels={"C0OPS": "ops"}, numbers=[7])
    assert text.splitlines()[0] == "#ops · litemaas-bot"
    assert "STATUS" in text
    assert "all good, see #ops & docs (https://x.io)" in text
    assert "[7] Logs" in text
    assert "asked by @dave" in text
    assert "📎 litellm logs" in text and "│ line 2" in text
    assert "fallback" not in text
    assert [b.action_id for b in message_buttons(msg)] == ["logs"]


def test_render_message_marks_ephemeral_edited_and_thread_replies() -> None:
    msg = {
        "channel": "D0DAVE",
        "ts": "3.0",
        "thread_ts": "1.0",
        "text": "hi <@U0ALICE>",
        "ephemeral": True,
        "user": "U0DAVE",
        "edited": {"ts": "4.0"},
    }
    text = render_message(msg, USERS)
    first, second = text.splitlines()
    assert first.startswith("    ↳ DM with dave")
    assert "(only visible to dave)" in first and "(edited)" in first
    assert second.strip() == "hi @alice"


def test_mrkdwn_leaves_plain_arithmetic_alone() -> None:
    assert mrkdwn_to_text("2 * 3 * 4 and snake_case_name", USERS) == "2 * 3 * 4 and snake_case_name"
    assert mrkdwn_to_text("<@U0NOBODY> &lt;tag&gt;", USERS) == "@U0NOBODY <tag>"


def test_wait_for_text_returns_once_the_bot_printed_it(world: tuple[SlackSandbox, str]) -> None:
    sb, bot_url = world
    out = io.StringIO()
    console = Console(sb, bot_url, SECRET, out=out)
    poster = WebClient(token=TOKEN, base_url=sb.api_url)
    threading.Timer(0.5, lambda: poster.chat_postMessage(channel="C0OPS", text="rollout finished")).start()

    started = time.monotonic()
    console.handle("wait 20 for rollout finished")
    assert "rollout finished" in out.getvalue()
    assert time.monotonic() - started < 5, "the wait ends when the text is printed, not after 20 s"

    started = time.monotonic()
    console.handle("wait 0.5 for never printed")
    assert 0.5 <= time.monotonic() - started < 3
    console.handle("wait soon for x")
    assert "usage: wait [SECONDS] [for TEXT]" in out.getvalue()
