"""Paths of the LiteLLM proxy → handlers over `LiteLLMState` (litellm-facts.md §2-§6).

Health (`/health/readiness`, `/health/liveliness`, `/health/liveness`; no `/health/livenessz`) needs
no key; `/v1/models` takes any key and refuses blocked, expired and unknown ones (`access.py`). The
admin API (`/key/generate|info|list|delete|block|unblock`, `/model/new|info|delete`, `/v1/model/info`)
needs the master key as `Authorization: Bearer …` or `x-litellm-api-key`, else 401 in LiteLLM's shape;
without a database it answers the proxy's 500s. Unknown paths answer FastAPI's 404 body, known paths
with another method its 405. A scripted failure (`state.failures`) pre-empts everything for its path.
"""

from __future__ import annotations

import hmac
import logging
import threading
from collections.abc import Callable

import psycopg
from psycopg_pool import PoolTimeout

from sandbox.litellm import access, keys, models
from sandbox.litellm.access import presented_key
from sandbox.litellm.database import LiteLLMDatabase
from sandbox.litellm.errors import no_database, proxy_error, unauthorized
from sandbox.litellm.server import Request, Response
from sandbox.litellm.state import LiteLLMState

Handler = Callable[[LiteLLMState, Request], Response]
AdminHandler = Callable[[LiteLLMState, LiteLLMDatabase, Request], Response]

log = logging.getLogger(__name__)

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


def admin(handler: AdminHandler) -> Handler:
    """Master-key auth and the no-database 500 in front of an admin route."""

    def guarded(state: LiteLLMState, request: Request) -> Response:
        if not hmac.compare_digest(presented_key(request).encode(), state.master_key.encode()):
            return unauthorized()
        if state.db is None:
            return no_database(request.path)
        try:
            return handler(state, state.db, request)
        except (psycopg.Error, PoolTimeout) as exc:
            log.warning("litellm sandbox: database error on %s: %s", request.path, type(exc).__name__)
            return proxy_error(500, f"Database error: {type(exc).__name__}")

    return guarded


def routes() -> dict[tuple[str, str], Handler]:
    """(method, path) → handler."""
    return {
        ("GET", "/health/readiness"): readiness,
        ("GET", "/health/liveliness"): liveliness,
        ("GET", "/health/liveness"): liveliness,
        ("POST", "/key/generate"): admin(lambda state, db, request: keys.generate(db, request)),
        ("GET", "/key/info"): admin(lambda state, db, request: keys.info(db, request)),
        ("GET", "/key/list"): admin(lambda state, db, request: keys.list_keys(db, request)),
        ("POST", "/key/delete"): admin(lambda state, db, request: keys.delete(db, request)),
        ("POST", "/key/block"): admin(lambda state, db, request: access.set_blocked(db, request, True)),
        ("POST", "/key/unblock"): admin(lambda state, db, request: access.set_blocked(db, request, False)),
        ("GET", "/v1/models"): access.list_models,
        ("POST", "/model/new"): admin(
            lambda state, db, request: models.new_model(db, request, state.master_key)
        ),
        ("GET", "/model/info"): admin(
            lambda state, db, request: models.model_info(db, request, state.master_key)
        ),
        ("GET", "/v1/model/info"): admin(
            lambda state, db, request: models.model_info(db, request, state.master_key)
        ),
        ("POST", "/model/delete"): admin(lambda state, db, request: models.delete_model(db, request)),
    }


class Router:
    """Acts out a scripted failure, else dispatches to the handler; FastAPI's 404/405 bodies otherwise.

    `stopping` cuts an injected hang short when the sandbox stops.
    """

    def __init__(self, state: LiteLLMState, stopping: threading.Event | None = None) -> None:
        self.state = state
        self.stopping = stopping if stopping is not None else threading.Event()
        self._routes = routes()

    def __call__(self, request: Request) -> Response:
        failure = self.state.failures.take(request.path)
        if failure is not None:
            if failure.timeout:
                self.stopping.wait(self.state.hang_seconds)
                return proxy_error(504, "injected timeout: the sandbox held this reply")
            assert failure.status is not None
            return proxy_error(failure.status, f"injected failure {failure.status}")
        handler = self._routes.get((request.method, request.path))
        if handler is not None:
            return handler(self.state, request)
        if any(path == request.path for _, path in self._routes):
            return Response(405, {"detail": "Method Not Allowed"})
        return Response(404, {"detail": "Not Found"})
