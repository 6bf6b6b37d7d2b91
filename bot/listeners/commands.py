"""The slash command: acknowledge at once, then hand the text to the intake."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App, Respond

from bot.intake import Intake
from bot.interactions import CommandRequest
from bot.messenger import Messenger


def register(app: App, *, intake: Intake, messenger: Messenger, slash_command: str) -> None:
    @app.command(slash_command)
    def on_slash_command(ack: Ack, command: dict[str, Any], respond: Respond) -> None:
        ack()
        request = CommandRequest(
            user_id=str(command.get("user_id", "")),
            channel_id=str(command.get("channel_id", "")),
            text=str(command.get("text", "")),
            trigger_id=str(command.get("trigger_id") or "") or None,
        )
        reply = messenger.replier(respond)
        intake.accept(lambda: intake.handle_command(request, reply), reply)
