"""The one order every outbound text field follows: redact the RAW text, then escape, then clip.

Redacting after escaping misses a secret written with `&`, `<` or `>` (it is `&amp;…` by then), and
redacting after clipping misses a secret cut in half (`acc-signing-se…` is no longer the secret).
So `bot.rendering` passes every piece of text that comes from a user, an operation or an alert through
`escape` (redaction included) BEFORE it composes and clips; `clip` never leaves half an entity.
Escaping `&`, `<`, `>` also keeps input from pinging (`<!channel>`, `<!here>`, `<@U…>`,
`<!subteam^…>`) or forging links; the bot's own mentions are composed around escaped text.

The redactor here is the process's: it knows the secrets of every bot built in this process
(`register_secrets`, called by `bot.runtime.build_bot`) plus the secret shapes of `bot.redaction`.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable

from bot.redaction import Redactor

ELLIPSIS = "…"
_PARTIAL_ENTITY = re.compile(r"&[a-z]{0,3}$")

_redactor = Redactor()
_guard = threading.Lock()


def register_secrets(values: Iterable[str]) -> None:
    """Make the process redactor know these exact secret values (settings' tokens, keys, passwords)."""
    with _guard:
        for value in values:
            _redactor.add(value)


def redact(text: str) -> str:
    """`text` without any known secret or secret-shaped value (raw text in, raw text out)."""
    return _redactor.redact(text)


def escape(text: str) -> str:
    """Raw text made safe for a Slack text field: redacted first, then `&`, `<`, `>` escaped."""
    return _escape_only(redact(text))


def clip(text: str, limit: int) -> str:
    """Already escaped `text` cut to `limit` characters with "…", never leaving half an `&amp;` entity."""
    if len(text) <= limit:
        return text
    cut = _PARTIAL_ENTITY.sub("", text[: max(0, limit - 1)])
    return cut + ELLIPSIS


def safe(text: str, limit: int) -> str:
    """Raw text → redacted → escaped → clipped: the whole order for one field."""
    return clip(escape(text), limit)


def _escape_only(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
