"""Slack's Socket Mode end of the link: a local websocket server that `apps.connections.open` points at.

Protocol (api.slack.com/apis/socket-mode): the client connects to `ws://…/link/?ticket=…&app_id=…`
(one-time ticket from apps.connections.open), receives `{"type": "hello", …}`, then envelopes
`{"envelope_id", "type", "payload", "accepts_response_payload"}`, and answers each with an ack
`{"envelope_id", "payload"?}`. `{"type": "disconnect", "reason"}` asks the client to reconnect.
"""

from __future__ import annotations

import json
import secrets
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlsplit

from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.sync.server import Server, ServerConnection, serve

from sandbox.slack.workspace import APP_ID

LINK_PATH = "/link/"
LINK_HOST = "applink-sandbox"
DISCONNECT_REASONS = frozenset({"warning", "refresh_requested", "link_disabled"})


@dataclass(frozen=True)
class Envelope:
    """One delivery to the app: its id, type (`slash_commands`, `interactive`…), payload and the
    response_url key the payload carries (None when it carries none)."""

    envelope_id: str
    type: str
    payload: dict[str, Any]
    accepts_response_payload: bool
    response_key: str | None = None

    def message(self) -> dict[str, Any]:
        """The JSON object sent over the websocket."""
        return {
            "envelope_id": self.envelope_id,
            "type": self.type,
            "payload": self.payload,
            "accepts_response_payload": self.accepts_response_payload,
        }


AckListener = Callable[[dict[str, Any], "Envelope | None"], None]


def socket_payload(body: str) -> dict[str, Any]:
    """The Socket Mode payload of an HTTP-mode body: a slash command's form fields as a JSON object, or
    the parsed JSON of an interactive body's single `payload=` field."""
    fields = dict(parse_qsl(body, keep_blank_values=True))
    if set(fields) == {"payload"}:
        parsed = json.loads(fields["payload"])
        if not isinstance(parsed, dict):
            raise ValueError("an interactive payload must be a JSON object")
        return parsed
    return fields


def button_of(message: Mapping[str, Any], action_id: str, value: str) -> tuple[str, str | None]:
    """The block_id and label of the button `action_id` (preferring the one with `value`) in a message;
    ("actions", None) when the message shows no such button."""
    found: tuple[str, str | None] = ("actions", None)
    blocks = [block for block in message.get("blocks") or [] if isinstance(block, dict)]
    for block in blocks:
        for element in block.get("elements") or []:
            if not isinstance(element, dict) or element.get("action_id") != action_id:
                continue
            label = (element.get("text") or {}).get("text")
            found = (str(block.get("block_id") or "actions"), label if isinstance(label, str) else None)
            if element.get("value") == value:
                return found
    return found


class SocketModeLink:
    """The websocket server (started on the first `open_url`) and its open connections.

    Envelopes go to the newest open connection (real Slack picks one at random). Every well-formed
    ack (a JSON object with a string `envelope_id`) is passed to `on_ack`; anything else is ignored.
    """

    def __init__(self, host: Callable[[], str], on_ack: AckListener, app_id: str = APP_ID) -> None:
        self._host = host
        self._on_ack = on_ack
        self._app_id = app_id
        self._lock = threading.Lock()
        self._server: Server | None = None
        self._thread: threading.Thread | None = None
        self._tickets: set[str] = set()
        self._connections: list[ServerConnection] = []
        self._envelopes: dict[str, Envelope] = {}
        self._connected_total = 0

    # -- lifecycle -------------------------------------------------------------------------------

    def open_url(self) -> str:
        """A fresh one-time websocket URL (what apps.connections.open hands out); starts the server."""
        ticket = secrets.token_hex(16)
        with self._lock:
            server = self._server or self._start()
            self._tickets.add(ticket)
        port = server.socket.getsockname()[1]
        return f"ws://{self._host()}:{port}{LINK_PATH}?ticket={ticket}&app_id={self._app_id}"

    def _start(self) -> Server:
        server = serve(
            self._handle,
            self._host(),
            0,
            process_request=self._admit,
            close_timeout=1,
            compression=None,
        )
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, name="slack-socket-mode", daemon=True)
        self._thread.start()
        return server

    def stop(self) -> None:
        """Close every connection and the listening socket (idempotent)."""
        with self._lock:
            server, self._server = self._server, None
            thread, self._thread = self._thread, None
        if server is not None:
            server.shutdown()
        if thread is not None:
            thread.join(timeout=5)

    # -- connections -----------------------------------------------------------------------------

    def _admit(self, connection: ServerConnection, request: Request) -> Response | None:
        """Refuse the handshake unless it is for the link path with a ticket issued and not yet used."""
        parts = urlsplit(request.path)
        ticket = (parse_qs(parts.query).get("ticket") or [""])[0]
        with self._lock:
            valid = parts.path.rstrip("/") == LINK_PATH.rstrip("/") and ticket in self._tickets
            self._tickets.discard(ticket)
        if not valid:
            return connection.respond(HTTPStatus.UNAUTHORIZED, "invalid or used ticket\n")
        return None

    def _handle(self, connection: ServerConnection) -> None:
        with self._lock:
            count = len(self._connections) + 1
        hello = {
            "type": "hello",
            "num_connections": count,
            "debug_info": {"host": LINK_HOST, "build_number": 1, "approximate_connection_time": 18060},
            "connection_info": {"app_id": self._app_id},
        }
        try:
            connection.send(json.dumps(hello))
            with self._lock:
                self._connections.append(connection)
                self._connected_total += 1
            for message in connection:
                self._receive(message)
        except ConnectionClosed:
            pass
        finally:
            with self._lock:
                if connection in self._connections:
                    self._connections.remove(connection)

    def _receive(self, message: str | bytes) -> None:
        try:
            ack = json.loads(message)
        except (json.JSONDecodeError, UnicodeDecodeError):
            return
        if not isinstance(ack, dict) or not isinstance(ack.get("envelope_id"), str):
            return
        with self._lock:
            envelope = self._envelopes.get(ack["envelope_id"])
        self._on_ack(ack, envelope)

    def open_connections(self) -> int:
        """How many clients are connected (and have been sent hello)."""
        with self._lock:
            return len(self._connections)

    @property
    def connected_total(self) -> int:
        """How many connections were ever established (grows on each reconnect)."""
        with self._lock:
            return self._connected_total

    # -- sending ---------------------------------------------------------------------------------

    def deliver(
        self,
        kind: str,
        payload: Mapping[str, Any],
        *,
        accepts_response_payload: bool,
        response_key: str | None = None,
        envelope_id: str | None = None,
    ) -> Envelope:
        """Send one envelope to the newest open connection; RuntimeError when no client is connected."""
        envelope = Envelope(
            envelope_id or str(uuid.uuid4()), kind, dict(payload), accepts_response_payload, response_key
        )
        with self._lock:
            if not self._connections:
                raise RuntimeError("no Socket Mode client is connected")
            connection = self._connections[-1]
            self._envelopes[envelope.envelope_id] = envelope
        connection.send(json.dumps(envelope.message()))
        return envelope

    def disconnect(self, reason: str = "refresh_requested") -> int:
        """Send `{"type": "disconnect", "reason"}` to every open connection; returns how many got it."""
        if reason not in DISCONNECT_REASONS:
            raise ValueError(f"reason must be one of {sorted(DISCONNECT_REASONS)}")
        text = json.dumps({"type": "disconnect", "reason": reason, "debug_info": {"host": LINK_HOST}})
        with self._lock:
            connections = list(self._connections)
        sent = 0
        for connection in connections:
            try:
                connection.send(text)
                sent += 1
            except ConnectionClosed:
                continue
        return sent

    def envelope(self, envelope_id: str) -> Envelope | None:
        """A delivered envelope by id, or None."""
        with self._lock:
            return self._envelopes.get(envelope_id)
