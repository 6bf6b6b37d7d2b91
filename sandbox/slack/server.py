"""`SlackSandbox`: the fake Slack Web API served over real HTTP, plus the response_url sink.

Routes: `POST|GET /api/<method>` (Web API, bearer-token auth), `POST /response_url/<key>`,
`POST /upload/<file_id>` (the upload URL handed out by files.getUploadURLExternal). Socket Mode is a
separate websocket server (`socket_mode.py`) whose one-time URLs apps.connections.open hands out.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from sandbox.slack.calls import CallLog, Failure, SlackCall
from sandbox.slack.request_body import BadBody, parse_body, parse_query
from sandbox.slack.signing import block_actions_body, slash_command_body
from sandbox.slack.socket_mode import LINK_PATH, Envelope, SocketModeLink, button_of, socket_payload
from sandbox.slack.store import NotFound, ResponseTarget, SlackStore
from sandbox.slack.web_api import ApiError, WebApi
from sandbox.slack.workspace import BOT_SCOPES, DEFAULT_CHANNELS, DEFAULT_USERGROUPS, DEFAULT_USERS, Workspace

MAX_BODY = 50 * 1024 * 1024
APP_TOKEN_METHODS = frozenset({"apps.connections.open"})
SOCKET_ACK = "socket_ack"  # the call-log method under which Socket Mode acks are recorded


class SlackSandbox:
    """A stateful fake Slack workspace that `slack_sdk.WebClient(base_url=sb.api_url)` and Bolt accept.

    Users map id → name, user groups id → member ids, channels id → name (defaults: the seeded
    alice…eve, S0SRE = [U0ALICE], C0OPS #ops and C0OTHER #random, plus a DM D0<USER> per user).
    """

    def __init__(
        self,
        bot_token: str = "xoxb-sandbox",
        users: Mapping[str, str] | None = None,
        usergroups: Mapping[str, Sequence[str]] | None = None,
        *,
        channels: Mapping[str, str] | None = None,
        app_token: str = "xapp-sandbox",
    ) -> None:
        if not bot_token.startswith("xoxb-"):
            raise ValueError("bot_token must be a bot token (xoxb-…)")
        if not app_token.startswith("xapp-"):
            raise ValueError("app_token must be an app-level token (xapp-…)")
        self.workspace = Workspace(
            users=dict(users if users is not None else DEFAULT_USERS),
            usergroups={
                k: list(v) for k, v in (usergroups if usergroups is not None else DEFAULT_USERGROUPS).items()
            },
            channels=dict(channels if channels is not None else DEFAULT_CHANNELS),
        )
        self._bot_token = bot_token
        self._app_token = app_token
        self._store = SlackStore()
        self._log = CallLog()
        # A call changes the state and is recorded under this lock, and readers take it too: a test
        # that sees a message also sees the call that made it (and the other way round).
        self._applied = threading.RLock()
        self._socket = SocketModeLink(self._host, self._socket_ack)
        self._api = WebApi(self.workspace, self._store, lambda: self.url, self._socket.open_url)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self, host: str = "127.0.0.1", port: int = 0) -> SlackSandbox:
        """Serve on host:port (0 = a free port) in a background thread; returns self."""
        if self._server is not None:
            raise RuntimeError("the Slack sandbox is already started")
        server = ThreadingHTTPServer((host, port), _make_handler(self))
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="slack-sandbox", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and release the ports (idempotent)."""
        self._socket.stop()
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> SlackSandbox:
        return self if self._server is not None else self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """Base URL, e.g. `http://127.0.0.1:54321` (no trailing slash)."""
        if self._server is None:
            raise RuntimeError("the Slack sandbox is not started")
        return f"http://{self._host()}:{self._server.server_address[1]}"

    def _host(self) -> str:
        if self._server is None:
            raise RuntimeError("the Slack sandbox is not started")
        host = self._server.server_address[0]
        return host.decode() if isinstance(host, bytes) else str(host)

    @property
    def api_url(self) -> str:
        """The `base_url` for `slack_sdk.WebClient`: `{url}/api/`."""
        return self.url + "/api/"

    # -- what happened ---------------------------------------------------------------------------

    @property
    def calls(self) -> list[SlackCall]:
        """Every request so far, in arrival order."""
        with self._applied:
            return self._log.calls()

    def calls_to(self, method: str) -> list[SlackCall]:
        """The calls of one method (`chat.postMessage`, `response_url`, `upload_url`…)."""
        with self._applied:
            return [c for c in self._log.calls() if c.method == method]

    def wait_for(
        self, method: str, predicate: Callable[[SlackCall], bool] | None = None, timeout: float = 5.0
    ) -> SlackCall:
        """The first call of `method` matching `predicate`, waiting up to `timeout` s (AssertionError)."""
        return self._log.wait_for(method, predicate, timeout)

    def subscribe(self, callback: Callable[[SlackCall], None]) -> None:
        """Call `callback(call)` after each recorded call, once the state reflects it."""
        self._log.subscribe(callback)

    def messages(self, channel: str) -> list[dict[str, Any]]:
        """Current messages of a channel (after updates/deletes), in post order."""
        with self._applied:
            return self._store.messages(self.workspace.resolve_channel(channel) or channel)

    def all_messages(self) -> list[dict[str, Any]]:
        """Current messages of every channel, in post order (each carries its `channel`)."""
        with self._applied:
            return self._store.all_messages()

    def message(self, channel: str, ts: str) -> dict[str, Any]:
        """One message's current state; KeyError when there is none."""
        try:
            return self._store.message(self.workspace.resolve_channel(channel) or channel, ts)
        except NotFound as exc:
            raise KeyError(f"no message {ts} in {channel}") from exc

    @property
    def files(self) -> list[dict[str, Any]]:
        """Completed uploads: id, name, title, size, content (text), bytes, channel, thread_ts…"""
        with self._applied:
            return self._store.files()

    @property
    def views(self) -> list[dict[str, Any]]:
        """Modals opened with views.open (current state after views.update)."""
        return self._store.views()

    def response_url(
        self, key: str, *, channel: str | None = None, message_ts: str | None = None, user: str | None = None
    ) -> str:
        """A response_url at this sandbox. With `channel` (and the clicked `message_ts`, the viewing
        `user`) its answers also land in that channel as Slack would show them."""
        if channel is not None or message_ts is not None or user is not None:
            self._store.bind_response_url(key, ResponseTarget(channel, message_ts, user))
        return f"{self.url}/response_url/{quote(key, safe='')}"

    def show_ack(self, key: str, body: Mapping[str, Any]) -> None:
        """Show an acknowledgement's body as Slack does: like an answer on response_url `key` (ephemeral
        to the invoker unless `response_type` is in_channel). Used by the console; not recorded as a call."""
        self._store.respond(key, dict(body))

    def responses(self, key: str) -> list[dict[str, Any]]:
        """The standing answers posted to response_url `key` (replace_original/delete_original applied)."""
        with self._applied:
            return self._store.responses(key)

    def fail(
        self,
        method: str,
        *,
        error: str | None = None,
        status: int | None = None,
        retry_after: int | None = None,
        times: int = 1,
    ) -> None:
        """Make the next `times` calls of `method` fail: ok:false `error`, HTTP `status`, or 429."""
        if times < 1:
            raise ValueError("times must be at least 1")
        if status is not None and not 100 <= status <= 599:
            raise ValueError("status must be an HTTP status code")
        self._log.fail(method, Failure(error, status, retry_after, times))

    # -- Socket Mode ---------------------------------------------------------------------------

    def socket_connected(self) -> bool:
        """Whether a Socket Mode client is connected (and was sent hello)."""
        return self._socket.open_connections() > 0

    @property
    def socket_connections_opened(self) -> int:
        """How many Socket Mode connections were ever established (grows with each reconnect)."""
        return self._socket.connected_total

    def socket_deliver(
        self, kind: str, payload: Mapping[str, Any], *, accepts_response_payload: bool = False
    ) -> str:
        """Send any envelope (`events_api`, `interactive`…) to the connected client; its envelope_id.
        RuntimeError when no client is connected."""
        return self._socket.deliver(
            kind, payload, accepts_response_payload=accepts_response_payload
        ).envelope_id

    def socket_deliver_command(
        self,
        user: str,
        channel: str,
        text: str,
        *,
        command: str = "/maas",
        response_key: str | None = None,
    ) -> str:
        """`command text` typed by `user` (id or name) in `channel`, as a `slash_commands` envelope.

        Returns the envelope_id, which is also the response_url key (`responses(id)`) unless
        `response_key` is given. Its answers land in the channel as Slack shows them.
        """
        user_id = self.workspace.user_id_by_name(user) or user
        channel_id = self.workspace.resolve_channel(channel) or channel
        envelope_id = str(uuid.uuid4())
        key = response_key or envelope_id
        body = slash_command_body(
            text=text,
            user_id=user_id,
            channel_id=channel_id,
            command=command,
            response_url=self.response_url(key, channel=channel_id, user=user_id),
            user_name=self.workspace.users.get(user_id),
            channel_name=self.workspace.channels.get(channel_id),
        )
        return self._socket.deliver(
            "slash_commands",
            socket_payload(body),
            accepts_response_payload=True,
            response_key=key,
            envelope_id=envelope_id,
        ).envelope_id

    def socket_deliver_action(
        self,
        user: str,
        action_id: str,
        value: str,
        *,
        channel: str,
        message_ts: str,
        response_key: str | None = None,
    ) -> str:
        """A click by `user` on button `action_id`/`value` of message `message_ts`, as an `interactive`
        `block_actions` envelope. Returns the envelope_id (also the response_url key by default)."""
        user_id = self.workspace.user_id_by_name(user) or user
        channel_id = self.workspace.resolve_channel(channel) or channel
        try:
            message = self.message(channel_id, message_ts)
        except KeyError:
            message = {"type": "message", "ts": message_ts, "text": ""}
        block_id, button_text = button_of(message, action_id, value)
        envelope_id = str(uuid.uuid4())
        key = response_key or envelope_id
        body = block_actions_body(
            user_id=user_id,
            action_id=action_id,
            value=value,
            channel_id=channel_id,
            message_ts=message_ts,
            response_url=self.response_url(key, channel=channel_id, message_ts=message_ts, user=user_id),
            block_id=block_id,
            message={
                k: v for k, v in message.items() if k in ("type", "ts", "text", "blocks", "user", "bot_id")
            },
            button_text=button_text,
            user_name=self.workspace.users.get(user_id),
            channel_name=self.workspace.channels.get(channel_id, "directmessage"),
            is_ephemeral=bool(message.get("ephemeral")),
        )
        return self._socket.deliver(
            "interactive",
            socket_payload(body),
            accepts_response_payload=False,
            response_key=key,
            envelope_id=envelope_id,
        ).envelope_id

    def socket_disconnect(self, reason: str = "refresh_requested") -> int:
        """Send Slack's `disconnect` message (`warning`, `refresh_requested`, `link_disabled`) to every
        connection; returns how many got it. The client is expected to reconnect."""
        return self._socket.disconnect(reason)

    @property
    def socket_acks(self) -> list[dict[str, Any]]:
        """Every ack the client sent (`{"envelope_id", "payload"?}`), in arrival order."""
        return [dict(call.args) for call in self._log.calls() if call.method == SOCKET_ACK]

    def wait_for_ack(self, envelope_id: str, timeout: float = 5.0) -> dict[str, Any]:
        """The ack of `envelope_id`, waiting up to `timeout` s (AssertionError)."""
        call = self._log.wait_for(SOCKET_ACK, lambda c: c.args.get("envelope_id") == envelope_id, timeout)
        return dict(call.args)

    def _socket_ack(self, ack: dict[str, Any], envelope: Envelope | None) -> None:
        """Record an ack as a `socket_ack` call; a slash command's ack payload is shown as its answer."""
        payload = ack.get("payload")
        if (
            envelope is not None
            and envelope.accepts_response_payload
            and envelope.type == "slash_commands"
            and envelope.response_key is not None
            and isinstance(payload, dict)
            and payload
        ):
            self._store.respond(envelope.response_key, payload)
        self._log.record(SlackCall(SOCKET_ACK, ack, {}, time.time(), LINK_PATH))

    # -- request handling (called by the HTTP handler) -------------------------------------------

    def _auth_error(self, method: str, headers: Mapping[str, str]) -> str | None:
        scheme, _, token = headers.get("authorization", "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token.startswith(("xoxb-", "xapp-")):
            return "not_authed"
        if token.startswith("xapp-"):
            if token != self._app_token:
                return "invalid_auth"
            return None if method in APP_TOKEN_METHODS else "not_allowed_token_type"
        if token != self._bot_token:
            return "invalid_auth"
        return "not_allowed_token_type" if method in APP_TOKEN_METHODS else None

    def _api_request(
        self, method: str, args: dict[str, Any], headers: dict[str, str], path: str
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        status, body, extra = 200, {}, {"x-oauth-scopes": BOT_SCOPES}
        error = self._auth_error(method, headers)
        failure = None if error else self._log.take_failure(method)
        if error is not None:
            body, extra = {"ok": False, "error": error}, {}
        elif failure is not None:
            status, body, extra = failure.answer()
        else:
            with self._applied:
                try:
                    body = self._api.call(method, args)
                except ApiError as exc:
                    body = exc.reply()
                self._log.record(SlackCall(method, args, headers, time.time(), path))
                return status, body, extra
        self._log.record(SlackCall(method, args, headers, time.time(), path))
        return status, body, extra

    def _response_url_request(
        self, key: str, args: dict[str, Any], headers: dict[str, str], path: str
    ) -> None:
        with self._applied:
            self._store.respond(key, args)
            self._log.record(SlackCall("response_url", args, headers, time.time(), path))

    def _upload_request(self, file_id: str, data: bytes, headers: dict[str, str], path: str) -> bool:
        try:
            self._store.receive_upload(file_id, data)
            found = True
        except NotFound:
            found = False
        self._log.record(
            SlackCall("upload_url", {"file_id": file_id, "length": len(data)}, headers, time.time(), path)
        )
        return found


def _make_handler(sandbox: SlackSandbox) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        """HTTP front of one SlackSandbox: routes, parses bodies, answers JSON."""

        disable_nagle_algorithm = True
        protocol_version = "HTTP/1.1"
        server_version = "SlackSandbox/1"

        def log_message(self, format: str, *args: Any) -> None:
            return  # quiet: request lines could carry tokens in query strings

        def do_GET(self) -> None:
            self._handle()

        def do_POST(self) -> None:
            self._handle()

        def _read_body(self) -> bytes:
            try:
                length = int(self.headers.get("Content-Length") or 0)
            except ValueError:
                length = 0
            if length < 0 or length > MAX_BODY:
                raise BadBody("request_too_large")
            return self.rfile.read(length) if length else b""

        def _send(
            self, status: int, body: dict[str, Any] | str, headers: Mapping[str, str] | None = None
        ) -> None:
            if isinstance(body, str):
                data, content_type = body.encode(), "text/plain; charset=utf-8"
            else:
                data, content_type = json.dumps(body).encode(), "application/json; charset=utf-8"
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def _handle(self) -> None:
            parts = urlsplit(self.path)
            path = parts.path
            headers = {k.lower(): v for k, v in self.headers.items()}
            try:
                raw = self._read_body()
            except BadBody as exc:
                self._send(413, {"ok": False, "error": str(exc)})
                return
            if path.startswith("/api/"):
                try:
                    args = {**parse_query(parts.query), **parse_body(headers.get("content-type", ""), raw)}
                except BadBody as exc:
                    self._send(200, {"ok": False, "error": str(exc)})
                    return
                status, body, extra = sandbox._api_request(path[len("/api/") :], args, headers, path)
                self._send(status, body, extra)
            elif path.startswith("/response_url/") and self.command == "POST":
                try:
                    args = parse_body(headers.get("content-type", "application/json"), raw)
                except BadBody as exc:
                    self._send(400, {"ok": False, "error": str(exc)})
                    return
                sandbox._response_url_request(unquote(path[len("/response_url/") :]), args, headers, path)
                self._send(200, "ok")
            elif path.startswith("/upload/") and self.command == "POST":
                if sandbox._upload_request(unquote(path[len("/upload/") :]), raw, headers, path):
                    self._send(200, f"OK - {len(raw)}")
                else:
                    self._send(404, "file not found")
            else:
                self._send(404, {"ok": False, "error": "not_found"})

    return Handler
