"""The backend's admin API in the emulator: `ltm_admin_` key auth and `POST /api/v1/models/sync`.

Auth (litemaas-facts.md §2.3, §8): `Authorization: [Bearer ]<token>`. Only a token starting with
`ltm_admin_` AND listed in `ADMIN_API_KEYS` is an admin; any other token (no prefix → treated as a JWT,
a wrong `ltm_admin_` key, LiteLLM's master key, a user's `sk-` key) or no header answers 401
`{"error":{"code":"UNAUTHORIZED",…}}`. A token is never echoed back.
"""

from __future__ import annotations

from typing import Any

from sandbox.backend.state import BackendState
from sandbox.backend.sync import SyncFailed, failure_body, record_api_access, run_sync
from sandbox.litellm.server import Request, Response

ADMIN_PREFIX = "ltm_admin_"
SYNC_PATH = "/api/v1/models/sync"


def _unauthorized(message: str) -> Response:
    return Response(401, {"error": {"code": "UNAUTHORIZED", "message": message, "statusCode": 401}})


def refuse_non_admin(state: BackendState, request: Request) -> Response | None:
    """None for a listed `ltm_admin_` key, else the backend's 401."""
    header = request.headers.get("authorization", "").strip()
    if not header:
        return _unauthorized("Authentication required")
    token = header[7:].strip() if header.lower().startswith("bearer ") else header
    if token.startswith(ADMIN_PREFIX):
        if token in state.admin_keys:
            return None
        return _unauthorized("Invalid admin API key")
    return _unauthorized("Invalid or expired token")  # not an admin key: verified as a JWT, and fails


def _bad_request(message: str, code: str = "FST_ERR_VALIDATION") -> Response:
    return Response(400, {"statusCode": 400, "code": code, "error": "Bad Request", "message": message})


def _sync_options(request: Request) -> tuple[bool, bool] | Response:
    """(forceUpdate, markUnavailable) from the optional body; Fastify's 400 for a bad one."""
    try:
        body: Any = request.json()
    except ValueError:
        return _bad_request("Body is not valid JSON", "FST_ERR_CTP_INVALID_JSON_BODY")
    if body is None:
        body = {}
    if not isinstance(body, dict):
        return _bad_request("body must be object")
    options = {"forceUpdate": False, "markUnavailable": True}
    for name in options:
        if name in body:
            if not isinstance(body[name], bool):
                return _bad_request(f"body/{name} must be boolean")
            options[name] = body[name]
    return options["forceUpdate"], options["markUnavailable"]


def models_sync(state: BackendState, request: Request) -> Response:
    """`POST /api/v1/models/sync` (`models:write`): 200 with the counts, 500 with `success:false`."""
    refusal = refuse_non_admin(state, request)
    if refusal is not None:
        return refusal
    options = _sync_options(request)
    if isinstance(options, Response):
        return options
    force_update, mark_unavailable = options
    record_api_access(state.sync.database_url, f"POST_{SYNC_PATH}")
    with state.sync_lock:
        try:
            outcome = run_sync(state.sync, force_update=force_update, mark_unavailable=mark_unavailable)
        except SyncFailed as exc:
            return Response(500, failure_body(str(exc)))
    state.record_sync(outcome)
    return Response(200, outcome.body())
