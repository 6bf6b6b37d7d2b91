"""Buttons: Approve / Deny carry only the operation id; a follow-up (e.g. Rollback) carries the command.

Whoever clicks is checked again exactly as if they had typed the command. A decision also names the
message clicked on: it counts only on the request's own card (`bot.card_binding`).
"""

from __future__ import annotations

import re
from typing import Any

from slack_bolt import Ack, App, Respond

from bot.messenger import Messenger
from bot.service import FOLLOW_UP_ACTION, CommandRequest, CommandService, Decision


def register(app: App, *, service: CommandService, messenger: Messenger) -> None:
    @app.action(re.compile(r"^approval\.(approve|deny)$"))
    def on_decision(ack: Ack, body: dict[str, Any], action: dict[str, Any], respond: Respond) -> None:
        ack()
        container = body.get("container") or {}
        decision = Decision(
            user_id=str((body.get("user") or {}).get("id", "")),
            operation_id=str(action.get("value", "")),
            approve=action.get("action_id") == "approval.approve",
            channel_id=_text((body.get("channel") or {}).get("id") or container.get("channel_id")),
            message_ts=_text(container.get("message_ts") or (body.get("message") or {}).get("ts")),
        )
        reply = messenger.replier(respond)
        service.accept(lambda: service.handle_decision(decision, reply), reply)

    @app.action(FOLLOW_UP_ACTION)
    def on_follow_up(ack: Ack, body: dict[str, Any], action: dict[str, Any], respond: Respond) -> None:
        ack()
        channel = (body.get("channel") or {}).get("id") or (body.get("container") or {}).get("channel_id")
        request = CommandRequest(
            user_id=str((body.get("user") or {}).get("id", "")),
            channel_id=str(channel or ""),
            text=str(action.get("value", "")),
        )
        reply = messenger.replier(respond)
        service.accept(lambda: service.handle_command(request, reply), reply)


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
