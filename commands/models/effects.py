"""What a catalogue sync actually changed, read from the LiteMaaS database rather than from its answer.

Backend 0.4.0's answer over-counts (litemaas-facts.md §9): `updatedModels` includes every model with
a capability on every sync (its `features` comparison bug) and `unavailableModels` every catalogue
model missing from LiteLLM, also those already unavailable; and it carries no cascade counts. So:

- `before_sync(env)` takes the catalogue (id → availability and a digest of the row without
  `updated_at`) and the database clock;
- `after_sync(env, before)` compares: models new, changed (the row differs; available again
  included), newly unavailable, and available again; plus the cascades, from the
  `MODEL_MARKED_UNAVAILABLE_WITH_CASCADE` audit rows written since (one per model the sync marked,
  with `metadata.cascadeStatistics`).
Both answer None when the database cannot be read: callers fall back to the backend's own counts.
A fixed backend gives the same effects: they do not depend on how the backend counts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg

from commands.clients.backend import CascadeStatistics
from commands.clients.databases import litemaas_connection
from commands.contract import OperationError
from commands.environment import Environment

AUDIT_CASCADE = "MODEL_MARKED_UNAVAILABLE_WITH_CASCADE"
_CATALOGUE = """SELECT id, COALESCE(availability, 'available'), md5((to_jsonb(m) - 'updated_at')::text)
    FROM models m"""
_MARKED = """SELECT resource_id, metadata FROM audit_logs
    WHERE action = %s AND created_at >= %s ORDER BY created_at, resource_id"""


@dataclass(frozen=True)
class Before:
    """The catalogue as it was, and when (the LiteMaaS database's clock)."""

    rows: dict[str, tuple[str, str]]  # id → (availability, digest)
    at: datetime


@dataclass(frozen=True)
class MarkedModel:
    """A model a sync marked unavailable, with the cascade its audit row records."""

    model_id: str
    cascade: CascadeStatistics


@dataclass(frozen=True)
class Effects:
    """What changed in the catalogue between `before_sync` and `after_sync`."""

    new: tuple[str, ...]
    changed: tuple[str, ...]
    newly_unavailable: tuple[str, ...]
    available_again: tuple[str, ...]
    marked: tuple[MarkedModel, ...]

    @property
    def cascade(self) -> CascadeStatistics:
        return CascadeStatistics(
            sum(m.cascade.subscriptions_deactivated for m in self.marked),
            sum(m.cascade.api_key_model_associations_removed for m in self.marked),
            sum(m.cascade.orphaned_api_keys_deactivated for m in self.marked),
        )


def _read(conn: psycopg.Connection[Any]) -> dict[str, tuple[str, str]]:
    return {str(i): (str(a), str(d)) for i, a, d in conn.execute(_CATALOGUE)}


def before_sync(env: Environment) -> Before | None:
    """The catalogue and the clock before a sync, or None when the database cannot be read."""
    try:
        with litemaas_connection(env) as conn:
            row = conn.execute("SELECT now()").fetchone()
            rows = _read(conn)
    except (OperationError, psycopg.Error):
        return None
    return Before(rows, row[0]) if row and isinstance(row[0], datetime) else None


def _count(stats: Any, name: str) -> int:
    value = stats.get(name, 0) if isinstance(stats, dict) else 0
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _marked(rows: list[tuple[Any, Any]]) -> tuple[MarkedModel, ...]:
    marked = []
    for model_id, metadata in rows:
        stats = metadata.get("cascadeStatistics") if isinstance(metadata, dict) else None
        cascade = CascadeStatistics(
            _count(stats, "subscriptionsDeactivated"),
            _count(stats, "apiKeyModelAssociationsRemoved"),
            _count(stats, "orphanedApiKeysDeactivated"),
        )
        marked.append(MarkedModel(str(model_id), cascade))
    return tuple(marked)


def after_sync(env: Environment, before: Before) -> Effects | None:
    """What the sync changed since `before`, or None when the database cannot be read."""
    try:
        with litemaas_connection(env) as conn:
            after = _read(conn)
            audit = conn.execute(_MARKED, (AUDIT_CASCADE, before.at)).fetchall()
    except (OperationError, psycopg.Error):
        return None
    old = before.rows
    kept = sorted(old.keys() & after.keys())
    gone = tuple(i for i in kept if old[i][0] != "unavailable" and after[i][0] == "unavailable")
    return Effects(
        new=tuple(sorted(after.keys() - old.keys())),
        changed=tuple(i for i in kept if old[i][1] != after[i][1] and i not in gone),
        newly_unavailable=gone,
        available_again=tuple(i for i in kept if old[i][0] == "unavailable" and after[i][0] == "available"),
        marked=_marked(audit),
    )
