"""`models sync`: the backend's own catalogue sync, `POST /api/v1/models/sync` (litemaas-facts.md §2.1-2.2).

The backend reads LiteLLM's models, inserts/updates the LiteMaaS `models` rows and marks those gone from
LiteLLM `unavailable`, with the cascade: their active subscriptions `inactive`, their `api_key_models`
rows removed, keys left with no model deactivated — in the LiteMaaS database only; LiteLLM's keys keep
working (drift remains). It never deletes a model or a subscription.

The answer carries new / updated / unavailable counts. Backend 0.4.0 strips the cascade counts from it
(§8), so they are read, when the LiteMaaS database is reachable, from the `audit_logs` rows
`MODEL_MARKED_UNAVAILABLE_WITH_CASCADE` the sync writes (one per model, with `cascadeStatistics`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg

from commands.clients.backend import BackendError, CascadeStatistics, SyncReport, backend_client
from commands.clients.databases import litemaas_connection
from commands.contract import Args, Event, Operation, OperationError, Plan, Progress, Result, Section
from commands.environment import Environment
from commands.targets import CATALOGUE

AUDIT_CASCADE = "MODEL_MARKED_UNAVAILABLE_WITH_CASCADE"
SHOWN_ERRORS = 5
SHOWN_MODELS = 20
CASCADE_RISK = (
    "models no longer in LiteLLM become unavailable: their active subscriptions become inactive and keys "
    "left without a model are deactivated (LiteMaaS only; nothing is deleted, LiteLLM keys keep working)"
)


class ModelsSyncArgs(Args):
    """`models sync`."""


@dataclass(frozen=True)
class MarkedModel:
    """A model the sync marked unavailable, with its cascade (from the audit row)."""

    model_id: str
    cascade: CascadeStatistics


def _database_now(env: Environment) -> datetime | None:
    """The LiteMaaS database's clock before the sync (to find the sync's audit rows), or None."""
    try:
        with litemaas_connection(env) as conn:
            row = conn.execute("SELECT now()").fetchone()
    except (OperationError, psycopg.Error):
        return None
    return row[0] if row and isinstance(row[0], datetime) else None


def _count(stats: Any, name: str) -> int:
    value = stats.get(name, 0) if isinstance(stats, dict) else 0
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def marked_since(env: Environment, since: datetime) -> list[MarkedModel] | None:
    """The models marked unavailable since `since` (audit rows), or None when they cannot be read."""
    try:
        with litemaas_connection(env) as conn:
            rows = conn.execute(
                "SELECT resource_id, metadata FROM audit_logs WHERE action = %s AND created_at >= %s "
                "ORDER BY created_at, resource_id",
                (AUDIT_CASCADE, since),
            ).fetchall()
    except (OperationError, psycopg.Error):
        return None
    marked = []
    for model_id, metadata in rows:
        stats = (metadata or {}).get("cascadeStatistics") if isinstance(metadata, dict) else None
        marked.append(
            MarkedModel(
                str(model_id),
                CascadeStatistics(
                    _count(stats, "subscriptionsDeactivated"),
                    _count(stats, "apiKeyModelAssociationsRemoved"),
                    _count(stats, "orphanedApiKeysDeactivated"),
                ),
            )
        )
    return marked


def _total(marked: list[MarkedModel]) -> CascadeStatistics:
    return CascadeStatistics(
        sum(m.cascade.subscriptions_deactivated for m in marked),
        sum(m.cascade.api_key_model_associations_removed for m in marked),
        sum(m.cascade.orphaned_api_keys_deactivated for m in marked),
    )


def _cascade_section(cascade: CascadeStatistics | None, marked: list[MarkedModel] | None) -> Section:
    if cascade is None:
        return Section(
            title="cascade",
            lines=("not reported by the backend and the LiteMaaS database could not be read",),
        )
    lines: list[str] = []
    for m in (marked or [])[:SHOWN_MODELS]:
        c = m.cascade
        lines.append(
            f"{m.model_id}: {c.subscriptions_deactivated} subscriptions inactive, "
            f"{c.api_key_model_associations_removed} key links removed, "
            f"{c.orphaned_api_keys_deactivated} keys deactivated"
        )
    if marked and len(marked) > SHOWN_MODELS:
        lines.append(f"… and {len(marked) - SHOWN_MODELS} more models")
    return Section(
        title="cascade",
        fields={
            "subscriptions deactivated": str(cascade.subscriptions_deactivated),
            "key-model links removed": str(cascade.api_key_model_associations_removed),
            "keys deactivated": str(cascade.orphaned_api_keys_deactivated),
        },
        lines=tuple(lines),
    )


def sync_result(report: SyncReport, marked: list[MarkedModel] | None) -> Result:
    """The user-facing result of a sync answer (and the models the audit rows name)."""
    cascade = report.cascade or (_total(marked) if marked is not None else None)
    counts = Section(
        title="catalogue",
        fields={
            "models in LiteLLM": str(report.total_models),
            "new": str(report.new_models),
            "updated": str(report.updated_models),
            "marked unavailable": str(report.unavailable_models),
        },
    )
    errors = [e[:300] for e in report.errors[:SHOWN_ERRORS]]
    if len(report.errors) > SHOWN_ERRORS:
        errors.append(f"… and {len(report.errors) - SHOWN_ERRORS} more errors")
    if not report.success:
        reason = errors[0] if errors else "no reason given"
        return Result(
            ok=False,
            summary=f"the backend's model sync failed: {reason}",
            warnings=tuple(errors[1:]),
        )
    summary = (
        f"catalogue synced: {report.total_models} models in LiteLLM — {report.new_models} new, "
        f"{report.updated_models} updated, {report.unavailable_models} marked unavailable"
    )
    warnings = [f"sync error: {e}" for e in errors]
    if report.unavailable_models:
        warnings.append(
            "unavailable models keep their LiteLLM keys working (sync never calls LiteLLM): see `drift`"
        )
    return Result(
        ok=not report.errors,
        summary=summary,
        sections=(counts, _cascade_section(cascade, marked)),
        warnings=tuple(warnings),
    )


class ModelsSyncOperation(Operation[ModelsSyncArgs]):
    """Run the backend's model sync (LiteLLM → LiteMaaS catalogue) and report what changed."""

    name = "models sync"
    args_model = ModelsSyncArgs
    mutating = True
    default_role = "operator"
    default_approval = False

    def plan(self, env: Environment, args: ModelsSyncArgs) -> Plan:
        """What the sync does; refuses early when no admin key can be found."""
        backend_client(env).close()  # raises OperationError naming the setting when there is no key
        return Plan(
            summary=f"Ask the backend ({env.backend_url}) to sync the model catalogue from LiteLLM "
            "(POST /api/v1/models/sync)",
            target=CATALOGUE,
            risks=(CASCADE_RISK,),
            observed={"backend": env.backend_url},
        )

    def execute(self, env: Environment, args: ModelsSyncArgs, plan: Plan | None) -> Iterator[Event]:
        try:
            client = backend_client(env)
        except OperationError as exc:
            yield Result(ok=False, summary=str(exc))
            return
        since = _database_now(env)
        yield Progress("the backend is syncing the catalogue from LiteLLM")
        try:
            with client:
                report = client.sync_models()
        except BackendError as exc:
            yield Result(ok=False, summary=f"model sync failed: {exc.message}")
            return
        marked = marked_since(env, since) if since is not None and report.cascade is None else None
        yield sync_result(report, marked)
