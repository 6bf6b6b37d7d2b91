"""Bounded polling for the contract suites: a real proxy shows a model change after about a second
(litellm-facts §4.3), so a test waits for it rather than assuming it."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def eventually(probe: Callable[[], T | None], timeout: float = 10.0) -> T:
    """The first non-None answer of `probe`, polled every 0.2 s; AssertionError after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        found = probe()
        if found is not None:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"not seen within {timeout}s")
        time.sleep(0.2)
