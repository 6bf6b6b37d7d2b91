"""Reading a Kubernetes watch stream: newline-delimited JSON events as they arrive."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any


def list_lines(response: Any) -> Iterator[str]:
    """The lines of a streamed (chunked) response, as they arrive."""
    pending = b""
    for chunk in response.stream(amt=None, decode_content=False):
        pending += chunk
        while b"\n" in pending:
            line, pending = pending.split(b"\n", 1)
            yield line.decode("utf-8", "replace")
    if pending.strip():
        yield pending.decode("utf-8", "replace")


def parse_event(line: str) -> tuple[str, dict[str, Any]] | None:
    """(type, object) of one event line; None for a blank or object-less line; ValueError if not JSON."""
    if not line.strip():
        return None
    event = json.loads(line)
    if not isinstance(event, dict) or not isinstance(event.get("object"), dict):
        return None
    return str(event.get("type") or ""), event["object"]
