"""The transaction a dump is taken in: it exports its snapshot for `pg_dump --snapshot` and counts.

`exported_snapshot(target)` opens a REPEATABLE READ, READ ONLY transaction, exports its snapshot
(`pg_export_snapshot()`) and keeps the transaction open while the caller runs pg_dump with it; the
census taken afterwards in the same transaction sees exactly the rows the dump holds, whatever was
written meanwhile. The transaction is rolled back and closed on the way out.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import IsolationLevel, sql

from commands.backup.census import TableCensus, take_census
from commands.clients.databases import DatabaseTarget, connect, last_meaningful_line, redact
from commands.contract import OperationError


@dataclass
class ExportedSnapshot:
    """An open transaction whose snapshot pg_dump may use; `census` counts in that same snapshot."""

    target: DatabaseTarget
    snapshot: str
    server_version: str
    conn: psycopg.Connection[Any]

    def census(self, timeout: float) -> tuple[TableCensus, ...]:
        """Every table with its rows as of the snapshot, within `timeout` seconds; OperationError."""
        milliseconds = max(1, int(timeout * 1000))
        try:
            self.conn.execute(
                sql.SQL("SET LOCAL statement_timeout = {}").format(sql.Literal(f"{milliseconds}ms"))
            )
            return take_census(self.conn)
        except psycopg.Error as exc:
            reason = last_meaningful_line(redact(str(exc), [self.target.password]))
            raise OperationError(
                f"counting the rows of the {self.target.name} database ({self.target.where}) failed: {reason}"
            ) from None


@contextmanager
def exported_snapshot(target: DatabaseTarget) -> Iterator[ExportedSnapshot]:
    """A transaction on `target` with its snapshot exported, open for the `with` block.

    Raises OperationError when the database cannot be reached or refuses to export a snapshot.
    """
    conn = connect(target)
    try:
        conn.isolation_level = IsolationLevel.REPEATABLE_READ
        conn.read_only = True
        version_row = conn.execute("SHOW server_version").fetchone()
        snapshot_row = conn.execute("SELECT pg_export_snapshot()").fetchone()
    except psycopg.Error as exc:
        conn.close()
        reason = last_meaningful_line(redact(str(exc), [target.password]))
        raise OperationError(
            f"cannot export a snapshot of the {target.name} database ({target.where}): {reason}"
        ) from None
    assert snapshot_row is not None
    try:
        yield ExportedSnapshot(
            target=target,
            snapshot=str(snapshot_row[0]),
            server_version=str(version_row[0]) if version_row else "unknown",
            conn=conn,
        )
    finally:
        conn.close()
