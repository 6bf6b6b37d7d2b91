"""Every message the bot sends to Slack goes through here, and through the redactor first.

Slack failures are logged and reported to the caller as `None`/`False`, never raised into an
operation: losing a progress edit must not lose the operation itself.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from http.client import HTTPException
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.metrics import BotMetrics
from bot.redaction import Redactor
from bot.rendering import Message
from bot.text_safety import safe

# slack_sdk's urllib transport raises URLError (an OSError) or an http.client error when Slack cannot
# be reached at all (connection refused or dropped), not a SlackClientError: all are failures here.
SLACK_FAILURES = (SlackApiError, SlackClientError, OSError, HTTPException)

log = logging.getLogger(__name__)

FILE_TITLE_LIMIT = 250

Reply = Callable[..., None]
"""An interaction's own answer channel (Bolt's `respond`): reply(message, ephemeral=True)."""


class Messenger:
    """Posts, edits and ephemeral messages through the Web API, redacted."""

    def __init__(self, client: WebClient, redactor: Redactor, metrics: BotMetrics | None = None) -> None:
        self.client = client
        self.redactor = redactor
        self.metrics = metrics or BotMetrics()

    def _clean(self, message: Message) -> dict[str, Any]:
        cleaned: dict[str, Any] = self.redactor.redact_obj(dict(message))
        return cleaned

    def post(
        self, channel: str, message: Message, *, thread_ts: str | None = None, broadcast: bool = False
    ) -> str | None:
        """Post to a channel (or a thread, `broadcast` also to the channel); the ts, or None if refused."""
        body = self._clean(message)
        try:
            resp = self.client.chat_postMessage(
                channel=channel,
                text=body["text"],
                blocks=body.get("blocks"),
                attachments=body.get("attachments"),
                thread_ts=thread_ts,
                reply_broadcast=broadcast if thread_ts else None,
            )
        except SLACK_FAILURES as exc:
            log.warning("chat.postMessage to %s failed: %s", channel, self._failure("chat.postMessage", exc))
            return None
        ts = resp.get("ts")
        return str(ts) if ts else None

    def update(self, channel: str, ts: str, message: Message) -> bool:
        body = self._clean(message)
        try:
            self.client.chat_update(
                channel=channel,
                ts=ts,
                text=body["text"],
                blocks=body.get("blocks"),
                attachments=body.get("attachments"),
            )
        except SLACK_FAILURES as exc:
            log.warning("chat.update of %s/%s failed: %s", channel, ts, self._failure("chat.update", exc))
            return False
        return True

    def ephemeral(self, channel: str, user: str, message: Message) -> bool:
        body = self._clean(message)
        try:
            self.client.chat_postEphemeral(
                channel=channel, user=user, text=body["text"], blocks=body.get("blocks")
            )
        except SLACK_FAILURES as exc:
            log.warning(
                "chat.postEphemeral to %s failed: %s", channel, self._failure("chat.postEphemeral", exc)
            )
            return False
        return True

    def open_view(self, trigger_id: str, view: dict[str, Any]) -> bool:
        """Open a modal (a form); Slack allows this within 3 s of the interaction."""
        try:
            self.client.views_open(trigger_id=trigger_id, view=self.redactor.redact_obj(view))
        except SLACK_FAILURES as exc:
            log.warning("views.open failed: %s", self._failure("views.open", exc))
            return False
        return True

    def channel_replier(self, channel: str, user: str) -> Reply:
        """Answers for an interaction without a response_url (a form): ephemeral to the user, or posted."""

        def reply(message: Message, ephemeral: bool = True) -> None:
            if ephemeral:
                self.ephemeral(channel, user, message)
            else:
                self.post(channel, message)

        return reply

    def upload(
        self, channel: str, *, filename: str, title: str, content: str, thread_ts: str | None = None
    ) -> bool:
        """Upload a text file (long logs, full lists) to a channel, redacted like every message."""
        try:
            self.client.files_upload_v2(
                channel=channel,
                filename=filename,
                title=safe(title, FILE_TITLE_LIMIT),  # redacted, escaped, clipped: it can hold input
                content=self.redactor.redact(content),
                thread_ts=thread_ts,
            )
        except SLACK_FAILURES as exc:
            log.warning("file upload to %s failed: %s", channel, self._failure("files.upload", exc))
            return False
        return True

    def replier(self, respond: Callable[..., Any]) -> Reply:
        """Wrap Bolt's `respond` (the response_url) so that it is redacted and never raises."""

        def reply(message: Message, ephemeral: bool = True) -> None:
            body = self._clean(message)
            try:
                respond(
                    text=body["text"],
                    blocks=body.get("blocks"),
                    response_type="ephemeral" if ephemeral else "in_channel",
                    replace_original=False,
                )
            except Exception as exc:  # the response_url is best effort: log, never crash the listener
                self.metrics.slack_error("response_url", type(exc).__name__)
                log.warning("response_url reply failed: %s", self.redactor.redact(str(exc)))

        return reply

    def _failure(self, method: str, exc: Exception) -> str:
        """Count a failed Web API call; the error to log."""
        error = _slack_error(exc)
        self.metrics.slack_error(method, error)
        return error


def _slack_error(exc: Exception) -> str:
    if isinstance(exc, SlackApiError):
        return str(exc.response.get("error", "unknown error"))
    return type(exc).__name__
