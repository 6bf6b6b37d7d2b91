"""The `/key/*` admin routes of the emulated proxy (litellm-facts.md §3, §8.1-§8.2).

`generate` stores sha256(key) as the token and returns the plaintext key exactly once; `info` takes a
key or a token and serves deleted keys from the archive with `status: deleted`; `list` pages with
`page` ≥ 1 and `size` 1..100; `delete` takes `keys` (keys or tokens) or else `key_aliases`, answers the
list as sent, 404 when nothing matched and 422 when neither list is given. No response or error ever
carries a key other than the one `generate` just made.
"""

from __future__ import annotations

import hashlib
import math
import secrets
from datetime import UTC, datetime
from typing import Any

from sandbox.litellm.database import SORTABLE, KeyFilter, LiteLLMDatabase, Row
from sandbox.litellm.durations import expires_from
from sandbox.litellm.errors import proxy_error, validation_error
from sandbox.litellm.server import Request, Response

CREATED_BY = "default_user_id"  # who the master key is, for LiteLLM
MAX_PAGE_SIZE = 100


def utcnow() -> datetime:
    """Now as LiteLLM stores it: naive UTC."""
    return datetime.now(UTC).replace(tzinfo=None)


def token_of(key_or_token: str) -> str:
    """The stored token: sha256 hex of an `sk-` key; anything else is taken as a token already."""
    if key_or_token.startswith("sk-"):
        return hashlib.sha256(key_or_token.encode()).hexdigest()
    return key_or_token


def iso(value: datetime | None) -> str | None:
    """A naive-UTC timestamp as the proxy serialises it (`…Z`)."""
    return None if value is None else value.isoformat() + "Z"


def public_row(row: Row) -> dict[str, Any]:
    """A DB row as JSON: timestamps as ISO strings, everything else as stored."""
    return {name: iso(value) if isinstance(value, datetime) else value for name, value in row.items()}


def _status(row: Row, now: datetime) -> str:
    if row.get("blocked"):
        return "revoked"
    expires = row.get("expires")
    return "expired" if expires is not None and expires < now else "active"


# -- field checks for /key/generate -----------------------------------------------------------------

_STR_FIELDS = ("key_alias", "user_id", "team_id", "budget_duration", "key_type", "organization_id")
_INT_FIELDS = ("tpm_limit", "rpm_limit", "max_parallel_requests", "tpd_limit")
_FLOAT_FIELDS = ("max_budget", "spend")
_DICT_FIELDS = ("metadata", "aliases", "config", "permissions", "model_max_budget")


class BadField(ValueError):
    """One invalid request field → FastAPI's 422."""

    def __init__(self, field: str, message: str, value: Any) -> None:
        super().__init__(message)
        self.field = field
        self.value = value


def _checked(body: dict[str, Any]) -> dict[str, Any]:
    """The storable columns of a generate request; BadField for a wrongly typed one."""
    values: dict[str, Any] = {}
    for name in _STR_FIELDS:
        value = body.get(name)
        if value is not None and not isinstance(value, str):
            raise BadField(name, "Input should be a valid string", value)
        values[name] = value
    for name in _INT_FIELDS:
        value = body.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise BadField(name, "Input should be a valid integer", value)
        values[name] = value
    for name in _FLOAT_FIELDS:
        value = body.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise BadField(name, "Input should be a valid number", value)
        values[name] = value
    for name in _DICT_FIELDS:
        value = body.get(name)
        if value is not None and not isinstance(value, dict):
            raise BadField(name, "Input should be a valid dictionary", value)
        values[name] = value if value is not None else {}
    models = body.get("models")
    if models is not None and not (isinstance(models, list) and all(isinstance(m, str) for m in models)):
        raise BadField("models", "Input should be a valid list of strings", models)
    values["models"] = models or []
    blocked = body.get("blocked")
    if blocked is not None and not isinstance(blocked, bool):
        raise BadField("blocked", "Input should be a valid boolean", blocked)
    values["blocked"] = blocked
    values["spend"] = float(values["spend"] or 0.0)
    values["key_type"] = values["key_type"] or "default"
    return values


# -- handlers ---------------------------------------------------------------------------------------


def generate(db: LiteLLMDatabase, request: Request) -> Response:
    """POST /key/generate: a new key (custom `key` or `sk-` + token_urlsafe(16)); 400 on a taken alias."""
    body = _json_object(request)
    if isinstance(body, Response):
        return body
    try:
        values = _checked(body)
    except BadField as bad:
        return validation_error(str(bad), ["body", bad.field], bad.value)
    custom = body.get("key")
    if custom is not None and (
        not isinstance(custom, str) or not custom.startswith("sk-") or len(custom) < 8
    ):
        return proxy_error(
            400, "Invalid key format. LiteLLM Virtual Key must start with 'sk-'.", "bad_request_error"
        )
    now = utcnow()
    try:
        expires = expires_from(body.get("duration"), now)
    except ValueError as exc:
        return proxy_error(400, str(exc), "bad_request_error", "duration")
    alias = values["key_alias"]
    if alias is not None and db.alias_taken(alias):
        return proxy_error(
            400,
            f"Key with alias '{alias}' already exists. Unique key aliases across all keys are required.",
            "bad_request_error",
            "key_alias",
        )
    key = custom if isinstance(custom, str) else "sk-" + secrets.token_urlsafe(16)
    token = token_of(key)
    if db.find_key(token) is not None:
        return proxy_error(400, "A key with this value already exists.", "bad_request_error", "key")
    row = db.insert_key(
        {
            **values,
            "token": token,
            "key_name": "sk-..." + key[-4:],
            "expires": expires,
            "created_at": now,
            "updated_at": now,
            "created_by": CREATED_BY,
            "updated_by": CREATED_BY,
        }
    )
    reply = public_row(row)
    reply.update(key=key, token=token, token_id=token, duration=None)
    return Response(200, reply)


def info(db: LiteLLMDatabase, request: Request) -> Response:
    """GET /key/info?key=: the row (without token) plus `status`; deleted keys from the archive."""
    asked = request.query.get("key", "")
    token = token_of(asked)
    now = utcnow()
    row = db.find_key(token) if asked else None
    if row is not None:
        details = public_row({k: v for k, v in row.items() if k != "token"})
        details["status"] = _status(row, now)
        return Response(200, {"key": asked, "info": details})
    archived = db.find_deleted_key(token) if asked else None
    if archived is not None:
        details = public_row({k: v for k, v in archived.items() if k not in ("token", "id")})
        details["status"] = "deleted"
        return Response(200, {"key": asked, "info": details})
    return proxy_error(404, "Key not found in database", "not_found_error", "key")


def _int_param(request: Request, name: str, default: int, low: int, high: int | None) -> int | Response:
    raw = request.query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        return validation_error("Input should be a valid integer", ["query", name], raw)
    if value < low or (high is not None and value > high):
        bound = f"greater than or equal to {low}" if value < low else f"less than or equal to {high}"
        return validation_error(f"Input should be {bound}", ["query", name], raw)
    return value


def _flag(request: Request, name: str) -> bool:
    return request.query.get(name, "false").lower() in ("true", "1", "yes")


def list_keys(db: LiteLLMDatabase, request: Request) -> Response:
    """GET /key/list: a page of token hashes, or full objects with `return_full_object=true`."""
    page = _int_param(request, "page", 1, 1, None)
    if isinstance(page, Response):
        return page
    size = _int_param(request, "size", 10, 1, MAX_PAGE_SIZE)
    if isinstance(size, Response):
        return size
    sort_by = request.query.get("sort_by") or "created_at"
    if sort_by not in SORTABLE:
        return proxy_error(
            400, f"Invalid sort_by: {sort_by}. Must be one of {sorted(SORTABLE)}", "bad_request_error"
        )
    sort_order = request.query.get("sort_order", "desc").lower()
    if sort_order not in ("asc", "desc"):
        return proxy_error(400, "sort_order must be 'asc' or 'desc'", "bad_request_error")
    expires = request.query.get("expires")
    if expires not in (None, "expired", "active"):
        return proxy_error(400, "expires must be 'expired' or 'active'", "bad_request_error")
    where = KeyFilter(
        key_alias=request.query.get("key_alias"),
        substring_matching=_flag(request, "substring_matching"),
        user_id=request.query.get("user_id"),
        team_id=request.query.get("team_id"),
        key_hash=request.query.get("key_hash"),
        expired=None if expires is None else expires == "expired",
    )
    rows, total = db.list_keys(where, utcnow(), sort_by, sort_order == "desc", (page - 1) * size, size)
    keys: list[Any] = (
        [public_row(row) for row in rows]
        if _flag(request, "return_full_object")
        else [r["token"] for r in rows]
    )
    return Response(
        200,
        {"keys": keys, "total_count": total, "current_page": page, "total_pages": math.ceil(total / size)},
    )


def delete(db: LiteLLMDatabase, request: Request) -> Response:
    """POST /key/delete: by `keys` (keys or tokens) if given, else by `key_aliases`."""
    body = _json_object(request)
    if isinstance(body, Response):
        return body
    for name in ("keys", "key_aliases"):
        value = body.get(name)
        if value is not None and not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
            return validation_error("Input should be a valid list of strings", ["body", name], None)
    keys: list[str] = body.get("keys") or []
    aliases: list[str] = body.get("key_aliases") or []
    if not keys and not aliases:
        return validation_error(
            "Value error, At least one of 'keys' or 'key_aliases' must be provided.", ["body"], None
        )
    changed_by = request.headers.get("litellm-changed-by")
    if keys:
        deleted = db.delete_keys("token", [token_of(k) for k in keys], utcnow(), CREATED_BY, changed_by)
    else:
        deleted = db.delete_keys("key_alias", aliases, utcnow(), CREATED_BY, changed_by)
    if not deleted:
        return proxy_error(404, "{'error': 'No keys found'}")
    return Response(200, {"deleted_keys": keys or aliases})


def _json_object(request: Request) -> dict[str, Any] | Response:
    """The body as a JSON object, or FastAPI's 422."""
    try:
        body = request.json()
    except ValueError:
        return validation_error("JSON decode error", ["body", 0], None)
    if body is None:
        body = {}
    if not isinstance(body, dict):
        return validation_error("Input should be a valid dictionary", ["body"], None)
    return body
