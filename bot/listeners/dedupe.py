"""Slack retries a delivery it thinks was lost: a request body seen before runs nothing twice.

The key is a hash of the raw body (in Socket Mode, of the payload, which has no raw body): a retry
repeats it byte for byte, while two commands typed separately differ (trigger_id) and two clicks differ
(action_ts).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable

from slack_bolt import App, BoltRequest, BoltResponse

from bot.dedupe import Deduper
from bot.locks import LocksUnavailable

log = logging.getLogger(__name__)


def register(app: App, deduper: Deduper) -> None:
    @app.middleware
    def drop_retries(req: BoltRequest, resp: BoltResponse, next: Callable[[], BoltResponse]) -> BoltResponse:
        body = req.raw_body if isinstance(req.raw_body, str) else ""
        if req.mode == "socket_mode":  # no raw body: the envelope's payload is the request
            body = json.dumps(req.body, sort_keys=True, default=str)
        key = "slack-request:" + hashlib.sha256(body.encode()).hexdigest()
        try:
            first = deduper.first_time(key)
        except LocksUnavailable:
            log.warning("retry deduplication unavailable (Redis unreachable)")
            first = True
        if not first:
            log.info("dropping a repeated Slack delivery")
            return BoltResponse(status=200, body="")
        return next()
