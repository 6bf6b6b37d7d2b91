"""The `drift` command: every check of product.md §5 plus (f), read-only, in either database layout."""

from __future__ import annotations

import time
from collections.abc import Iterator

from commands.clients.sessions import KeyDatabases, key_databases, litellm_session, litemaas_session
from commands.contract import Args, Event, Operation, OperationError, Plan, Progress, Result
from commands.drift.findings import Finding
from commands.drift.keys import key_drift
from commands.drift.models import model_drift
from commands.drift.pairs import RANGE_KEYS
from commands.drift.report import drift_result
from commands.environment import Environment


class DriftArgs(Args):
    """`drift` takes no arguments."""


def find_drift(dbs: KeyDatabases, *, range_keys: int = RANGE_KEYS) -> list[Finding]:
    """All findings, in the order a-f (c in two halves). Raises OperationError on a database failure.

    `range_keys`: two databases, about how many keys per side are compared at a time."""
    with litemaas_session(dbs, "drift") as litemaas, litellm_session(dbs, "drift") as litellm:
        orphans, unknown, inactive_usable = litemaas.run(
            lambda lm: litellm.run(lambda ll: key_drift(lm, ll, dbs, range_keys))
        )
        models = litemaas.run(lambda lm: litellm.run(lambda ll: model_drift(lm, ll)))
    return [orphans, unknown, *models, inactive_usable]


class DriftOperation(Operation[DriftArgs]):
    """Report where LiteMaaS and LiteLLM disagree: keys both ways, models, model ids, subscriptions, keys."""

    name = "drift"
    args_model = DriftArgs

    def execute(self, env: Environment, args: DriftArgs, plan: Plan | None = None) -> Iterator[Event]:
        started = time.monotonic()
        try:
            dbs = key_databases(env)
            yield Progress(f"Comparing LiteMaaS and LiteLLM ({dbs.layout})")
            findings = find_drift(dbs)
        except OperationError as exc:
            yield Result(ok=False, summary=f"Drift check failed: {exc}")
            return
        yield drift_result(findings, dbs.layout, time.monotonic() - started)
