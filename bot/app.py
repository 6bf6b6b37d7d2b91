"""The Bolt app: Slack's signed requests in, listeners registered per feature."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from logging import Logger

from slack_bolt import App, BoltResponse
from slack_sdk import WebClient

from bot.alerts.pipeline import AlertPipeline
from bot.dedupe import Deduper
from bot.listeners import register_listeners
from bot.messenger import Messenger
from bot.service import CommandService

LISTENER_THREADS = 16  # Bolt's listener pool (the bench's bare Bolt baseline uses the same number)


def build_app(
    *,
    client: WebClient,
    signing_secret: str,
    service: CommandService,
    messenger: Messenger,
    deduper: Deduper,
    slash_command: str,
    alert_pipeline: AlertPipeline | None = None,
    listener_threads: int = LISTENER_THREADS,
) -> App:
    """A single-workspace Bolt app; the token is checked lazily so a Slack outage never stops start-up."""
    app = App(
        client=client,
        signing_secret=signing_secret,
        token_verification_enabled=False,
        listener_executor=ThreadPoolExecutor(max_workers=listener_threads, thread_name_prefix="bolt"),
    )

    @app.error
    def on_error(error: Exception, logger: Logger) -> BoltResponse:
        """A payload Bolt cannot process is the sender's fault: 400, logged, nothing run."""
        logger.warning("rejected a Slack request Bolt could not process: %s", type(error).__name__)
        return BoltResponse(status=400, body="")

    register_listeners(
        app,
        service=service,
        messenger=messenger,
        deduper=deduper,
        slash_command=slash_command,
        alert_pipeline=alert_pipeline,
    )
    return app
