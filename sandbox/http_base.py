"""What every sandbox HTTP server shares: threaded, quiet about clients that hang up, Nagle off.

Nagle's algorithm plus delayed ACKs stall each small response by ~40 ms (kube-api-surface §4), so
every handler disables it; every method is routed to one `_dispatch()`.
"""

from __future__ import annotations

import contextlib
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class QuietThreadingServer(ThreadingHTTPServer):
    """Daemon handler threads (stopping never waits on a watch); hung-up clients are not errors.

    Closing the server also closes the connections it holds open (keep-alive, watches), as a stopped
    process does: a client's pooled connection must not keep reaching a server that was stopped."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        super().__init__(*args, **kwargs)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._open_lock:
            self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def server_close(self) -> None:
        super().server_close()
        with self._open_lock:
            held, self._open = list(self._open), set()
        for connection in held:
            with contextlib.suppress(OSError):  # already gone
                connection.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class DispatchingHandler(BaseHTTPRequestHandler):
    """HTTP/1.1 keep-alive handler whose methods all go to `_dispatch()`."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def _dispatch(self) -> None:
        raise NotImplementedError

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_PATCH(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()


def serve_in_background(server: ThreadingHTTPServer, name: str) -> threading.Thread:
    """Run `server` on a daemon thread (a short poll interval keeps `stop` fast)."""
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), name=name, daemon=True)
    thread.start()
    return thread


def stop_serving(server: ThreadingHTTPServer, thread: threading.Thread | None) -> None:
    """Stop accepting, close the socket and wait (bounded) for the serving thread."""
    server.shutdown()
    server.server_close()
    if thread is not None:
        thread.join(timeout=5)


def url_of(server: ThreadingHTTPServer) -> str:
    host, port = server.server_address[:2]
    return f"http://{host!s}:{port}"
