"""Paths of the LiteMaaS backend → handlers over `BackendState` (litemaas-facts.md §2.4).

- `GET /api/v1/health`: `{status, timestamp, version, checks{database, litellm, auth}, details{...}}`,
  503 when a check is unhealthy; its `version` is `"workspace"` (npm_package_version of the backend
  workspace), NOT the release.
- `GET /api/v1/health/ready` → `{ready}` (503 when not), `GET /api/v1/health/live` → `{alive}`.
- `GET /api/v1/config` → `{version, usageCacheTtlMinutes, environment, currency, litellmApiUrl,
  authMode, authProvider}`: the release version the frontend footer shows.
- `POST /api/v1/models/sync` (admin key): the model sync on the real LiteMaaS tables (`admin.py`).
Unknown paths answer the backend's not-found body (`errors.not_found`). Add the admin API as more
entries in `routes()`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sandbox.backend.admin import SYNC_PATH, models_sync
from sandbox.backend.errors import not_found
from sandbox.backend.state import BackendState
from sandbox.litellm.server import Request, Response

Handler = Callable[[BackendState, Request], Response]

HEALTH_VERSION = "workspace"


def _healthy(ok: bool) -> str:
    return "healthy" if ok else "unhealthy"


def health(state: BackendState, request: Request) -> Response:
    """The full health document; 503 when the database check fails (i.e. not ready)."""
    ready = state.health().ready
    checks = {"database": _healthy(ready), "litellm": "healthy", "auth": "healthy"}
    all_ok = all(v == "healthy" for v in checks.values())
    body: dict[str, Any] = {
        "status": _healthy(all_ok),
        "timestamp": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "version": HEALTH_VERSION,
        "checks": checks,
        "details": {
            "uptime": round(state.uptime(), 3),
            "memoryUsage": {
                "rss": 152_000_000,
                "heapTotal": 88_000_000,
                "heapUsed": 71_000_000,
                "external": 3_500_000,
                "arrayBuffers": 400_000,
            },
            "environment": "production",
            "litellmMetrics": {
                "cacheSize": 0,
                "circuitBreakerStatus": {"isOpen": False, "failureCount": 0, "lastFailureTime": 0},
                "config": {"enableMocking": False, "baseUrl": state.litellm_url, "timeout": 30000},
            },
        },
    }
    return Response(200 if all_ok else 503, body)


def ready(state: BackendState, request: Request) -> Response:
    is_ready = state.health().ready
    return Response(200 if is_ready else 503, {"ready": is_ready})


def live(state: BackendState, request: Request) -> Response:
    return Response(200, {"alive": True})


def config(state: BackendState, request: Request) -> Response:
    """Public configuration; `version` is the release (root package.json)."""
    return Response(
        200,
        {
            "version": state.health().version,
            "usageCacheTtlMinutes": 60,
            "environment": "production",
            "currency": {"code": "USD", "symbol": "$", "name": "US Dollar"},
            "litellmApiUrl": state.litellm_url,
            "authMode": "oauth",
            "authProvider": "openshift",
        },
    )


def routes() -> dict[tuple[str, str], Handler]:
    """(method, path) → handler."""
    return {
        ("GET", "/api/v1/health"): health,
        ("GET", "/api/v1/health/ready"): ready,
        ("GET", "/api/v1/health/live"): live,
        ("GET", "/api/v1/config"): config,
        ("POST", SYNC_PATH): models_sync,
    }


class Router:
    """Dispatches a request to its handler; the backend's 404 body otherwise (trailing slash ignored)."""

    def __init__(self, state: BackendState) -> None:
        self.state = state
        self._routes = routes()

    def __call__(self, request: Request) -> Response:
        path = request.path.rstrip("/") or "/"
        handler = self._routes.get((request.method, path))
        if handler is not None:
            return handler(self.state, request)
        return not_found(request)
