"""Health probes used by `status`: LiteLLM and backend HTTP endpoints, PostgreSQL, Redis.

Every probe returns a `Probe` and never raises: a failure is a short line a user can read
("503 database not connected", "unreachable (connection refused)"). Probes carry no URL, no
password and no body longer than a few words. `run_probes` runs them concurrently under one deadline,
so a hanging endpoint costs at most that deadline, not the sum of every timeout. HTTP probes use the
environment's long-lived client per service and all probes its shared pool (`ServiceClients`): a
status builds no client, no SSL context and no thread pool.

Facts: LiteLLM serves `/health/readiness` (`{"status": "healthy", "db": "connected"}`) and
`/health/liveliness` (`/health/livenessz` does not exist); the LiteMaaS backend serves
`/api/v1/health/ready` (`{"ready": true}`) and its release in `GET /api/v1/config` `.version`
(litellm-facts §2, litemaas-facts §2.4).
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import re
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any

import httpx
import psycopg
from psycopg.conninfo import conninfo_to_dict

from commands.environment import ServiceClients
from commands.text import clip

HTTP_TIMEOUT = 2.5  # seconds, per connect / read / write phase of one probe request
DB_CONNECT_TIMEOUT = 3  # seconds, libpq connect_timeout (whole seconds)
PROBE_DEADLINE = 4.0  # seconds for all probes together
DETAIL_LIMIT = 120

_URL_CREDENTIALS = re.compile(r"://[^/@\s]*@")
_ACCEPT_JSON = {"Accept": "application/json"}


@dataclass(frozen=True)
class Probe:
    """The outcome of one check.

    `ok` is True (healthy), False (failing) or None (not checked, e.g. no database URL configured).
    `answered` is True when the endpoint itself answered (an HTTP status, a database error from the
    server), as opposed to being unreachable: "answered not ready" is a fact about the service, an
    unreachable endpoint may be a fact about the bot's network.
    """

    name: str
    ok: bool | None
    detail: str
    answered: bool = False


# -- text helpers ----------------------------------------------------------------------------------


def _one_line(text: str, limit: int = DETAIL_LIMIT) -> str:
    """`text` on one line, controls as spaces, clipped."""
    return clip(" ".join("".join(ch if ch.isprintable() else " " for ch in text).split()), limit)


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except (ValueError, UnicodeDecodeError):
        return None


def body_reason(response: httpx.Response) -> str:
    """A few words saying why an endpoint is unhappy, from its body (JSON or text), or "" when silent."""
    data = _json(response)
    if isinstance(data, dict):
        for key in ("error", "detail", "message", "reason"):
            value = data.get(key)
            if isinstance(value, dict):
                value = value.get("message") or value.get("code")
            if isinstance(value, str) and value.strip():
                return _one_line(value)
        parts = []
        if isinstance(data.get("status"), str):
            parts.append(str(data["status"]))
        if isinstance(data.get("db"), str):
            parts.append(f"db {data['db']}")
        if data.get("ready") is False:
            parts.append("not ready")
        if parts:
            return _one_line(", ".join(parts))
        return ""
    if isinstance(data, str):
        return _one_line(data)
    try:
        return _one_line(response.text.splitlines()[0]) if response.text.strip() else ""
    except (UnicodeDecodeError, IndexError):
        return ""


def describe_http_error(exc: httpx.HTTPError) -> str:
    """An httpx failure in a few words, without the URL."""
    text = str(exc).lower()
    if isinstance(exc, httpx.ConnectTimeout):
        return f"unreachable (no connection within {HTTP_TIMEOUT:g} s)"
    if isinstance(exc, httpx.TimeoutException):
        return f"no answer within {HTTP_TIMEOUT:g} s"
    if isinstance(exc, httpx.ConnectError):
        if "refused" in text:
            return "unreachable (connection refused)"
        if "name or service not known" in text or "nodename nor servname" in text or "resolution" in text:
            return "unreachable (host name not resolved)"
        if "certificate" in text or "ssl" in text:
            return "unreachable (TLS handshake failed)"
        return "unreachable (connection failed)"
    if isinstance(exc, httpx.RemoteProtocolError):
        return "answer cut off (the server closed the connection)"
    if isinstance(exc, httpx.UnsupportedProtocol | httpx.InvalidURL):
        return "not checked (invalid URL)"
    return f"failed ({type(exc).__name__})"


def _http_probe(
    name: str,
    services: ServiceClients,
    base_url: str,
    path: str,
    timeout: float,
    judge: Callable[[httpx.Response], tuple[bool, str]],
) -> Probe:
    """GET `path`; a non-2xx status is failing with "STATUS reason"; a 2xx answer is judged by `judge`.

    Through the environment's long-lived client of `base_url` (keep-alive: no connection, no SSL
    context per probe); no redirect is followed."""
    try:
        response = services.http(base_url).get(
            path, headers=_ACCEPT_JSON, timeout=timeout, follow_redirects=False
        )
    except httpx.HTTPError as exc:
        return Probe(name, False, describe_http_error(exc))
    except (ValueError, TypeError):
        return Probe(name, False, "not checked (invalid URL)")
    if not response.is_success:
        reason = body_reason(response) or response.reason_phrase
        return Probe(name, False, _one_line(f"{response.status_code} {reason}".strip()), answered=True)
    ok, detail = judge(response)
    return Probe(name, ok, _one_line(detail), answered=True)


# -- LiteLLM ---------------------------------------------------------------------------------------


def _judge_litellm_readiness(response: httpx.Response) -> tuple[bool, str]:
    data = _json(response)
    if not isinstance(data, dict):
        return False, f"{response.status_code} but not the JSON LiteLLM sends"
    status = str(data.get("status") or "unknown")
    db = data.get("db")
    if status != "healthy":
        return False, body_reason(response) or status
    if isinstance(db, str) and db.strip().lower() != "connected":
        return False, f"healthy but db {db}"
    return True, f"healthy (db {db})" if isinstance(db, str) else "healthy"


def litellm_readiness(services: ServiceClients, base_url: str, timeout: float = HTTP_TIMEOUT) -> Probe:
    """`GET /health/readiness`: ready when `status` is "healthy" and `db` (when given) "connected"."""
    return _http_probe(
        "LiteLLM readiness", services, base_url, "/health/readiness", timeout, _judge_litellm_readiness
    )


def litellm_liveliness(services: ServiceClients, base_url: str, timeout: float = HTTP_TIMEOUT) -> Probe:
    """`GET /health/liveliness`: alive on any 2xx answer."""
    return _http_probe(
        "LiteLLM liveliness", services, base_url, "/health/liveliness", timeout, lambda _r: (True, "alive")
    )


# -- LiteMaaS backend ------------------------------------------------------------------------------


def _judge_backend_ready(response: httpx.Response) -> tuple[bool, str]:
    data = _json(response)
    if isinstance(data, dict) and data.get("ready") is True:
        return True, "ready"
    if isinstance(data, dict) and "ready" in data:
        return False, body_reason(response) or "not ready"
    return False, f"{response.status_code} but no `ready` in the answer"


def backend_readiness(services: ServiceClients, base_url: str, timeout: float = HTTP_TIMEOUT) -> Probe:
    """`GET /api/v1/health/ready`: ready when it answers `{"ready": true}` (database and auth checks)."""
    return _http_probe(
        "backend readiness", services, base_url, "/api/v1/health/ready", timeout, _judge_backend_ready
    )


def _judge_backend_version(response: httpx.Response) -> tuple[bool, str]:
    data = _json(response)
    version = data.get("version") if isinstance(data, dict) else None
    if isinstance(version, str | int | float) and str(version).strip():
        return True, str(version)
    return False, "no version in the answer"


def backend_version(services: ServiceClients, base_url: str, timeout: float = HTTP_TIMEOUT) -> Probe:
    """`GET /api/v1/config` `.version`: the release the backend runs (what the portal's footer shows)."""
    return _http_probe(
        "backend version", services, base_url, "/api/v1/config", timeout, _judge_backend_version
    )


# -- PostgreSQL and Redis --------------------------------------------------------------------------


def scrub_database_error(message: str, url: str) -> str:
    """A database error's first line with the URL, its password and any `user:pass@` removed."""
    first = message.strip().splitlines()[0] if message.strip() else ""
    secrets = [url]
    try:
        password = conninfo_to_dict(url).get("password")
    except (psycopg.Error, ValueError, TypeError):
        password = None
    if password:
        secrets.append(str(password))
    for secret in secrets:
        if secret:
            first = first.replace(secret, "***")
    return _URL_CREDENTIALS.sub("://***@", first)


def _server_version(number: int) -> str:
    major = number // 10000
    return f"{major}.{number % 10000}" if major >= 10 else f"{major}.{number // 100 % 100}.{number % 100}"


def postgres_reachable(
    url: str | None, name: str = "PostgreSQL", missing_hint: str = "set LITEMAAS_DATABASE_URL"
) -> Probe:
    """Connect (connect_timeout) and `SELECT 1`. No URL → unknown with `missing_hint`; never shows the URL."""
    if not url:
        return Probe(name, None, f"unknown ({missing_hint})")
    try:
        with psycopg.connect(url, connect_timeout=DB_CONNECT_TIMEOUT, autocommit=True) as conn:
            conn.execute("SELECT 1").fetchone()
            version = _server_version(conn.info.server_version)
    except psycopg.ProgrammingError:  # libpq could not parse the URL; its message may echo parts of it
        return Probe(name, None, "not checked (the database URL is not valid)")
    except psycopg.OperationalError as exc:
        detail = scrub_database_error(str(exc), url).removeprefix("connection failed: ")
        cause = detail.rsplit(" failed: ", 1)[-1].strip()
        if cause.startswith("FATAL:"):  # the server answered and refused: auth, missing database…
            return Probe(name, False, _one_line(f"failed ({cause})"), answered=True)
        cause = cause[:1].lower() + cause[1:]
        return Probe(name, False, _one_line(f"unreachable ({cause})" if cause else "unreachable"))
    except psycopg.Error as exc:
        detail = scrub_database_error(str(exc), url)
        return Probe(name, False, _one_line(f"failed ({detail})" if detail else "failed"), answered=True)
    except (ValueError, TypeError):
        return Probe(name, None, "not checked (the database URL is not valid)")
    return Probe(name, True, f"reachable (PostgreSQL {version})", answered=True)


def redis_reachable(ping: Callable[[], bool], name: str = "Redis") -> Probe:
    """LiteLLM's Redis through the environment's PING callable; an exception counts as no answer."""
    try:
        answered = bool(ping())
    except Exception:
        answered = False
    return Probe(name, answered, "answers PING" if answered else "does not answer PING", answered=answered)


# -- running them together -------------------------------------------------------------------------


def _guarded(name: str, check: Callable[[], Probe]) -> Probe:
    try:
        return check()
    except Exception as exc:  # a probe must never take the status down
        return Probe(name, False, f"check failed ({type(exc).__name__})")


@dataclass(frozen=True)
class Check:
    """A named probe to run: `run` returns the Probe (the name labels timeouts and crashes)."""

    name: str
    run: Callable[[], Probe]


class ProbeRun:
    """Probes started at once on the environment's shared probe pool; `results()` waits until the
    shared deadline.

    Start it before other slow work (Kubernetes reads) so both overlap. A probe still running at the
    deadline is reported as "no answer within N s"; its thread ends on its own timeout and is not waited
    (the pool starts another thread when all are busy, up to its bound).
    """

    def __init__(self, checks: Sequence[Check], executor: Executor, deadline: float = PROBE_DEADLINE) -> None:
        self._checks = list(checks)
        self._deadline = deadline
        self._started = time.monotonic()
        self._futures = [executor.submit(_guarded, c.name, c.run) for c in self._checks]

    def results(self) -> list[Probe]:
        """The probes in the order given, named as their checks, each finished or timed out; call once."""
        remaining = max(0.0, self._deadline - (time.monotonic() - self._started))
        concurrent.futures.wait(self._futures, timeout=remaining)
        probes: list[Probe] = []
        for check, future in zip(self._checks, self._futures, strict=True):
            if future.done() and not future.cancelled():
                probes.append(dataclasses.replace(future.result(), name=check.name))
            else:
                future.cancel()  # not started yet: it never will
                probes.append(Probe(check.name, False, f"no answer within {self._deadline:g} s"))
        return probes


def run_probes(checks: Sequence[Check], executor: Executor, deadline: float = PROBE_DEADLINE) -> list[Probe]:
    """Run `checks` concurrently on `executor`; every result within `deadline` seconds (see `ProbeRun`)."""
    return ProbeRun(checks, executor, deadline).results()
