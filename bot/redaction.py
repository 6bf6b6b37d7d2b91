"""The one place every outbound text (Slack messages, files, logs) goes through to lose its secrets.

Registered exact values (the bot's own tokens, keys and passwords) are replaced first, then patterns
catch secrets the bot was never told about (users' `sk-` keys, Slack tokens, passwords in URLs …).
A replacement keeps only a non-secret hint such as `sk-***`.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Iterable
from typing import Any, TypeVar

T = TypeVar("T")

MASK = "***"
MIN_SECRET_LENGTH = 6
REMEMBERED_TEXTS = 1024  # the same texts go out again and again (help, cards): their redaction is kept
REMEMBERED_LENGTH = 4096  # … up to this length each (bounds the memory at a few MB)

_SECRET_KEY_WORDS = (
    r"password|passwd|pwd|secret|api[_\-]?keys?|master[_\-]?keys?|admin[_\-]?keys?|access[_\-]?keys?"
    r"|private[_\-]?keys?|secret[_\-]?keys?|token|credentials?"
)
# A key whose name ENDS with a secret word ("DB_PASSWORD", "litellm_master_key", "X-Api-Key").
SECRET_KEY_NAME = re.compile(rf"(?i)^[\w\-.]*(?:{_SECRET_KEY_WORDS})$")
# The first letters of the secret words: a lookahead on them lets the regex engine skip most positions
# at once (case-insensitive alternations are otherwise tried at every character: 3x slower on help).
_FIRST_LETTERS = "".join(sorted({word[0] for word in _SECRET_KEY_WORDS.split("|")}))

_KEY_VALUE = re.compile(
    rf"""(?ix)
    (?=[{_FIRST_LETTERS}{_FIRST_LETTERS.upper()}])
    (?P<key>{_SECRET_KEY_WORDS})              # the end of a key name: DB_PASSWORD, litellm_master_key
    (?P<sep>\\?["']?\s*[:=]\s*)              # optional (escaped) closing quote, separator
    (?:
        \\"(?P<eq>(?:[^"\\]|\\[^"])+)\\"     # \"escaped quotes\" (JSON inside a string)
      | "(?P<dq>(?:[^"\\]|\\.)+)"             # "double quoted"
      | '(?P<sq>[^']+)'                       # 'single quoted'
      | (?P<bare>(?!\*\*\*)[^\s,;&"'}}\]\)]+) # bare value up to a delimiter
    )
    """
)

# (pattern, replacement) applied in order after the exact values.
_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # JSON Web Tokens (header.payload.signature, header always starts with eyJ).
    (re.compile(r"(?<![A-Za-z0-9_\-])eyJ[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]*"), "eyJ***"),
    # scheme://user:PASSWORD@host
    (
        re.compile(r"(?P<pre>://[^:/@\s]{0,256}):(?P<pw>[^@\s]{1,256})@"),
        r"\g<pre>:***@",
    ),
    # Authorization headers, with or without a scheme word.
    (
        re.compile(
            r"(?i)(?=[aA])(?P<pre>\bauthorization[\"']?\s*[:=]\s*[\"']?(?:(?:bearer|basic|token)\s+)?)[^\s\"',]+"
        ),
        r"\g<pre>***",
    ),
    (re.compile(r"(?i)(?=[bB])(?P<pre>\bbearer\s+)[A-Za-z0-9._~+/\-]+=*"), r"\g<pre>***"),
    # LiteLLM / OpenAI keys (not inside a word: "disk-pressure" is not a key).
    (re.compile(r"(?<![A-Za-z0-9])sk-[A-Za-z0-9_\-]{8,}"), "sk-***"),
    # Slack tokens.
    (re.compile(r"(?P<pre>xox[abposr]-)[A-Za-z0-9\-]+"), r"\g<pre>***"),
    (re.compile(r"xapp-[A-Za-z0-9\-]+"), "xapp-***"),
    # LiteMaaS backend admin keys.
    (re.compile(r"ltm_admin_\w+"), "ltm_admin_***"),
)


def _mask_key_value(match: re.Match[str]) -> str:
    key, sep = match.group("key"), match.group("sep")
    if match.group("eq") is not None:
        return f'{key}{sep}\\"{MASK}\\"'
    if match.group("dq") is not None:
        return f'{key}{sep}"{MASK}"'
    if match.group("sq") is not None:
        return f"{key}{sep}'{MASK}'"
    return f"{key}{sep}{MASK}"


class Redactor:
    """Replaces registered secret values (at least 6 characters) and known secret shapes with `***`."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets: set[str] = set()
        self._exact: re.Pattern[str] | None = None
        self._remembered = functools.lru_cache(maxsize=REMEMBERED_TEXTS)(self._redact)
        for secret in secrets:
            self.add(secret)

    def add(self, secret: str) -> None:
        """Register an exact secret value; values shorter than 6 characters are ignored (too common)."""
        if not isinstance(secret, str) or len(secret) < MIN_SECRET_LENGTH or secret in self._secrets:
            return
        self._secrets.add(secret)
        ordered = sorted(self._secrets, key=len, reverse=True)
        self._exact = re.compile("|".join(re.escape(s) for s in ordered))
        self._remembered.cache_clear()  # a text remembered as clean may contain the new secret

    def _replace_exact(self, text: str) -> str:
        if self._exact is None:
            return text
        # Replacing can join the surroundings into the secret again ("a" + "***" + "b"): repeat until
        # none is left. Each pass shortens the text, so this ends.
        while self._exact.search(text):
            text = self._exact.sub(MASK, text)
        return text

    def redact(self, text: str) -> str:
        """Return `text` without any registered secret or recognisable credential."""
        if not isinstance(text, str):
            text = str(text)
        return self._remembered(text) if len(text) <= REMEMBERED_LENGTH else self._redact(text)

    def _redact(self, text: str) -> str:
        text = self._replace_exact(text)
        for pattern, replacement in _PATTERNS:
            text = pattern.sub(replacement, text)
        text = _KEY_VALUE.sub(_mask_key_value, text)
        return self._replace_exact(text)

    def redact_obj(self, obj: T) -> T:
        """Redact every string of a JSON-like structure (dicts, lists, tuples); other values unchanged.

        A string value under a secret-looking key (`"api_key": "…"`) is masked entirely.
        """
        return self._redact_any(obj)  # type: ignore[no-any-return]

    def _redact_any(self, obj: Any) -> Any:
        if isinstance(obj, str):
            return self.redact(obj)
        if isinstance(obj, dict):
            out: dict[Any, Any] = {}
            for key, value in obj.items():
                if isinstance(key, str) and isinstance(value, str) and value and SECRET_KEY_NAME.match(key):
                    out[key] = MASK
                else:
                    out[key] = self._redact_any(value)
            return out
        if isinstance(obj, list):
            return [self._redact_any(item) for item in obj]
        if isinstance(obj, tuple):
            return tuple(self._redact_any(item) for item in obj)
        return obj


class RedactingFilter(logging.Filter):
    """A logging filter that redacts the formatted message and the traceback of every record.

    Attach it to handlers (filters on a logger do not see records propagated from child loggers);
    `install_log_redaction` does that for the root logger's handlers.
    """

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self.redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string must not lose the record
            message = f"{record.msg!s} {record.args!r}"
        record.msg = self.redactor.redact(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redactor.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redactor.redact(record.stack_info)
        return True


def install_log_redaction(redactor: Redactor, logger: logging.Logger | None = None) -> RedactingFilter:
    """Add a `RedactingFilter` to every handler of `logger` (default: the root logger)."""
    target = logger or logging.getLogger()
    log_filter = RedactingFilter(redactor)
    for handler in target.handlers:
        handler.addFilter(log_filter)
    return log_filter
