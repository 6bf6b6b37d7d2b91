"""`models sync`: the backend's own catalogue sync, `POST /api/v1/models/sync` (litemaas-facts.md §2, §9).

The backend reads LiteLLM's models, inserts/updates the LiteMaaS `models` rows and marks those gone from
LiteLLM `unavailable`, with the cascade: their active subscriptions `inactive`, their `api_key_models`
rows removed, and every active key left with no model deactivated — in the LiteMaaS database only;
LiteLLM's keys keep working (drift (f)). It never deletes a model or a subscription.

Backend 0.4.0's answer over-counts (every model with a capability is "updated" on every sync, every
model missing from LiteLLM is "unavailable" on every sync) and strips the cascade counts, so what the
sync changed is read from the database when it can be (`effects.py`): new, changed and newly
unavailable models by comparing the catalogue before and after, the cascade from the audit rows.
Without the database the backend's own counts are shown, said to be the backend's.
"""

from __future__ import annotations

from collections.abc import Iterator

from commands.clients.backend import BackendError, SyncReport, backend_client
from commands.contract import Args, Event, Operation, OperationError, Plan, Progress, Result, Section
from commands.environment import Environment
from commands.models.catalogue_sync import SyncStep, cascade_section, counts_line
from commands.models.effects import Effects, after_sync, before_sync
from commands.targets import CATALOGUE

SHOWN_ERRORS = 5
CASCADE_RISK = (
    "models no longer in LiteLLM become unavailable: their active subscriptions become inactive and every "
    "active key left without a model is deactivated (LiteMaaS only; nothing is deleted, LiteLLM keys "
    "keep working)"
)
DRIFT_HINT = (
    "keys the cascade deactivated keep working in LiteLLM (the sync never calls it): `drift` lists them "
    "under (f), `drift block-inactive` blocks them"
)


class ModelsSyncArgs(Args):
    """`models sync`."""


def _counts(report: SyncReport, effects: Effects | None) -> Section:
    fields = {"models in LiteLLM": str(report.total_models)}
    if effects is not None:
        fields |= {
            "new": str(len(effects.new)),
            "changed": str(len(effects.changed)),
            "newly marked unavailable": str(len(effects.newly_unavailable)),
        }
    fields |= {
        "updated (the backend's count)": str(report.updated_models),
        "missing from LiteLLM (the backend's count)": str(report.unavailable_models),
    }
    lines = []
    if effects is not None:
        for title, names in (
            ("new", effects.new),
            ("newly unavailable", effects.newly_unavailable),
            ("available again", effects.available_again),
        ):
            if names:
                lines.append(f"{title}: {', '.join(names[:20])}" + (" …" if len(names) > 20 else ""))
    return Section(title="catalogue", fields=fields, lines=tuple(lines))


def sync_result(report: SyncReport, effects: Effects | None) -> Result:
    """The user-facing result of a sync answer and what the database shows it changed."""
    errors = [e[:300] for e in report.errors[:SHOWN_ERRORS]]
    if len(report.errors) > SHOWN_ERRORS:
        errors.append(f"… and {len(report.errors) - SHOWN_ERRORS} more errors")
    if any(e.startswith("Synchronization failed") for e in report.errors):  # nothing was synced
        return Result(
            ok=False, summary=f"the backend's model sync failed: {errors[0]}", warnings=tuple(errors[1:])
        )
    summary = counts_line(report, effects, f"catalogue synced: {report.total_models} models in LiteLLM — ")
    warnings = [f"sync error: {e}" for e in errors]
    step = SyncStep(True, summary, report, effects)
    keys_off = effects.cascade.orphaned_api_keys_deactivated if effects is not None else 0
    if (effects.newly_unavailable if effects is not None else report.unavailable_models) or keys_off:
        warnings.append(DRIFT_HINT)
    return Result(
        ok=not report.errors,
        summary=summary,
        sections=(_counts(report, effects), cascade_section(step)),
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
        before = before_sync(env)
        yield Progress("the backend is syncing the catalogue from LiteLLM")
        try:
            with client:
                report = client.sync_models()
        except BackendError as exc:
            yield Result(ok=False, summary=f"model sync failed: {exc.message}")
            return
        yield sync_result(report, after_sync(env, before) if before is not None else None)
