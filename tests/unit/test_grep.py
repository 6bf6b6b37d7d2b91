"""`logs --grep` patterns: RE2 runs them in linear time; what it cannot run is refused by name."""

from __future__ import annotations

import re
import threading
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.parsing import ParseError, parse_command
from commands.cluster.grep import MAX_PATTERN_LENGTH, GrepPatternError, compile_grep
from commands.cluster.logs import select_lines
from commands.registry import default_registry

REGISTRY = default_registry()
LOG = "\n".join(
    [
        "2025-03-01 12:00:00 INFO  litellm.proxy: GET /health 200",
        "2025-03-01 12:00:01 ERROR litellm.router: upstream timeout after 30s (model granite)",
        "2025-03-01 12:00:02 WARN  litellm.cache: Redis connection refused",
        "2025-03-01 12:00:03 error lowercase line",
    ]
)


@pytest.mark.parametrize(
    ("pattern", "construct"),
    [
        (r"(a)\1", "backreferences"),
        (r"(?P<x>a)(?P=x)", "named backreferences"),
        (r"foo(?=bar)", "lookahead"),
        (r"foo(?!bar)", "negative lookahead"),
        (r"(?<=a)b", "lookbehind"),
        (r"(?<!a)b", "negative lookbehind"),
        (r"(?>a+)", "atomic groups"),
        (r"a*+", "possessive repeats"),
        (r"(a)?(?(1)b|c)", "conditionals"),
    ],
)
def test_constructs_re2_cannot_run_are_refused_by_name(pattern: str, construct: str) -> None:
    with pytest.raises(ParseError) as caught:
        parse_command(f"logs litellm --grep '{pattern}'", REGISTRY, components=["litellm"])
    assert construct in caught.value.message and "RE2" in caught.value.message


def test_too_long_and_too_complex_patterns_are_refused() -> None:
    with pytest.raises(GrepPatternError, match="limit is 200"):
        compile_grep("a" * (MAX_PATTERN_LENGTH + 1))
    with pytest.raises(GrepPatternError, match="too complex"):
        compile_grep(".{1000}")
    with pytest.raises(GrepPatternError, match="memory budget"):
        compile_grep(r"\pL{1000}")
    with pytest.raises(GrepPatternError, match="invalid pattern: missing ]"):
        compile_grep("[abc")


@pytest.mark.parametrize(
    "pattern", ["ERROR", "(?i)error", "timeout|refused", r"\d{2}:\d{2}:0[12]", r"^2025.*200$", r"\bGET\b"]
)
def test_ordinary_patterns_select_the_same_lines_as_python_re(pattern: str) -> None:
    """Same behaviour as before for what operators type: case-sensitive unless (?i), search anywhere."""
    expected = [line for line in LOG.splitlines() if re.search(pattern, line)]
    assert select_lines(LOG, compile_grep(pattern), tail=100) == expected
    assert expected  # each pattern selects something


@pytest.mark.parametrize("pattern", [r"(.+)+X", r"(a+)+$", r"(a|aa)+$", r"(\w+\s*){50}x", r"(.*a){20}"])
def test_catastrophic_patterns_run_in_linear_time_without_holding_the_interpreter(pattern: str) -> None:
    """What froze the bot with Python's re: 20,000 lines, answered in well under a second, while
    another thread keeps running."""
    matches = compile_grep(pattern)
    text = "\n".join(["a" * 28 + "!"] * 10_000 + ["a b " * 200] * 10_000)
    ticks = 0
    stop = threading.Event()

    def other_thread() -> None:
        nonlocal ticks
        while not stop.is_set():
            ticks += 1
            time.sleep(0.001)

    thread = threading.Thread(target=other_thread)
    thread.start()
    started = time.monotonic()
    select_lines(text, matches, tail=100)
    elapsed = time.monotonic() - started
    stop.set()
    thread.join()
    assert elapsed < 5, f"{pattern} took {elapsed:.1f}s"
    assert ticks > 0


@given(st.text(alphabet="ab(|)*+?.", max_size=12), st.text(alphabet="ab", max_size=30))
def test_any_small_pattern_either_compiles_or_is_refused_and_never_raises_otherwise(
    pattern: str, line: str
) -> None:
    try:
        matches = compile_grep(pattern)
    except GrepPatternError as exc:
        assert str(exc)
        return
    assert matches(line) in (True, False)
