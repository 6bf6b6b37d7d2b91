"""HTTP transport of the LiteLLM emulator: parse, record, delay, dispatch to the router, answer JSON.

Nothing in it is LiteLLM-specific: the backend emulator serves through it too (one transport, two
routers); it can move to a shared `sandbox` module when a third emulator needs it.

Standard library `ThreadingHTTPServer`, HTTP/1.1 keep-alive with Nagle disabled (every response
goes out at once); handler threads are daemons, so `stop()` never waits for a delayed reply.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple
from urllib.parse import parse_qs, urlsplit

from sandbox.http_base import DispatchingHandler, QuietThreadingServer

log = logging.getLogger(__name__)


class RecordedRequest(NamedTuple):
    """One request as received (headers lower-cased; `body` decoded text, "" when none).

    `time` is `time.time()` at arrival. An emulator may record less than it received (the LiteLLM
    one keeps no body and no credential header, see `ServiceHTTPServer.recorder`).
    """

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: str
    time: float = 0.0


@dataclass(frozen=True)
class Request:
    """A parsed request handed to the router."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        """The body as JSON (None when empty); ValueError when malformed."""
        return json.loads(self.body) if self.body else None


@dataclass(frozen=True)
class Response:
    """A complete reply; `body` is serialised as JSON unless it is bytes."""

    status: int
    body: Any = None
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)

    def encoded(self) -> bytes:
        return self.body if isinstance(self.body, bytes) else json.dumps(self.body).encode()


Dispatch = Callable[[Request], Response]
Delay = Callable[[], float]
Recorder = Callable[[Request, float], RecordedRequest]


def record_everything(request: Request, at: float) -> RecordedRequest:
    """The default recorder: the whole request, body decoded as text."""
    return RecordedRequest(
        request.method,
        request.path,
        request.query,
        request.headers,
        request.body.decode("utf-8", "replace"),
        at,
    )


class RequestLog:
    """Thread-safe history of received requests."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: list[RecordedRequest] = []

    def record(self, request: RecordedRequest) -> None:
        with self._lock:
            self._items.append(request)

    def snapshot(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._items)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


class ServiceHTTPServer(QuietThreadingServer):
    """Serves one emulator: `dispatch` answers, `delay()` seconds pass first, `requests` records."""

    def __init__(
        self,
        address: tuple[str, int],
        dispatch: Dispatch,
        delay: Delay,
        requests: RequestLog,
        name: str,
        recorder: Recorder = record_everything,
        stopping: threading.Event | None = None,
    ) -> None:
        super().__init__(address, _Handler)
        self.dispatch = dispatch
        self.delay = delay
        self.requests = requests
        self.name = name
        self.recorder = recorder
        self.stopping = stopping if stopping is not None else threading.Event()


class _Handler(DispatchingHandler):
    server: ServiceHTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        log.debug(f"{self.server.name} sandbox: " + format, *args)

    def _dispatch(self) -> None:
        split = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(split.query, keep_blank_values=True).items()}
        headers = {k.lower(): v for k, v in self.headers.items()}
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        request = Request(self.command, split.path, query, headers, body)
        self.server.requests.record(self.server.recorder(request, time.time()))
        delay = self.server.delay()
        if delay > 0 and self.server.stopping.wait(delay):
            self.close_connection = True
            return
        try:
            response = self.server.dispatch(request)
        except Exception:
            log.exception("%s sandbox: internal error on %s %s", self.server.name, self.command, split.path)
            response = Response(500, {"detail": "internal error in the sandbox"})
        payload = response.encoded()
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(payload)))
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)
