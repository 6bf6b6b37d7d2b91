"""Text as the bot may show it: clipped, printable, and user input never echoed as a secret."""

from __future__ import annotations

import re

ELLIPSIS = "…"
ECHO_LIMIT = 50  # characters of user input echoed back in a message
SECRET_VALUE = re.compile(r"sk-|xox[a-z]-|xapp-|://[^/\s]*:[^/\s]*@", re.IGNORECASE)


def clip(text: str, limit: int) -> str:
    """`text` cut to at most `limit` characters, the last one "…" when something was cut."""
    if len(text) <= limit:
        return text
    return text[: max(0, limit - 1)] + ELLIPSIS


def printable(text: str) -> str:
    """Every character that would not print (controls, lone surrogates…) shown as "?"."""
    return "".join(ch if ch.isprintable() else "?" for ch in text)


def shown(text: str, limit: int = ECHO_LIMIT) -> str:
    """User input made safe to echo: printable, no backticks, clipped, and "***" if it looks secret."""
    if SECRET_VALUE.search(text):
        return "***"
    return clip(printable(text).replace("`", "'"), limit)
