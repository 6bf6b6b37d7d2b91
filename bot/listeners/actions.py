"""Approve / Deny buttons. A button carries only the operation id; the clicker is checked again."""

from __future__ import annotations

import re
from typing import Any

from slack_bolt import Ack, App, Respond

from bot.messenger import Messenger
from bot.service import CommandService, Decision


def register(app: App, *, service: CommandService, messenger: Messenger) -> None:
    @app.action(re.compile(r"^approval\.(approve|deny)$"))
    def on_decision(ack: Ack, body: dict[str, Any], action: dict[str, Any], respond: Respond) -> None:
        ack()
        decision = Decision(
            user_id=str((body.get("user") or {}).get("id", "")),
            operation_id=str(action.get("value", "")),
            approve=action.get("action_id") == "approval.approve",
        )
        service.handle_decision(decision, messenger.replier(respond))
