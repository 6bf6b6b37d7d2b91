"""The sync's request body as Fastify 4 parses and validates it in 0.4.0 (observed; litemaas-facts §9).

Parsing (content-type parsers), then the route schema `{type: object, properties: {forceUpdate: boolean,
markUnavailable: boolean}}` with Fastify's ajv defaults (`coerceTypes: 'array'`, `useDefaults`,
`removeAdditional`). Both run BEFORE authentication (the route's `preHandler`), so a bad body answers
400 even without a key:
- no body and no content type, JSON `null`, an array, a text/plain body → 400 "must be object";
- `application/json` with an empty body → 400 "Body cannot be empty …"; malformed JSON → 400;
- a body without a content type, or another media type → 415 (the handler calls it `INTERNAL_ERROR`);
- booleans are coerced: "true"/"false", 1/0, null (→ false) and one-element arrays of those pass;
  anything else is 400 "must be boolean". Unknown fields are dropped.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sandbox.backend.errors import handled_error, validation_failed
from sandbox.litellm.server import Request, Response

_MISSING = object()


@dataclass(frozen=True)
class SyncOptions:
    """The validated body: `forceUpdate` (default false) and `markUnavailable` (default true)."""

    force_update: bool = False
    mark_unavailable: bool = True


def _media_type(request: Request) -> str | None:
    raw = request.headers.get("content-type")
    return None if raw is None else raw.split(";", 1)[0].strip().lower()


def _parsed(request: Request) -> Any:
    """The parsed body, `_MISSING` when there is none, or the error Response."""
    media = _media_type(request)
    if media is None or media == "":
        if not request.body:
            return _MISSING
        return handled_error(request, 415, "INTERNAL_ERROR", "Unsupported Media Type: undefined")
    if media == "application/json":
        if not request.body.strip():
            return handled_error(
                request,
                400,
                "VALIDATION_ERROR",
                "Body cannot be empty when content-type is set to 'application/json'",
            )
        try:
            return json.loads(request.body)
        except (ValueError, UnicodeDecodeError) as exc:
            at_end = isinstance(exc, json.JSONDecodeError) and exc.pos >= len(exc.doc.rstrip())
            message = "Unexpected end of JSON input" if at_end else "Unexpected token in JSON"
            return handled_error(request, 400, "VALIDATION_ERROR", message)
    if media == "text/plain":
        return request.body.decode("utf-8", "replace")
    return handled_error(request, 415, "INTERNAL_ERROR", f"Unsupported Media Type: {media}")


def _coerced_boolean(value: Any) -> bool | None:
    """ajv's `coerceTypes: 'array'` for a boolean; None when it cannot be coerced."""
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    if value is None or isinstance(value, bool):
        return bool(value)
    if isinstance(value, str) and value in ("true", "false"):
        return value == "true"
    if isinstance(value, int | float) and value in (0, 1):
        return value == 1
    return None


def sync_options(request: Request) -> SyncOptions | Response:
    """The options of `POST /api/v1/models/sync`, or the backend's 400/415."""
    body = _parsed(request)
    if isinstance(body, Response):
        return body
    if not isinstance(body, dict):
        return validation_failed(request, "unknown", "must be object")
    values = {"forceUpdate": False, "markUnavailable": True}
    for name in values:
        if name in body:
            coerced = _coerced_boolean(body[name])
            if coerced is None:
                return validation_failed(request, name, "must be boolean")
            values[name] = coerced
    return SyncOptions(force_update=values["forceUpdate"], mark_unavailable=values["markUnavailable"])
