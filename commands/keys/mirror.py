"""LiteLLM's keys as seen from the LiteMaaS database: the real table, or a session-local copy.

Orphan detection (`keys orphans`, `keys cleanup`) compares `api_keys` with `"LiteLLM_VerificationToken"`
(`drift` pairs the keys through their indexes instead: `commands.drift.keys`). In one shared database that
is a join. In two databases, `(token, key_alias)` of every LiteLLM key is streamed with COPY from
LiteLLM's database into a temporary table of the LiteMaaS connection (bytes passed through, nothing
held in memory), analysed, and the same SQL runs against it — never one query per key.

A copy is a snapshot: a key created in LiteLLM after it was taken is missing from it. Callers that act
on "absent from LiteLLM" therefore only consider LiteMaaS rows created before `Mirror.taken_before`
(read on the LiteMaaS clock before the copy started; the backend creates the LiteLLM key before its
row, so such a row's key, if it exists, is in the copy).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql

from commands.clients.sessions import KeyDatabases, connect, describe_error, pipe_copy
from commands.contract import OperationError

TOKENS_TABLE = sql.Identifier("LiteLLM_VerificationToken")
TEMP_TABLE = "chatops_litellm_keys"
COPY_OUT = 'COPY (SELECT token, key_alias FROM "LiteLLM_VerificationToken") TO STDOUT'


@dataclass(frozen=True)
class Mirror:
    """The relation to use in SQL on the LiteMaaS connection, and when its snapshot began."""

    relation: sql.Composable
    taken_before: datetime  # LiteMaaS clock (timestamptz)
    copied: int | None  # rows copied (two databases), None when the table is shared


def _now(conn: psycopg.Connection[Any]) -> datetime:
    row = conn.execute("SELECT now()").fetchone()
    assert row is not None
    value: datetime = row[0]
    return value


def litellm_keys(litemaas: psycopg.Connection[Any], dbs: KeyDatabases) -> Mirror:
    """LiteLLM's keys visible on `litemaas` (autocommit). Two databases: (re)builds the temp copy."""
    if dbs.shared:
        return Mirror(relation=TOKENS_TABLE, taken_before=_now(litemaas), copied=None)
    taken_before = _now(litemaas)
    table = sql.Identifier(TEMP_TABLE)
    litemaas.execute(sql.SQL("DROP TABLE IF EXISTS pg_temp.{}").format(table))
    with contextlib.suppress(psycopg.Error):  # only possible before the session's first temp table
        litemaas.execute("SET temp_buffers = '256MB'")
    litemaas.execute(sql.SQL("CREATE TEMP TABLE {} (token text NOT NULL, key_alias text)").format(table))
    try:
        source = connect(dbs.litellm_url, "copy")
    except psycopg.OperationalError as exc:
        reason = describe_error(exc, dbs.litellm_url)
        raise OperationError(f"LiteLLM's database is unreachable: {reason}") from None
    with (
        source,
        source.cursor().copy(COPY_OUT) as out,
        litemaas.cursor().copy(sql.SQL("COPY {} (token, key_alias) FROM STDIN").format(table)) as into,
    ):
        pipe_copy(out, into)
    # An index on token: after the alias anti-join few rows remain, and the planner probes them here.
    litemaas.execute(sql.SQL("CREATE INDEX ON {} (token)").format(table))
    litemaas.execute(sql.SQL("ANALYZE {}").format(table))
    row = litemaas.execute(sql.SQL("SELECT count(*) FROM {}").format(table)).fetchone()
    relation = sql.SQL("pg_temp.{}").format(table)
    return Mirror(relation=relation, taken_before=taken_before, copied=row[0] if row else 0)
