"""Container logs: scripted lines per (pod, container, previous), else plausible defaults per container."""

from __future__ import annotations

import threading
from collections.abc import Sequence

LITELLM_MIGRATIONS: tuple[str, ...] = (
    "20250101000000_add_spend_logs",
    "20250326162113_baseline",
    "20250801000000_add_managed_object_table",
)
P3009 = (
    "Error: P3009 migrate found failed migrations in the target database, new migrations will not be "
    "applied. Read more about how to resolve migration issues in a production database: "
    "https://pris.ly/d/migrate-resolve"
)


def litellm_startup_lines(
    migrations: Sequence[str] = LITELLM_MIGRATIONS, failed_migration: str | None = None
) -> list[str]:
    """What a LiteLLM proxy pod prints while starting: Prisma's `migrate deploy`, then Uvicorn.

    With `failed_migration` (one of `migrations`) Prisma stops at that migration with P3009 and the
    proxy never says it is running; the lines matching "migrat" are what an upgrade reports.
    """
    if failed_migration is not None and failed_migration not in migrations:
        raise ValueError(
            f"failed_migration {failed_migration!r} is not one of the migrations {list(migrations)}"
        )
    lines = [
        "INFO:     Started server process [1]",
        "LiteLLM: running prisma migrate deploy (litellm-proxy-extras)",
        "Prisma schema loaded from schema.prisma",
        'Datasource "client": PostgreSQL database "litellm", schema "public" at "litellm-postgres:5432"',
        f"{len(migrations)} migrations found in prisma/migrations",
    ]
    for migration in migrations:
        lines.append(f"Applying migration `{migration}`")
        if migration == failed_migration:
            lines.append(P3009)
            lines.append(f"The `{migration}` migration started at 2026-06-18 09:00:00 UTC failed")
            return lines
    lines += [
        "The following migration(s) have been applied:",
        *(f"  migrations/{m}/migration.sql" for m in migrations),
        "All migrations have been successfully applied.",
        "INFO:     Waiting for application startup.",
        "LiteLLM: Proxy initialized with Config, Set models:",
        "INFO:     Application startup complete.",
        "INFO:     Uvicorn running on http://0.0.0.0:4000 (Press CTRL+C to quit)",
    ]
    return lines


DEFAULT_LINES: dict[str, list[str]] = {
    "litellm": [
        "INFO:     Started server process [1]",
        "INFO:     Waiting for application startup.",
        "LiteLLM: Proxy initialized with Config, Set models:",
        "INFO:     Application startup complete.",
        "INFO:     Uvicorn running on http://0.0.0.0:4000 (Press CTRL+C to quit)",
        'INFO:     10.128.0.1:40312 - "GET /health/readiness HTTP/1.1" 200 OK',
    ],
    "backend": [
        '{"level":30,"msg":"Database migrations completed"}',
        '{"level":30,"msg":"Server listening at http://0.0.0.0:8080"}',
        '{"level":30,"msg":"LiteMaaS backend 0.4.0 started"}',
        '{"level":30,"req":{"method":"GET","url":"/api/v1/health/ready"},"msg":"request completed"}',
    ],
    "frontend": [
        'nginx: [notice] using the "epoll" event method',
        "nginx: [notice] start worker processes",
        '10.128.0.1 - - "GET / HTTP/1.1" 200 1024 "-" "kube-probe/1.32"',
    ],
    "redis": [
        "1:C Redis version=7.2.4, bits=64, commit=00000000, modified=0, pid=1, just started",
        "1:M Server initialized",
        "1:M Ready to accept connections tcp",
    ],
    "postgres": [
        "LOG:  starting PostgreSQL 16.4 on x86_64-pc-linux-musl",
        'LOG:  listening on IPv4 address "0.0.0.0", port 5432',
        "LOG:  database system is ready to accept connections",
    ],
    "wait-for-postgres": ["litellm-postgres (10.129.0.5:5432) open", "PostgreSQL is ready"],
    "wait-for-redis": ["litellm-redis (10.129.0.6:6379) open", "Redis is ready"],
    "wait-for-database": ["litellm-postgres:5432 - accepting connections", "Database is ready"],
    "run-migrations": ["Running database migrations...", "Migrations applied successfully"],
    "copy-custom-logos": ["Copying assets to /assets...", "Custom logos and branding applied"],
    "wait-for-backend": ["litellm-backend (172.30.0.12:8080) open", "Backend is ready"],
}


class LogBook:
    """Thread-safe log lines by (pod, container, previous)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._lines: dict[tuple[str, str, bool], list[str]] = {}

    def set(self, pod: str, container: str, lines: list[str], previous: bool = False) -> None:
        """Script the lines `GET .../pods/{pod}/log?container=...` returns."""
        with self._lock:
            self._lines[(pod, container, previous)] = list(lines)

    def read(self, pod: str, container: str, previous: bool) -> list[str] | None:
        """The scripted lines, else the defaults (current logs only); None when there are none."""
        with self._lock:
            scripted = self._lines.get((pod, container, previous))
        if scripted is not None:
            return list(scripted)
        if previous:
            return None
        return list(DEFAULT_LINES.get(container, [f"{container} started"]))
