"""Client of the LiteMaaS backend's API (litemaas-facts.md §2): model sync, config, readiness.

`BackendClient(base_url, admin_key)` speaks httpx with a timeout. The admin key goes out as
`Authorization: Bearer <key>`; the backend accepts only keys that start with `ltm_admin_` and are listed
in its `ADMIN_API_KEYS` (§2.3) — a 401 is explained in those terms. GETs are retried once on a
transport error; the sync (a POST that changes the catalogue) never is. No error message, `repr` or
log line contains the admin key.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from commands.clients.credentials import backend_admin_key
from commands.contract import OperationError
from commands.environment import Environment

SYNC_PATH = "/api/v1/models/sync"
ADMIN_PREFIX = "ltm_admin_"
UNAUTHORIZED_HINT = (
    "the backend refused the admin key: keys must start with ltm_admin_ and be listed in ADMIN_API_KEYS "
    "(the generated ADMIN_API_KEY of backend-secret has no prefix, litemaas-facts §4.2); "
    "set BACKEND_ADMIN_KEY"
)
SHOWN_BODY_LIMIT = 200


class BackendError(OperationError):
    """The backend could not be asked, or refused: `status` (0 = no answer) and a plain `message`."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class CascadeStatistics:
    """What marking models unavailable changed (only some backend versions return it)."""

    subscriptions_deactivated: int = 0
    api_key_model_associations_removed: int = 0
    orphaned_api_keys_deactivated: int = 0


@dataclass(frozen=True)
class SyncReport:
    """The answer of `POST /api/v1/models/sync`: 200 (0.4.0 also for a failed sync, `success:false`;
    older releases answered that with 500)."""

    success: bool
    total_models: int
    new_models: int
    updated_models: int
    unavailable_models: int
    errors: tuple[str, ...]
    synced_at: str | None
    cascade: CascadeStatistics | None = None  # None: the response carried none (0.4.0 strips it)

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> SyncReport:
        def count(name: str, source: dict[str, Any] = body) -> int:
            value = source.get(name, 0)
            return value if isinstance(value, int) and not isinstance(value, bool) else 0

        raw_cascade = body.get("cascadeStatistics")
        cascade = None
        if isinstance(raw_cascade, dict):
            cascade = CascadeStatistics(
                count("subscriptionsDeactivated", raw_cascade),
                count("apiKeyModelAssociationsRemoved", raw_cascade),
                count("orphanedApiKeysDeactivated", raw_cascade),
            )
        errors = body.get("errors")
        return cls(
            success=body.get("success") is True,
            total_models=count("totalModels"),
            new_models=count("newModels"),
            updated_models=count("updatedModels"),
            unavailable_models=count("unavailableModels"),
            errors=tuple(str(e) for e in errors) if isinstance(errors, list) else (),
            synced_at=str(body["syncedAt"]) if body.get("syncedAt") else None,
            cascade=cascade,
        )


def _error_text(reply: httpx.Response) -> str:
    """The backend's own error message (Fastify shapes), shortened; never the request's headers."""
    try:
        body = reply.json()
    except ValueError:
        return reply.text.strip()[:SHOWN_BODY_LIMIT]
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])[:SHOWN_BODY_LIMIT]
        if body.get("message"):
            return str(body["message"])[:SHOWN_BODY_LIMIT]
        if isinstance(error, str):
            return error[:SHOWN_BODY_LIMIT]
    return str(body)[:SHOWN_BODY_LIMIT]


class BackendClient:
    """The backend's admin API at `base_url` (e.g. `http://litellm-backend:8080`)."""

    def __init__(
        self,
        base_url: str,
        admin_key: str,
        *,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
        http: httpx.Client | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {admin_key}", "Accept": "application/json"}
        self._timeout = httpx.Timeout(timeout)
        self._owned = http is None
        self._http = http or httpx.Client(base_url=self.base_url, transport=transport)

    def __repr__(self) -> str:
        return f"BackendClient({self.base_url!r})"

    def close(self) -> None:
        """Close the HTTP client when it is this client's own (a borrowed one stays open)."""
        if self._owned:
            self._http.close()

    def __enter__(self) -> BackendClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- requests ------------------------------------------------------------------------------------

    def _send(self, method: str, path: str, *, json: Any = None, attempts: int = 1) -> httpx.Response:
        for attempt in range(attempts):
            try:
                return self._http.request(
                    method,
                    path,
                    json=json,
                    headers=self._headers,
                    timeout=self._timeout,
                    follow_redirects=False,
                )
            except httpx.TimeoutException:
                if attempt + 1 == attempts:
                    raise BackendError(
                        0, f"the backend at {self.base_url} did not answer {method} {path} in time"
                    ) from None
            except httpx.HTTPError as exc:
                if attempt + 1 == attempts:
                    raise BackendError(
                        0, f"the backend at {self.base_url} could not be reached ({type(exc).__name__})"
                    ) from None
        raise AssertionError("unreachable")

    def _refusal(self, reply: httpx.Response, what: str) -> BackendError:
        if reply.status_code == 401:
            return BackendError(401, UNAUTHORIZED_HINT)
        if reply.status_code == 403:
            return BackendError(403, f"the backend denied {what}: {_error_text(reply)}")
        if reply.status_code == 404:
            return BackendError(404, f"the backend has no {what} endpoint (HTTP 404): is BACKEND_URL right?")
        return BackendError(
            reply.status_code, f"{what} failed: HTTP {reply.status_code}: {_error_text(reply)}"
        )

    def _get_json(self, path: str, what: str, *, ok: tuple[int, ...] = (200,)) -> dict[str, Any]:
        reply = self._send("GET", path, attempts=2)
        if reply.status_code not in ok:
            raise self._refusal(reply, what)
        try:
            body = reply.json()
        except ValueError:
            raise BackendError(
                reply.status_code, f"{what}: the backend answered something not JSON"
            ) from None
        if not isinstance(body, dict):
            raise BackendError(reply.status_code, f"{what}: unexpected answer from the backend")
        return body

    # -- API -----------------------------------------------------------------------------------------

    def sync_models(self, *, force_update: bool = False, mark_unavailable: bool = True) -> SyncReport:
        """`POST /api/v1/models/sync` (always with a JSON body: 0.4.0 refuses none with 400). A 200 — or
        an older backend's 500 — with the sync's shape is a report (`success=False` when it failed);
        anything else raises BackendError (a 401 with what to do about the key)."""
        body = {"forceUpdate": force_update, "markUnavailable": mark_unavailable}
        reply = self._send("POST", SYNC_PATH, json=body)
        if reply.status_code in (200, 500):
            try:
                data = reply.json()
            except ValueError:
                data = None
            if isinstance(data, dict) and "success" in data:
                return SyncReport.from_json(data)
        raise self._refusal(reply, "the model sync")

    def config(self) -> dict[str, Any]:
        """`GET /api/v1/config` (no auth): `version` is the release."""
        return self._get_json("/api/v1/config", "reading the backend config")

    def health_ready(self) -> dict[str, Any]:
        """`GET /api/v1/health/ready`: `{ready}`; a 503 `{ready: false}` is returned, not raised."""
        return self._get_json("/api/v1/health/ready", "the readiness check", ok=(200, 503))


def backend_client(env: Environment, *, timeout: float = 30.0) -> BackendClient:
    """A client for the environment's backend; the admin key from settings or `backend-secret`.

    Raises OperationError (from `credentials`) when no key can be found.
    """
    key = backend_admin_key(env)
    return BackendClient(env.backend_url, key, timeout=timeout, http=env.services.http(env.backend_url))
