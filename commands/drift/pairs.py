"""Step 1 of key drift, the pairing by hash: which `api_keys.key_hash` have no LiteLLM token, and which
tokens no `key_hash`. Only the keys are read, from the two unique indexes (index-only scans), never the
rows: the details of the few unpaired keys are read afterwards (`keys.py`).

- One shared database: one query, a merge full join of the two indexes in their order (the planner is
  told not to hash: a hash full join reads both tables and cannot run in parallel on PostgreSQL 15).
  Index-only scans need the visibility map: LiteLLM updates its keys' spend, and every key on a page
  changed since the last VACUUM is fetched from the table, in index order. So the merge is chosen only
  when at least `VISIBLE_ENOUGH` of both tables' pages were all-visible at the last VACUUM; otherwise
  the planner's own plan (a hash full join over both tables) runs, slower but never random.
- Two databases: the key space is cut into ranges by the keys' leading hex digits; each range is read
  from both sides at once as one string (`string_agg` over an index range scan) and the two sets are
  subtracted here. Memory: one range per side (about `RANGE_KEYS` keys) plus the unpaired keys. The
  bounds cover every string, so each key is in exactly one range on each side; a key the two servers'
  collations put in different ranges is unpaired in both, and is paired again at the end.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql

RANGE_KEYS = 8192  # keys per range (two databases); the ranges are 16**d for the smallest d that fits
MAX_DIGITS = 4  # at most 65,536 ranges
VISIBLE_ENOUGH = 0.9  # shared: the share of all-visible pages (both tables) that makes the merge pay

# One shared database: the key-only merge full join of idx_api_keys_key_hash and the tokens' primary key,
# then each unpaired key's details by index (LATERAL … LIMIT 1: a lookup per unpaired key, never a join
# over the tables): a row's (id, alias, counts for (a), email), a token's (alias, user_id, expires).
_UNPAIRED_SHARED = """SELECT u.key_hash, u.token, k.id::text, k.litellm_key_alias, k.counts, k.email,
        t.key_alias, t.user_id, t.expires
    FROM (SELECT k.key_hash, t.token
          FROM (SELECT key_hash::text FROM api_keys) k
          FULL JOIN (SELECT token FROM "LiteLLM_VerificationToken") t ON t.token = k.key_hash
          WHERE k.key_hash IS NULL OR t.token IS NULL) u
    LEFT JOIN LATERAL (
        SELECT a.id, a.litellm_key_alias, a.is_active AND (a.created_at IS NULL OR a.created_at < %(before)s)
            AS counts, (SELECT email FROM users WHERE users.id = a.user_id) AS email
        FROM api_keys a WHERE a.key_hash = u.key_hash LIMIT 1) k ON u.key_hash IS NOT NULL
    LEFT JOIN LATERAL (
        SELECT key_alias, user_id, expires FROM "LiteLLM_VerificationToken" v WHERE v.token = u.token
        LIMIT 1) t ON u.token IS NOT NULL"""
_VISIBLE = """SELECT min(relallvisible::float8 / greatest(relpages, 1)) FROM pg_class
    WHERE oid IN ('api_keys'::regclass, '"LiteLLM_VerificationToken"'::regclass)"""
_MERGE_PLAN = ("SET LOCAL enable_hashjoin = off", "SET LOCAL enable_sort = off", "SET LOCAL jit = off")
_PLAN_AGAIN = ("RESET enable_hashjoin", "RESET enable_sort")  # for the queries that follow

# Two databases: one range of keys as one string, with its count (a key holding a newline is detected).
_RANGE = "SELECT string_agg({col}::text, E'\\n'), count(*) FROM {table} WHERE {where}"
_RANGE_ROWS = "SELECT {col}::text FROM {table} WHERE {where}"


@dataclass
class Unpaired:
    """Keys of one side that have no match on the other: LiteMaaS `key_hash`es, LiteLLM tokens."""

    hashes: set[str] = field(default_factory=set)
    tokens: set[str] = field(default_factory=set)
    # Shared: read with the pairing. (id, alias, email) of the rows that count for (a); (token, alias,
    # user_id, expires) of every unpaired token.
    rows: list[tuple[Any, ...]] | None = None
    details: list[tuple[Any, ...]] | None = None

    def pair_across_ranges(self) -> Unpaired:
        """Drop the keys found on both sides (only when the servers order keys differently)."""
        both = self.hashes & self.tokens
        self.hashes -= both
        self.tokens -= both
        return self


def shared_unpaired(conn: psycopg.Connection[Any], before: datetime) -> Unpaired:
    """Step 1 in one shared database (inside the caller's transaction), with the unpaired keys'
    details; a row counts for (a) when active and created before `before`."""
    row = conn.execute(_VISIBLE).fetchone()
    merge = row is not None and row[0] is not None and row[0] >= VISIBLE_ENOUGH
    for setting in _MERGE_PLAN if merge else ():
        conn.execute(setting)
    rows: list[tuple[Any, ...]] = []
    details: list[tuple[Any, ...]] = []
    unpaired = Unpaired(rows=rows, details=details)
    with conn.cursor() as cur:
        for key_hash, token, key_id, alias, counts, email, *token_details in cur.stream(
            _UNPAIRED_SHARED, {"before": before}
        ):
            if token is None:
                unpaired.hashes.add(key_hash)
                if counts:
                    rows.append((key_id, alias, email))
            else:
                unpaired.tokens.add(token)
                details.append((token, *token_details))
    for setting in _PLAN_AGAIN if merge else ():
        conn.execute(setting)
    return unpaired


def range_bounds(rows: float, range_keys: int = RANGE_KEYS) -> list[tuple[str | None, str | None]]:
    """[lo, hi) bounds by leading hex digits, the first open below and the last open above."""
    wanted = max(rows, 1.0) / max(range_keys, 1)
    digits = min(MAX_DIGITS, max(1, math.ceil(math.log(wanted, 16)) if wanted > 1 else 1))
    cuts = [format(i, f"0{digits}x") for i in range(1, 16**digits)]
    return list(zip([None, *cuts], [*cuts, None], strict=True))


def _where(col: str, lo: str | None, hi: str | None) -> tuple[sql.Composable, list[str]]:
    parts, params = [], []
    if lo is not None:
        parts.append(sql.SQL("{} >= %s").format(sql.Identifier(col)))
        params.append(lo)
    if hi is not None:
        parts.append(sql.SQL("{} < %s").format(sql.Identifier(col)))
        params.append(hi)
    return sql.SQL(" AND ").join(parts) if parts else sql.SQL("true"), params


class _Side:
    """One side's keys, range by range."""

    def __init__(self, conn: psycopg.Connection[Any], table: str, col: str) -> None:
        self.conn, self.table, self.col = conn, sql.Identifier(table), col

    def keys(self, lo: str | None, hi: str | None) -> set[str]:
        where, params = _where(self.col, lo, hi)
        query = sql.SQL(_RANGE).format(col=sql.Identifier(self.col), table=self.table, where=where)
        row = self.conn.execute(query, params).fetchone()
        text, count = row if row else ("", 0)
        if not count:
            return set()
        keys = str(text).split("\n")
        if len(keys) == count:
            return set(keys)
        query = sql.SQL(_RANGE_ROWS).format(col=sql.Identifier(self.col), table=self.table, where=where)
        return {key for (key,) in self.conn.execute(query, params)}  # a key holds a newline


def _ranges(
    mine: _Side, theirs: _Side, bounds: list[tuple[str | None, str | None]]
) -> Iterator[tuple[set[str], set[str]]]:
    """Both sides' keys per range, read at once; the next range is read while this one is compared
    (at most two ranges per side in memory)."""
    with ThreadPoolExecutor(max_workers=2) as pool:

        def read(lo: str | None, hi: str | None) -> tuple[Future[set[str]], Future[set[str]]]:
            return pool.submit(mine.keys, lo, hi), pool.submit(theirs.keys, lo, hi)

        ahead = read(*bounds[0])
        for index in range(len(bounds)):
            here, there = ahead
            if index + 1 < len(bounds):
                ahead = read(*bounds[index + 1])
            yield here.result(), there.result()


def two_databases_unpaired(
    litemaas: psycopg.Connection[Any], litellm: psycopg.Connection[Any], range_keys: int = RANGE_KEYS
) -> Unpaired:
    """Step 1 on two databases, each connection inside its own (repeatable read) transaction."""
    row = litemaas.execute("SELECT reltuples FROM pg_class WHERE oid = 'api_keys'::regclass").fetchone()
    bounds = range_bounds(float(row[0]) if row else 0.0, range_keys)
    mine = _Side(litemaas, "api_keys", "key_hash")
    theirs = _Side(litellm, "LiteLLM_VerificationToken", "token")
    unpaired = Unpaired()
    for hashes, tokens in _ranges(mine, theirs, bounds):
        unpaired.hashes |= hashes - tokens
        unpaired.tokens |= tokens - hashes
    return unpaired.pair_across_ranges()
