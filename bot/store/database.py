"""The bot's PostgreSQL: a connection pool, versioned migrations of schema `chatops`, a health ping.

Every database failure surfaces as `StoreUnavailable` with a short message that never carries the URL
or a password. Connection attempts time out after a few seconds so "PostgreSQL down" is reported fast.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import psycopg_pool
from psycopg.rows import DictRow, dict_row
from psycopg.types.json import Jsonb

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
_MIGRATION_FILE = re.compile(r"^(\d{4})_(\w+)\.sql$")
_MIGRATION_LOCK = 0x63686174_6F707321  # "chatops!": one migrator at a time across processes
CONNECT_TIMEOUT_SECONDS = 3


class StoreUnavailable(Exception):
    """PostgreSQL cannot be used right now; the message is short and free of secrets."""


def _short(exc: BaseException) -> str:
    """First line of a driver error, with any password in a URL or conninfo removed."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    text = re.sub(r"(://[^:/@\s]*):[^@\s]+@", r"\1:***@", text)
    text = re.sub(r"(?i)(password\s*=\s*)\S+", r"\1***", text)
    return text[:300]


def jsonb(value: Any) -> Jsonb:
    """A value for a jsonb column; anything not JSON-native (datetimes, UUIDs) is stored as text."""
    return Jsonb(value, dumps=lambda obj: json.dumps(obj, default=str))


@dataclass(frozen=True)
class Migration:
    """One versioned SQL file of `migrations/`."""

    version: int
    name: str
    path: Path


def discover_migrations(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """The `NNNN_name.sql` files of `directory`, in version order; duplicate versions are an error."""
    found: dict[int, Migration] = {}
    for path in sorted(directory.glob("*.sql")):
        match = _MIGRATION_FILE.match(path.name)
        if match is None:
            raise ValueError(f"migration file {path.name} is not named NNNN_name.sql")
        version = int(match.group(1))
        if version in found:
            raise ValueError(f"two migrations have version {version}")
        found[version] = Migration(version, match.group(2), path)
    return [found[v] for v in sorted(found)]


class Database:
    """A psycopg connection pool to the bot's database (rows as dicts)."""

    def __init__(self, url: str, min_size: int = 1, max_size: int = 10) -> None:
        self.pool: psycopg_pool.ConnectionPool[psycopg.Connection[DictRow]] = psycopg_pool.ConnectionPool(
            url,
            min_size=min_size,
            max_size=max_size,
            timeout=CONNECT_TIMEOUT_SECONDS,
            kwargs={"connect_timeout": CONNECT_TIMEOUT_SECONDS, "row_factory": dict_row},
            check=psycopg_pool.ConnectionPool.check_connection,
            open=False,
            name="chatops-store",
        )
        self._url = url
        # After a failure (and before the first use) a direct probe answers "down" at once instead of
        # waiting for the pool's timeout on every call.
        self._suspect = True
        try:
            self.pool.open(wait=False)
        except (psycopg.Error, psycopg_pool.PoolTimeout) as exc:
            raise StoreUnavailable(f"PostgreSQL is unreachable: {_short(exc)}") from None

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection[DictRow]]:
        """A pooled connection inside a transaction (committed on success); errors → StoreUnavailable."""
        if self._suspect:
            self._probe()
        try:
            with self.pool.connection() as conn:
                yield conn
        except psycopg_pool.PoolTimeout:
            self._suspect = True
            raise StoreUnavailable(
                f"PostgreSQL is unreachable (no connection within {CONNECT_TIMEOUT_SECONDS} s)"
            ) from None
        except psycopg_pool.PoolClosed:
            raise StoreUnavailable("the PostgreSQL pool is closed") from None
        except psycopg.OperationalError as exc:
            self._suspect = True
            raise StoreUnavailable(f"PostgreSQL is unreachable: {_short(exc)}") from None
        except psycopg.Error as exc:
            raise StoreUnavailable(f"PostgreSQL error: {_short(exc)}") from None

    def _probe(self) -> None:
        try:
            with psycopg.connect(self._url, connect_timeout=CONNECT_TIMEOUT_SECONDS, autocommit=True):
                pass
        except psycopg.Error as exc:
            raise StoreUnavailable(f"PostgreSQL is unreachable: {_short(exc)}") from None
        self._suspect = False

    def ping(self) -> None:
        """Raise `StoreUnavailable` unless a trivial query succeeds."""
        with self.connection() as conn:
            conn.execute("SELECT 1")

    def migrate(self, directory: Path = MIGRATIONS_DIR) -> list[int]:
        """Apply pending migrations in order, each in its own transaction; return the versions applied.

        Idempotent, and safe when several processes migrate at once (a transaction-scoped advisory lock).
        """
        migrations = discover_migrations(directory)
        with self.connection() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
            conn.execute("CREATE SCHEMA IF NOT EXISTS chatops")
            conn.execute(
                "CREATE TABLE IF NOT EXISTS chatops.schema_migrations ("
                " version integer PRIMARY KEY, name text NOT NULL,"
                " applied_at timestamptz NOT NULL DEFAULT now())"
            )
        applied: list[int] = []
        for migration in migrations:
            with self.connection() as conn, conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
                done = conn.execute(
                    "SELECT 1 FROM chatops.schema_migrations WHERE version = %s", (migration.version,)
                ).fetchone()
                if done is not None:
                    continue
                conn.execute(migration.path.read_text(encoding="utf-8").encode())
                conn.execute(
                    "INSERT INTO chatops.schema_migrations (version, name) VALUES (%s, %s)",
                    (migration.version, migration.name),
                )
                applied.append(migration.version)
                log.info("applied migration %04d_%s", migration.version, migration.name)
        return applied

    def applied_migrations(self) -> list[tuple[int, str]]:
        """(version, name) of every applied migration, in order."""
        with self.connection() as conn:
            rows: list[dict[str, Any]] = conn.execute(
                "SELECT version, name FROM chatops.schema_migrations ORDER BY version"
            ).fetchall()
        return [(int(r["version"]), str(r["name"])) for r in rows]

    def close(self) -> None:
        """Close the pool and its connections."""
        self.pool.close()
