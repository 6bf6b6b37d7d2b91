"""`LiteLLMSandbox`: the LiteLLM proxy emulator served over HTTP on 127.0.0.1, with test controls.

With `database_url` it serves the admin API from LiteLLM's real tables in that database (created
beforehand by `sandbox.schemas.create_litellm_schema`); without one, only health, and the key and
model routes answer the proxy's no-database 500s. The request log keeps method, path, query and
non-credential headers with the arrival time, never a body, an auth header or a `key=` value.
"""

from __future__ import annotations

import threading

from sandbox.http_base import serve_in_background, stop_serving, url_of
from sandbox.litellm.database import LiteLLMDatabase
from sandbox.litellm.router import Router
from sandbox.litellm.server import RecordedRequest, Request, RequestLog, ServiceHTTPServer
from sandbox.litellm.state import LITELLM_VERSION, LiteLLMState

CREDENTIAL_HEADERS = frozenset(
    {"authorization", "x-litellm-api-key", "api-key", "cookie", "proxy-authorization"}
)
SECRET_QUERY = frozenset({"key"})


def record_safely(request: Request, at: float) -> RecordedRequest:
    """What the LiteLLM sandbox remembers of a request: no body, no credential, no key in the query."""
    headers = {k: v for k, v in request.headers.items() if k not in CREDENTIAL_HEADERS}
    query = {k: ("<redacted>" if k in SECRET_QUERY else v) for k, v in request.query.items()}
    return RecordedRequest(request.method, request.path, query, headers, "", at)


class LiteLLMSandbox:
    """An emulated LiteLLM proxy: healthy and alive until a test says otherwise."""

    def __init__(
        self,
        master_key: str = "sk-sandbox-master-key",
        database_url: str | None = None,
        version: str = LITELLM_VERSION,
    ) -> None:
        self._database_url = database_url
        self.state = LiteLLMState(master_key, version)
        self._requests = RequestLog()
        self._server: ServiceHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self, host: str = "127.0.0.1", port: int = 0) -> LiteLLMSandbox:
        """Serve in a background thread; returns self."""
        if self._server is not None:
            raise RuntimeError("the LiteLLM sandbox is already started")
        if self._database_url is not None and self.state.db is None:
            db = LiteLLMDatabase(self._database_url)
            db.open()
            self.state.db = db
        self._server = ServiceHTTPServer(
            (host, port),
            Router(self.state, self._stopping),
            lambda: self.state.health().latency,
            self._requests,
            "litellm",
            recorder=record_safely,
            stopping=self._stopping,
        )
        self._thread = serve_in_background(self._server, "litellm-sandbox-http")
        return self

    def stop(self) -> None:
        """Stop serving; delayed replies are dropped. Safe to call twice."""
        if self._server is not None:
            self._server.stopping.set()
            stop_serving(self._server, self._thread)
        self._thread = None
        if self.state.db is not None:
            self.state.db.close()
            self.state.db = None

    def __enter__(self) -> LiteLLMSandbox:
        return self.start() if self._server is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """`http://127.0.0.1:PORT` once started."""
        if self._server is None:
            raise RuntimeError("the LiteLLM sandbox is not started; call start() first")
        return url_of(self._server)

    @property
    def master_key(self) -> str:
        return self.state.master_key

    # -- controls ------------------------------------------------------------------------------

    def set_ready(self, ready: bool, reason: str = "database not connected") -> None:
        """`/health/readiness` answers 200 healthy, or 503 naming `reason`."""
        self.state.set_ready(ready, reason)

    def set_alive(self, alive: bool) -> None:
        """`/health/liveliness` and `/health/liveness` answer 200 `"I'm alive!"`, or 503."""
        self.state.set_alive(alive)

    def set_latency(self, seconds: float) -> None:
        """Every reply waits `seconds` first (to test timeouts); ValueError when negative."""
        self.state.set_latency(seconds)

    def inject_failure(
        self, path: str, *, status: int | None = None, timeout: bool = False, after: int = 0, times: int = 1
    ) -> None:
        """After `after` more requests to `path`, fail the next `times` of them.

        Either answer `status` in LiteLLM's error shape, or (`timeout=True`) hold the reply for
        `state.hang_seconds` (60 s; cut short by `stop()`), past any client timeout. Nothing is
        stored for a failed request. ValueError for a bad combination.
        """
        self.state.failures.inject(path, status=status, timeout=timeout, after=after, times=times)

    def clear_failures(self) -> None:
        """Forget every scripted failure not yet acted out."""
        self.state.failures.clear()

    # -- requests ------------------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received so far, oldest first (a copy)."""
        return self._requests.snapshot()

    def clear_requests(self) -> None:
        self._requests.clear()
