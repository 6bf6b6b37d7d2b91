"""The sandbox's control API: break and heal it over HTTP (game days, the demo console, benchmarks, tests).

Loopback only, no authentication (it controls a simulation on your machine). Its URL is
`SANDBOX_CONTROL_URL` in the env file `litemaas-bot sandbox --write-env` writes. Every answer is JSON:
`{"ok": true, "said": "<what happened>"}`, or `{"ok": false, "error": "<why>"}` with 400/404.

    GET  /                                   this list
    POST /deployments/<name>/break/<fault>   fault: crashloop | oom | image-pull | stuck-rollout
    POST /deployments/<name>/heal            undo every fault of the Deployment (fresh pods)
    POST /litellm-redis/down                 stop LiteLLM's Redis (its own redis-server)
    POST /litellm-redis/up                   start it again
    POST /services/<litellm|backend>         body {"latency_seconds": 2.5, "failing": true}
    POST /drift                              plant a LiteLLM key with no LiteMaaS row (drift b)
    POST /backups/age                        body {"days": 40}: the newest backup looks that much older
"""

from __future__ import annotations

import json
import threading
from typing import Any

from sandbox.faults import FaultError, Faults
from sandbox.http_base import (
    DispatchingHandler,
    QuietThreadingServer,
    serve_in_background,
    stop_serving,
    url_of,
)

MAX_BODY = 4096
ENDPOINTS = [
    line.strip() for line in (__doc__ or "").splitlines() if line.strip().startswith(("GET", "POST"))
]


class ControlServer:
    """Serves the control API for one `Faults` on 127.0.0.1."""

    def __init__(self, faults: Faults) -> None:
        self.faults = faults
        self._server: QuietThreadingServer | None = None
        self._thread: threading.Thread | None = None

    def start(self, host: str = "127.0.0.1", port: int = 0) -> ControlServer:
        faults = self.faults

        class Handler(_ControlHandler):
            pass

        Handler.faults = faults
        self._server = QuietThreadingServer((host, port), Handler)
        self._thread = serve_in_background(self._server, "sandbox-control")
        return self

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the control API is not started; call start() first")
        return url_of(self._server)

    def stop(self) -> None:
        if self._server is not None:
            stop_serving(self._server, self._thread)
            self._server = None


class _ControlHandler(DispatchingHandler):
    faults: Faults
    lock = threading.Lock()  # one fault at a time: they read and patch the same objects

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _dispatch(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            self._answer(413, {"ok": False, "error": f"body over {MAX_BODY} bytes"})
            return
        raw = self.rfile.read(length) if length > 0 else b""
        try:
            body = json.loads(raw) if raw.strip() else {}
            if not isinstance(body, dict):
                raise ValueError("body must be a JSON object")
        except ValueError as exc:
            self._answer(400, {"ok": False, "error": f"invalid JSON body: {exc}"})
            return
        parts = [p for p in self.path.split("?")[0].split("/") if p]
        if self.command == "GET" and not parts:
            self._answer(200, {"ok": True, "endpoints": ENDPOINTS})
            return
        if self.command != "POST":
            self._answer(404, {"ok": False, "error": "no such endpoint; GET / lists them"})
            return
        try:
            with self.lock:
                said = self._route(parts, body)
        except FaultError as exc:
            self._answer(400, {"ok": False, "error": str(exc)})
            return
        except (TypeError, ValueError, KeyError) as exc:
            self._answer(400, {"ok": False, "error": f"bad request: {exc}"})
            return
        if said is None:
            self._answer(404, {"ok": False, "error": "no such endpoint; GET / lists them"})
            return
        self._answer(200, {"ok": True, "said": said})

    def _route(self, parts: list[str], body: dict[str, Any]) -> str | None:
        faults = self.faults
        match parts:
            case ["deployments", name, "break", fault]:
                return faults.break_deployment(name, fault)
            case ["deployments", name, "heal"]:
                return faults.heal_deployment(name)
            case ["litellm-redis", ("down" | "up") as state]:
                return faults.redis(up=state == "up")
            case ["services", name]:
                latency = body.get("latency_seconds")
                failing = body.get("failing")
                if latency is not None and not isinstance(latency, int | float):
                    raise FaultError("latency_seconds must be a number")
                if failing is not None and not isinstance(failing, bool):
                    raise FaultError("failing must be true or false")
                return faults.service(name, latency=latency, failing=failing)
            case ["drift"]:
                return faults.plant_drift()
            case ["backups", "age"]:
                days = body.get("days")
                if not isinstance(days, int | float) or not 0 < days <= 3650:
                    raise FaultError("days must be a number between 0 and 3650")
                return faults.age_newest_backup(float(days))
        return None

    def _answer(self, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
