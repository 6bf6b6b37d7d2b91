"""Drift of keys: (a) active LiteMaaS keys with no LiteLLM key, (b) LiteLLM keys with no LiteMaaS row,
(f) keys inactive in LiteMaaS but usable in LiteLLM (not blocked, not expired).

A LiteMaaS row and a LiteLLM key correspond when `api_keys.key_hash` = `token` (how the backend creates
keys: both are sha256 hex of the key) or `litellm_key_alias` = `key_alias`. (a) is exactly the orphan
rule of `commands.keys.orphans` (active, created before the run began, neither hash nor alias in
LiteLLM); (b) is a LiteLLM key whose token is no `key_hash` and whose alias (if any) is no
`litellm_key_alias` of any row, active or not; (f) is a row with `is_active = false` whose token is a
LiteLLM key that still works — what 0.4.0's model-sync cascade leaves behind (litemaas-facts §9).

1. **Pairing by hash** (`pairs.py`): the keys of both unique indexes, compared; only the unpaired
   hashes and tokens are kept.
2. **Details and aliases** of those few, through indexes (`key_hash`, the tokens' primary key,
   `litellm_key_alias`; shared: the details in step 1's query), except one scan of LiteLLM's keys
   for the aliases of the (a) candidates (LiteLLM has no index on `key_alias`; the seed's own query
   scans it too).
3. **(f)**: the inactive rows (`idx_api_keys_is_active`), their tokens looked up by primary key.

Each side is read in one repeatable-read transaction, so every step sees the same rows. Memory: one
range of keys per side (two databases), the unpaired keys and the findings; at most `LIST_LIMIT` items
per kind are kept for the file, counts are exact.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg import sql

from commands.clients.sessions import KeyDatabases
from commands.drift.findings import Finding
from commands.drift.pairs import RANGE_KEYS, Unpaired, shared_unpaired, two_databases_unpaired

CHUNK = 5000
INACTIVE_USABLE = "Keys inactive in LiteMaaS but usable in LiteLLM"
USABLE = "NOT coalesce(t.blocked, false) AND (t.expires IS NULL OR t.expires > %(now_utc)s)"

# (a) candidates: the unpaired rows that count (active, created before the run), with their user.
_ROWS = """SELECT k.id::text, k.litellm_key_alias, u.email FROM api_keys k
    LEFT JOIN users u ON u.id = k.user_id
    WHERE k.key_hash = ANY(%(hashes)s::text[])
        AND k.is_active AND (k.created_at IS NULL OR k.created_at < %(before)s)"""
# Which of these aliases a LiteLLM key has (a scan: no index on key_alias), and which a row has.
_TOKEN_ALIASES = """SELECT DISTINCT key_alias FROM "LiteLLM_VerificationToken"
    WHERE key_alias = ANY(%s::text[])"""
_ROW_ALIASES = "SELECT DISTINCT litellm_key_alias FROM api_keys WHERE litellm_key_alias = ANY(%s::text[])"
# (b) candidates: the unpaired tokens, with owner and expiry.
_TOKENS = """SELECT token, key_alias, user_id, expires FROM "LiteLLM_VerificationToken"
    WHERE token = ANY(%s::text[])"""
# (f): inactive rows; their tokens that still work.
_INACTIVE = "SELECT id::text, litellm_key_alias, key_hash::text FROM api_keys WHERE is_active = false"
_USABLE_TOKENS = f"""SELECT t.token, t.expires FROM "LiteLLM_VerificationToken" t
    WHERE t.token = ANY(%(tokens)s::text[]) AND {USABLE}"""
_INACTIVE_SHARED = f"""SELECT k.id::text, k.litellm_key_alias, t.token, t.expires
    FROM api_keys k JOIN "LiteLLM_VerificationToken" t ON t.token = k.key_hash
    WHERE k.is_active = false AND {USABLE}"""
_EMAILS = """SELECT k.id::text, u.email FROM api_keys k LEFT JOIN users u ON u.id = k.user_id
    WHERE k.id = ANY(%s::uuid[])"""


def utc_naive(moment: datetime) -> datetime:
    """A PostgreSQL `timestamptz` as LiteLLM's `expires` holds it: naive UTC."""
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


def _now(conn: psycopg.Connection[Any]) -> datetime:
    row = conn.execute("SELECT now()").fetchone()
    assert row is not None
    value: datetime = row[0]
    return value


def _snapshot(conn: psycopg.Connection[Any]) -> str:
    row = conn.execute("SELECT pg_export_snapshot()").fetchone()
    assert row is not None
    return str(row[0])


def _when(expires: Any) -> str:
    return expires.strftime("%Y-%m-%d %H:%M UTC") if isinstance(expires, datetime) else "never"


def _chunks(items: list[str]) -> Iterator[list[str]]:
    for start in range(0, len(items), CHUNK):
        yield items[start : start + CHUNK]


def _rows(litemaas: psycopg.Connection[Any], hashes: set[str], before: datetime) -> list[tuple[Any, ...]]:
    """(id, alias, email) of the unpaired rows that count for (a)."""
    rows: list[tuple[Any, ...]] = []
    for chunk in _chunks(sorted(hashes)):
        rows += litemaas.execute(_ROWS, {"hashes": chunk, "before": before}).fetchall()
    return rows


def _tokens(litellm: psycopg.Connection[Any], tokens: set[str]) -> list[tuple[Any, ...]]:
    """(token, alias, user_id, expires) of the unpaired tokens."""
    found: list[tuple[Any, ...]] = []
    for chunk in _chunks(sorted(tokens)):
        found += litellm.execute(_TOKENS, (chunk,)).fetchall()
    return found


def _aliases_in(conn: psycopg.Connection[Any], query: str, aliases: set[str], chunked: bool) -> set[str]:
    """The subset of `aliases` that `query` finds; in one statement unless `chunked` (index lookups)."""
    asked = sorted(aliases)
    groups = list(_chunks(asked)) if chunked else [asked] if asked else []
    return {alias for group in groups for (alias,) in conn.execute(query, (group,))}


def _orphans(rows: list[tuple[Any, ...]], held: set[str]) -> Finding:
    """(a): the candidate rows whose alias no LiteLLM key has."""
    orphans = Finding("a", "Active LiteMaaS keys with no LiteLLM key")
    for alias, key_id, email in sorted((a or "", i, e) for i, a, e in rows if a is None or a not in held):
        orphans.add(alias or f"(no alias, api_keys.id {key_id})", f"user {email or 'unknown'}")
    return orphans


def _unknown(tokens: list[tuple[Any, ...]], known: set[str]) -> Finding:
    """(b): the unpaired tokens whose alias no LiteMaaS row has."""
    unknown = Finding("b", "LiteLLM keys with no LiteMaaS row")
    for token, alias, user_id, expires in sorted(
        (t for t in tokens if t[1] is None or t[1] not in known), key=lambda t: (t[0], t[1] or "")
    ):
        unknown.add(
            f"{alias or '(no alias)'} (token {token[:8]}…)",
            f"user_id {user_id or 'none'}, expires {_when(expires)}",
        )
    return unknown


def _inactive_usable(litemaas: psycopg.Connection[Any], rows: list[tuple[Any, ...]]) -> Finding:
    """(f) from (id, alias, token, expires) rows, with the token a fix blocks (`refs`)."""
    rows = sorted(rows, key=lambda r: (r[1] or "", r[0]))
    emails: dict[str, str | None] = {}
    for chunk in _chunks([key_id for key_id, _, _, _ in rows]):
        emails.update(litemaas.execute(_EMAILS, (chunk,)).fetchall())
    finding = Finding("f", INACTIVE_USABLE)
    for key_id, alias, token, expires in rows:
        until = "never expires" if expires is None else f"until {_when(expires)}"
        detail = f"user {emails.get(key_id) or 'unknown'}, works in LiteLLM, {until}"
        finding.add(alias or f"(no alias, api_keys.id {key_id})", detail, ref=token)
    return finding


def _inactive_usable_rows(
    litemaas: psycopg.Connection[Any], litellm: psycopg.Connection[Any], shared: bool, now_utc: datetime
) -> list[tuple[Any, ...]]:
    """(id, alias, token, expires) of (f): one join when shared, else the inactive rows streamed in
    chunks, their tokens looked up in LiteLLM."""
    if shared:
        return litemaas.execute(_INACTIVE_SHARED, {"now_utc": now_utc}).fetchall()
    found: list[tuple[Any, ...]] = []
    with litemaas.cursor(name="chatops_drift_inactive") as cur:
        cur.execute(_INACTIVE)
        while batch := cur.fetchmany(CHUNK):
            rows = {key_hash: (key_id, alias) for key_id, alias, key_hash in batch}
            params = {"tokens": list(rows), "now_utc": now_utc}
            for token, expires in litellm.execute(_USABLE_TOKENS, params):
                key_id, alias = rows[token]
                found.append((key_id, alias, token, expires))
    return found


def key_drift(
    litemaas: psycopg.Connection[Any],
    litellm: psycopg.Connection[Any],
    dbs: KeyDatabases,
    range_keys: int = RANGE_KEYS,
) -> tuple[Finding, Finding, Finding]:
    """(a), (b) and (f). `litellm` is LiteLLM's database; when shared, a second connection to the same
    database that imports `litemaas`'s snapshot, so both see the same rows and work side by side."""
    with contextlib.ExitStack() as stack, ThreadPoolExecutor(max_workers=1) as pool:
        for conn in (litemaas, litellm):
            stack.enter_context(conn.transaction())
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            if dbs.shared and conn is litellm:
                conn.execute(sql.SQL("SET TRANSACTION SNAPSHOT {}").format(sql.Literal(_snapshot(litemaas))))
        before = _now(litemaas)
        unpaired: Unpaired = (
            shared_unpaired(litemaas, before)
            if dbs.shared
            else two_databases_unpaired(litemaas, litellm, range_keys)
        )
        # LiteLLM's side runs in the pool while LiteMaaS's runs here.
        if unpaired.rows is not None and unpaired.details is not None:
            rows, tokens = unpaired.rows, unpaired.details  # shared: read with the pairing
        else:
            pending_tokens = pool.submit(_tokens, litellm, unpaired.tokens)
            rows = _rows(litemaas, unpaired.hashes, before)
            tokens = pending_tokens.result()
        row_aliases = {alias for _, alias, _ in rows if alias is not None}
        pending_held = pool.submit(_aliases_in, litellm, _TOKEN_ALIASES, row_aliases, False)
        known = _aliases_in(litemaas, _ROW_ALIASES, {t[1] for t in tokens if t[1] is not None}, True)
        held = pending_held.result()
        inactive = _inactive_usable_rows(litemaas, litellm, dbs.shared, utc_naive(before))
        return _orphans(rows, held), _unknown(tokens, known), _inactive_usable(litemaas, inactive)
