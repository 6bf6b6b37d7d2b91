"""Paths of the LiteLLM proxy → handlers over `LiteLLMState` (litellm-facts.md §2).

Health only for now: `/health/readiness`, `/health/liveliness`, `/health/liveness`. There is no
`/health/livenessz` (a 404, as on the real proxy). Unknown paths answer FastAPI's 404 body, known
paths with another method its 405. Add the admin API as more entries in `routes()`.
"""

from __future__ import annotations

from collections.abc import Callable

from sandbox.litellm.server import Request, Response
from sandbox.litellm.state import LiteLLMState

Handler = Callable[[LiteLLMState, Request], Response]

ALIVE = "I'm alive!"


def readiness(state: LiteLLMState, request: Request) -> Response:
    """200 with the proxy's version and backends when ready; 503 with the reason when not."""
    health = state.health()
    if not health.ready:
        reason = health.not_ready_reason
        return Response(
            503,
            {
                "status": "unhealthy",
                "db": "Not connected",
                "error": reason,
                "detail": f"Service Unhealthy ({reason})",
            },
        )
    return Response(
        200,
        {
            "status": "healthy",
            "db": "connected",
            "cache": "redis",
            "litellm_version": state.version,
            "success_callbacks": ["sync_deployment_callback_on_success", "_PROXY_track_cost_callback"],
            "use_aiohttp_transport": True,
        },
    )


def liveliness(state: LiteLLMState, request: Request) -> Response:
    """200 `"I'm alive!"`, or 503 when scripted dead (a real dead proxy would not answer at all)."""
    if not state.health().alive:
        return Response(503, {"detail": "LiteLLM proxy is not alive"})
    return Response(200, ALIVE)


def routes() -> dict[tuple[str, str], Handler]:
    """(method, path) → handler."""
    return {
        ("GET", "/health/readiness"): readiness,
        ("GET", "/health/liveliness"): liveliness,
        ("GET", "/health/liveness"): liveliness,
    }


class Router:
    """Dispatches a request to its handler; FastAPI's 404/405 bodies otherwise."""

    def __init__(self, state: LiteLLMState) -> None:
        self.state = state
        self._routes = routes()

    def __call__(self, request: Request) -> Response:
        handler = self._routes.get((request.method, request.path))
        if handler is not None:
            return handler(self.state, request)
        if any(path == request.path for _, path in self._routes):
            return Response(405, {"detail": "Method Not Allowed"})
        return Response(404, {"detail": "Not Found"})
