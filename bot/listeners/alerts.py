"""Buttons on alerts: they carry only an id; the command behind it runs as the clicker, checks and all."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App, Respond

from bot import rendering
from bot.alerts.pipeline import ALERT_ACTION, AlertPipeline
from bot.intake import Intake
from bot.interactions import CommandRequest
from bot.listeners.slack_body import channel_of, user_of
from bot.messenger import Messenger


def register(app: App, *, intake: Intake, messenger: Messenger, alerts: AlertPipeline) -> None:
    @app.action(ALERT_ACTION)
    def on_alert_action(ack: Ack, body: dict[str, Any], action: dict[str, Any], respond: Respond) -> None:
        ack()
        reply = messenger.replier(respond)
        user, channel = user_of(body), channel_of(body)
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
            intake.handle_command(CommandRequest(user_id=user, channel_id=channel, text=command), reply)

        intake.accept(work, reply)
