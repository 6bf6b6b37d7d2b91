"""Blocking keys, and what a virtual key gets when it calls the proxy (litellm-facts.md §5; LiteLLM's
`block_key` / `unblock_key` and `user_api_key_auth`).

- `POST /key/block` / `POST /key/unblock` (master key), body `{"key": "sk-…" | token}`: set `blocked`
  on the key's row and answer the row (with its token, never the plaintext key); reversible. An unknown
  key is a 404; a body without a string `key` FastAPI's 422.
- `GET /v1/models` with a virtual key is the check that a key still works: a blocked key gets 401
  "Key is blocked", an expired one 400 `expired_key`, an unknown one the proxy's 401; a usable key gets
  its models (all models when it lists none). The master key sees every model.
"""

from __future__ import annotations

import hmac
from typing import Any

import psycopg
from psycopg_pool import PoolTimeout

from sandbox.litellm.database import LiteLLMDatabase
from sandbox.litellm.errors import proxy_error, unauthorized, validation_error
from sandbox.litellm.keys import iso, public_row, token_of, utcnow
from sandbox.litellm.server import Request, Response
from sandbox.litellm.state import LiteLLMState

BLOCKED = "Authentication Error, Key is blocked. Update via `/key/unblock` if you're admin."
MODEL_CREATED = 1677610602  # what the proxy reports as `created` for every model


def set_blocked(db: LiteLLMDatabase, request: Request, blocked: bool) -> Response:
    """POST /key/block or /key/unblock."""
    try:
        body: Any = request.json()
    except ValueError:
        return validation_error("JSON decode error", ["body", 0], None)
    key = body.get("key") if isinstance(body, dict) else None
    if not isinstance(key, str) or not key:
        return validation_error("Field required", ["body", "key"], None)
    row = db.set_blocked(token_of(key), blocked, utcnow())
    if row is None:
        return proxy_error(404, "Key not found", "bad_request_error", "key")
    return Response(200, public_row(row))


def _model_list(names: list[str]) -> Response:
    data = [{"id": n, "object": "model", "created": MODEL_CREATED, "owned_by": "openai"} for n in names]
    return Response(200, {"data": data, "object": "list"})


def presented_key(request: Request) -> str:
    """The key a client presented: `Authorization: Bearer …`, else `x-litellm-api-key` ("" if none)."""
    for header in ("authorization", "x-litellm-api-key"):
        value = request.headers.get(header, "").strip()
        if value.lower().startswith("bearer "):
            value = value[len("bearer ") :].strip()
        if value:
            return value
    return ""


def list_models(state: LiteLLMState, request: Request) -> Response:
    """GET /v1/models: the models the presented key may call, or why it may not call any."""
    presented = presented_key(request)
    db = state.db
    try:
        names = sorted({str(m["model_name"]) for m in db.list_models()}) if db is not None else []
        row = db.find_key(token_of(presented)) if db is not None and presented else None
    except (psycopg.Error, PoolTimeout) as exc:
        return proxy_error(500, f"Database error: {type(exc).__name__}")
    if hmac.compare_digest(presented.encode(), state.master_key.encode()):
        return _model_list(names)
    if row is None:
        return unauthorized()
    if row.get("blocked"):
        return proxy_error(401, BLOCKED, "auth_error", "None")
    now = utcnow()
    expires = row.get("expires")
    if expires is not None and expires < now:
        return proxy_error(
            400,
            f"Authentication Error - Expired Key. Key Expiry time {iso(expires)} and current time {iso(now)}",
            "expired_key",
            "None",
        )
    allowed = list(row.get("models") or [])
    return _model_list([n for n in names if n in allowed] if allowed else names)
