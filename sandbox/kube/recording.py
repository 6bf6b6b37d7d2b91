"""What clients sent (for assertions) and scripted failures (for error-path tests).

When `KUBE_SANDBOX_REQUEST_LOG` names a file, every request is also appended to it as a JSON line
(method, path, query, user_agent): the test suite checks deploy/'s Role against that whole-run record.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from typing import NamedTuple

from sandbox.line_log import append_line

REQUEST_LOG_ENV = "KUBE_SANDBOX_REQUEST_LOG"


class RecordedRequest(NamedTuple):
    """One request as received; `body` is the decoded text ("" when none). Of the headers, only
    Content-Type and User-Agent (which client sent it) are kept."""

    method: str
    path: str
    query: dict[str, str]
    content_type: str | None
    body: str
    user_agent: str | None = None


@dataclass
class InjectedError:
    """The next `remaining` requests matching method and path answer a Status error."""

    method: str
    path_regex: re.Pattern[str]
    status: int
    message: str
    remaining: int


class RequestLog:
    """Thread-safe request history plus the queue of injected errors."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []
        self._errors: list[InjectedError] = []

    def record(self, request: RecordedRequest) -> None:
        """Keep the request, and append it to the `KUBE_SANDBOX_REQUEST_LOG` file when that is set."""
        append_line(
            REQUEST_LOG_ENV,
            {
                "method": request.method,
                "path": request.path,
                "query": request.query,
                "user_agent": request.user_agent,
            },
        )
        with self._lock:
            self._requests.append(request)

    def snapshot(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    def clear(self) -> None:
        with self._lock:
            self._requests.clear()

    def inject(self, method: str, path_regex: str, status: int, message: str, times: int) -> None:
        """Queue a scripted error; `method` "*" matches any method. Bad regexes or codes raise ValueError."""
        if not 400 <= status <= 599:
            raise ValueError(f"status must be an HTTP error code (400-599), got {status}")
        if times < 1:
            raise ValueError(f"times must be at least 1, got {times}")
        try:
            pattern = re.compile(path_regex)
        except re.error as exc:
            raise ValueError(f"invalid path_regex {path_regex!r}: {exc}") from None
        with self._lock:
            self._errors.append(InjectedError(method.upper(), pattern, status, message, times))

    def take_error(self, method: str, path: str) -> InjectedError | None:
        """The first injected error matching this request, consuming one use of it."""
        with self._lock:
            for err in self._errors:
                if err.method in ("*", method.upper()) and err.path_regex.search(path):
                    err.remaining -= 1
                    if err.remaining <= 0:
                        self._errors.remove(err)
                    return err
        return None
