"""Buttons: Approve / Deny carry only the operation id; a follow-up (e.g. Rollback) carries the command.

Whoever clicks is checked again exactly as if they had typed the command. A decision also names the
message clicked on: it counts only on the request's own card (`bot.card_binding`).
"""

from __future__ import annotations

import re
from typing import Any

from slack_bolt import Ack, App, Respond

from bot.approvals import Approvals
from bot.intake import Intake
from bot.interactions import CommandRequest, Decision
from bot.listeners.slack_body import channel_of, message_ts_of, user_of
from bot.messenger import Messenger
from bot.rendering import FOLLOW_UP_ACTION


def register(app: App, *, intake: Intake, approvals: Approvals, messenger: Messenger) -> None:
    @app.action(re.compile(r"^approval\.(approve|deny)$"))
    def on_decision(ack: Ack, body: dict[str, Any], action: dict[str, Any], respond: Respond) -> None:
        ack()
        decision = Decision(
            user_id=user_of(body),
            operation_id=str(action.get("value", "")),
            approve=action.get("action_id") == "approval.approve",
            channel_id=channel_of(body) or None,
            message_ts=message_ts_of(body),
        )
        reply = messenger.replier(respond)
        intake.accept(lambda: approvals.handle_decision(decision, reply), reply)

    @app.action(FOLLOW_UP_ACTION)
    def on_follow_up(ack: Ack, body: dict[str, Any], action: dict[str, Any], respond: Respond) -> None:
        ack()
        request = CommandRequest(
            user_id=user_of(body), channel_id=channel_of(body), text=str(action.get("value", ""))
        )
        reply = messenger.replier(respond)
        intake.accept(lambda: intake.handle_command(request, reply), reply)
