"""Turn a Web API request (query string + form, JSON or multipart body) into one argument dict."""

from __future__ import annotations

import json
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any
from urllib.parse import parse_qsl


class BadBody(ValueError):
    """The body could not be read as its Content-Type says."""


def parse_query(query: str) -> dict[str, Any]:
    """A query string as a dict (last value wins, as Slack does)."""
    return dict(parse_qsl(query, keep_blank_values=True))


def parse_body(content_type: str, body: bytes) -> dict[str, Any]:
    """Arguments from a body: JSON object, urlencoded form, or multipart form (file parts as bytes)."""
    kind = content_type.split(";", 1)[0].strip().lower()
    if not body:
        return {}
    if kind == "application/json":
        try:
            parsed = json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise BadBody("invalid_json") from exc
        if not isinstance(parsed, dict):
            raise BadBody("invalid_json")
        return parsed
    if kind == "multipart/form-data":
        return _parse_multipart(content_type, body)
    try:
        return dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
    except UnicodeDecodeError as exc:
        raise BadBody("invalid_form_data") from exc


def _parse_multipart(content_type: str, body: bytes) -> dict[str, Any]:
    message = BytesParser(policy=HTTP).parsebytes(
        b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body
    )
    if not message.is_multipart():
        raise BadBody("invalid_form_data")
    args: dict[str, Any] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue
        payload = part.get_payload(decode=True)
        data = payload if isinstance(payload, bytes) else b""
        if part.get_filename() is None:
            args[name] = data.decode("utf-8", errors="replace")
        else:
            args[name] = data
    return args
