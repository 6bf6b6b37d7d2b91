"""What a request must pass before any route of the bot reads it: its body size, and for
`/slack/events` Slack's signature.

Bodies are bounded before anything reads them: waitress refuses (413) a body over the largest route
limit, a chunked one as soon as it grows past it, and de-chunks the rest into a Content-Length; each
route then answers 413 for a body over its own limit (`BODY_LIMITS`) before Bolt or the receiver reads
a byte. A stranger can therefore make the bot hold at most one route limit per request (waitress
spools bodies over 512 KiB to a temporary file while receiving). A Slack request whose timestamp is not
a number or whose signature does not match is 401 before Bolt parses it, whatever its body holds.
"""

from __future__ import annotations

import io
import re
from typing import TYPE_CHECKING

from slack_sdk.signature import SignatureVerifier

from bot.alerts.alertmanager import MAX_BODY_BYTES as ALERTMANAGER_BODY_LIMIT

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIEnvironment

# Slack's requests: a slash command is a few KB (its text is at most a few thousand characters), the
# one form's view_submission ~10 KB; a block_actions click carries the clicked message, and the largest
# message the bot can render (50 blocks, sections of ten 2,000-character fields) comes back as ~0.85 MB
# (tests/integration/test_http_limits.py renders it). 1 MiB covers it; a 60 MB body is refused unread.
SLACK_PATH = "/slack/events"
SLACK_BODY_LIMIT = 1024 * 1024
BODY_LIMITS = {SLACK_PATH: SLACK_BODY_LIMIT, "/alerts/alertmanager": ALERTMANAGER_BODY_LIMIT}
OTHER_BODY_LIMIT = 0  # /healthz, /readyz, /metrics and unknown paths read no body
SERVER_BODY_LIMIT = max(BODY_LIMITS.values())  # waitress's own limit: the largest route's
_DIGITS = re.compile(r"[0-9]{1,12}")


def body_refusal(environ: WSGIEnvironment, path: str) -> str | None:
    """Why the request's body is refused (over the path's limit), or None; nothing of it is read."""
    limit = BODY_LIMITS.get(path, OTHER_BODY_LIMIT)
    raw = str(environ.get("CONTENT_LENGTH", "") or "0").strip()
    length = int(raw) if _DIGITS.fullmatch(raw) else limit + 1  # waitress refuses other spellings first
    if length <= limit:
        return None
    return f"request body too large: {length} bytes; this path accepts at most {limit}"


class SlackSignature:
    """Slack's request signature (slack_sdk's verifier), checked on the raw bytes before Bolt parses."""

    def __init__(self, signing_secret: str) -> None:
        self._verifier = SignatureVerifier(signing_secret)

    def refusal(self, environ: WSGIEnvironment) -> str | None:
        """Why the request is not Slack's (401), or None. The body is read (within its limit) and put
        back for Bolt."""
        timestamp = str(environ.get("HTTP_X_SLACK_REQUEST_TIMESTAMP", ""))
        signature = str(environ.get("HTTP_X_SLACK_SIGNATURE", ""))
        if not _DIGITS.fullmatch(timestamp):
            return "invalid request timestamp"
        raw = str(environ.get("CONTENT_LENGTH", "") or "0")
        length = int(raw) if _DIGITS.fullmatch(raw) else 0
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)
        try:
            valid = self._verifier.is_valid(body=body, timestamp=timestamp, signature=signature)
        except UnicodeDecodeError:  # Slack signs UTF-8 only
            valid = False
        return None if valid else "invalid request signature"
