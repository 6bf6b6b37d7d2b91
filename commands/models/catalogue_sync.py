"""The catalogue sync that follows a change in LiteLLM (`models add`, `models remove`).

The LiteMaaS backend owns its catalogue: we ask it to sync (`POST /api/v1/models/sync`, facts §2.2)
rather than writing rows ourselves. A failed sync is not a failed change — LiteLLM already has it and
the backend syncs at every start (and periodically with auto-sync) — so it is reported as a warning
that says exactly that, with the command that finishes the job. What the sync changed is read from
the database (`effects.py`), not taken from the backend's over-counting answer.
"""

from __future__ import annotations

from dataclasses import dataclass

from commands.clients.backend import BackendError, CascadeStatistics, SyncReport, backend_client
from commands.contract import OperationError, Section
from commands.environment import Environment
from commands.models.effects import Effects, after_sync, before_sync

SHOWN_MODELS = 20
FINISH = "run `/maas models sync` (or restart the backend) to bring the catalogue up to date"


@dataclass(frozen=True)
class SyncStep:
    """How the catalogue sync went: `ok`, one line to show, and (when known) what it changed."""

    ok: bool
    line: str
    report: SyncReport | None = None
    effects: Effects | None = None


def counts_line(report: SyncReport, effects: Effects | None, prefix: str = "catalogue synced: ") -> str:
    """`catalogue synced: 1 new, 0 changed, 1 newly marked unavailable`, from the database when it
    could be read, else the backend's own (over-)counts, said as such."""
    if effects is None:
        return (
            f"{prefix}the backend reports {report.new_models} new, {report.updated_models} "
            f"updated, {report.unavailable_models} missing from LiteLLM"
        )
    return (
        f"{prefix}{len(effects.new)} new, {len(effects.changed)} changed, "
        f"{len(effects.newly_unavailable)} newly marked unavailable"
    )


def sync_catalogue(env: Environment, done: str) -> SyncStep:
    """Ask the backend to sync its catalogue; `done` says what already happened in LiteLLM."""
    try:
        client = backend_client(env)
    except OperationError as exc:
        return SyncStep(False, f"{done}, but the catalogue sync could not start ({exc}); {FINISH}")
    before = before_sync(env)
    try:
        report = client.sync_models()
    except BackendError as exc:
        return SyncStep(False, f"{done}, but the catalogue sync failed ({exc}); {FINISH}")
    finally:
        client.close()
    if not report.success:
        errors = "; ".join(report.errors[:3]) or "no detail"
        return SyncStep(
            False, f"{done}, but the catalogue sync reported a failure ({errors}); {FINISH}", report
        )
    effects = after_sync(env, before) if before is not None else None
    return SyncStep(True, counts_line(report, effects), report, effects)


def cascade_section(step: SyncStep, shown_models: int = SHOWN_MODELS) -> Section:
    """The cascade the sync applied: from its audit rows (one per model it marked), else from a backend
    that still returns `cascadeStatistics`, else said to be unknown."""
    marked = step.effects.marked if step.effects is not None else ()
    if step.effects is not None:
        cascade: CascadeStatistics | None = step.effects.cascade
    else:
        cascade = step.report.cascade if step.report is not None else None
    if cascade is None:
        return Section(
            title="cascade",
            lines=("not reported by the backend and the LiteMaaS database could not be read",),
        )
    lines = [
        f"{m.model_id}: {m.cascade.subscriptions_deactivated} subscriptions inactive, "
        f"{m.cascade.api_key_model_associations_removed} key links removed, "
        f"{m.cascade.orphaned_api_keys_deactivated} keys deactivated"
        for m in marked[:shown_models]
    ]
    if len(marked) > shown_models:
        lines.append(f"… and {len(marked) - shown_models} more models")
    return Section(
        title="cascade",
        fields={
            "subscriptions deactivated": str(cascade.subscriptions_deactivated),
            "key-model links removed": str(cascade.api_key_model_associations_removed),
            "keys deactivated": str(cascade.orphaned_api_keys_deactivated),
        },
        lines=tuple(lines),
    )
