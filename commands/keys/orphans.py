"""Orphans: active LiteMaaS keys whose LiteLLM key no longer exists: `keys orphans` lists them (read
only, for viewers: the counts and every one as a file), `keys orphans --fix` marks them (a command of
its own: operator + approval).

A row is an orphan when LiteLLM has no key with its `litellm_key_alias` AND no key whose token equals
its `key_hash` (a NULL alias leaves only the hash). Requiring both absences is deliberate: a row is
never marked while LiteLLM still holds its key under either name ("proven absent"). Rows created after
the LiteLLM snapshot began are left for the next run (see `commands.keys.mirror`).

Marking sets `is_active=false, revoked_at=now(), sync_status='error', sync_error=<reason>` in one
UPDATE; `is_active = true` in its WHERE makes it idempotent (a row is never marked twice).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql

from commands.clients.sessions import KeyDatabases, key_databases, litemaas_session
from commands.contract import (
    Args,
    Change,
    Event,
    Operation,
    OperationError,
    Plan,
    Result,
    ResultFile,
    Section,
)
from commands.environment import Environment
from commands.keys.mirror import litellm_keys
from commands.targets import KEYSTORE
from commands.text import SECRET_VALUE, printable

ORPHAN_REASON = "Key deleted from LiteLLM"
SAMPLE_SIZE = 5
LIST_LIMIT = 100_000  # rows written to the listing file; the count is always exact

_CONDITION = """
    k.is_active = true
    AND (k.created_at IS NULL OR k.created_at < %(before)s)
    AND NOT EXISTS (SELECT 1 FROM {keys} t WHERE t.key_alias = k.litellm_key_alias)
    AND NOT EXISTS (SELECT 1 FROM {keys} t WHERE t.token = k.key_hash)
"""


@dataclass(frozen=True)
class OrphanRow:
    """What may be shown of an orphaned key: never the key, its hash or its prefix."""

    id: str
    alias: str | None
    name: str | None
    email: str | None
    created_at: datetime | None

    def shown(self) -> str:
        who = self.email or "unknown user"
        alias = self.alias or "(no alias)"
        name = f" “{self.name}”" if self.name else ""
        return f"{alias}{name} of {who}"


@dataclass(frozen=True)
class OrphanFindings:
    count: int
    rows: tuple[OrphanRow, ...]  # at most the requested limit, oldest first


def _condition(keys: sql.Composable) -> sql.Composable:
    return sql.SQL(_CONDITION).format(keys=keys)


def find_orphans_on(conn: psycopg.Connection[Any], dbs: KeyDatabases, limit: int) -> OrphanFindings:
    """Count the orphans and list up to `limit` of them (on an open LiteMaaS connection)."""
    mirror = litellm_keys(conn, dbs)
    condition = _condition(mirror.relation)
    params = {"before": mirror.taken_before}
    count_row = conn.execute(
        sql.SQL("SELECT count(*) FROM api_keys k WHERE {}").format(condition), params
    ).fetchone()
    rows: list[OrphanRow] = []
    if limit > 0 and count_row and count_row[0]:
        query = sql.SQL(
            "SELECT k.id::text, k.litellm_key_alias, k.name, u.email, k.created_at "
            "FROM api_keys k LEFT JOIN users u ON u.id = k.user_id WHERE {} "
            "ORDER BY k.created_at NULLS FIRST, k.id LIMIT %(limit)s"
        ).format(condition)
        rows = [OrphanRow(*r) for r in conn.execute(query, {**params, "limit": limit})]
    return OrphanFindings(count=int(count_row[0]) if count_row else 0, rows=tuple(rows))


def mark_orphans_on(conn: psycopg.Connection[Any], dbs: KeyDatabases, reason: str = ORPHAN_REASON) -> int:
    """Mark every orphan in one UPDATE; returns how many rows were marked."""
    mirror = litellm_keys(conn, dbs)
    query = sql.SQL(
        "UPDATE api_keys k SET is_active = false, revoked_at = now(), sync_status = 'error', "
        "sync_error = %(reason)s, updated_at = now() WHERE {}"
    ).format(_condition(mirror.relation))
    cursor = conn.execute(query, {"before": mirror.taken_before, "reason": reason})
    return cursor.rowcount


def find_orphans(dbs: KeyDatabases, limit: int = SAMPLE_SIZE) -> OrphanFindings:
    with litemaas_session(dbs, "orphans") as session:
        return session.run(lambda conn: find_orphans_on(conn, dbs, limit))


def mark_orphans(dbs: KeyDatabases, reason: str = ORPHAN_REASON) -> int:
    with litemaas_session(dbs, "orphans") as session:
        return session.run(lambda conn: mark_orphans_on(conn, dbs, reason))


def _change(row: OrphanRow) -> Change:
    owner = row.email or "unknown user"
    return Change(f"api_key/{row.alias or row.id}", "is_active", "true", f"false ({owner})")


FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: object) -> str:
    """A field as the listing file shows it: printable, "***" when it looks like a secret, and never
    read as a formula by a spreadsheet (a leading `=`, `+`, `-`, `@` gets a `'`)."""
    text = "" if value is None else printable(str(value))
    if SECRET_VALUE.search(text):
        return "***"
    return "'" + text if text.startswith(FORMULA_START) else text


def orphans_csv(rows: tuple[OrphanRow, ...]) -> str:
    """Every listed orphan, one line each: ids and aliases only (never a key, its hash or prefix)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["api_key_id", "litellm_key_alias", "name", "user_email", "created_at"])
    for r in rows:
        writer.writerow([csv_cell(v) for v in (r.id, r.alias, r.name, r.email, r.created_at)])
    return out.getvalue()


class OrphansArgs(Args):
    """`keys orphans`."""


class KeysOrphansOperation(Operation[OrphansArgs]):
    """List LiteMaaS keys whose LiteLLM key is gone: the counts, and every one of them as a file."""

    name = "keys orphans"
    args_model = OrphansArgs
    mutating = False
    default_role = "viewer"
    default_approval = False

    def execute(self, env: Environment, args: OrphansArgs, plan: Plan | None) -> Iterator[Event]:
        """Read only: the count, a sample, and the full list (CSV file)."""
        try:
            found = find_orphans(key_databases(env), LIST_LIMIT)
        except OperationError as exc:
            yield Result(ok=False, summary=f"Orphan check failed: {exc}")
            return
        yield listing_result(found)


class OrphansFixArgs(Args):
    """`keys orphans --fix` (the flag is the verb's)."""


class KeysOrphansFixOperation(Operation[OrphansFixArgs]):
    """Mark the LiteMaaS keys whose LiteLLM key is gone inactive (revoked, sync error)."""

    name = "keys orphans --fix"
    args_model = OrphansFixArgs
    mutating = True
    default_role = "operator"
    default_approval = True

    def plan(self, env: Environment, args: OrphansFixArgs) -> Plan:
        """Count the orphans (the approval re-check compares the count); a no-op when there are none."""
        dbs = key_databases(env)
        found = find_orphans(dbs, SAMPLE_SIZE)
        observed = {"orphans": found.count, "layout": dbs.layout}
        if found.count == 0:
            return Plan(summary="No orphaned LiteMaaS keys", target=KEYSTORE, noop=True, observed=observed)
        plural = "s" if found.count != 1 else ""
        what = f"{found.count:,} active LiteMaaS key{plural} whose LiteLLM key is gone"
        return Plan(
            summary=f"Mark {what} inactive (revoked, sync_error '{ORPHAN_REASON}')",
            target=KEYSTORE,
            changes=tuple(_change(r) for r in found.rows),
            risks=("their owners must create new keys in the LiteMaaS portal",),
            observed=observed,
        )

    def execute(self, env: Environment, args: OrphansFixArgs, plan: Plan | None) -> Iterator[Event]:
        """One UPDATE, then the count marked."""
        try:
            marked = mark_orphans(key_databases(env))
        except OperationError as exc:
            yield Result(ok=False, summary=f"Orphan fix failed: {exc}")
            return
        yield Result(
            ok=True,
            summary=f"Marked {marked:,} orphaned LiteMaaS key{'s' if marked != 1 else ''} inactive "
            f"(sync_error '{ORPHAN_REASON}')",
        )


def listing_result(found: OrphanFindings) -> Result:
    """The counts, a sample of SAMPLE_SIZE, and the listed orphans as a CSV file."""
    if found.count == 0:
        return Result(ok=True, summary="No orphaned LiteMaaS keys: every active key exists in LiteLLM")
    section = Section(
        title="Active in LiteMaaS, gone from LiteLLM",
        fields={"count": f"{found.count:,}", "in the file": f"{len(found.rows):,}"},
        lines=tuple(r.shown() for r in found.rows[:SAMPLE_SIZE]),
    )
    files = (ResultFile("orphaned-keys.csv", "Orphaned LiteMaaS keys", orphans_csv(found.rows)),)
    warnings = (
        (f"the file lists the first {len(found.rows):,} of {found.count:,}",)
        if len(found.rows) < found.count
        else ()
    )
    return Result(
        ok=True,
        summary=f"{found.count:,} active LiteMaaS key{'s' if found.count != 1 else ''} whose LiteLLM key is "
        "gone, all listed in the file; `keys orphans --fix` marks them inactive",
        sections=(section,),
        files=files,
        warnings=warnings,
    )
