"""LiteLLM's real schema: the plain-SQL migrations of the pinned `litellm-proxy-extras` package.

Every `litellm_proxy_extras/migrations/<timestamp>_<name>/migration.sql` is applied in lexical order of
its directory name (litellm-facts.md §9), one `psql -v ON_ERROR_STOP=1` per file in autocommit mode:
five files use `CREATE INDEX CONCURRENTLY`, which refuses to run inside a transaction block, and one
directory name contains spaces (paths are passed as arguments, never through a shell). The two
request-log indexes that the package builds outside the migrations (placeholders `SELECT 1` in the
files) are then created with a plain `CREATE INDEX IF NOT EXISTS` on the still empty table.
"""

from __future__ import annotations

import subprocess
from importlib import resources
from pathlib import Path

import psycopg
from litellm_proxy_extras.request_log_indexes import REQUEST_LOG_INDEXES
from psycopg import sql

PSQL_TIMEOUT_SECONDS = 120.0


class SchemaError(RuntimeError):
    """Applying a schema file failed; the message names the file and psql's error."""


def migration_files() -> list[Path]:
    """The migration files in apply order (lexical order of their directory names)."""
    root = Path(str(resources.files("litellm_proxy_extras").joinpath("migrations")))
    return sorted((d / "migration.sql" for d in root.iterdir() if (d / "migration.sql").is_file()), key=str)


def _apply_file(url: str, path: Path) -> None:
    try:
        completed = subprocess.run(
            ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-f", str(path), url],
            capture_output=True,
            text=True,
            timeout=PSQL_TIMEOUT_SECONDS,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SchemaError(f"psql could not apply {path.parent.name}: {exc}") from exc
    if completed.returncode != 0:
        raise SchemaError(f"psql failed on {path.parent.name}: {completed.stderr.strip()[-500:]}")


def create_litellm_schema(url: str) -> None:
    """Apply every LiteLLM migration to the (empty) database at `url`, then the request-log indexes."""
    for path in migration_files():
        _apply_file(url, path)
    with psycopg.connect(url, autocommit=True) as conn:
        for index in REQUEST_LOG_INDEXES:
            conn.execute(
                sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {} {}").format(
                    sql.Identifier(index.name), sql.Identifier(index.table), sql.SQL(index.definition)
                )
            )
