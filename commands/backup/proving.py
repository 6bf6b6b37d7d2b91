"""Proving one dump: load it into a new database and compare what arrived with the manifest's census.

`load_and_compare` is shared by `backup verify` (a scratch database, dropped afterwards) and `backup
restore` (the database that will be swapped in, kept when it matches). The caller creates the database
and owns it: nothing here creates or drops one.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import psycopg

from commands.backup.census import TableCensus, compare, take_census, total_rows
from commands.backup.load import DEFAULT_LOAD_TIMEOUT, load_dump
from commands.backup.manifest import BackupFile
from commands.backup.pgserver import on_database, reason_of
from commands.clients.databases import DatabaseTarget, connect
from commands.contract import OperationError


@dataclass(frozen=True)
class Proof:
    """What loading one dump showed: the census of the loaded database, how long the load took and
    what differs from the manifest (`counted` False: the manifest had no census to compare with)."""

    database: str
    into: str  # the database it was loaded into
    tables: tuple[TableCensus, ...]
    seconds: float
    differences: tuple[str, ...]
    counted: bool

    @property
    def ok(self) -> bool:
        return not self.differences

    @property
    def line(self) -> str:
        """`litemaas: 12 tables, 340 rows, restored in 1.2 s` (+ the first difference when it differs)."""
        text = (
            f"{self.database}: {len(self.tables)} tables, {total_rows(self.tables):,} rows, "
            f"restored in {self.seconds:.1f} s"
        )
        if self.differences:
            text += f"; differs: {self.differences[0]}"
            if len(self.differences) > 1:
                text += f" (and {len(self.differences) - 1} more)"
        elif not self.counted:
            text += " (no counts in this older backup's manifest to compare with)"
        return text


def census_of(target: DatabaseTarget) -> tuple[TableCensus, ...]:
    """The census of the database of `target`, now. Raises OperationError."""
    conn = connect(target, autocommit=True)
    try:
        return take_census(conn)
    except psycopg.Error as exc:
        raise OperationError(f"cannot count the rows of {target.where}: {reason_of(exc, target)}") from None
    finally:
        conn.close()


def load_and_compare(
    file: BackupFile, server: DatabaseTarget, into: str, *, timeout: float = DEFAULT_LOAD_TIMEOUT
) -> Proof:
    """Load `file` into the new, empty database `into` on `server`, take its census and compare it with
    the manifest's. Raises OperationError when the dump does not load or cannot be counted."""
    target = on_database(server, into)
    started = time.monotonic()
    load_dump(file.path, target, timeout=timeout)
    seconds = time.monotonic() - started
    tables = census_of(target)
    differences = tuple(compare(file.tables, tables)) if file.tables is not None else ()
    return Proof(
        database=file.database,
        into=into,
        tables=tables,
        seconds=seconds,
        differences=differences,
        counted=file.tables is not None,
    )
