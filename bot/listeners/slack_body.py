"""Who clicked and where: the user and channel of an interaction payload (block_actions, view_submission)."""

from __future__ import annotations

from typing import Any


def user_of(body: dict[str, Any]) -> str:
    return str((body.get("user") or {}).get("id", ""))


def message_ts_of(body: dict[str, Any]) -> str | None:
    """The timestamp of the message a button was clicked on, or None."""
    ts = (body.get("container") or {}).get("message_ts") or (body.get("message") or {}).get("ts")
    return ts if isinstance(ts, str) and ts else None


def channel_of(body: dict[str, Any]) -> str:
    channel = (body.get("channel") or {}).get("id") or (body.get("container") or {}).get("channel_id")
    return str(channel or "")
