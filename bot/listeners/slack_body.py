"""Who clicked and where: the user and channel of an interaction payload (block_actions, view_submission)."""

from __future__ import annotations

from typing import Any


def user_of(body: dict[str, Any]) -> str:
    return str((body.get("user") or {}).get("id", ""))


def channel_of(body: dict[str, Any]) -> str:
    channel = (body.get("channel") or {}).get("id") or (body.get("container") or {}).get("channel_id")
    return str(channel or "")
