"""What every sandbox HTTP server shares: threaded, quiet about clients that hang up, Nagle off.

Nagle's algorithm plus delayed ACKs stall each small response by ~40 ms (kube-api-surface §4), so
every handler disables it; every method is routed to one `_dispatch()`.
"""

from __future__ import annotations

import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class QuietThreadingServer(ThreadingHTTPServer):
    """Daemon handler threads (stopping never waits on a watch); hung-up clients are not errors."""

    daemon_threads = True
    allow_reuse_address = True

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
