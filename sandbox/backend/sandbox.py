"""`BackendSandbox`: the LiteMaaS backend emulator served over HTTP on 127.0.0.1, with test controls."""

from __future__ import annotations

import threading
from collections.abc import Sequence

from sandbox.backend.router import Router
from sandbox.backend.state import BACKEND_VERSION, BackendState
from sandbox.backend.sync import SyncConfig, SyncOutcome
from sandbox.http_base import serve_in_background, stop_serving, url_of
from sandbox.litellm.server import RecordedRequest, RequestLog, ServiceHTTPServer

DEFAULT_LITELLM_URL = "https://litellm-rhpds.apps.sandbox.example"


class BackendSandbox:
    """An emulated LiteMaaS backend: ready, at release `version`, until a test says otherwise.

    Its env, as the real backend's: `database_url` (DATABASE_URL, the LiteMaaS tables),
    `litellm_url` + `litellm_master_key` (LITELLM_API_URL / LITELLM_API_KEY, read by the model sync),
    `litellm_database_url` (LITELLM_DATABASE_URL: the sync's `LiteLLM_ProxyModelTable` cross-check; None
    trusts the API list) and `admin_keys` (ADMIN_API_KEYS; only `ltm_admin_…` ones can ever work).
    Without a database or a LiteLLM URL the sync answers 200 `success:false`, as 0.4.0 does.
    `features_order_bug=False` emulates a backend with 0.4.0's comparison bug fixed (`catalogue.py`).
    """

    def __init__(
        self,
        version: str = BACKEND_VERSION,
        litellm_url: str | None = None,
        *,
        database_url: str | None = None,
        litellm_master_key: str | None = None,
        admin_keys: Sequence[str] = ("ltm_admin_sandbox",),
        litellm_database_url: str | None = None,
        features_order_bug: bool = True,
    ) -> None:
        sync = SyncConfig(
            database_url=database_url,
            litellm_api_url=litellm_url,
            litellm_api_key=litellm_master_key,
            litellm_database_url=litellm_database_url,
            features_order_bug=features_order_bug,
        )
        self.state = BackendState(version, litellm_url or DEFAULT_LITELLM_URL, sync, admin_keys)
        self._requests = RequestLog()
        self._server: ServiceHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self, host: str = "127.0.0.1", port: int = 0) -> BackendSandbox:
        """Serve in a background thread; returns self."""
        if self._server is not None:
            raise RuntimeError("the backend sandbox is already started")
        self._server = ServiceHTTPServer(
            (host, port), Router(self.state), lambda: self.state.health().latency, self._requests, "backend"
        )
        self._thread = serve_in_background(self._server, "backend-sandbox-http")
        return self

    def stop(self) -> None:
        """Stop serving; delayed replies are dropped. Safe to call twice."""
        if self._server is not None:
            self._server.stopping.set()
            stop_serving(self._server, self._thread)
        self._thread = None

    def __enter__(self) -> BackendSandbox:
        return self.start() if self._server is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """`http://127.0.0.1:PORT` once started."""
        if self._server is None:
            raise RuntimeError("the backend sandbox is not started; call start() first")
        return url_of(self._server)

    # -- controls ------------------------------------------------------------------------------

    def set_ready(self, ready: bool) -> None:
        """`/api/v1/health/ready` answers 200 `{ready: true}`, or 503 `{ready: false}` (and
        `/api/v1/health` reports the database check unhealthy with 503)."""
        self.state.set_ready(ready)

    def set_version(self, version: str) -> None:
        """The release `GET /api/v1/config` reports (what an upgrade changes); ValueError when implausible."""
        self.state.set_version(version)

    def set_latency(self, seconds: float) -> None:
        """Every reply waits `seconds` first (to test timeouts); ValueError when negative."""
        self.state.set_latency(seconds)

    @property
    def syncs(self) -> list[SyncOutcome]:
        """Every completed model sync, oldest first, with the cascade counts the HTTP answer omits."""
        return self.state.syncs()

    # -- requests ------------------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received so far, oldest first (a copy)."""
        return self._requests.snapshot()

    def clear_requests(self) -> None:
        self._requests.clear()
