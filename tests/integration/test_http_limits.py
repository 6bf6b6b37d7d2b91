"""Body limits and the Slack timestamp over real HTTP (waitress on loopback), before Bolt reads anything."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator

import httpx
import pytest
from slack_bolt import App

from bot.http import BotWsgiApp, HttpServer
from bot.http_guard import OTHER_BODY_LIMIT, SERVER_BODY_LIMIT, SLACK_BODY_LIMIT
from bot.rendering import Button, render_result
from commands.contract import Result, Section
from sandbox.slack import block_actions_body, sign, slash_command_body

SECRET = "limits-signing-secret"


@pytest.fixture(scope="module")
def server() -> Iterator[HttpServer]:
    bolt = App(token="xoxb-test", signing_secret=SECRET, token_verification_enabled=False)
    served = HttpServer(
        BotWsgiApp(bolt, lambda: {"database": "ok"}, signing_secret=SECRET), "127.0.0.1", 0, 4
    ).start()
    yield served
    served.stop()


@pytest.fixture
def client(server: HttpServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=10) as http:
        yield http


def raw_request(server: HttpServer, head: str, body: bytes = b"") -> bytes:
    """Send `head` (+ body) on a socket and read the whole answer; the body may be cut by the server."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(head.encode() + body)
        answer = b""
        try:
            while chunk := sock.recv(65536):
                answer += chunk
        except ConnectionResetError:
            pass
    return answer


def test_a_declared_60_mb_body_is_refused_before_it_is_sent(server: HttpServer) -> None:
    started = time.monotonic()
    answer = raw_request(
        server,
        "POST /slack/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
        "Content-Length: 60000000\r\nConnection: close\r\n\r\n",
    )
    assert answer.startswith(b"HTTP/1.1 413 ")
    assert time.monotonic() - started < 1


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_a_slack_body_over_its_limit_is_413_and_bolt_never_sees_it(
    client: httpx.Client, chunked: bool
) -> None:
    body = b"payload=" + b"x" * SLACK_BODY_LIMIT
    assert len(body) < SERVER_BODY_LIMIT  # waitress takes it: the route refuses it
    content = iter([body[:1000], body[1000:]]) if chunked else body
    response = client.post("/slack/events", content=content, headers=sign(SECRET, body))
    assert response.status_code == 413
    assert "at most 1048576" in response.json()["error"]


def test_a_body_at_the_limit_reaches_the_signature_check(client: httpx.Client) -> None:
    body = b"x" * SLACK_BODY_LIMIT
    response = client.post("/slack/events", content=body, headers={"X-Slack-Request-Timestamp": "1"})
    assert response.status_code == 401


def test_a_chunked_body_over_the_servers_limit_is_cut_off_while_read(server: HttpServer) -> None:
    chunk = b"x" * 65536
    head = "POST /slack/events HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(SERVER_BODY_LIMIT // 65536 + 2))
    answer = raw_request(server, head, chunks + b"0\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 413 ")


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/metrics", "/nowhere"])
def test_paths_that_take_no_body_refuse_one(client: httpx.Client, path: str) -> None:
    assert OTHER_BODY_LIMIT == 0
    response = client.request("GET", path, content=b"x" * 10)
    assert response.status_code == 413
    assert client.get("/healthz").status_code == 200


@pytest.mark.parametrize("timestamp", ["abc", "+1", "1.5", "1_0", "1e9", "", "9" * 13])
def test_a_non_numeric_slack_timestamp_is_401(client: httpx.Client, timestamp: str) -> None:
    body = slash_command_body(text="help", user_id="U0BOB", channel_id="C0OPS", response_url="http://x/")
    headers = sign(SECRET, body)
    headers["X-Slack-Request-Timestamp"] = timestamp
    response = client.post("/slack/events", content=body, headers=headers)
    assert response.status_code == 401


def test_a_click_on_the_largest_message_the_bot_renders_fits_the_slack_limit() -> None:
    """The limit's reason: block_actions carries the clicked message, at most this big."""
    sections = tuple(
        Section("t" * 300, fields={f"k{j}": "v" * 3000 for j in range(25)}, lines=("x" * 10_000,) * 5)
        for _ in range(60)
    )
    result = Result(ok=False, summary="s" * 10_000, sections=sections, warnings=("w" * 5000,) * 9)
    message = render_result(
        result, command_text="a" * 5000, requester="U0BOB", buttons=[Button("b", "x", "y")]
    )
    body = block_actions_body(
        user_id="U0BOB",
        action_id="followup.run",
        value="status",
        channel_id="C0OPS",
        message_ts="1.1",
        response_url="http://x/",
        message={"type": "message", "ts": "1.1", **message},
    )
    assert len(json.dumps(message)) > 500_000  # it is the largest kind
    assert len(body.encode()) <= SLACK_BODY_LIMIT
