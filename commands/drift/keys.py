"""Drift of keys: (a) active LiteMaaS keys with no LiteLLM key, (b) LiteLLM keys with no LiteMaaS row,
(f) keys inactive in LiteMaaS but usable in LiteLLM (not blocked, not expired).

A LiteMaaS row and a LiteLLM key correspond when `api_keys.key_hash` = `token` (how the backend creates
keys: both are sha256 hex of the key) or `litellm_key_alias` = `key_alias`. (a) is exactly the orphan
rule of `commands.keys.orphans` (active, created before the LiteLLM snapshot began, neither hash nor
alias in LiteLLM); (b) is a LiteLLM key whose token is no `key_hash` and whose alias (if any) is no
`litellm_key_alias` of any row, active or not; (f) is a row with `is_active = false` whose token is a
LiteLLM key that still works — what 0.4.0's model-sync cascade leaves behind (litemaas-facts §9).

All three are found in two steps, whatever the layout:

1. **Pairing by hash** (`pairs.py`), which keeps only what did not pair cleanly (and the (f) pairs).
   - One shared database: the key space is split in two halves by the first hex digit and each half is
     joined on its own connection at the same time (PostgreSQL 15 cannot run a full join in parallel).
   - Two databases: per-bucket digests on both sides, only the buckets that differ are read again
     (`buckets.py`).
2. **Aliases** of the few candidates, through `api_keys`' indexes: a (b) candidate is dropped when a
   row has its alias. An (a) candidate is dropped when a LiteLLM key has its alias: one left over from
   step 1 (unpaired or renamed), or the key of another row with that alias whose pair agrees (shared:
   joined by token; two databases: a row in an agreeing bucket). (f) needs no step 2.

Memory: the candidates, plus (two databases) the rows of differing buckets up to `IN_MEMORY_ROWS`; at
most `LIST_LIMIT` per kind are kept for the file, counts are exact.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql

from commands.clients.sessions import KeyDatabases
from commands.drift.buckets import IN_MEMORY_ROWS, Buckets, two_databases
from commands.drift.findings import LIST_LIMIT, Finding
from commands.drift.pairs import TEMP_TABLE, WORK_MEM, Unpaired, shared_pairs_query, utc_naive

CHUNK = 5000
INACTIVE_USABLE = "Keys inactive in LiteMaaS but usable in LiteLLM"

_HALF = sql.SQL("({} COLLATE \"C\" < '8') = %(low)s")

# Step 2.
_ROW_ALIASES = "SELECT DISTINCT litellm_key_alias FROM api_keys WHERE litellm_key_alias = ANY(%s::text[])"
_AGREEING_SHARED = """SELECT DISTINCT k.litellm_key_alias FROM api_keys k
    JOIN "LiteLLM_VerificationToken" t ON t.token = k.key_hash AND t.key_alias = k.litellm_key_alias
    WHERE k.litellm_key_alias = ANY(%(aliases)s::text[]) AND NOT (k.id = ANY(%(ids)s::uuid[]))"""
_AGREEING_TWO = """SELECT DISTINCT litellm_key_alias FROM api_keys
    WHERE litellm_key_alias = ANY(%(aliases)s::text[])
    AND NOT (hashtext(key_hash::text) & %(mask)s = ANY(%(dirty)s::int[]))"""
_COPIED_ALIASES = sql.SQL("SELECT DISTINCT key_alias FROM pg_temp.{} WHERE key_alias = ANY(%s::text[])")
_EMAILS = """SELECT k.id::text, u.email FROM api_keys k LEFT JOIN users u ON u.id = k.user_id
    WHERE k.id = ANY(%s::uuid[])"""
_DETAILS = """SELECT token, user_id, expires FROM "LiteLLM_VerificationToken" WHERE token = ANY(%s)"""


def _now(conn: psycopg.Connection[Any]) -> datetime:
    row = conn.execute("SELECT now()").fetchone()
    assert row is not None
    value: datetime = row[0]
    return value


def _when(expires: Any) -> str:
    return expires.strftime("%Y-%m-%d %H:%M UTC") if isinstance(expires, datetime) else "never"


def _matching(conn: psycopg.Connection[Any], query: Any, aliases: list[str], **params: Any) -> set[str]:
    """The subset of `aliases` the query (one column, aliases as %s or %(aliases)s) returns, in chunks."""
    found: set[str] = set()
    for start in range(0, len(aliases), CHUNK):
        chunk = aliases[start : start + CHUNK]
        args: Any = {**params, "aliases": chunk} if params else (chunk,)
        found.update(alias for (alias,) in conn.execute(query, args))
    return found


def _emails(litemaas: psycopg.Connection[Any], unpaired: Unpaired, ids: list[str]) -> None:
    """The users' emails of `ids` into `unpaired.emails` (shared: step 1 read them already)."""
    for start in range(0, 0 if unpaired.checked else len(ids), CHUNK):
        unpaired.emails.update(litemaas.execute(_EMAILS, (ids[start : start + CHUNK],)).fetchall())


# --- step 1, one shared database -------------------------------------------------------------------


def _half(conn: psycopg.Connection[Any], before: datetime, low: bool) -> Unpaired:
    conn.execute(sql.SQL("SET work_mem = {}").format(sql.Literal(WORK_MEM)))
    query = shared_pairs_query(
        mine=_HALF.format(sql.Identifier("key_hash")), theirs=_HALF.format(sql.Identifier("token"))
    )
    params = {"before": before, "low": low, "now_utc": utc_naive(before)}
    with conn.cursor() as cur:
        return Unpaired(checked=True).take(cur.stream(query, params))


def _shared(litemaas: psycopg.Connection[Any], litellm: psycopg.Connection[Any]) -> Unpaired:
    before = _now(litemaas)
    with ThreadPoolExecutor(max_workers=1) as pool:
        high = pool.submit(_half, litellm, before, False)
        unpaired = _half(litemaas, before, True)
        unpaired.merge(high.result())
    return unpaired


# --- step 2 and the findings -----------------------------------------------------------------------


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
    _emails(litemaas, unpaired, [key_id for _, key_id in rows[:LIST_LIMIT]])
    orphans = Finding("a", "Active LiteMaaS keys with no LiteLLM key")
    for alias, key_id in rows:
        email = unpaired.emails.get(key_id) or "unknown"
        orphans.add(alias or f"(no alias, api_keys.id {key_id})", f"user {email}")
    return orphans


def _inactive_usable(
    litemaas: psycopg.Connection[Any], unpaired: Unpaired, litellm: psycopg.Connection[Any] | None = None
) -> Finding:
    """(f): inactive rows whose LiteLLM key still works, with the token a fix blocks (`refs`); their
    expiries are read from `litellm` when step 1 did not (two databases)."""
    rows = sorted(unpaired.inactive_usable, key=lambda r: (r[1] or "", r[0]))
    _emails(litemaas, unpaired, [key_id for key_id, _, _, _ in rows[:LIST_LIMIT]])
    expiries: dict[str, Any] = {}
    if litellm is not None:
        tokens = [token for _, _, token, _ in rows[:LIST_LIMIT]]
        for start in range(0, len(tokens), CHUNK):
            found = litellm.execute(_DETAILS, (tokens[start : start + CHUNK],))
            expiries.update((token, expires) for token, _, expires in found)
    finding = Finding("f", INACTIVE_USABLE)
    for key_id, alias, token, read in rows:
        expires = expiries.get(token, read)
        email = unpaired.emails.get(key_id) or "unknown"
        until = "never expires" if expires is None else f"until {_when(expires)}"
        detail = f"user {email}, works in LiteLLM, {until}"
        finding.add(alias or f"(no alias, api_keys.id {key_id})", detail, ref=token)
    return finding


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
        unknown.items.append(
            (
                f"{alias or '(no alias)'} (token {token[:8]}…)",
                f"user_id {user_id or 'none'}, expires {_when(expires)}",
            )
        )
    return unknown


def key_drift(
    litemaas: psycopg.Connection[Any],
    litellm: psycopg.Connection[Any],
    dbs: KeyDatabases,
    in_memory_rows: int = IN_MEMORY_ROWS,
) -> tuple[Finding, Finding, Finding]:
    """(a), (b) and (f). `litellm` is LiteLLM's database (the same database as `litemaas` when shared)."""
    with ThreadPoolExecutor(max_workers=1) as pool:  # (a) on `litemaas` while (b) is on `litellm`
        if dbs.shared:
            unpaired = _shared(litemaas, litellm)  # step 2 and the details included: no more queries
            unknown = _unknown(litellm, sorted(unpaired.tokens), unpaired.details)
            return _orphans(litemaas, unpaired, None), unknown, _inactive_usable(litemaas, unpaired)
        # One snapshot per side: the bucket sums, the copy and the checks all see the same rows.
        with litemaas.transaction(), litellm.transaction():
            _repeatable_read(litemaas)
            _repeatable_read(litellm)
            unpaired, buckets = two_databases(litemaas, litellm, _now(litemaas), in_memory_rows)
            pending = pool.submit(_unknown, litellm, _unknown_tokens(litemaas, unpaired))
            orphans = _orphans(litemaas, unpaired, buckets)
            unknown = pending.result()
            return orphans, unknown, _inactive_usable(litemaas, unpaired, litellm)
