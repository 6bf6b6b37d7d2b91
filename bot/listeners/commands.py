"""The slash command: acknowledge at once, then hand the text to the command service."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App, Respond

from bot.messenger import Messenger
from bot.service import CommandRequest, CommandService


def register(app: App, *, service: CommandService, messenger: Messenger, slash_command: str) -> None:
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
        service.accept(lambda: service.handle_command(request, reply), reply)
