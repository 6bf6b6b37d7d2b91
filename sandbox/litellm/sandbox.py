"""`LiteLLMSandbox`: the LiteLLM proxy emulator served over HTTP on 127.0.0.1, with test controls."""

from __future__ import annotations

import threading

from sandbox.litellm.router import Router
from sandbox.litellm.server import RecordedRequest, RequestLog, ServiceHTTPServer
from sandbox.litellm.state import LITELLM_VERSION, LiteLLMState


class LiteLLMSandbox:
    """An emulated LiteLLM proxy: healthy and alive until a test says otherwise."""

    def __init__(self, master_key: str = "sk-sandbox-master-key", version: str = LITELLM_VERSION) -> None:
        self.state = LiteLLMState(master_key, version)
        self._requests = RequestLog()
        self._server: ServiceHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self, host: str = "127.0.0.1", port: int = 0) -> LiteLLMSandbox:
        """Serve in a background thread; returns self."""
        if self._server is not None:
            raise RuntimeError("the LiteLLM sandbox is already started")
        self._server = ServiceHTTPServer(
            (host, port), Router(self.state), lambda: self.state.health().latency, self._requests, "litellm"
        )
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="litellm-sandbox-http", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving; delayed replies are dropped. Safe to call twice."""
        if self._server is not None:
            self._server.stopping.set()
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> LiteLLMSandbox:
        return self.start() if self._server is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """`http://127.0.0.1:PORT` once started."""
        if self._server is None:
            raise RuntimeError("the LiteLLM sandbox is not started; call start() first")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

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

    # -- requests ------------------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received so far, oldest first (a copy)."""
        return self._requests.snapshot()

    def clear_requests(self) -> None:
        self._requests.clear()
