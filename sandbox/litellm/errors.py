"""LiteLLM's error bodies (litellm-facts.md §3-§6), so clients see what the real proxy sends.

`ProxyException` renders as `{"error": {"message", "type", "param", "code"}}` with `code` a string;
FastAPI validation errors as `{"detail": [{type, loc, msg, input}]}`; some model routes raise plain
`HTTPException`s, `{"detail": {"error": …}}`. No helper here ever puts a key into a message.
"""

from __future__ import annotations

from typing import Any

from sandbox.litellm.server import Response


def proxy_error(
    status: int, message: str, type_: str = "internal_server_error", param: Any = None
) -> Response:
    """LiteLLM's `ProxyException` shape."""
    return Response(
        status, {"error": {"message": message, "type": type_, "param": param, "code": str(status)}}
    )


def validation_error(message: str, loc: list[str | int], value: Any = None) -> Response:
    """FastAPI's 422 shape for one failed field."""
    return Response(422, {"detail": [{"type": "value_error", "loc": loc, "msg": message, "input": value}]})


def unauthorized() -> Response:
    """What the proxy answers without (or with a wrong) master key."""
    return proxy_error(
        401,
        "Authentication Error, Invalid proxy server token passed. Unable to find token in cache or "
        "`LiteLLM_VerificationTokenTable`",
        "auth_error",
        "None",
    )


def no_database(route: str) -> Response:
    """500 of a key/model route when the proxy has no database (§6)."""
    messages = {
        "/key/generate": "DB not connected. This endpoint needs a database to store keys.",
        "/key/list": "Authentication Error, Database not connected",
        "/key/info": "Database not connected",
        "/key/delete": "Not connected to DB!",
        "/key/update": "{'error': 'Database not connected'}",
    }
    return proxy_error(
        500,
        messages.get(
            route, "No DB Connected. Here's how to do it - https://docs.litellm.ai/docs/proxy/virtual_keys"
        ),
    )
