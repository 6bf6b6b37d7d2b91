"""Step 1 of key drift, the pairing by hash: what did not pair cleanly, in either layout.

A full outer join of `api_keys` and LiteLLM's keys on `key_hash = token` keeps only: LiteMaaS rows
without a token (candidates for a), tokens without a row (candidates for b), pairs whose aliases differ
(their LiteLLM alias is kept), and — drift (f) — pairs whose row is inactive (`is_active = false`)
while LiteLLM's key is usable (not blocked, not expired). `Unpaired.take` sorts a cursor over such
rows; `pairs_query` is the join on a temporary copy of LiteLLM's keys (two databases, `buckets.py`),
`shared_pairs_query` the join in one shared database, which also does step 2's index checks and reads
the details the report shows (scalar subqueries, evaluated only for the few rows that need them).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from psycopg import sql

TOKENS = sql.Identifier("LiteLLM_VerificationToken")
TEMP_TABLE = sql.Identifier("chatops_drift_keys")
WORK_MEM = "256MB"  # the hash table of a join (one half, or the dirty buckets) stays in memory
USABLE = "NOT coalesce(blocked, false) AND (expires IS NULL OR expires > %(now_utc)s)"

# Rows: (api_keys.id, alias, counts for (a), token, LiteLLM alias, LiteLLM expiry, (f));
# NULL id or token = unpaired.
_PAIRS = """SELECT k.id::text, k.litellm_key_alias,
        k.is_active AND (k.created_at IS NULL OR k.created_at < %(before)s), t.token, t.key_alias, t.expires,
        coalesce(k.is_active IS FALSE AND t.usable, false)
    FROM (SELECT id, key_hash, litellm_key_alias, is_active, created_at FROM api_keys WHERE {mine}) k
    FULL JOIN (SELECT token, key_alias, {expires} AS expires, {usable} AS usable
               FROM {tokens} WHERE {theirs}) t ON t.token = k.key_hash
    WHERE k.id IS NULL OR t.token IS NULL OR k.litellm_key_alias IS DISTINCT FROM t.key_alias
        OR (k.is_active IS FALSE AND t.usable)"""
# Shared: `_PAIRS` plus `known` = (b) token whose alias a row has; `agreed` = (a) row whose alias another
# row's pair shares; then the email of an (a) or (f) row's user, and a (b) token's owner.
_PAIRS_SHARED = """SELECT k.id::text, k.litellm_key_alias,
        k.is_active AND (k.created_at IS NULL OR k.created_at < %(before)s), t.token, t.key_alias, t.expires,
        coalesce(k.is_active IS FALSE AND t.usable, false),
        CASE WHEN k.id IS NULL AND t.key_alias IS NOT NULL THEN (
            SELECT true FROM api_keys a WHERE a.litellm_key_alias = t.key_alias LIMIT 1) END,
        CASE WHEN t.token IS NULL AND k.litellm_key_alias IS NOT NULL
            AND k.is_active AND (k.created_at IS NULL OR k.created_at < %(before)s) THEN (
            SELECT true FROM api_keys a JOIN {tokens} o ON o.token = a.key_hash
            WHERE a.litellm_key_alias = k.litellm_key_alias AND o.key_alias = k.litellm_key_alias
            LIMIT 1) END,
        CASE WHEN t.token IS NULL OR (k.is_active IS FALSE AND t.usable) THEN (
            SELECT u.email FROM users u WHERE u.id = k.user_id) END,
        t.user_id
    FROM (SELECT id, key_hash, litellm_key_alias, is_active, created_at, user_id
          FROM api_keys WHERE {mine}) k
    FULL JOIN (SELECT token, key_alias, user_id, expires, {usable} AS usable FROM {tokens} WHERE {theirs}) t
        ON t.token = k.key_hash
    WHERE k.id IS NULL OR t.token IS NULL OR k.litellm_key_alias IS DISTINCT FROM t.key_alias
        OR (k.is_active IS FALSE AND t.usable)"""


def utc_naive(moment: datetime) -> datetime:
    """A PostgreSQL `timestamptz` as LiteLLM's `expires` holds it: naive UTC."""
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


def pairs_query(
    *,
    mine: sql.Composable,
    tokens: sql.Composable,
    expires: sql.Composable,
    usable: sql.Composable,
    theirs: sql.Composable,
) -> sql.Composed:
    return sql.SQL(_PAIRS).format(mine=mine, tokens=tokens, expires=expires, usable=usable, theirs=theirs)


def shared_pairs_query(*, mine: sql.Composable, theirs: sql.Composable) -> sql.Composed:
    return sql.SQL(_PAIRS_SHARED).format(mine=mine, tokens=TOKENS, usable=sql.SQL(USABLE), theirs=theirs)


@dataclass
class Unpaired:
    """What step 1 left: (a) candidates (id, alias), (b) candidates (token, alias), renamed aliases,
    and (f): inactive rows whose LiteLLM key is usable (id, alias, token, LiteLLM expiry if read)."""

    rows: list[tuple[str, str | None]] = field(default_factory=list)
    tokens: list[tuple[str, str | None]] = field(default_factory=list)
    renamed: set[str] = field(default_factory=set)  # LiteLLM aliases of pairs whose aliases differ
    claimed: set[str] = field(default_factory=set)  # shared: aliases of unpaired tokens a row has
    inactive_usable: list[tuple[str, str | None, str, Any]] = field(default_factory=list)
    checked: bool = False  # shared: step 2's index checks were done in step 1's query
    emails: dict[str, str | None] = field(default_factory=dict)  # shared: (a)/(f) row id → email
    details: dict[str, tuple[Any, Any]] = field(default_factory=dict)  # shared: (b) token → user, expiry

    def take(self, cursor: Iterable[tuple[Any, ...]]) -> Unpaired:
        for key_id, alias, counts, token, litellm_alias, expires, flagged, *shared in cursor:
            known, agreed, email, user_id = shared or (None, None, None, None)
            if flagged:
                self.inactive_usable.append((key_id, alias, token, expires))
                if self.checked:
                    self.emails[key_id] = email
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
            elif litellm_alias is not None and litellm_alias != alias:
                self.renamed.add(litellm_alias)
        return self

    def merge(self, other: Unpaired) -> Unpaired:
        self.rows += other.rows
        self.tokens += other.tokens
        self.renamed |= other.renamed
        self.claimed |= other.claimed
        self.inactive_usable += other.inactive_usable
        self.emails.update(other.emails)
        self.details.update(other.details)
        return self
