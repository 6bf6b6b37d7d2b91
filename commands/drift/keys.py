"""Drift of keys: (a) active LiteMaaS keys with no LiteLLM key, (b) LiteLLM keys with no LiteMaaS row.

A LiteMaaS row and a LiteLLM key correspond when `api_keys.key_hash` = `token` (how the backend creates
keys: both are sha256 hex of the key) or `litellm_key_alias` = `key_alias`. (a) is exactly the orphan
rule of `commands.keys.orphans` (active, created before the run began, neither hash nor alias in
LiteLLM); (b) is a LiteLLM key whose token is no `key_hash` and whose alias (if any) is no
`litellm_key_alias` of any row, active or not.

Both are found in two steps, whatever the layout:

1. **Pairing by hash**, on the key columns alone, read from their unique indexes (`key_hash`, the token
   primary key), never from the wide tables:
   - one shared database: the key space is split in two halves and each half is a full join of the
     two indexes' ranges (a merge join of index-only scans), on its own connection at the same time
     (PostgreSQL 15 runs a full join in one process; a hash join would read both whole tables per half);
   - two databases: the key space is split into ranges of about `RANGE_KEYS` keys; per range both
     sides send their keys (one string per range), both at once, and the sets are compared here, one
     range in memory at a time.
   What is left: hashes with no token (candidates for a), tokens with no hash (candidates for b). A key
   left unpaired on both sides (two servers that order keys differently put it in different ranges)
   pairs up at the end, so the result is exact whatever the collations.
2. **The candidates**: (a) their rows that count, with their users' e-mails, minus those whose alias a
   LiteLLM key has — one scan of LiteLLM's keys for those aliases (LiteLLM has no index on `key_alias`:
   the seed's query scans it too); (b) their alias, owner and expiry, minus those whose alias a row has
   (through `api_keys`' alias index). Each connection reads in one repeatable-read snapshot.

Memory: one range of keys (two databases), plus the candidates; at most `LIST_LIMIT` per kind are kept
for the file, counts are exact.

Cost: index-only scans need the tables' visibility maps, which autovacuum keeps. On a table whose map
is mostly clear (bulk-loaded and never vacuumed, autovacuum off) the shared layout's planner switches
to a hash join, but each two-database range becomes a bitmap heap scan: 1M keys then take ~7 s
instead of ~1 s (bench/drift.py measures the vacuumed case).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any, TypeVar

import psycopg
from psycopg import sql

from commands.clients.sessions import KeyDatabases
from commands.drift.findings import Finding

T = TypeVar("T")

TOKENS = sql.Identifier("LiteLLM_VerificationToken")
CHUNK = 5000  # keys per index lookup
ALIAS_SCAN_CHUNK = 50_000  # aliases looked for per scan of LiteLLM's keys
RANGE_KEYS = 32_768  # two databases: keys per side and range compared in memory
MIN_RANGES, MAX_RANGES = 16, 4096
WORK_MEM = "64MB"

# Step 1.
_UNPAIRED_HALF = """SELECT k.key_hash, t.token
    FROM (SELECT key_hash FROM api_keys WHERE {mine}) k
    FULL JOIN (SELECT token FROM {tokens} WHERE {theirs}) t ON t.token = k.key_hash
    WHERE k.key_hash IS NULL OR t.token IS NULL"""
_HALF = "{col} {op} '8'"
_RANGE_KEYS = "SELECT convert_to(string_agg({col}, E'\\n'), 'UTF8') FROM {table} WHERE {bounds}"

# Step 2.
_ROWS = """SELECT k.id::text, k.litellm_key_alias, u.email
    FROM api_keys k LEFT JOIN users u ON u.id = k.user_id
    WHERE k.key_hash = ANY(%(keys)s::text[])
    AND k.is_active AND (k.created_at IS NULL OR k.created_at < %(before)s)"""
_LITELLM_ALIASES = """SELECT DISTINCT key_alias FROM "LiteLLM_VerificationToken"
    WHERE key_alias = ANY(%(keys)s::text[])"""
_TOKENS = """SELECT token, key_alias, user_id, expires FROM "LiteLLM_VerificationToken"
    WHERE token = ANY(%(keys)s::text[])"""
_ROW_ALIASES = (
    "SELECT DISTINCT litellm_key_alias FROM api_keys WHERE litellm_key_alias = ANY(%(keys)s::text[])"
)


def _in_chunks(
    conn: psycopg.Connection[Any], query: str, keys: Sequence[str], size: int, **params: Any
) -> list[tuple[Any, ...]]:
    """`query` (with `%(keys)s`) run for `keys` in chunks of `size`; all rows."""
    rows: list[tuple[Any, ...]] = []
    for start in range(0, len(keys), size):
        rows += conn.execute(query, {**params, "keys": list(keys[start : start + size])}).fetchall()
    return rows


def _both(pool: ThreadPoolExecutor, here: Callable[[], T], there: Callable[[], Any]) -> tuple[T, Any]:
    """`there` on the pool's thread while `here` runs on this one (one connection each)."""
    pending = pool.submit(there)
    return here(), pending.result()


# --- step 1, one shared database -------------------------------------------------------------------


def _unpaired_half(conn: psycopg.Connection[Any], low: bool) -> tuple[set[str], set[str]]:
    op = sql.SQL("<" if low else ">=")
    query = sql.SQL(_UNPAIRED_HALF).format(
        mine=sql.SQL(_HALF).format(col=sql.Identifier("key_hash"), op=op),
        tokens=TOKENS,
        theirs=sql.SQL(_HALF).format(col=sql.Identifier("token"), op=op),
    )
    hashes: set[str] = set()
    tokens: set[str] = set()
    for key_hash, token in conn.execute(query):
        if token is None:
            hashes.add(key_hash)
        else:
            tokens.add(token)
    return hashes, tokens


def _shared(
    litemaas: psycopg.Connection[Any], litellm: psycopg.Connection[Any], pool: ThreadPoolExecutor
) -> tuple[set[str], set[str]]:
    low, high = _both(pool, lambda: _unpaired_half(litemaas, True), lambda: _unpaired_half(litellm, False))
    return low[0] | high[0], low[1] | high[1]


# --- step 1, two databases -------------------------------------------------------------------------


def range_bounds(rows: float) -> list[tuple[str | None, str | None]]:
    """Key ranges of about `RANGE_KEYS` keys each for a table of `rows` keys (sha256 hex: uniform)."""
    count = MIN_RANGES
    while count < MAX_RANGES and count * RANGE_KEYS < rows:
        count *= 2
    cuts: list[str | None] = [format(i * 0x10000 // count, "04x") for i in range(1, count)]
    return list(zip([None, *cuts], [*cuts, None], strict=True))


Keys = list[bytes]


def _stream_ranges(
    conn: psycopg.Connection[Any],
    table: sql.Composable,
    col: str,
    ranges: list[tuple[str | None, str | None]],
    into: queue.Queue[Keys | BaseException],
    stop: threading.Event,
) -> None:
    """Each range's keys (bytes, not decoded: keys are hex), in order, into `into`, until `stop`; a
    failure is put in the queue for the comparing thread to raise."""
    column = sql.Identifier(col)
    item: Keys | BaseException
    for low, high in ranges:
        try:
            bounds = [sql.SQL("{} >= {}").format(column, sql.Literal(low))] if low is not None else []
            bounds += [sql.SQL("{} < {}").format(column, sql.Literal(high))] if high is not None else []
            where = sql.SQL(" AND ").join(bounds) if bounds else sql.SQL("true")
            query = sql.SQL(_RANGE_KEYS).format(col=column, table=table, bounds=where)
            row = conn.execute(query, binary=True).fetchone()  # bytea as is, not hex
            item = row[0].split(b"\n") if row and row[0] else []
        except BaseException as exc:
            item = exc
        while not stop.is_set():
            try:
                into.put(item, timeout=0.1)
                break
            except queue.Full:
                continue
        if stop.is_set() or isinstance(item, BaseException):
            return


def _take(source: queue.Queue[Keys | BaseException]) -> Keys:
    item = source.get()
    if isinstance(item, BaseException):
        raise item
    return item


def _two(
    litemaas: psycopg.Connection[Any], litellm: psycopg.Connection[Any], pool: ThreadPoolExecutor
) -> tuple[set[str], set[str]]:
    """Both sides stream their ranges on the pool's threads, up to two ranges ahead, while this thread
    compares each pair of ranges."""
    row = litemaas.execute("SELECT reltuples FROM pg_class WHERE oid = 'api_keys'::regclass").fetchone()
    ranges = range_bounds(max(float(row[0]) if row else 0.0, 0.0))
    mine: queue.Queue[Keys | BaseException] = queue.Queue(maxsize=2)
    theirs: queue.Queue[Keys | BaseException] = queue.Queue(maxsize=2)
    stop = threading.Event()
    pool.submit(_stream_ranges, litemaas, sql.Identifier("api_keys"), "key_hash", ranges, mine, stop)
    pool.submit(_stream_ranges, litellm, TOKENS, "token", ranges, theirs, stop)
    hashes: set[bytes] = set()
    tokens: set[bytes] = set()
    try:
        for _ in ranges:
            here, there = set(_take(mine)), set(_take(theirs))
            hashes |= here - there
            tokens |= there - here
    finally:
        stop.set()  # a failed side: the other stops at its next range
    return {h.decode() for h in hashes}, {t.decode() for t in tokens}


# --- step 2 ----------------------------------------------------------------------------------------


def _orphans(litellm: psycopg.Connection[Any], rows: list[tuple[Any, ...]]) -> Finding:
    """(a): the counted rows of unpaired hashes whose alias no LiteLLM key has."""
    asked = sorted({alias for _, alias, _ in rows if alias is not None})
    taken = {alias for (alias,) in _in_chunks(litellm, _LITELLM_ALIASES, asked, ALIAS_SCAN_CHUNK)}
    orphans = Finding("a", "Active LiteMaaS keys with no LiteLLM key")
    kept = sorted((alias or "", key_id, email) for key_id, alias, email in rows if alias not in taken)
    for alias, key_id, email in kept:
        orphans.add(alias or f"(no alias, api_keys.id {key_id})", f"user {email or 'unknown'}")
    return orphans


def _unknown(litemaas: psycopg.Connection[Any], tokens: list[tuple[Any, ...]]) -> Finding:
    """(b): the unpaired tokens whose alias no LiteMaaS row has, with owner and expiry."""
    asked = sorted({alias for _, alias, _, _ in tokens if alias is not None})
    known = {alias for (alias,) in _in_chunks(litemaas, _ROW_ALIASES, asked, CHUNK)}
    unknown = Finding("b", "LiteLLM keys with no LiteMaaS row")
    for token, alias, user_id, expires in sorted(t for t in tokens if t[1] is None or t[1] not in known):
        when = expires.strftime("%Y-%m-%d %H:%M UTC") if expires else "never"
        unknown.add(
            f"{alias or '(no alias)'} (token {token[:8]}…)", f"user_id {user_id or 'none'}, expires {when}"
        )
    return unknown


def _snapshot(conn: psycopg.Connection[Any]) -> None:
    """One repeatable-read snapshot per connection; no JIT (short queries: compiling costs more)."""
    conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
    conn.execute(sql.SQL("SET LOCAL work_mem = {}").format(sql.Literal(WORK_MEM)))
    conn.execute("SET LOCAL jit = off")


def _now(conn: psycopg.Connection[Any]) -> datetime:
    row = conn.execute("SELECT now()").fetchone()
    assert row is not None
    value: datetime = row[0]
    return value


def key_drift(
    litemaas: psycopg.Connection[Any], litellm: psycopg.Connection[Any], dbs: KeyDatabases
) -> tuple[Finding, Finding]:
    """(a) and (b). `litellm` is LiteLLM's database (the same database as `litemaas` when shared)."""
    with ThreadPoolExecutor(max_workers=2) as pool, litemaas.transaction(), litellm.transaction():
        _snapshot(litemaas)
        _snapshot(litellm)
        before = _now(litemaas)
        unpaired_hashes, unpaired_tokens = (_shared if dbs.shared else _two)(litemaas, litellm, pool)
        paired = unpaired_hashes & unpaired_tokens  # unpaired in different halves or ranges: a pair
        hashes, tokens = sorted(unpaired_hashes - paired), sorted(unpaired_tokens - paired)
        rows, token_rows = _both(
            pool,
            lambda: _in_chunks(litemaas, _ROWS, hashes, CHUNK, before=before),
            lambda: _in_chunks(litellm, _TOKENS, tokens, CHUNK),
        )
        unknown, orphans = _both(
            pool, lambda: _unknown(litemaas, token_rows), lambda: _orphans(litellm, rows)
        )
        return orphans, unknown
