"""Every failure of a Kubernetes call as one `KubeError` (an `OperationError`): the served `Status`
when there is one, else what kept the request from the server — never a urllib3 or generated-client
exception, never a credential."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TypeVar

import urllib3
from kubernetes.client.exceptions import ApiException
from pydantic import ValidationError

from commands.contract import OperationError

T = TypeVar("T")


class KubeError(OperationError):
    """A failed Kubernetes call: HTTP status (0 when the server was not reached), reason and message."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(status, reason, message)
        self.status = status
        self.reason = reason
        self.message = message

    def __str__(self) -> str:
        return f"Kubernetes API: {self.reason}: {self.message}"


def _error_from_api_exception(exc: ApiException) -> KubeError:
    """Turn the generated client's exception into a KubeError, preferring the served `Status` object."""
    status = int(exc.status or 0)
    reason = str(exc.reason or "Error")
    message = ""
    body = exc.body
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    if body:
        try:
            served = json.loads(body)
        except ValueError:
            message = str(body).strip()[:300]
        else:
            if isinstance(served, dict):
                reason = str(served.get("reason") or reason)
                message = str(served.get("message") or "")
    if status == 0:
        # The REST layer uses status 0 for local failures (TLS, unusable arguments).
        return KubeError(0, "Unreachable", reason.splitlines()[0] if reason else "request failed")
    return KubeError(status, reason, message or f"HTTP {status}")


def _unreachable(exc: Exception) -> KubeError:
    text = str(exc)
    # urllib3 messages name the pool and the cause; keep the cause, which carries no credentials.
    cause = text.rsplit(": ", 1)[-1] if ": " in text else text
    return KubeError(0, "Unreachable", f"cannot reach the API server ({type(exc).__name__}: {cause[:200]})")


def guarded(call: Callable[[], T]) -> T:
    """Run one client call, translating every failure into KubeError."""
    try:
        return call()
    except KubeError:
        raise
    except ApiException as exc:
        raise _error_from_api_exception(exc) from None
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        raise _unreachable(exc) from None
    except ValidationError as exc:
        raise KubeError(
            0, "BadRequest", f"invalid request: {exc.error_count()} invalid argument(s)"
        ) from None
