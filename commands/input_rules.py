"""What typed input may contain, whoever checks it (the parser, an argument model, the audit).

Invisible characters are refused, not cleaned: a C0/C1 control, a NUL, a bidi override or isolate
(U+202A to U+202E, U+2066 to U+2069) or another invisible format character (zero-width space, BOM, tags …)
can make the command an approver reads differ from the one that runs, and PostgreSQL rejects NUL.
Zero-width (non-)joiners stay allowed: emoji sequences and several scripts need them.
Integers are plain decimal digits: no sign, no `_`, no `.0`, no spaces.
"""

from __future__ import annotations

import re
import unicodedata

# Unicode categories of invisible characters: controls, format characters, surrogates, line and
# paragraph separators.
_INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
_ALLOWED_FORMAT = frozenset({"\u200c", "\u200d"})  # zero-width non-joiner and joiner
TYPED_WHITESPACE = frozenset({"\t", "\n", "\r"})  # in a typed command: word separators like a space
MAX_DIGITS = 18  # beyond any count the bot takes, and far below Python's int parsing limit
PLAIN_DIGITS = re.compile(rf"[0-9]{{1,{MAX_DIGITS}}}")


def is_forbidden(ch: str) -> bool:
    """True for an invisible control or format character (see the module's docstring)."""
    return unicodedata.category(ch) in _INVISIBLE_CATEGORIES and ch not in _ALLOWED_FORMAT


def first_forbidden(text: str, allowed: frozenset[str] = frozenset()) -> tuple[int, str] | None:
    """(position, character) of the first forbidden character of `text` not in `allowed`, or None."""
    for index, ch in enumerate(text):
        if ch not in allowed and is_forbidden(ch):
            return index, ch
    return None


def invisible_character_refusal(typed: str) -> str | None:
    """Why a typed command is refused for an invisible character (tab and newline are separators), or None."""
    found = first_forbidden(typed, TYPED_WHITESPACE)
    if found is None:
        return None
    index, ch = found
    return (
        f"the command contains the invisible character {describe_character(ch)} at character {index + 1}; "
        "control and text-direction characters are refused: retype the command without it"
    )


def describe_character(ch: str) -> str:
    """`U+202E (RIGHT-TO-LEFT OVERRIDE)`; controls have no Unicode name: `U+0000 (control)`."""
    return f"U+{ord(ch):04X} ({unicodedata.name(ch, 'control')})"


def show_invisible(text: str) -> str:
    """`text` with every forbidden character written as a visible escape (`\\u0000`), for the audit."""
    if not any(is_forbidden(ch) for ch in text):
        return text
    return "".join(_escaped(ch) if is_forbidden(ch) else ch for ch in text)


def _escaped(ch: str) -> str:
    code = ord(ch)
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def is_plain_integer(text: str) -> bool:
    """True when `text` is a whole number written with decimal digits only (`10`, not `1_0`, `+3`, `3.0`)."""
    return PLAIN_DIGITS.fullmatch(text) is not None
