"""`logs --grep`: patterns run by RE2, a linear-time engine, so no pattern can freeze the bot.

Python's `re` backtracks: `(.+)+X` on an ordinary log line takes exponential time while holding the
interpreter lock. RE2 (google-re2) matches in time linear in the line, releases the lock while it
matches, and bounds its memory. Its syntax is Python's for everything a log filter needs (classes,
alternation, repetition up to {1000}, `(?i)`, `\\b`, named groups), case-sensitive unless `(?i)`; what it
cannot run (backreferences, lookaround, atomic groups, possessive repeats, conditionals) is refused
with the construct named. `\\d`, `\\w` and `\\s` are ASCII-only in RE2.
"""

from __future__ import annotations

import re
from typing import Protocol

import re2

MAX_PATTERN_LENGTH = 200  # characters
MAX_PROGRAM_SIZE = 5000  # RE2 instructions; `error|warn|timeout` is 20, `.{1000}` is 8005
MAX_MEMORY = 8 << 20  # bytes RE2 may use for one pattern (its own default budget)

# RE2's error text for a construct it does not support → the construct, in words.
_UNSUPPORTED = (
    ("invalid perl operator: (?P", "named backreferences (?P=name)"),
    ("invalid perl operator: (?=", "lookahead (?=…)"),
    ("invalid perl operator: (?!", "negative lookahead (?!…)"),
    ("invalid perl operator: (?<=", "lookbehind (?<=…)"),
    ("invalid perl operator: (?<!", "negative lookbehind (?<!…)"),
    ("invalid perl operator: (?>", "atomic groups (?>…)"),
    ("invalid perl operator: (?(", "conditionals (?(…)…)"),
    ("bad repetition operator: *+", "possessive repeats (*+ ++ ?+)"),
    ("bad repetition operator: ++", "possessive repeats (*+ ++ ?+)"),
    ("bad repetition operator: ?+", "possessive repeats (*+ ++ ?+)"),
    ("invalid escape sequence: \\Z", "\\Z (use $ or \\z)"),
)


_BACKREFERENCE = re.compile(r"invalid escape sequence: \\[1-9]")


class GrepPatternError(ValueError):
    """A pattern refused: `str()` says why, naming the unsupported construct when there is one."""


class LineMatcher(Protocol):
    """A compiled --grep pattern: does it occur in this line?"""

    def __call__(self, line: str) -> bool: ...


def compile_grep(pattern: str) -> LineMatcher:
    """The pattern compiled by RE2, or GrepPatternError with a reason a user can act on."""
    if len(pattern) > MAX_PATTERN_LENGTH:
        raise GrepPatternError(f"the pattern is {len(pattern)} characters; the limit is {MAX_PATTERN_LENGTH}")
    options = re2.Options()
    options.log_errors = False  # RE2 would print every refused pattern to stderr
    options.max_mem = MAX_MEMORY
    options.never_capture = True  # only "does it match": the fast DFA path
    try:
        compiled = re2.compile(pattern, options)
    except re2.error as exc:
        raise GrepPatternError(_reason(exc)) from None
    if compiled.programsize > MAX_PROGRAM_SIZE:
        raise GrepPatternError(
            f"the pattern is too complex ({compiled.programsize} RE2 instructions; the limit is "
            f"{MAX_PROGRAM_SIZE}): use fewer or smaller repetitions"
        )

    def matches(line: str) -> bool:
        return compiled.search(line) is not None

    return matches


def _reason(exc: Exception) -> str:
    raw = exc.args[0] if exc.args else ""
    message = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    if _BACKREFERENCE.match(message):
        return _unsupported("backreferences (\\1 … \\9)")
    for prefix, construct in _UNSUPPORTED:
        if message.startswith(prefix):
            return _unsupported(construct)
    if "pattern too large" in message:
        return "the pattern is too large for RE2's memory budget: use fewer or smaller repetitions"
    return f"invalid pattern: {message}"


def _unsupported(construct: str) -> str:
    return f"{construct} cannot be used: --grep runs RE2 (linear time), which has none"
