"""The record of every request the sandbox received, and scripted failures for the next ones.

When `SLACK_SANDBOX_CALL_LOG` names a file, every Web API method call is also appended to it as a
JSON line (method, user_agent; never arguments or tokens): the test suite checks deploy/'s Slack scopes
against that whole-run record.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sandbox.line_log import append_line

CALL_LOG_ENV = "SLACK_SANDBOX_CALL_LOG"
WEB_API_PREFIX = "/api/"
SECRET_HEADERS = frozenset({"authorization", "cookie"})


@dataclass(frozen=True)
class SlackCall:
    """One request: the Web API method (or `response_url` / `upload_url`), its merged args, headers, time.

    `path` is the request path, e.g. `/response_url/cmd1` for a response_url POST.
    """

    method: str
    args: dict[str, Any]
    headers: dict[str, str]
    at: float
    path: str = ""

    def describe(self) -> str:
        """One line for assertion messages, with secrets (the Authorization header) left out."""
        args = {
            k: ("<bytes>" if isinstance(v, bytes) else "<redacted>" if k == "token" else v)
            for k, v in self.args.items()
        }
        text = f"{self.method} {args}"
        return text if len(text) <= 300 else text[:297] + "..."


@dataclass
class Failure:
    """A scripted failure of one method: an ok:false error, an HTTP status, or a 429 with Retry-After."""

    error: str | None
    status: int | None
    retry_after: int | None
    remaining: int

    def answer(self) -> tuple[int, dict[str, Any], dict[str, str]]:
        """HTTP status, JSON body and extra headers of this failure."""
        status = self.status if self.status is not None else (429 if self.retry_after is not None else 200)
        headers: dict[str, str] = {}
        if status == 429:
            headers["Retry-After"] = str(self.retry_after if self.retry_after is not None else 1)
        default = {429: "ratelimited", 200: "fatal_error"}.get(status, "internal_error")
        return status, {"ok": False, "error": self.error or default}, headers


@dataclass
class CallLog:
    """Thread-safe list of calls with waiting, subscriptions and scripted failures."""

    _calls: list[SlackCall] = field(default_factory=list)
    _failures: dict[str, list[Failure]] = field(default_factory=dict)
    _subscribers: list[Callable[[SlackCall], None]] = field(default_factory=list)
    _changed: threading.Condition = field(default_factory=threading.Condition)

    def record(self, call: SlackCall) -> None:
        """Append a call, wake waiters, then tell subscribers (outside the lock; their errors are ignored);
        a Web API call also goes to the `SLACK_SANDBOX_CALL_LOG` file (first, before anyone is woken)."""
        if call.path.startswith(WEB_API_PREFIX):
            append_line(CALL_LOG_ENV, {"method": call.method, "user_agent": call.headers.get("user-agent")})
        with self._changed:
            self._calls.append(call)
            subscribers = list(self._subscribers)
            self._changed.notify_all()
        for callback in subscribers:
            with contextlib.suppress(Exception):  # a broken subscriber must not break the sandbox
                callback(call)

    def calls(self) -> list[SlackCall]:
        """A snapshot of every call so far."""
        with self._changed:
            return list(self._calls)

    def wait_for(
        self, method: str, predicate: Callable[[SlackCall], bool] | None, timeout: float
    ) -> SlackCall:
        """The first call of `method` matching `predicate`; AssertionError listing the calls on timeout."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for call in self._calls:
                    if call.method == method and (predicate is None or predicate(call)):
                        return call
                left = deadline - time.monotonic()
                if left <= 0:
                    seen = "\n  ".join(c.describe() for c in self._calls) or "(none)"
                    raise AssertionError(f"no matching {method} call within {timeout}s; calls:\n  {seen}")
                self._changed.wait(left)

    def subscribe(self, callback: Callable[[SlackCall], None]) -> None:
        """Call `callback(call)` after each recorded call."""
        with self._changed:
            self._subscribers.append(callback)

    def fail(self, method: str, failure: Failure) -> None:
        """Queue a failure for the next calls of `method`."""
        with self._changed:
            self._failures.setdefault(method, []).append(failure)

    def take_failure(self, method: str) -> Failure | None:
        """The failure the current call of `method` must answer with, if one is scripted."""
        with self._changed:
            queue = self._failures.get(method, [])
            while queue and queue[0].remaining <= 0:
                queue.pop(0)
            if not queue:
                return None
            queue[0].remaining -= 1
            return queue[0]
