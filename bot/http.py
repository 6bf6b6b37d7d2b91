"""The bot's HTTP face: `/slack/events` (Bolt), `/healthz` (alive), `/readyz` (can serve),
`/alerts/alertmanager` (Prometheus Alertmanager's webhook, when configured) and `/metrics`
(Prometheus text format).

Served by waitress (a threaded, pure-Python WSGI server). `/readyz` reports each dependency so an
operator sees at once which one is missing.

Every request first passes `bot.http_guard`: its body size, and on `/slack/events` the signature.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler
from waitress.server import create_server

from bot.http_guard import SERVER_BODY_LIMIT, SLACK_PATH, SlackSignature, body_refusal

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

    from bot.alerts.alertmanager import AlertmanagerReceiver

log = logging.getLogger(__name__)

ReadinessCheck = Callable[[], dict[str, str]]
"""Returns dependency name → "ok" or a short reason."""

MetricsExposition = Callable[[], tuple[bytes, str]]
"""Returns the metrics in Prometheus text format and its content type."""


class BotWsgiApp:
    """Routes the bot's paths; everything else is 404."""

    def __init__(
        self,
        app: App,
        readiness: ReadinessCheck,
        alertmanager: AlertmanagerReceiver | None = None,
        metrics: MetricsExposition | None = None,
        signing_secret: str | None = None,
    ) -> None:
        """`signing_secret`: check Slack's signature before Bolt parses a body (Bolt checks it again)."""
        self._slack = SlackRequestHandler(app, path=SLACK_PATH)
        self._signature = SlackSignature(signing_secret) if signing_secret else None
        self._readiness = readiness
        self._alertmanager = alertmanager
        self._metrics = metrics

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        too_large = body_refusal(environ, path)
        if too_large is not None:
            return _reply(start_response, "413 Payload Too Large", {"error": too_large})
        if path == SLACK_PATH:
            unsigned = self._signature.refusal(environ) if self._signature is not None else None
            if unsigned is not None:
                return _reply(start_response, "401 Unauthorized", {"error": unsigned})
            try:
                return self._slack(environ, start_response)
            except Exception as exc:  # Bolt parses bodies before verifying, and its error path can fail too
                log.warning("rejected a malformed Slack request: %s", type(exc).__name__)
                return _reply(start_response, "400 Bad Request", {"error": "malformed request"})
        if path == "/alerts/alertmanager" and self._alertmanager is not None:
            return self._alertmanager(environ, start_response)
        if path == "/healthz":
            return _reply(start_response, "200 OK", {"status": "ok"})
        if path == "/metrics" and self._metrics is not None:
            data, content_type = self._metrics()
            start_response("200 OK", [("Content-Type", content_type), ("Content-Length", str(len(data)))])
            return [data]
        if path == "/readyz":
            checks = self._readiness()
            ready = all(v == "ok" for v in checks.values())
            return _reply(start_response, "200 OK" if ready else "503 Service Unavailable", checks)
        return _reply(start_response, "404 Not Found", {"error": "not found"})


def _reply(start_response: StartResponse, status: str, body: dict[str, str]) -> list[bytes]:
    data = json.dumps(body).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
    return [data]


class HttpServer:
    """A waitress server in a background thread, stoppable (tests, demo) or run in the foreground."""

    def __init__(self, wsgi: BotWsgiApp, host: str, port: int, threads: int = 16) -> None:
        self._server = create_server(
            wsgi,
            host=host,
            port=port,
            threads=threads,
            ident="litemaas-bot",
            max_request_body_size=SERVER_BODY_LIMIT + 1,  # waitress refuses a body of this size or more
        )
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    @property
    def port(self) -> int:
        return int(getattr(self._server, "effective_port"))  # noqa: B009 - set by waitress at bind

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> HttpServer:
        self._thread = threading.Thread(target=self.serve_forever, name="http", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        try:
            self._server.run()
        except OSError:  # `stop()` closed the sockets under the loop's select(): the expected way out
            if not self._stopping.is_set():
                raise

    def stop(self) -> None:
        self._stopping.set()
        self._server.close()
        if self._thread is not None:
            self._thread.join(timeout=5)
