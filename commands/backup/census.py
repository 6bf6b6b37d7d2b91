"""What a database holds, table by table: rows, columns and constraints, read in one transaction.

At dump time the census is taken in the very transaction whose snapshot pg_dump uses, so its counts
are what the dump holds (not what the database holds a minute later); after a restore it is taken again
and `compare` names each table that differs. Tables of extensions and of the system are left out.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

SHOWN_DIFFERENCES = 3  # columns or constraints named per table when they differ

_TABLES = """
SELECT c.oid, n.nspname, c.relname
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'
  AND NOT EXISTS (
    SELECT 1 FROM pg_depend d
    WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
ORDER BY n.nspname, c.relname
"""
_COLUMNS = """
SELECT a.attrelid, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull
FROM pg_attribute a
WHERE a.attrelid = ANY(%s) AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attrelid, a.attnum
"""
# A CHECK's expression is not compared: PostgreSQL deparses it differently once dumped and restored
# (`IN (…)` becomes `= ANY (ARRAY[…])` with other casts), so only its name and kind are recorded.
_CONSTRAINTS = """
SELECT conrelid, conname, CASE WHEN contype = 'c' THEN 'CHECK' ELSE pg_get_constraintdef(oid) END
FROM pg_constraint
WHERE conrelid = ANY(%s) AND contype <> 'n'
ORDER BY conrelid, conname
"""


@dataclass(frozen=True)
class TableCensus:
    """One table: its schema and name, its rows, its columns ("email text NOT NULL") and constraints."""

    schema: str
    table: str
    rows: int
    columns: tuple[str, ...]
    constraints: tuple[str, ...]

    @property
    def name(self) -> str:
        """`schema.table`, as shown."""
        return f"{self.schema}.{self.table}"

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": self.schema,
            "table": self.table,
            "rows": self.rows,
            "columns": list(self.columns),
            "constraints": list(self.constraints),
        }

    @classmethod
    def from_json(cls, data: Any) -> TableCensus:
        """Raises ValueError when `data` is not a table entry."""
        if not isinstance(data, dict):
            raise ValueError("table entry is not an object")
        rows = data.get("rows")
        if not isinstance(rows, int) or isinstance(rows, bool) or rows < 0:
            raise ValueError("table rows is not a count")
        return cls(
            schema=str(data["schema"]),
            table=str(data["table"]),
            rows=rows,
            columns=tuple(str(c) for c in data.get("columns") or ()),
            constraints=tuple(str(c) for c in data.get("constraints") or ()),
        )


def total_rows(tables: Iterable[TableCensus]) -> int:
    return sum(t.rows for t in tables)


def take_census(conn: psycopg.Connection[Any]) -> tuple[TableCensus, ...]:
    """Every user table of the connected database with its row count, in the connection's transaction
    (or one statement at a time under autocommit). Raises psycopg.Error."""
    tables = conn.execute(_TABLES).fetchall()
    if not tables:
        return ()
    oids = [int(oid) for oid, _schema, _table in tables]
    columns: dict[int, list[str]] = {}
    for relid, name, kind, not_null in conn.execute(_COLUMNS, (oids,)).fetchall():
        columns.setdefault(int(relid), []).append(f"{name} {kind}{' NOT NULL' if not_null else ''}")
    constraints: dict[int, list[str]] = {}
    for relid, name, definition in conn.execute(_CONSTRAINTS, (oids,)).fetchall():
        constraints.setdefault(int(relid), []).append(f"{name}: {definition}")
    counts = sql.SQL(" UNION ALL ").join(
        sql.SQL("SELECT {}, count(*) FROM ONLY {}").format(sql.Literal(index), sql.Identifier(schema, table))
        for index, (_oid, schema, table) in enumerate(tables)
    )
    rows = {int(index): int(count) for index, count in conn.execute(counts).fetchall()}
    return tuple(
        TableCensus(
            schema=str(schema),
            table=str(table),
            rows=rows[index],
            columns=tuple(columns.get(int(oid), ())),
            constraints=tuple(constraints.get(int(oid), ())),
        )
        for index, (oid, schema, table) in enumerate(tables)
    )


def _named(items: Sequence[str]) -> str:
    shown = "; ".join(items[:SHOWN_DIFFERENCES])
    return shown + (f" and {len(items) - SHOWN_DIFFERENCES} more" if len(items) > SHOWN_DIFFERENCES else "")


def _set_difference(kind: str, expected: Sequence[str], actual: Sequence[str]) -> str | None:
    before, after = set(expected), set(actual)
    missing = [item for item in expected if item not in after]
    extra = [item for item in actual if item not in before]
    if not missing and not extra:
        return None
    parts = [f"missing {_named(missing)}" if missing else "", f"unexpected {_named(extra)}" if extra else ""]
    return f"{kind} differ ({', '.join(p for p in parts if p)})"


def compare(expected: Sequence[TableCensus], actual: Sequence[TableCensus]) -> list[str]:
    """What differs between the census recorded at dump time and the one of a restored database, one
    line per table that differs, the table named first; empty when they agree."""
    found = {t.name: t for t in actual}
    wanted = {t.name: t for t in expected}
    problems: list[str] = []
    for table in expected:
        restored = found.get(table.name)
        if restored is None:
            problems.append(f"{table.name}: missing after the restore ({table.rows} rows in the backup)")
            continue
        issues: list[str] = []
        if restored.rows != table.rows:
            issues.append(f"{table.rows} rows in the backup, {restored.rows} restored")
        for kind, before, after in (
            ("columns", table.columns, restored.columns),
            ("constraints", table.constraints, restored.constraints),
        ):
            issue = _set_difference(kind, before, after)
            if issue:
                issues.append(issue)
        if issues:
            problems.append(f"{table.name}: {'; '.join(issues)}")
    for table in actual:
        if table.name not in wanted:
            problems.append(f"{table.name}: restored but not in the backup")
    return problems
