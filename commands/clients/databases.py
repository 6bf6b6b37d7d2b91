"""The operated PostgreSQL databases: where they are and how to reach them without ever showing a password.

URLs come from the environment's settings (`LITEMAAS_DATABASE_URL`, `LITELLM_DATABASE_URL`) or, when a
setting is absent, from the namespace's `litemaas-db` Secret (keys `DATABASE_URL`,
`LITELLM_DATABASE_URL`; litemaas-facts §4.2). LiteLLM may share the LiteMaaS database (§4.8): then it
is dumped once. Nothing here puts a URL or a password in a message.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from commands.clients.kube_errors import KubeError
from commands.contract import OperationError
from commands.environment import Environment

SECRET_NAME = "litemaas-db"
DEFAULT_PORT = "5432"
CONNECT_TIMEOUT_SECONDS = 10

# database name → (setting, Secret key)
SOURCES: dict[str, tuple[str, str]] = {
    "litemaas": ("LITEMAAS_DATABASE_URL", "DATABASE_URL"),
    "litellm": ("LITELLM_DATABASE_URL", "LITELLM_DATABASE_URL"),
}

_URL_RE = re.compile(r"postgres(?:ql)?://\S+", re.IGNORECASE)
_PASSWORD_RE = re.compile(r"(password\s*=\s*)('(?:[^'\\]|\\.)*'|[^\s)'\",;]+)", re.IGNORECASE)


@dataclass(frozen=True)
class DatabaseTarget:
    """One database to dump: its logical name ("litemaas"), where it is, and how to log in.

    `password` is kept out of `repr` and out of `where`; only the child process's environment gets it.
    """

    name: str
    host: str
    port: str
    user: str
    dbname: str
    password: str = field(default="", repr=False)
    options: dict[str, str] = field(default_factory=dict)  # other libpq parameters (sslmode…)

    @property
    def where(self) -> str:
        """`dbname at host:port` — safe to show."""
        return f"{self.dbname} at {self.host or 'local socket'}:{self.port or DEFAULT_PORT}"

    @property
    def identity(self) -> tuple[str, str, str]:
        """What makes two targets the same database: host, port and database name."""
        return (self.host.lower(), self.port or DEFAULT_PORT, self.dbname)

    def connect_kwargs(self) -> dict[str, str | int]:
        """Keyword arguments for `psycopg.connect` (the password as a separate parameter)."""
        kwargs: dict[str, str | int] = dict(self.options)
        for key, value in (("host", self.host), ("port", self.port), ("user", self.user)):
            if value:
                kwargs[key] = value
        kwargs["dbname"] = self.dbname
        if self.password:
            kwargs["password"] = self.password
        kwargs.setdefault("connect_timeout", CONNECT_TIMEOUT_SECONDS)
        return kwargs

    def dbname_conninfo(self) -> str:
        """`--dbname` for pg_dump: the database and the non-secret libpq options, safely quoted."""
        return make_conninfo(dbname=self.dbname, **self.options)


def parse_database_url(name: str, url: str, source: str) -> DatabaseTarget:
    """Parse a PostgreSQL URL (or key=value conninfo). `source` names where it came from, for errors."""
    text = url.strip()
    if not text:
        raise OperationError(f"{source} is empty: provide the URL of the {name} database")
    try:
        params = conninfo_to_dict(text)
    except psycopg.Error:
        raise OperationError(f"{source} is not a valid PostgreSQL URL") from None
    values = {str(k): str(v) for k, v in params.items() if v is not None}
    port = values.pop("port", "")
    if port and not all(p.isdigit() for p in port.split(",")):
        raise OperationError(f"{source} has an invalid port (a number is expected)")
    dbname = values.pop("dbname", "")
    user = values.pop("user", "")
    if not dbname:
        raise OperationError(f"{source} names no database (postgresql://user:password@host:port/DATABASE)")
    return DatabaseTarget(
        name=name,
        host=values.pop("host", ""),
        port=port,
        user=user,
        dbname=dbname,
        password=values.pop("password", ""),
        options=values,
    )


def _secret_data(env: Environment, missing: list[str]) -> dict[str, str]:
    try:
        return env.kube.read_secret(SECRET_NAME)
    except KubeError as exc:
        wanted = " and ".join(SOURCES[n][0] for n in missing)
        raise OperationError(
            f"cannot read Secret {SECRET_NAME} in {env.namespace} ({exc}); "
            f"set {wanted} or make the Secret readable"
        ) from None


def _resolve(env: Environment) -> list[tuple[DatabaseTarget, str]]:
    """(target, URL) per database to dump, LiteMaaS first; the same database twice is kept once."""
    configured = {"litemaas": env.litemaas_database_url, "litellm": env.litellm_database_url}
    missing = [n for n, url in configured.items() if not url]
    secret = _secret_data(env, missing) if missing else {}
    resolved: list[tuple[DatabaseTarget, str]] = []
    for name, url in configured.items():
        setting, key = SOURCES[name]
        if url:
            source = f"setting {setting}"
        else:
            url = secret.get(key)
            source = f"key {key} of Secret {SECRET_NAME}"
            if not url:
                hint = (
                    " (when LiteLLM shares the LiteMaaS database, give it the same URL)"
                    if name == "litellm"
                    else ""
                )
                raise OperationError(
                    f"no URL for the {name} database: set {setting} or add key {key} "
                    f"to Secret {SECRET_NAME} in {env.namespace}{hint}"
                )
        target = parse_database_url(name, url, source)
        if all(t.identity != target.identity for t, _ in resolved):
            resolved.append((target, url))
    return resolved


def database_targets(env: Environment) -> list[DatabaseTarget]:
    """The databases to dump, LiteMaaS first; LiteLLM is dropped when it is the same database.

    Raises OperationError naming the setting or Secret key to provide (never a value).
    """
    return [target for target, _ in _resolve(env)]


def database_urls(env: Environment) -> dict[str, str]:
    """{"litemaas": url, "litellm": url}; "litellm" is absent when it points at the same database.

    Raises OperationError naming the setting or Secret key to provide. The URLs carry passwords:
    callers must never show them.
    """
    return {target.name: url for target, url in _resolve(env)}


def redact(text: str, secrets: Iterable[str]) -> str:
    """`text` without the given secrets, PostgreSQL URLs or `password=` values."""
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, "***")
    text = _URL_RE.sub("postgresql://***", text)
    return _PASSWORD_RE.sub(r"\1***", text)


def last_meaningful_line(text: str, prefix: str = "") -> str:
    """The last line that says what went wrong (an error, a failure), else the last line.

    `prefix` (e.g. "pg_dump: ") is stripped; `detail:`/`hint:` lines are passed over, and so are
    libpq's advice lines ("Is the server running…?") when a failure line precedes them.
    """
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if prefix:
        lines = [line[len(prefix) :] if line.startswith(prefix) else line for line in lines]
    for line in reversed(lines):
        lowered = line.lower()
        if any(word in lowered for word in ("error", "fatal", "failed", "could not", "denied", "timeout")):
            return line.removeprefix("error: ").strip()
    for line in reversed(lines):
        if not line.lower().startswith(("detail:", "hint:")):
            return line
    return lines[-1] if lines else ""


def connect(target: DatabaseTarget, *, autocommit: bool = False) -> psycopg.Connection[Any]:
    """A connection to `target`. Raises OperationError naming the database and where it is, with the
    server's reason (never a URL or password)."""
    try:
        return psycopg.connect(make_conninfo("", **target.connect_kwargs()), autocommit=autocommit)
    except psycopg.Error as exc:
        reason = last_meaningful_line(redact(str(exc), [target.password]))
        raise OperationError(
            f"cannot connect to the {target.name} database ({target.where}): {reason}"
        ) from None


@contextmanager
def litemaas_connection(env: Environment) -> Iterator[psycopg.Connection[Any]]:
    """A connection to the LiteMaaS database (settings, else the `litemaas-db` Secret).

    Raises OperationError saying plainly what failed; never a URL or password.
    """
    target = database_targets(env)[0]
    try:
        conn = psycopg.connect(make_conninfo("", **target.connect_kwargs()))
    except psycopg.Error as exc:
        reason = redact(last_meaningful_line(str(exc)), [target.password])
        raise OperationError(f"cannot reach the LiteMaaS database ({target.where}): {reason}") from None
    try:
        yield conn
    finally:
        conn.close()


def database_problem(exc: psycopg.Error, password: str = "") -> str:
    """A PostgreSQL failure in plain words (a missing `users` table means the wrong database)."""
    if isinstance(exc, psycopg.errors.UndefinedTable):
        return (
            "the LiteMaaS tables are not in that database: LITEMAAS_DATABASE_URL (or DATABASE_URL of "
            "litemaas-db) must name the backend's database (litemaas_db since f4545df)"
        )
    return redact(last_meaningful_line(str(exc)), [password]) or type(exc).__name__
