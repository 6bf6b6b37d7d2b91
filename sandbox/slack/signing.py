"""Sign requests as Slack does and build the bodies Slack sends for slash commands and button clicks.

Signature: `v0=` + hex HMAC-SHA256(signing secret, `v0:{timestamp}:{raw body}`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from sandbox.slack.workspace import APP_ID, TEAM_DOMAIN

FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"
VERIFICATION_TOKEN = "sandbox-verification-token"  # deprecated by Slack, still sent in bodies


def sign(secret: str, body: str | bytes, timestamp: int | None = None) -> dict[str, str]:
    """The headers Slack sends with `body`: X-Slack-Signature, X-Slack-Request-Timestamp, Content-Type."""
    ts = int(time.time()) if timestamp is None else int(timestamp)
    raw = body.encode("utf-8") if isinstance(body, str) else body
    base = f"v0:{ts}:".encode() + raw
    digest = hmac.new(secret.encode("utf-8"), base, hashlib.sha256).hexdigest()
    return {
        "X-Slack-Signature": f"v0={digest}",
        "X-Slack-Request-Timestamp": str(ts),
        "Content-Type": FORM_CONTENT_TYPE,
    }


def _trigger_id() -> str:
    return f"{int(time.time())}.{time.monotonic_ns() % 10**12}.sandboxtrigger"


def slash_command_body(
    *,
    text: str,
    user_id: str,
    channel_id: str,
    command: str = "/maas",
    response_url: str,
    team_id: str = "T0SANDBOX",
    trigger_id: str | None = None,
    user_name: str | None = None,
    channel_name: str | None = None,
) -> str:
    """The form-encoded body of a slash command, fields in Slack's order."""
    return urlencode(
        {
            "token": VERIFICATION_TOKEN,
            "team_id": team_id,
            "team_domain": TEAM_DOMAIN,
            "channel_id": channel_id,
            "channel_name": channel_name or ("directmessage" if channel_id.startswith("D") else channel_id),
            "user_id": user_id,
            "user_name": user_name or user_id,
            "command": command,
            "text": text,
            "api_app_id": APP_ID,
            "is_enterprise_install": "false",
            "response_url": response_url,
            "trigger_id": trigger_id or _trigger_id(),
        }
    )


def block_actions_body(
    *,
    user_id: str,
    action_id: str,
    value: str,
    channel_id: str,
    message_ts: str,
    response_url: str,
    block_id: str = "actions",
    team_id: str = "T0SANDBOX",
    trigger_id: str | None = None,
    message: Mapping[str, Any] | None = None,
    button_text: str | None = None,
    user_name: str | None = None,
    channel_name: str | None = None,
    is_ephemeral: bool = False,
) -> str:
    """`payload=` + the urlencoded JSON of a `block_actions` click on a button of message `message_ts`.

    `message` is the clicked message as Slack shows it (defaults to a minimal one with that ts).
    """
    action_ts = f"{time.time():.6f}"
    payload: dict[str, Any] = {
        "type": "block_actions",
        "user": {
            "id": user_id,
            "username": user_name or user_id,
            "name": user_name or user_id,
            "team_id": team_id,
        },
        "api_app_id": APP_ID,
        "token": VERIFICATION_TOKEN,
        "container": {
            "type": "message",
            "message_ts": message_ts,
            "channel_id": channel_id,
            "is_ephemeral": is_ephemeral,
        },
        "trigger_id": trigger_id or _trigger_id(),
        "team": {"id": team_id, "domain": TEAM_DOMAIN},
        "enterprise": None,
        "is_enterprise_install": False,
        "channel": {"id": channel_id, "name": channel_name or channel_id},
        "message": dict(message)
        if message is not None
        else {"type": "message", "ts": message_ts, "text": ""},
        "state": {"values": {}},
        "response_url": response_url,
        "actions": [
            {
                "action_id": action_id,
                "block_id": block_id,
                "text": {"type": "plain_text", "text": button_text or action_id, "emoji": True},
                "value": value,
                "type": "button",
                "action_ts": action_ts,
            }
        ],
    }
    return urlencode({"payload": json.dumps(payload)})
