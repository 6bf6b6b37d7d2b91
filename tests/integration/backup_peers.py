"""What the verify and restore tests share: seeded LiteMaaS/LiteLLM databases in either layout, the
environment on them, dumps rewritten or damaged after their manifest was written (real files, real
faults), and looks at the PostgreSQL server that never go through the code under test."""

from __future__ import annotations

import gzip
import hashlib
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg

from commands.backup.census import TableCensus, take_census
from commands.clients.kube import KubeClient
from commands.contract import Event, Progress, Result
from commands.environment import Environment
from tests.conftest import PG_ADMIN_URL, DatabasePair
from tests.integration.conftest import NAMESPACE

PASSWORD = "pw-never-shown-0c1d2e3f"  # trust auth ignores it; it must never show up anywhere
SAFE_TABLE = "public.api_key_models"  # has rows in the seed and no foreign key points at it


def with_password(url: str, password: str = PASSWORD) -> str:
    scheme, rest = url.split("://", 1)
    user, host = rest.split("@", 1)
    return f"{scheme}://{user}:{password}@{host}"


def make_env(kube: KubeClient, backup_dir: Path, pair: DatabasePair, **extra: Any) -> Environment:
    return Environment(
        name="test",
        namespace=NAMESPACE,
        kube=kube,
        litellm_redis_ping=lambda: True,
        litemaas_database_url=with_password(pair.litemaas_url),
        litellm_database_url=with_password(pair.litellm_url),
        backup_dir=backup_dir,
        **extra,
    )


def census(url: str) -> tuple[TableCensus, ...]:
    with psycopg.connect(url, autocommit=True) as conn:
        return take_census(conn)


def rows_of(url: str) -> dict[str, int]:
    return {t.name: t.rows for t in census(url)}


def database_oid(name: str) -> int | None:
    """The identity of a database on the server (a rename keeps it, a new database has another)."""
    with psycopg.connect(PG_ADMIN_URL) as conn:
        row = conn.execute("SELECT oid FROM pg_database WHERE datname = %s", (name,)).fetchone()
    return int(row[0]) if row else None


def databases_named_after(name: str) -> list[str]:
    with psycopg.connect(PG_ADMIN_URL) as conn:
        rows = conn.execute(
            "SELECT datname FROM pg_database WHERE datname LIKE %s ORDER BY 1",
            (name.replace("_", "\\_") + "\\_%",),
        ).fetchall()
    return [str(r[0]) for r in rows]


def run(
    events: Iterator[Event], on_progress: Callable[[Progress], None] | None = None
) -> tuple[list[Progress], Result]:
    """Drive an operation's events (calling `on_progress` at each Progress, as a fault injector may)."""
    progress: list[Progress] = []
    for event in events:
        if isinstance(event, Result):
            return progress, event
        progress.append(event)
        if on_progress is not None:
            on_progress(event)
    raise AssertionError(f"no Result after {progress}")


def rewrite_dump(manifest_path: Path, database: str, edit: Callable[[str], str]) -> None:
    """Rewrite one dump's SQL with `edit` and update its size and sha256 in the manifest: a dump that no
    longer holds what the census recorded, yet passes the checksum (as if pg_dump had not used the
    snapshot)."""
    data = json.loads(manifest_path.read_text())
    [entry] = [f for f in data["files"] if f["database"] == database]
    dump = manifest_path.parent / entry["filename"]
    text = edit(gzip.decompress(dump.read_bytes()).decode())
    dump.write_bytes(gzip.compress(text.encode()))
    entry["size"] = dump.stat().st_size
    entry["sha256"] = hashlib.sha256(dump.read_bytes()).hexdigest()
    manifest_path.write_text(json.dumps(data, indent=2) + "\n")


def without_first_row(table: str) -> Callable[[str], str]:
    """An edit removing the first data row of `table`'s COPY block."""

    def edit(text: str) -> str:
        lines = text.split("\n")
        start = next(i for i, line in enumerate(lines) if line.startswith(f"COPY {table} ("))
        assert lines[start + 1] != "\\.", f"{table} has no rows to remove"
        del lines[start + 1]
        return "\n".join(lines)

    return edit


def flip_a_byte(dump: Path) -> None:
    """Damage a dump on disk (a bit rot, a bad copy): one byte in the middle changes."""
    data = bytearray(dump.read_bytes())
    data[len(data) // 2] ^= 0xFF
    dump.write_bytes(bytes(data))
