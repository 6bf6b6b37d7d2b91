"""Orphans: active LiteMaaS keys whose LiteLLM key no longer exists, and `keys orphans [--fix]`.

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


def orphans_csv(rows: tuple[OrphanRow, ...]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["api_key_id", "litellm_key_alias", "name", "user_email", "created_at"])
    for r in rows:
        writer.writerow([r.id, r.alias or "", r.name or "", r.email or "", r.created_at or ""])
    return out.getvalue()


class OrphansArgs(Args):
    """`keys orphans [--fix]`."""

    fix: bool = False


class KeysOrphansOperation(Operation[OrphansArgs]):
    """List LiteMaaS keys whose LiteLLM key is gone; with --fix, mark them inactive (revoked, sync error)."""

    name = "keys orphans"
    args_model = OrphansArgs
    mutating = True
    default_role = "operator"
    default_approval = True

    def plan(self, env: Environment, args: OrphansArgs) -> Plan:
        """Count the orphans (the approval re-check compares the count); a no-op without --fix."""
        dbs = key_databases(env)
        found = find_orphans(dbs, SAMPLE_SIZE)
        sample = "; ".join(r.shown() for r in found.rows)
        observed = {"orphans": found.count, "layout": dbs.layout}
        if found.count == 0:
            return Plan(summary="No orphaned LiteMaaS keys", target=KEYSTORE, noop=True, observed=observed)
        plural = "s" if found.count != 1 else ""
        what = f"{found.count:,} active LiteMaaS key{plural} whose LiteLLM key is gone"
        if not args.fix:
            return Plan(
                summary=f"{what} (e.g. {sample}); add --fix to mark them inactive",
                target=KEYSTORE,
                noop=True,
                observed=observed,
            )
        return Plan(
            summary=f"Mark {what} inactive (revoked, sync_error '{ORPHAN_REASON}')",
            target=KEYSTORE,
            changes=tuple(_change(r) for r in found.rows),
            risks=("their owners must create new keys in the LiteMaaS portal",),
            observed=observed,
        )

    def execute(self, env: Environment, args: OrphansArgs, plan: Plan | None) -> Iterator[Event]:
        """Without --fix: the listing (sample + CSV file). With --fix: one UPDATE, then the count."""
        try:
            dbs = key_databases(env)
            if not args.fix:
                found = find_orphans(dbs, LIST_LIMIT)
            else:
                marked = mark_orphans(dbs)
        except OperationError as exc:
            yield Result(ok=False, summary=f"Orphan check failed: {exc}")
            return
        if args.fix:
            yield Result(
                ok=True,
                summary=f"Marked {marked:,} orphaned LiteMaaS key{'s' if marked != 1 else ''} inactive "
                f"(sync_error '{ORPHAN_REASON}')",
            )
            return
        yield listing_result(found)


def listing_result(found: OrphanFindings) -> Result:
    if found.count == 0:
        return Result(ok=True, summary="No orphaned LiteMaaS keys: every active key exists in LiteLLM")
    section = Section(
        title="Active in LiteMaaS, gone from LiteLLM",
        fields={"count": f"{found.count:,}"},
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
        "gone; `keys orphans --fix` marks them inactive",
        sections=(section,),
        files=files,
        warnings=warnings,
    )
