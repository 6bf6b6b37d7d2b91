"""Buttons on alerts: they carry only an id; the command behind it runs as the clicker, checks and all."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App, Respond

from bot import rendering
from bot.alerts.pipeline import ALERT_ACTION, AlertPipeline
from bot.messenger import Messenger
from bot.service import CommandRequest, CommandService


def register(app: App, *, service: CommandService, messenger: Messenger, alerts: AlertPipeline) -> None:
    @app.action(ALERT_ACTION)
    def on_alert_action(ack: Ack, body: dict[str, Any], action: dict[str, Any], respond: Respond) -> None:
        ack()
        reply = messenger.replier(respond)
        user = str((body.get("user") or {}).get("id", ""))
        channel = (body.get("channel") or {}).get("id") or (body.get("container") or {}).get("channel_id")
        action_id = str(action.get("value", ""))

        def work() -> None:
            try:
                command = alerts.action(action_id)
            except Exception:  # Redis down: say so, run nothing
                reply(rendering.render_error("Cannot read this alert's action now (Redis unreachable)."))
                return
            if command is None:
                reply(rendering.render_error("This alert's button has expired; type the command instead."))
                return
            request = CommandRequest(user_id=user, channel_id=str(channel or ""), text=command)
            service.handle_command(request, reply)

        service.accept(work, reply)
