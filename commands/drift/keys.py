"""Drift of keys: (a) active LiteMaaS keys with no LiteLLM key, (b) LiteLLM keys with no LiteMaaS row.

A LiteMaaS row and a LiteLLM key correspond when `api_keys.key_hash` = `token` (how the backend creates
keys: both are sha256 hex of the key) or `litellm_key_alias` = `key_alias`. (a) is exactly the orphan
rule of `commands.keys.orphans` (active, created before the LiteLLM snapshot began, neither hash nor
alias in LiteLLM); (b) is a LiteLLM key whose token is no `key_hash` and whose alias (if any) is no
`litellm_key_alias` of any row, active or not.

Both are found in two steps, whatever the layout:

1. **Pairing by hash** — a full outer join of `api_keys` and LiteLLM's keys on `key_hash = token`, which
   keeps only what did not pair cleanly: LiteMaaS rows without a token (candidates for a), tokens
   without a row (candidates for b), and pairs whose aliases differ (their LiteLLM alias is kept).
   - One shared database: the key space is split in two halves by the first hex digit and each half is
     joined on its own connection at the same time (PostgreSQL 15 cannot run a full join in parallel).
   - Two databases: each side sums up its rows per bucket (`hashtext` of the token, masked to a power
     of two near rows/16; an XOR of a hash of (token, alias) and a count), both sides at once. A bucket
     whose sums agree holds the same (token, alias) pairs on both sides. Only the rows of buckets that
     differ are read again, from both sides at once, and paired here (up to `IN_MEMORY_ROWS`; beyond,
     LiteLLM's are COPY'd, bytes passed through, into a temporary table and joined there). Were the
     two servers to bucket differently, every bucket would differ: slower, still exact.
2. **Aliases** of the few candidates, through `api_keys`' indexes: a (b) candidate is dropped when a
   row has its alias. An (a) candidate is dropped when a LiteLLM key has its alias: one left over from
   step 1 (unpaired or renamed), or the key of another row with that alias whose pair agrees (shared:
   joined by token; two databases: a row in an agreeing bucket).

Memory: the candidates, plus (two databases) the rows of differing buckets up to `IN_MEMORY_ROWS`; at
most `LIST_LIMIT` per kind are kept for the file, counts are exact.
"""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql

from commands.clients.sessions import KeyDatabases, pipe_copy
from commands.drift.findings import LIST_LIMIT, Finding

TOKENS = sql.Identifier("LiteLLM_VerificationToken")
TEMP_TABLE = sql.Identifier("chatops_drift_keys")
KEYS_PER_BUCKET = 16  # at 1% drift, ~15% of the buckets differ
MIN_BUCKETS, MAX_BUCKETS = 1 << 10, 1 << 20
CHUNK = 5000
IN_MEMORY_ROWS = 250_000  # two databases: up to this many rows in differing buckets are paired here
WORK_MEM = "256MB"  # the hash table of a join (one half, or the dirty buckets) stays in memory

# Step 1. Rows: (api_keys.id, its alias, counts for (a), token, LiteLLM alias); NULL id or token = unpaired.
_PAIRS = """SELECT k.id::text, k.litellm_key_alias,
        k.is_active AND (k.created_at IS NULL OR k.created_at < %(before)s), t.token, t.key_alias
    FROM (SELECT id, key_hash, litellm_key_alias, is_active, created_at FROM api_keys WHERE {mine}) k
    FULL JOIN (SELECT token, key_alias FROM {tokens} WHERE {theirs}) t ON t.token = k.key_hash
    WHERE k.id IS NULL OR t.token IS NULL OR k.litellm_key_alias IS DISTINCT FROM t.key_alias"""
# Shared: `_PAIRS` plus step 2 for the unpaired of its half, through indexes, evaluated only for them
# (scalar subqueries, which the planner never turns into hashes of whole tables as it may an EXISTS):
# `known` = (b) token whose alias a row has; `agreed` = (a) row whose alias another row's pair shares;
# then the (a) row's user's email, the (b) token's owner and expiry (no follow-up queries for the file).
_PAIRS_SHARED = """SELECT k.id::text, k.litellm_key_alias,
        k.is_active AND (k.created_at IS NULL OR k.created_at < %(before)s), t.token, t.key_alias,
        CASE WHEN k.id IS NULL AND t.key_alias IS NOT NULL THEN (
            SELECT true FROM api_keys a WHERE a.litellm_key_alias = t.key_alias LIMIT 1) END,
        CASE WHEN t.token IS NULL AND k.litellm_key_alias IS NOT NULL
            AND k.is_active AND (k.created_at IS NULL OR k.created_at < %(before)s) THEN (
            SELECT true FROM api_keys a JOIN {tokens} o ON o.token = a.key_hash
            WHERE a.litellm_key_alias = k.litellm_key_alias AND o.key_alias = k.litellm_key_alias
            LIMIT 1) END,
        CASE WHEN t.token IS NULL THEN (SELECT u.email FROM users u WHERE u.id = k.user_id) END,
        t.user_id, t.expires
    FROM (SELECT id, key_hash, litellm_key_alias, is_active, created_at, user_id
          FROM api_keys WHERE {mine}) k
    FULL JOIN (SELECT token, key_alias, user_id, expires FROM {tokens} WHERE {theirs}) t
        ON t.token = k.key_hash
    WHERE k.id IS NULL OR t.token IS NULL OR k.litellm_key_alias IS DISTINCT FROM t.key_alias"""
_HALF = sql.SQL("({} COLLATE \"C\" < '8') = %(low)s")

# Per bucket: XOR of a hash of (token, alias) (tokens are unique on each side, so nothing cancels out).
_DIGEST = """SELECT b, bit_xor(h), count(*) FROM (
        SELECT hashtext({col}::text) & %(mask)s AS b,
               hashtextextended({col}::text, coalesce(hashtext({alias}), 7)) AS h
        FROM {table} OFFSET 0) s
    GROUP BY b"""
_IN_BUCKETS = "hashtext({col}::text) & %(mask)s = ANY(%(dirty)s::int[])"
_COPY_OUT = """COPY (SELECT token, key_alias FROM {tokens}
    WHERE hashtext(token) & {mask} = ANY({dirty}::int[])) TO STDOUT"""

# Step 2.
_ROW_ALIASES = "SELECT DISTINCT litellm_key_alias FROM api_keys WHERE litellm_key_alias = ANY(%s::text[])"
_AGREEING_SHARED = """SELECT DISTINCT k.litellm_key_alias FROM api_keys k
    JOIN "LiteLLM_VerificationToken" t ON t.token = k.key_hash AND t.key_alias = k.litellm_key_alias
    WHERE k.litellm_key_alias = ANY(%(aliases)s::text[]) AND NOT (k.id = ANY(%(ids)s::uuid[]))"""
_AGREEING_TWO = """SELECT DISTINCT litellm_key_alias FROM api_keys
    WHERE litellm_key_alias = ANY(%(aliases)s::text[])
    AND NOT (hashtext(key_hash::text) & %(mask)s = ANY(%(dirty)s::int[]))"""
_DIRTY_ROWS = """SELECT key_hash::text, id::text, litellm_key_alias,
        is_active AND (created_at IS NULL OR created_at < %(before)s)
    FROM api_keys WHERE hashtext(key_hash::text) & %(mask)s = ANY(%(dirty)s::int[])"""
_DIRTY_TOKENS = """SELECT token, key_alias FROM "LiteLLM_VerificationToken"
    WHERE hashtext(token) & %(mask)s = ANY(%(dirty)s::int[])"""
_COPIED_ALIASES = sql.SQL("SELECT DISTINCT key_alias FROM pg_temp.{} WHERE key_alias = ANY(%s::text[])")
_EMAILS = """SELECT k.id::text, u.email FROM api_keys k LEFT JOIN users u ON u.id = k.user_id
    WHERE k.id = ANY(%s::uuid[])"""
_DETAILS = """SELECT token, user_id, expires FROM "LiteLLM_VerificationToken" WHERE token = ANY(%s)"""


@dataclass
class Unpaired:
    """What step 1 left: (a) candidates (id, alias), (b) candidates (token, alias), renamed aliases."""

    rows: list[tuple[str, str | None]] = field(default_factory=list)
    tokens: list[tuple[str, str | None]] = field(default_factory=list)
    renamed: set[str] = field(default_factory=set)  # LiteLLM aliases of pairs whose aliases differ
    claimed: set[str] = field(default_factory=set)  # shared: aliases of unpaired tokens a row has
    checked: bool = False  # shared: step 2's index checks were done in step 1's query (`_PAIRS_SHARED`)
    emails: dict[str, str | None] = field(default_factory=dict)  # shared: (a) candidate id → email
    details: dict[str, tuple[Any, Any]] = field(default_factory=dict)  # shared: (b) token → user, expiry

    def take(self, cursor: Iterable[tuple[Any, ...]]) -> Unpaired:
        for key_id, alias, counts, token, litellm_alias, *shared in cursor:
            known, agreed, email, user_id, expires = shared or (None, None, None, None, None)
            if token is None:
                if counts and not agreed:
                    self.rows.append((key_id, alias))
                    if self.checked:
                        self.emails[key_id] = email
            elif key_id is None:
                if known:
                    self.claimed.add(litellm_alias)
                else:
                    self.tokens.append((token, litellm_alias))
                    if self.checked:
                        self.details[token] = (user_id, expires)
            elif litellm_alias is not None:
                self.renamed.add(litellm_alias)
        return self

    def merge(self, other: Unpaired) -> Unpaired:
        self.rows += other.rows
        self.tokens += other.tokens
        self.renamed |= other.renamed
        self.claimed |= other.claimed
        self.emails.update(other.emails)
        self.details.update(other.details)
        return self


def _now(conn: psycopg.Connection[Any]) -> datetime:
    row = conn.execute("SELECT now()").fetchone()
    assert row is not None
    value: datetime = row[0]
    return value


def _matching(conn: psycopg.Connection[Any], query: Any, aliases: list[str], **params: Any) -> set[str]:
    """The subset of `aliases` the query (one column, aliases as %s or %(aliases)s) returns, in chunks."""
    found: set[str] = set()
    for start in range(0, len(aliases), CHUNK):
        chunk = aliases[start : start + CHUNK]
        args: Any = {**params, "aliases": chunk} if params else (chunk,)
        found.update(alias for (alias,) in conn.execute(query, args))
    return found


# --- step 1, one shared database -------------------------------------------------------------------


def _half(conn: psycopg.Connection[Any], before: datetime, low: bool) -> Unpaired:
    conn.execute(sql.SQL("SET work_mem = {}").format(sql.Literal(WORK_MEM)))
    query = sql.SQL(_PAIRS_SHARED).format(
        mine=_HALF.format(sql.Identifier("key_hash")),
        tokens=TOKENS,
        theirs=_HALF.format(sql.Identifier("token")),
    )
    with conn.cursor() as cur:
        return Unpaired(checked=True).take(cur.stream(query, {"before": before, "low": low}))


def _shared(litemaas: psycopg.Connection[Any], litellm: psycopg.Connection[Any]) -> Unpaired:
    before = _now(litemaas)
    with ThreadPoolExecutor(max_workers=1) as pool:
        high = pool.submit(_half, litellm, before, False)
        unpaired = _half(litemaas, before, True)
        unpaired.merge(high.result())
    return unpaired


# --- step 1, two databases -------------------------------------------------------------------------


@dataclass(frozen=True)
class Buckets:
    """How keys are bucketed (`hashtext(token) & mask`) and which buckets differ; None when shared.

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
    conn: psycopg.Connection[Any], table: sql.Composable, col: str, alias: str, mask: int
) -> dict[int, tuple[int, int]]:
    query = sql.SQL(_DIGEST).format(table=table, col=sql.Identifier(col), alias=sql.Identifier(alias))
    return {bucket: (xor, n) for bucket, xor, n in conn.execute(query, {"mask": mask})}


def _copy_buckets(
    litemaas: psycopg.Connection[Any], litellm: psycopg.Connection[Any], buckets: Buckets
) -> None:
    """LiteLLM's (token, key_alias) in the dirty buckets → `pg_temp.chatops_drift_keys` on `litemaas`."""
    litemaas.execute(sql.SQL("DROP TABLE IF EXISTS pg_temp.{}").format(TEMP_TABLE))
    litemaas.execute(sql.SQL("CREATE TEMP TABLE {} (token text NOT NULL, key_alias text)").format(TEMP_TABLE))
    copy_out = sql.SQL(_COPY_OUT).format(
        tokens=TOKENS, mask=sql.Literal(buckets.mask), dirty=sql.Literal(buckets.dirty)
    )
    copy_in = sql.SQL("COPY {} (token, key_alias) FROM STDIN").format(TEMP_TABLE)
    with litellm.cursor().copy(copy_out) as out, litemaas.cursor().copy(copy_in) as into:
        pipe_copy(out, into)
    litemaas.execute(sql.SQL("ANALYZE pg_temp.{}").format(TEMP_TABLE))


def _two(litemaas: psycopg.Connection[Any], litellm: psycopg.Connection[Any]) -> tuple[Unpaired, Buckets]:
    """Step 1 on two databases, each connection in its own (repeatable read) transaction."""
    before = _now(litemaas)
    mask = _mask(litemaas)
    for conn in (litemaas, litellm):
        conn.execute(sql.SQL("SET LOCAL work_mem = {}").format(sql.Literal(WORK_MEM)))
    with ThreadPoolExecutor(max_workers=1) as pool:
        theirs_pending = pool.submit(_digest, litellm, TOKENS, "token", "key_alias", mask)
        mine = _digest(litemaas, sql.Identifier("api_keys"), "key_hash", "litellm_key_alias", mask)
        theirs = theirs_pending.result()
    dirty = sorted(b for b in mine.keys() | theirs.keys() if mine.get(b) != theirs.get(b))
    if not dirty:
        return Unpaired(), Buckets(mask, dirty, set())
    params = {"before": before, "mask": mask, "dirty": dirty}
    if sum(max(mine.get(b, (0, 0))[1], theirs.get(b, (0, 0))[1]) for b in dirty) <= IN_MEMORY_ROWS:
        with ThreadPoolExecutor(max_workers=1) as pool:
            tokens_pending = pool.submit(lambda: dict(litellm.execute(_DIRTY_TOKENS, params).fetchall()))
            rows = litemaas.execute(_DIRTY_ROWS, params).fetchall()
            tokens: dict[str, str | None] = tokens_pending.result()
        return _pair(rows, tokens), Buckets(mask, dirty, {a for a in tokens.values() if a is not None})
    buckets = Buckets(mask, dirty)
    _copy_buckets(litemaas, litellm, buckets)
    query = sql.SQL(_PAIRS).format(
        mine=sql.SQL(_IN_BUCKETS).format(col=sql.Identifier("key_hash")),
        tokens=sql.SQL("pg_temp.{}").format(TEMP_TABLE),
        theirs=sql.SQL("true"),
    )
    with litemaas.cursor() as cur:
        return Unpaired().take(cur.execute(query, params)), buckets


def _pair(rows: list[tuple[str, str, str | None, bool | None]], tokens: dict[str, str | None]) -> Unpaired:
    """`_PAIRS` in memory: LiteMaaS rows (key_hash, id, alias, counts) against LiteLLM's token → alias."""
    unpaired = Unpaired()
    tokens = dict(tokens)
    for key_hash, key_id, alias, counts in rows:
        if key_hash in tokens:
            litellm_alias = tokens.pop(key_hash)
            if litellm_alias is not None and litellm_alias != alias:
                unpaired.renamed.add(litellm_alias)
        elif counts:
            unpaired.rows.append((key_id, alias))
    unpaired.tokens = list(tokens.items())
    return unpaired


# --- both ------------------------------------------------------------------------------------------


def _repeatable_read(conn: psycopg.Connection[Any]) -> None:
    conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")


def _orphans(litemaas: psycopg.Connection[Any], unpaired: Unpaired, buckets: Buckets | None) -> Finding:
    """(a): the unpaired active rows whose alias no LiteLLM key has."""
    leftover = (
        unpaired.renamed | unpaired.claimed | {alias for _, alias in unpaired.tokens if alias is not None}
    )
    asked = sorted({alias for _, alias in unpaired.rows if alias is not None and alias not in leftover})
    if unpaired.checked:
        taken: set[str] = set()  # rows whose alias another row's pair shares are already dropped
    elif buckets is None:
        ids = [key_id for key_id, _ in unpaired.rows]  # no token of their own: skip them in the join
        taken = _matching(litemaas, _AGREEING_SHARED, asked, ids=ids)
    else:
        if buckets.aliases is None:
            taken = _matching(litemaas, _COPIED_ALIASES.format(TEMP_TABLE), asked)
        else:
            taken = {alias for alias in asked if alias in buckets.aliases}
        rest = [alias for alias in asked if alias not in taken]
        taken |= _matching(litemaas, _AGREEING_TWO, rest, mask=buckets.mask, dirty=buckets.dirty)
    rows = sorted(
        (alias or "", key_id)
        for key_id, alias in unpaired.rows
        if alias is None or (alias not in leftover and alias not in taken)
    )
    emails: dict[str, str | None] = unpaired.emails
    for start in range(0, 0 if unpaired.checked else min(len(rows), LIST_LIMIT), CHUNK):
        ids = [key_id for _, key_id in rows[start : min(start + CHUNK, LIST_LIMIT)]]
        emails.update(litemaas.execute(_EMAILS, (ids,)).fetchall())
    orphans = Finding("a", "Active LiteMaaS keys with no LiteLLM key")
    for alias, key_id in rows:
        orphans.add(alias or f"(no alias, api_keys.id {key_id})", f"user {emails.get(key_id) or 'unknown'}")
    return orphans


def _unknown_tokens(conn: psycopg.Connection[Any], unpaired: Unpaired) -> list[tuple[str, str | None]]:
    """(b): the unpaired tokens whose alias no LiteMaaS row has (`conn` sees `api_keys`)."""
    if unpaired.checked:
        return sorted(unpaired.tokens)
    asked = sorted({alias for _, alias in unpaired.tokens if alias is not None})
    known = _matching(conn, _ROW_ALIASES, asked)
    return sorted((t, a) for t, a in unpaired.tokens if a is None or a not in known)


def _unknown(
    litellm: psycopg.Connection[Any],
    tokens: list[tuple[str, str | None]],
    details: dict[str, tuple[Any, Any]] | None = None,
) -> Finding:
    """(b) as a finding, with owner and expiry from LiteLLM (read here unless `details` has them)."""
    unknown = Finding("b", "LiteLLM keys with no LiteMaaS row", count=len(tokens))
    tokens = tokens[:LIST_LIMIT]
    known_details = details is not None
    details = details if details is not None else {}
    for start in range(0, 0 if known_details else len(tokens), CHUNK):
        chunk = [t for t, _ in tokens[start : start + CHUNK]]
        for token, user_id, expires in litellm.execute(_DETAILS, (chunk,)):
            details[token] = (user_id, expires)
    for token, alias in tokens:
        user_id, expires = details.get(token, (None, None))
        when = expires.strftime("%Y-%m-%d %H:%M UTC") if expires else "never"
        unknown.items.append(
            (f"{alias or '(no alias)'} (token {token[:8]}…)", f"user_id {user_id or 'none'}, expires {when}")
        )
    return unknown


def key_drift(
    litemaas: psycopg.Connection[Any], litellm: psycopg.Connection[Any], dbs: KeyDatabases
) -> tuple[Finding, Finding]:
    """(a) and (b). `litellm` is LiteLLM's database (the same database as `litemaas` when shared)."""
    with ThreadPoolExecutor(max_workers=1) as pool:  # (a) on `litemaas` while (b) is on `litellm`
        if dbs.shared:
            unpaired = _shared(litemaas, litellm)  # step 2 and the details included: no more queries
            return _orphans(litemaas, unpaired, None), _unknown(
                litellm, sorted(unpaired.tokens), unpaired.details
            )
        # One snapshot per side: the bucket sums, the copy and the checks all see the same rows.
        with litemaas.transaction(), litellm.transaction():
            _repeatable_read(litemaas)
            _repeatable_read(litellm)
            unpaired, buckets = _two(litemaas, litellm)
            pending = pool.submit(_unknown, litellm, _unknown_tokens(litemaas, unpaired))
            return _orphans(litemaas, unpaired, buckets), pending.result()
