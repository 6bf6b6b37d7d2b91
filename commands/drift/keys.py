"""Drift of keys: (a) active LiteMaaS keys with no LiteLLM key, (b) LiteLLM keys with no LiteMaaS row.

Both are anti-joins on the LiteMaaS connection against LiteLLM's keys (`commands.keys.mirror`: the real
table when shared, a COPY-loaded temporary table otherwise), so memory stays flat whatever the size;
only the divergent rows travel, streamed, and at most `LIST_LIMIT` per kind are kept.
(a) is exactly the orphan rule of `commands.keys.orphans`. A LiteLLM key has a LiteMaaS row when a row
has `key_hash` = its token or `litellm_key_alias` = its alias (any row, active or not).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import psycopg
from psycopg import sql

from commands.drift.findings import LIST_LIMIT, Finding
from commands.keys.databases import KeyDatabases
from commands.keys.mirror import Mirror, litellm_keys

_ORPHANS = """SELECT k.litellm_key_alias, k.id::text, u.email
    FROM api_keys k LEFT JOIN users u ON u.id = k.user_id
    WHERE k.is_active = true AND (k.created_at IS NULL OR k.created_at < %(before)s)
    AND NOT EXISTS (SELECT 1 FROM {keys} t WHERE t.key_alias = k.litellm_key_alias)
    AND NOT EXISTS (SELECT 1 FROM {keys} t WHERE t.token = k.key_hash)"""

# The hash anti-join first (materialized: few rows survive), then the alias probe through its index.
_UNKNOWN = """WITH no_hash AS MATERIALIZED (
        SELECT t.token, t.key_alias FROM {keys} t
        WHERE NOT EXISTS (SELECT 1 FROM api_keys k WHERE k.key_hash = t.token))
    SELECT n.token, n.key_alias FROM no_hash n
    WHERE n.key_alias IS NULL
       OR NOT EXISTS (SELECT 1 FROM api_keys k WHERE k.litellm_key_alias = n.key_alias)"""

_DETAILS = """SELECT token, user_id, expires FROM "LiteLLM_VerificationToken" WHERE token = ANY(%s)"""


def _orphans(conn: psycopg.Connection[Any], mirror: Mirror) -> Finding:
    orphans = Finding("a", "Active LiteMaaS keys with no LiteLLM key")
    query = sql.SQL(_ORPHANS).format(keys=mirror.relation)
    with conn.cursor() as cur:
        for alias, key_id, email in cur.stream(query, {"before": mirror.taken_before}):
            orphans.add(alias or f"(no alias, api_keys.id {key_id})", f"user {email or 'unknown'}")
    return orphans


def _unknown(conn: psycopg.Connection[Any], mirror: Mirror) -> tuple[int, list[tuple[str, str | None]]]:
    count, tokens = 0, list[tuple[str, str | None]]()
    with conn.cursor() as cur:
        for token, alias in cur.stream(sql.SQL(_UNKNOWN).format(keys=mirror.relation)):
            count += 1
            if len(tokens) < LIST_LIMIT:
                tokens.append((token, alias))
    return count, tokens


def key_drift(
    litemaas: psycopg.Connection[Any], litellm: psycopg.Connection[Any], dbs: KeyDatabases
) -> tuple[Finding, Finding]:
    """(a) and (b). Shared: both anti-joins at once on the two connections (they see the same tables);
    two databases: one after the other on the LiteMaaS connection, which holds the copy."""
    mirror = litellm_keys(litemaas, dbs)
    if dbs.shared:
        with ThreadPoolExecutor(max_workers=1) as pool:
            pending = pool.submit(_unknown, litellm, mirror)
            orphans = _orphans(litemaas, mirror)
            count, tokens = pending.result()
    else:
        orphans = _orphans(litemaas, mirror)
        count, tokens = _unknown(litemaas, mirror)

    unknown = Finding("b", "LiteLLM keys with no LiteMaaS row", count=count)
    details: dict[str, tuple[Any, Any]] = {}
    for start in range(0, len(tokens), 5000):
        chunk = [t for t, _ in tokens[start : start + 5000]]
        for token, user_id, expires in litellm.execute(_DETAILS, (chunk,)):
            details[token] = (user_id, expires)
    for token, alias in tokens:
        user_id, expires = details.get(token, (None, None))
        when = expires.strftime("%Y-%m-%d %H:%M UTC") if expires else "never"
        unknown.items.append(
            (f"{alias or '(no alias)'} (token {token[:8]}…)", f"user_id {user_id or 'none'}, expires {when}")
        )
    return orphans, unknown
