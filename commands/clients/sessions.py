"""Where the LiteMaaS and LiteLLM tables are, and connections that survive a dropped PostgreSQL link.

URLs come from `commands.clients.databases.database_urls` (settings, else the `litemaas-db` Secret).
When LiteLLM shares the LiteMaaS database (litemaas-facts §4.8), both URLs are the same and `shared` is
True: cross-table questions are then plain SQL joins. URLs carry passwords and never leave this module
in a message: errors are reduced to their first line with URLs and passwords removed.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import psycopg
from psycopg.abc import Buffer

from commands.clients.databases import database_urls, redact
from commands.contract import OperationError
from commands.environment import Environment

T = TypeVar("T")

APPLICATION_NAME = "litemaas-chatops keys"
CONNECT_TIMEOUT_SECONDS = 10
ATTEMPTS = 3  # a call is tried this many times, on a new connection each time the link failed
RETRY_PAUSE_SECONDS = 0.2
COPY_BLOCK = 1 << 20  # COPY yields one row per chunk: rows are written on in blocks of this many bytes


@dataclass(frozen=True)
class KeyDatabases:
    """The LiteMaaS database (api_keys, models, subscriptions) and LiteLLM's (its `LiteLLM_*` tables)."""

    litemaas_url: str = field(repr=False)
    litellm_url: str = field(repr=False)
    shared: bool

    @property
    def layout(self) -> str:
        return "one shared database" if self.shared else "two databases"


def key_databases(env: Environment) -> KeyDatabases:
    """Both databases of `env`; raises OperationError naming the missing setting or Secret key."""
    urls = database_urls(env)
    litemaas = urls["litemaas"]
    litellm = urls.get("litellm")
    return KeyDatabases(litemaas_url=litemaas, litellm_url=litellm or litemaas, shared=litellm is None)


def describe_error(exc: BaseException, *secrets: str) -> str:
    """One safe line for a PostgreSQL failure: no URL, no password."""
    text = str(exc).strip().splitlines()
    first = text[0] if text else type(exc).__name__
    return redact(first, secrets)[:300]


def connect(url: str, purpose: str = "") -> psycopg.Connection[Any]:
    """An autocommit connection named so that operators (and tests) can see it in pg_stat_activity.

    JIT is off: it compiles for longer than these scans take (measured with bench/drift.py).
    """
    name = f"{APPLICATION_NAME} {purpose}".strip()[:63]
    return psycopg.connect(
        url,
        autocommit=True,
        application_name=name,
        connect_timeout=CONNECT_TIMEOUT_SECONDS,
        options="-c jit=off",
    )


class Session:
    """One lazily opened connection; `run(fn)` retries `fn` on a fresh connection when the link drops.

    Only connection-level failures (`psycopg.OperationalError`: terminated backend, restart, network)
    are retried, up to `ATTEMPTS` times; `fn` must therefore be safe to run again (reads, and UPDATEs
    whose WHERE excludes rows already changed). Anything else, and the last failure, is raised as
    `OperationError` with a safe one-line reason.
    """

    def __init__(self, url: str, purpose: str, what: str) -> None:
        self._url = url
        self._purpose = purpose
        self._what = what  # "the LiteMaaS database", for messages
        self._conn: psycopg.Connection[Any] | None = None
        self.reconnects = 0

    def run(self, fn: Callable[[psycopg.Connection[Any]], T]) -> T:
        last: BaseException | None = None
        for attempt in range(ATTEMPTS):
            try:
                if self._conn is None or self._conn.closed:
                    self._conn = connect(self._url, self._purpose)
                    if last is not None:
                        self.reconnects += 1
                return fn(self._conn)
            except psycopg.OperationalError as exc:
                last = exc
                self.close()
                time.sleep(RETRY_PAUSE_SECONDS * attempt)
            except psycopg.Error as exc:
                self.close()
                raise OperationError(f"{self._what} failed: {describe_error(exc, self._url)}") from None
        assert last is not None
        raise OperationError(f"{self._what} is unreachable: {describe_error(last, self._url)}")

    def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(psycopg.Error):
                self._conn.close()
            self._conn = None

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def litemaas_session(dbs: KeyDatabases, purpose: str) -> Session:
    return Session(dbs.litemaas_url, purpose, "the LiteMaaS database")


def litellm_session(dbs: KeyDatabases, purpose: str) -> Session:
    return Session(dbs.litellm_url, purpose, "LiteLLM's database")


def pipe_copy(out: Iterable[Buffer], into: psycopg.Copy) -> None:
    """Stream a `COPY … TO STDOUT` into a `COPY … FROM STDIN` of another connection, in big blocks."""
    block = bytearray()
    for chunk in out:
        block += chunk
        if len(block) >= COPY_BLOCK:
            into.write(block)
            block = bytearray()
    if block:
        into.write(block)
