"""Text as the bot may show it: clipped, printable, and user input never echoed as a secret."""

from __future__ import annotations

import difflib
import re
from collections.abc import Collection

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


def suggest_verb(word: str, verbs: Collection[str]) -> str | None:
    """The known word closest to a mistyped one ("scael" → "scale"), or None when nothing is close."""
    candidate = word.strip().lower()[:100]
    if not candidate:
        return None
    matches = difflib.get_close_matches(candidate, list(verbs), n=1, cutoff=0.6)
    if matches:
        return matches[0]
    # A transposition in a short word scores low with difflib; accept one edit or swap.
    for verb in sorted(verbs):
        if _within_one_edit(candidate, verb):
            return verb
    return None


def _within_one_edit(a: str, b: str) -> bool:
    """True when `a` becomes `b` by one insertion, deletion, substitution or adjacent swap."""
    if abs(len(a) - len(b)) > 1 or a == b:
        return False
    if len(a) == len(b):
        diffs = [i for i in range(len(a)) if a[i] != b[i]]
        if len(diffs) == 1:
            return True
        return (
            len(diffs) == 2
            and diffs[1] == diffs[0] + 1
            and a[diffs[0]] == b[diffs[1]]
            and a[diffs[1]] == b[diffs[0]]
        )
    short, long = (a, b) if len(a) < len(b) else (b, a)
    return any(long[:i] + long[i + 1 :] == short for i in range(len(long)))
