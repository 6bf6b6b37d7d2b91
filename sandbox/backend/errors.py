"""The backend's error bodies, as 0.4.0 answers them (observed; litemaas-facts.md §9).

Two shapes, depending on who answers:
- the auth decorator (`plugins/auth.ts`): `{"error":{"code":"UNAUTHORIZED","message":…},"requestId":…}`,
  one generic message for every refusal (no header, wrong key, unprefixed key, `bearer` in lower case);
- the error handler (`middleware/error-handler.ts`) for validation, parsing and unknown routes:
  `{"error":{"code","message","statusCode",["details",]"requestId","timestamp"}}` — the request id
  inside `error`.
The request id is the `x-request-id` header when sent, else 10-11 random base-36 characters.
No body ever echoes a token.
"""

from __future__ import annotations

import secrets
import string
from datetime import UTC, datetime
from typing import Any

from sandbox.litellm.server import Request, Response

UNAUTHORIZED_MESSAGE = "Invalid or missing authentication token"
_BASE36 = string.digits + string.ascii_lowercase


def request_id(request: Request) -> str:
    """Fastify's `genReqId` as the backend configures it."""
    sent = request.headers.get("x-request-id", "").strip()
    return sent or "".join(secrets.choice(_BASE36) for _ in range(11))


def timestamp() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def unauthorized(request: Request) -> Response:
    """The 401 of `fastify.authenticate`: the same words whatever was wrong."""
    return Response(
        401,
        {
            "error": {"code": "UNAUTHORIZED", "message": UNAUTHORIZED_MESSAGE},
            "requestId": request_id(request),
        },
    )


def handled_error(
    request: Request, status: int, code: str, message: str, details: dict[str, Any] | None = None
) -> Response:
    """A body of the global error handler (request id and timestamp inside `error`)."""
    error: dict[str, Any] = {"code": code, "message": message, "statusCode": status}
    if details is not None:
        error["details"] = details
    error["requestId"] = request_id(request)
    error["timestamp"] = timestamp()
    return Response(status, {"error": error})


def validation_failed(request: Request, field: str, message: str) -> Response:
    """Schema validation (ajv) failed: 400 `VALIDATION_ERROR` with the failing field in `details`."""
    details = {
        "validation": [{"field": field or "unknown", "message": message, "code": "type"}],
        "suggestion": "Please check your input and try again",
    }
    return handled_error(request, 400, "VALIDATION_ERROR", "Request validation failed", details)


def not_found(request: Request) -> Response:
    """The not-found handler's 404."""
    return handled_error(
        request,
        404,
        "NOT_FOUND",
        f"Route {request.method} {request.path} not found",
        {"suggestion": "Please check the URL and try again"},
    )
