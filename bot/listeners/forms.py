"""Form submissions: validated by the operation's own argument model, errors shown field by field."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App

from bot.forms import FORM_CALLBACK, read_form, typed_environment
from bot.intake import Intake
from bot.interactions import CommandRequest
from bot.listeners.slack_body import user_of
from bot.messenger import Messenger


def register(app: App, *, intake: Intake, messenger: Messenger) -> None:
    @app.view(FORM_CALLBACK)
    def on_form_submitted(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        verb, channel, values = read_form(view)
        outcome = intake.check_form(verb, values)
        if isinstance(outcome, dict):
            first_block = next(iter(values), None) or next(
                (b.get("block_id") for b in view.get("blocks") or [] if b.get("block_id")), "form"
            )
            errors = {(name or str(first_block)): message for name, message in outcome.items()}
            ack(response_action="errors", errors=errors)
            return
        ack()
        user = user_of(body)
        request = CommandRequest(
            user_id=user, channel_id=channel, text=outcome.text + typed_environment(view)
        )
        reply = messenger.channel_replier(channel, user)
        intake.accept(lambda: intake.dispatch(request, outcome, reply), reply)
