"""Scripted failures of the emulated proxy: "after N more requests to PATH, answer 500 twice".

A `Failure` either answers `status` (LiteLLM's error shape) or hangs (`timeout=True`) until the
sandbox stops or `hang_seconds` pass, which is past any sane client timeout. Each injected failure
counts the requests to its path from the moment it was injected (authorised or not); when several are
due at once, the oldest acts first and the others on the following requests.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass


@dataclass
class Failure:
    """One scripted failure: skip `after` requests, then fail `times` of them."""

    path: str
    status: int | None
    timeout: bool
    after: int
    times: int


class FailurePlan:
    """Thread-safe queue of scripted failures per path."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: list[Failure] = []

    def inject(self, path: str, *, status: int | None, timeout: bool, after: int, times: int) -> None:
        """Queue a failure; ValueError for a status outside 400..599, neither/both kinds, or counts < 0/1."""
        if timeout == (status is not None):
            raise ValueError("inject_failure needs exactly one of status=… or timeout=True")
        if status is not None and not 400 <= status <= 599:
            raise ValueError(f"an injected status must be 400..599, got {status}")
        if after < 0 or times < 1:
            raise ValueError("after must be >= 0 and times >= 1")
        if not path.startswith("/"):
            raise ValueError(f"the path must start with '/', got {path!r}")
        with self._lock:
            self._pending.append(Failure(path, status, timeout, after, times))

    def take(self, path: str) -> Failure | None:
        """Count one request to `path`; the failure to act out now, if any."""
        with self._lock:
            due: Failure | None = None
            for failure in self._pending:
                if failure.path != path:
                    continue
                if failure.after > 0:
                    failure.after -= 1
                elif due is None:
                    due = failure
            if due is not None:
                due.times -= 1
                if due.times == 0:
                    self._pending.remove(due)
            return due

    def clear(self) -> None:
        with self._lock:
            self._pending.clear()
