"""Step 1 of key drift on two databases: per-bucket digests on both sides, only differing buckets read.

Each side sums up its keys per bucket (`hashtext` of the token, masked to a power of two near
rows/16): an XOR of a hash of (token, alias, off) and a count, both sides at once. `off` is "this key
does not work": on LiteMaaS `is_active = false` or expired, on LiteLLM blocked or expired. A bucket
whose sums agree holds the same (token, alias, off) triples on both sides, so no key of it is missing,
renamed or — drift (f) — inactive in LiteMaaS but usable in LiteLLM. Only the rows of buckets that
differ are read again, from both sides at once, and paired here (up to `IN_MEMORY_ROWS`; beyond,
LiteLLM's are COPY'd, bytes passed through, into a temporary table and paired there). Keys that
expired in LiteLLM while still active in LiteMaaS (before the cleanup) also make their bucket differ:
slower, still exact. Were the two servers to bucket differently, every bucket would differ: slower,
still exact.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql

from commands.clients.sessions import pipe_copy
from commands.drift.pairs import TEMP_TABLE, TOKENS, WORK_MEM, Unpaired, pairs_query, utc_naive

KEYS_PER_BUCKET = 16  # at 1% drift, ~15% of the buckets differ
MIN_BUCKETS, MAX_BUCKETS = 1 << 10, 1 << 20
IN_MEMORY_ROWS = 250_000  # up to this many rows in differing buckets are paired here
OFF_SEED = 1431655765  # XORed into the hash seed of a key that does not work

_DIGEST = """SELECT b, bit_xor(h), count(*) FROM (
        SELECT hashtext({col}::text) & %(mask)s AS b,
               hashtextextended({col}::text,
                   coalesce(hashtext({alias}), 7) # CASE WHEN {off} THEN {seed} ELSE 0 END) AS h
        FROM {table} OFFSET 0) s
    GROUP BY b"""
_OFF_LITEMAAS = "(is_active IS FALSE OR coalesce(expires_at <= %(now)s, false))"
_OFF_LITELLM = "(coalesce(blocked, false) OR coalesce(expires <= %(now_utc)s, false))"
_IN_BUCKETS = "hashtext({col}::text) & %(mask)s = ANY(%(dirty)s::int[])"
_USABLE = "NOT coalesce(blocked, false) AND (expires IS NULL OR expires > {now_utc})"
_COPY_OUT = """COPY (SELECT token, key_alias, {usable} FROM {tokens}
    WHERE hashtext(token) & {mask} = ANY({dirty}::int[])) TO STDOUT"""
_DIRTY_ROWS = """SELECT key_hash::text, id::text, litellm_key_alias,
        is_active AND (created_at IS NULL OR created_at < %(before)s), is_active IS FALSE
    FROM api_keys WHERE hashtext(key_hash::text) & %(mask)s = ANY(%(dirty)s::int[])"""
_DIRTY_TOKENS = """SELECT token, key_alias,
        NOT coalesce(blocked, false) AND (expires IS NULL OR expires > %(now_utc)s)
    FROM "LiteLLM_VerificationToken" WHERE hashtext(token) & %(mask)s = ANY(%(dirty)s::int[])"""

Token = tuple[str | None, bool]  # LiteLLM's (alias, usable) of one token; expiries are read for (f) only


@dataclass(frozen=True)
class Buckets:
    """How keys are bucketed (`hashtext(token) & mask`) and which buckets differ.

    `aliases`: the LiteLLM aliases in those buckets when paired in memory, else None (then they are in
    the temporary table)."""

    mask: int
    dirty: list[int]
    aliases: set[str] | None = None


def _mask(litemaas: psycopg.Connection[Any]) -> int:
    """A power of two near rows/`KEYS_PER_BUCKET` (the planner's row count of `api_keys`), minus one."""
    row = litemaas.execute("SELECT reltuples FROM pg_class WHERE oid = 'api_keys'::regclass").fetchone()
    rows = max(float(row[0]) if row else 0.0, 0.0)
    buckets = MIN_BUCKETS
    while buckets < MAX_BUCKETS and buckets * KEYS_PER_BUCKET < rows:
        buckets *= 2
    return buckets - 1


def _digest(
    conn: psycopg.Connection[Any],
    table: sql.Composable,
    col: str,
    alias: str,
    off: str,
    params: dict[str, Any],
) -> dict[int, tuple[int, int]]:
    query = sql.SQL(_DIGEST).format(
        table=table, col=sql.Identifier(col), alias=sql.Identifier(alias), off=sql.SQL(off), seed=OFF_SEED
    )
    return {bucket: (xor, n) for bucket, xor, n in conn.execute(query, params)}


def _copy_buckets(
    litemaas: psycopg.Connection[Any], litellm: psycopg.Connection[Any], buckets: Buckets, now_utc: datetime
) -> None:
    """LiteLLM's keys in the dirty buckets → `pg_temp.chatops_drift_keys` on `litemaas`."""
    litemaas.execute(sql.SQL("DROP TABLE IF EXISTS pg_temp.{}").format(TEMP_TABLE))
    litemaas.execute(
        sql.SQL("CREATE TEMP TABLE {} (token text NOT NULL, key_alias text, usable boolean)").format(
            TEMP_TABLE
        )
    )
    copy_out = sql.SQL(_COPY_OUT).format(
        usable=sql.SQL(_USABLE).format(now_utc=sql.Literal(now_utc)),
        tokens=TOKENS,
        mask=sql.Literal(buckets.mask),
        dirty=sql.Literal(buckets.dirty),
    )
    copy_in = sql.SQL("COPY {} (token, key_alias, usable) FROM STDIN").format(TEMP_TABLE)
    with litellm.cursor().copy(copy_out) as out, litemaas.cursor().copy(copy_in) as into:
        pipe_copy(out, into)
    litemaas.execute(sql.SQL("ANALYZE pg_temp.{}").format(TEMP_TABLE))


def _pair(rows: list[tuple[Any, ...]], tokens: dict[str, Token]) -> Unpaired:
    """The pairing of `pairs_query` in memory: LiteMaaS rows against LiteLLM's tokens."""
    unpaired = Unpaired()
    tokens = dict(tokens)
    for key_hash, key_id, alias, counts, inactive in rows:
        if key_hash in tokens:
            litellm_alias, usable = tokens.pop(key_hash)
            if inactive and usable:
                unpaired.inactive_usable.append((key_id, alias, key_hash, None))
            if litellm_alias is not None and litellm_alias != alias:
                unpaired.renamed.add(litellm_alias)
        elif counts:
            unpaired.rows.append((key_id, alias))
    unpaired.tokens = [(token, alias) for token, (alias, _) in tokens.items()]
    return unpaired


def two_databases(
    litemaas: psycopg.Connection[Any],
    litellm: psycopg.Connection[Any],
    before: datetime,
    in_memory_rows: int = IN_MEMORY_ROWS,
) -> tuple[Unpaired, Buckets]:
    """Step 1 on two databases, each connection in its own (repeatable read) transaction; differing
    buckets holding more than `in_memory_rows` rows are paired in a temporary table."""
    now_utc = utc_naive(before)
    mask = _mask(litemaas)
    for conn in (litemaas, litellm):
        conn.execute(sql.SQL("SET LOCAL work_mem = {}").format(sql.Literal(WORK_MEM)))
    params = {"before": before, "now": before, "now_utc": now_utc, "mask": mask}
    with ThreadPoolExecutor(max_workers=1) as pool:
        theirs_pending = pool.submit(_digest, litellm, TOKENS, "token", "key_alias", _OFF_LITELLM, params)
        mine = _digest(
            litemaas, sql.Identifier("api_keys"), "key_hash", "litellm_key_alias", _OFF_LITEMAAS, params
        )
        theirs = theirs_pending.result()
    dirty = sorted(b for b in mine.keys() | theirs.keys() if mine.get(b) != theirs.get(b))
    if not dirty:
        return Unpaired(), Buckets(mask, dirty, set())
    params["dirty"] = dirty
    if sum(max(mine.get(b, (0, 0))[1], theirs.get(b, (0, 0))[1]) for b in dirty) <= in_memory_rows:
        with ThreadPoolExecutor(max_workers=1) as pool:
            tokens_pending = pool.submit(
                lambda: {t: (a, u) for t, a, u in litellm.execute(_DIRTY_TOKENS, params)}
            )
            rows = litemaas.execute(_DIRTY_ROWS, params).fetchall()
            tokens: dict[str, Token] = tokens_pending.result()
        return _pair(rows, tokens), Buckets(mask, dirty, {a for a, _ in tokens.values() if a is not None})
    buckets = Buckets(mask, dirty)
    _copy_buckets(litemaas, litellm, buckets, now_utc)
    query = pairs_query(
        mine=sql.SQL(_IN_BUCKETS).format(col=sql.Identifier("key_hash")),
        tokens=sql.SQL("pg_temp.{}").format(TEMP_TABLE),
        expires=sql.SQL("NULL::timestamp"),
        usable=sql.SQL("usable"),
        theirs=sql.SQL("true"),
    )
    with litemaas.cursor() as cur:
        return Unpaired().take(cur.execute(query, params)), buckets
