"""The `/model/*` admin routes of the emulated proxy (litellm-facts.md §4, §7.3, §8.4).

`/model/new` stores a deployment in `"LiteLLM_ProxyModelTable"` with every string of `litellm_params`
encrypted at rest (keyed by the master key, as the proxy does without `LITELLM_SALT_KEY`);
`/model/info` decrypts them, drops `api_key` and marks DB models `db_model: true`; `/model/delete`
takes `{"id": …}` and answers 400 for an unknown id. Values stored in clear (seeded by tests) are
served as they are. The cipher is a keyed XOR stream: opaque in the table, not real cryptography.
"""

from __future__ import annotations

import base64
import hashlib
import uuid
from itertools import count
from typing import Any

from sandbox.litellm.database import LiteLLMDatabase, Row
from sandbox.litellm.errors import proxy_error, validation_error
from sandbox.litellm.keys import CREATED_BY, iso, utcnow
from sandbox.litellm.server import Request, Response

PREFIX = "sandbox-enc:"


def _stream(secret: str, length: int) -> bytes:
    out = bytearray()
    for block in count():
        if len(out) >= length:
            break
        out += hashlib.sha256(f"{secret}:{block}".encode()).digest()
    return bytes(out[:length])


def encrypt(value: str, secret: str) -> str:
    data = value.encode()
    mixed = bytes(a ^ b for a, b in zip(data, _stream(secret, len(data)), strict=True))
    return PREFIX + base64.urlsafe_b64encode(mixed).decode()


def decrypt(value: str, secret: str) -> str:
    """The clear text; a value without the sandbox prefix is returned unchanged."""
    if not value.startswith(PREFIX):
        return value
    try:
        data = base64.urlsafe_b64decode(value[len(PREFIX) :])
    except ValueError:
        return value
    return bytes(a ^ b for a, b in zip(data, _stream(secret, len(data)), strict=True)).decode(
        "utf-8", "replace"
    )


def _map_strings(params: dict[str, Any], change: Any) -> dict[str, Any]:
    return {k: change(v) if isinstance(v, str) else v for k, v in params.items()}


def new_model(db: LiteLLMDatabase, request: Request, secret: str) -> Response:
    """POST /model/new: a `Deployment` body; `litellm_params.model` is the only required parameter."""
    try:
        body = request.json()
    except ValueError:
        return validation_error("JSON decode error", ["body", 0], None)
    if not isinstance(body, dict):
        return validation_error("Input should be a valid dictionary", ["body"], None)
    name = body.get("model_name")
    if not isinstance(name, str) or not name:
        return validation_error("Field required", ["body", "model_name"], None)
    params = body.get("litellm_params")
    if not isinstance(params, dict) or not isinstance(params.get("model"), str):
        return validation_error("Field required", ["body", "litellm_params", "model"], None)
    info = body.get("model_info") or {}
    if not isinstance(info, dict):
        return validation_error("Input should be a valid dictionary", ["body", "model_info"], None)
    model_id = str(info.get("id") or uuid.uuid4())
    if db.list_models(model_id):
        return proxy_error(400, f"Model with id={model_id} already exists", "bad_request_error")
    stored_info = {**info, "id": model_id}
    row = db.insert_model(
        model_id, name, _map_strings(params, lambda v: encrypt(v, secret)), stored_info, CREATED_BY, utcnow()
    )
    return Response(
        200,
        {
            "model_id": model_id,
            "model_name": name,
            "litellm_params": row["litellm_params"],
            "model_info": {**stored_info, "db_model": False},
            "blocked": row["blocked"],
            "created_at": iso(row["created_at"]),
            "created_by": row["created_by"],
            "updated_at": iso(row["updated_at"]),
            "updated_by": row["updated_by"],
        },
    )


def _entry(row: Row, secret: str) -> dict[str, Any]:
    params = _map_strings(dict(row["litellm_params"] or {}), lambda v: decrypt(v, secret))
    params.pop("api_key", None)
    model = str(params.get("model", ""))
    provider = model.split("/", 1)[0] if "/" in model else "openai"
    info = dict(row["model_info"] or {})
    info.update(id=row["model_id"], db_model=True, direct_access=True, litellm_provider=provider, key=model)
    return {"model_name": row["model_name"], "litellm_params": params, "model_info": info}


def model_info(db: LiteLLMDatabase, request: Request, secret: str) -> Response:
    """GET /model/info (and /v1/model/info): every DB model, or the one `litellm_model_id` names."""
    wanted = request.query.get("litellm_model_id")
    rows = db.list_models(wanted) if wanted else db.list_models()
    if wanted and not rows:
        return Response(400, {"detail": {"error": f"Model id = {wanted} not found on litellm proxy"}})
    return Response(200, {"data": [_entry(row, secret) for row in rows]})


def delete_model(db: LiteLLMDatabase, request: Request) -> Response:
    """POST /model/delete `{"id": …}`: 200 with LiteLLM's message, 400 for an unknown id."""
    try:
        body = request.json()
    except ValueError:
        return validation_error("JSON decode error", ["body", 0], None)
    model_id = body.get("id") if isinstance(body, dict) else None
    if not isinstance(model_id, str) or not model_id:
        return validation_error("Field required", ["body", "id"], None)
    if not db.delete_model(model_id):
        return proxy_error(
            400, f"{{'error': 'Model with id={model_id} not found in db'}}", "auth_error", "None"
        )
    return Response(200, {"message": f"Model: {model_id} deleted successfully"})
