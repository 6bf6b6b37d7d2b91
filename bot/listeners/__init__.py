"""Bolt listeners, one module per kind of Slack interaction, each with a `register(app, …)` seam."""

from __future__ import annotations

from slack_bolt import App

from bot.alerts.pipeline import AlertPipeline
from bot.dedupe import Deduper
from bot.listeners import actions, alerts, commands, dedupe, forms
from bot.messenger import Messenger
from bot.service import CommandService


def register_listeners(
    app: App,
    *,
    service: CommandService,
    messenger: Messenger,
    deduper: Deduper,
    slash_command: str,
    alert_pipeline: AlertPipeline | None = None,
) -> None:
    dedupe.register(app, deduper)
    commands.register(app, intake=service.intake, messenger=messenger, slash_command=slash_command)
    actions.register(app, intake=service.intake, approvals=service.approvals, messenger=messenger)
    forms.register(app, intake=service.intake, messenger=messenger)
    if alert_pipeline is not None:
        alerts.register(app, intake=service.intake, messenger=messenger, alerts=alert_pipeline)
