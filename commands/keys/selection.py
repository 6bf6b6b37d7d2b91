"""Which LiteLLM keys `keys cleanup` deletes, read from `"LiteLLM_VerificationToken"` page by page.

A key is selected when it has an expiry and either it has passed (`expires < now`) or its start,
`expires - metadata.duration` ("Nd"/"Nh" only), is older than the threshold (product.md §4; the seed's
rule, litemaas-facts §4.3). `expires` is UTC without a time zone, so "now" is the database's clock in
UTC, read once per run (`Selection`), which keeps the set stable across pages.

Pages use keyset pagination on the primary key (`token > last ORDER BY token LIMIT n`): each page is
one short query, nothing is held between pages, and a dropped connection only repeats one page.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import psycopg

from commands.keys.durations import METADATA_DURATION_SQL

_WHERE = f"""expires IS NOT NULL
    AND (expires < %(now)s OR expires - ({METADATA_DURATION_SQL}) < %(cutoff)s)"""


@dataclass(frozen=True)
class Selection:
    """The selection rule of one run: "now" and the start cutoff, naive UTC like LiteLLM's columns."""

    now: datetime
    older_than: timedelta

    @property
    def cutoff(self) -> datetime:
        return self.now - self.older_than

    def params(self) -> dict[str, Any]:
        return {"now": self.now, "cutoff": self.cutoff}


@dataclass(frozen=True)
class Candidate:
    """A LiteLLM key to delete. `token` is its sha256 hash, never shown in full."""

    token: str
    alias: str | None
    expires: datetime
    expired: bool

    def shown(self) -> str:
        """`alias (token 1a2b3c4d…): expired 2026-01-01 02:00 UTC` — safe to show."""
        alias = self.alias or "(no alias)"
        when = self.expires.strftime("%Y-%m-%d %H:%M UTC")
        why = f"expired {when}" if self.expired else f"expires {when}, older than the threshold"
        return f"{alias} (token {self.token[:8]}…): {why}"


def selection_now(conn: psycopg.Connection[Any], older_than: timedelta) -> Selection:
    """The run's selection, with "now" from LiteLLM's database clock in UTC."""
    row = conn.execute("SELECT (now() AT TIME ZONE 'UTC')::timestamp").fetchone()
    assert row is not None
    return Selection(now=row[0], older_than=older_than)


def count_candidates(conn: psycopg.Connection[Any], selection: Selection) -> tuple[int, int]:
    """(expired, old-but-not-expired) among the keys selected now."""
    row = conn.execute(
        f"""SELECT count(*) FILTER (WHERE expires < %(now)s), count(*) FILTER (WHERE expires >= %(now)s)
        FROM "LiteLLM_VerificationToken" WHERE {_WHERE}""",
        selection.params(),
    ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def sample_candidates(conn: psycopg.Connection[Any], selection: Selection, limit: int) -> list[Candidate]:
    """The `limit` selected keys that expire(d) first."""
    rows = conn.execute(
        f"""SELECT token, key_alias, expires, expires < %(now)s FROM "LiteLLM_VerificationToken"
        WHERE {_WHERE} ORDER BY expires, token LIMIT %(limit)s""",
        {**selection.params(), "limit": limit},
    )
    return [Candidate(*r) for r in rows]


def candidate_page(
    conn: psycopg.Connection[Any], selection: Selection, after: str, limit: int
) -> list[Candidate]:
    """The next `limit` selected keys whose token sorts after `after` ("" for the first page)."""
    rows = conn.execute(
        f"""SELECT token, key_alias, expires, expires < %(now)s FROM "LiteLLM_VerificationToken"
        WHERE token > %(after)s AND {_WHERE} ORDER BY token LIMIT %(limit)s""",
        {**selection.params(), "after": after, "limit": limit},
    )
    return [Candidate(*r) for r in rows]


def present_tokens(conn: psycopg.Connection[Any], tokens: list[str]) -> set[str]:
    """Which of `tokens` are still live keys in LiteLLM's table."""
    rows = conn.execute('SELECT token FROM "LiteLLM_VerificationToken" WHERE token = ANY(%s)', (tokens,))
    return {r[0] for r in rows}
