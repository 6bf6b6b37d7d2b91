"""`keys stats`: LiteLLM keys (total, expired, expiring within 7 days), LiteMaaS keys and subscriptions.

Plain counts read straight from both databases (one query each side); works in either layout.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg

from commands.clients.sessions import key_databases, litellm_session, litemaas_session
from commands.contract import Args, Event, Operation, OperationError, Plan, Result, Section
from commands.environment import Environment

EXPIRING_WITHIN_DAYS = 7

_LITELLM_SQL = """SELECT count(*),
    count(*) FILTER (WHERE expires < now() AT TIME ZONE 'UTC'),
    count(*) FILTER (WHERE expires >= now() AT TIME ZONE 'UTC'
                     AND expires < now() AT TIME ZONE 'UTC' + make_interval(days => %s))
    FROM "LiteLLM_VerificationToken\""""

_LITEMAAS_SQL = """SELECT (SELECT count(*) FROM api_keys WHERE is_active = true),
    (SELECT count(*) FROM subscriptions WHERE status = 'active')"""


class StatsArgs(Args):
    """`keys stats` takes no arguments."""


def _row(conn: psycopg.Connection[Any], query: str, params: tuple[Any, ...] = ()) -> tuple[int, ...]:
    row = conn.execute(query, params).fetchone()
    assert row is not None
    return tuple(int(v) for v in row)


class KeysStatsOperation(Operation[StatsArgs]):
    """Count LiteLLM keys (total, expired, expiring in 7 days), LiteMaaS active keys and subscriptions."""

    name = "keys stats"
    args_model = StatsArgs

    def execute(self, env: Environment, args: StatsArgs, plan: Plan | None = None) -> Iterator[Event]:
        try:
            dbs = key_databases(env)
            with litellm_session(dbs, "stats") as db:
                total, expired, expiring = db.run(lambda c: _row(c, _LITELLM_SQL, (EXPIRING_WITHIN_DAYS,)))
            with litemaas_session(dbs, "stats") as db:
                active_keys, active_subs = db.run(lambda c: _row(c, _LITEMAAS_SQL))
        except OperationError as exc:
            yield Result(ok=False, summary=f"Key statistics failed: {exc}")
            return
        litellm = Section(
            title="LiteLLM keys",
            fields={
                "total": f"{total:,}",
                "expired": f"{expired:,}",
                f"expiring within {EXPIRING_WITHIN_DAYS} days": f"{expiring:,}",
            },
        )
        litemaas = Section(
            title="LiteMaaS",
            fields={"active keys": f"{active_keys:,}", "active subscriptions": f"{active_subs:,}"},
        )
        yield Result(
            ok=True,
            summary=f"{total:,} LiteLLM keys ({expired:,} expired, {expiring:,} expiring within "
            f"{EXPIRING_WITHIN_DAYS} days); {active_keys:,} active LiteMaaS keys, "
            f"{active_subs:,} active subscriptions ({dbs.layout})",
            sections=(litellm, litemaas),
        )
