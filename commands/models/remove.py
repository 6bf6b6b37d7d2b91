"""`models remove <id>`: delete a model's deployment(s) from LiteLLM, then sync the catalogue.

`<id>` is a model name (every API-managed deployment of it is deleted) or one LiteLLM deployment id
(`model_info.id`, e.g. to drop a duplicate). The plan shows the impact first: once the last deployment
of the name is gone, the backend's sync marks the catalogue model unavailable (only if it still is
available: the cascade never runs twice), deactivates its active subscriptions, removes it from API
keys and then deactivates EVERY active key with no model left — the rule is table-wide, so keys that
list no model at all go too (facts §9; §2.2, §7: sync never deletes rows). The same sync marks any
other available catalogue model missing from LiteLLM. The result reports the cascade actually
applied, from the sync's `MODEL_MARKED_UNAVAILABLE_WITH_CASCADE` audit rows (the answer strips it).
LiteLLM's own keys keep working (drift (f)). Config-file models (`db_model: false`) cannot be deleted
through the API and are refused.
"""

from __future__ import annotations

from collections.abc import Iterator

from pydantic import Field

from commands.clients.litellm import LiteLLMError
from commands.contract import (
    Change,
    Event,
    FollowUp,
    Operation,
    OperationError,
    Plan,
    Progress,
    Result,
    Section,
    shown_as,
)
from commands.environment import Environment
from commands.models.catalogue import Impact, read_catalogue, read_impact, read_model
from commands.models.catalogue_sync import SyncStep, cascade_section, sync_catalogue
from commands.models.deployments import Deployment, describe_litellm_error, open_litellm, read_deployments
from commands.models.verify import ModelsVerifyArgs, not_found_message
from commands.targets import CATALOGUE


class ModelRemoveArgs(ModelsVerifyArgs):
    """`models remove <id>`: the same argument as `models verify`, removing every deployment it names."""

    model: str = Field(
        json_schema_extra=shown_as("model name or LiteLLM id"),
        min_length=1,
        max_length=255,
        title="Model",
        description="Model name (every deployment of it) or one LiteLLM deployment id",
    )


def _targets(wanted: str, deployments: list[Deployment]) -> tuple[str, list[Deployment], list[Deployment]]:
    """(model name, deployments to delete, deployments of that name that stay)."""
    by_id = [d for d in deployments if d.id == wanted]
    if by_id:
        name = by_id[0].model_name
        chosen = by_id
    else:
        name = wanted
        chosen = [d for d in deployments if d.model_name == wanted]
    staying = [d for d in deployments if d.model_name == name and d not in chosen]
    return name, chosen, staying


def _impact_risks(name: str, impact: Impact) -> list[str]:
    """The forecast of the cascade, in the sync's own (table-wide) terms."""
    risks = [
        f"{impact.active_subscriptions} active subscription(s) on {name} "
        f"({impact.subscribers} user(s)) become inactive"
        if impact.active_subscriptions
        else f"no active subscription on {name}"
    ]
    if impact.keys_losing_model:
        risks.append(
            f"{impact.keys_losing_model} active API key(s) lose {name}; "
            f"{impact.keys_left_without_model} of them have no other model"
        )
    else:
        risks.append(f"no active API key lists {name}")
    risks.append(
        f"{impact.keys_deactivated} active API key(s) are deactivated: the sync deactivates every active key "
        f"left without a model, so also {impact.keys_without_any_model} that list no model at all"
        if impact.keys_without_any_model
        else f"{impact.keys_deactivated} active API key(s) are deactivated (left without a model)"
    )
    if impact.active_subscriptions or impact.keys_deactivated:
        risks.append("re-adding the model later does not reactivate them: users must re-subscribe")
    return risks


def _also_marked(name: str, deployments: list[Deployment], env: Environment) -> list[str]:
    """Other available catalogue models with no LiteLLM deployment: the same sync marks them."""
    in_litellm = {d.model_name for d in deployments}
    catalogue = read_catalogue(env)
    return sorted(m for m, row in catalogue.items() if m != name and row.available and m not in in_litellm)


def _applied(step: SyncStep, plan: Plan, warnings: list[str]) -> str:
    """`: 3 subscriptions and 3 keys deactivated` from the audit rows; a warning when the forecast differs."""
    if step.effects is None:
        warnings.append("the cascade applied is unknown: the LiteMaaS database could not be read")
        return ""
    applied = step.effects.cascade
    forecast = plan.observed.get("impact")
    if isinstance(forecast, dict):
        expected = sum(int(forecast.get(k, 0)) for k in ("keys_left_without_model", "keys_without_any_model"))
        if expected != applied.orphaned_api_keys_deactivated:
            warnings.append(
                f"the plan forecast {expected} deactivated key(s); the sync deactivated "
                f"{applied.orphaned_api_keys_deactivated} (keys changed in between, or other models were "
                "marked)"
            )
    return (
        f": {applied.subscriptions_deactivated} subscription(s) and {applied.orphaned_api_keys_deactivated} "
        "key(s) deactivated"
    )


def _is_not_found(exc: LiteLLMError) -> bool:
    return exc.status in (400, 404) and "not found" in exc.message.lower()


class ModelsRemoveOperation(Operation[ModelRemoveArgs]):
    """Remove a model from LiteLLM and sync the catalogue (its subscriptions become inactive)."""

    name = "models remove"
    args_model = ModelRemoveArgs
    mutating = True
    default_role = "admin"
    default_approval = True

    def plan(self, env: Environment, args: ModelRemoveArgs) -> Plan:
        """The deployments to delete and the catalogue impact (subscriptions, keys) in `risks`."""
        deployments = read_deployments(env)
        name, chosen, staying = _targets(args.model, deployments)
        if not chosen:
            row = read_model(env, name)
            if row is None:
                names = sorted({d.model_name for d in deployments} | set(read_catalogue(env)))
                raise OperationError(not_found_message(args.model, names))
            raise OperationError(
                f"{name} is not in LiteLLM (catalogue: {row.availability}); nothing to delete there. "
                f"/maas models sync marks it unavailable in the catalogue"
            )
        config_models = [d for d in chosen if not d.db_model]
        if config_models:
            ids = ", ".join(d.id for d in config_models)
            raise OperationError(
                f"{name} ({ids}) is defined in LiteLLM's config file, not through the API: "
                "/model/delete cannot remove it; remove it from LiteLLM's config and restart LiteLLM"
            )

        row = read_model(env, name)
        changes = [
            Change(f"litellm/model/{name}", f"deployment {d.id}", "present", "deleted") for d in chosen
        ]
        risks: list[str] = []
        observed: dict[str, object] = {
            "model": name,
            "delete": sorted(d.id for d in chosen),
            "staying": sorted(d.id for d in staying),
        }
        if staying:
            risks.append(
                f"{len(staying)} other deployment(s) of {name} stay in LiteLLM: "
                "the catalogue keeps it available"
            )
        elif row is None:
            risks.append(f"{name} is not in the catalogue: no subscription or key depends on it")
        elif not row.available:
            observed["availability"] = row.availability
            risks.append(f"{name} is already unavailable in the catalogue: the sync runs no cascade for it")
        else:
            impact = read_impact(env, name)
            observed["impact"] = vars(impact)
            observed["availability"] = row.availability
            changes.append(Change(f"catalogue/models/{name}", "availability", "available", "unavailable"))
            risks += _impact_risks(name, impact)
        others = _also_marked(name, deployments, env)
        if others:
            observed["also_marked"] = others
            risks.append(
                f"the same sync also marks {len(others)} other available catalogue model(s) missing from "
                f"LiteLLM unavailable, with their own cascade: {', '.join(others[:5])}"
                + (" …" if len(others) > 5 else "")
            )
        risks.append(
            "LiteLLM keys are not changed: deactivated keys keep working there until blocked "
            "(drift (f), `drift block-inactive`)"
        )
        what = f"deployment {chosen[0].id} of {name}" if len(chosen) == 1 and staying else name
        return Plan(
            summary=f"Remove {what} from LiteLLM ({len(chosen)} deployment(s)) and sync the catalogue",
            target=CATALOGUE,
            changes=tuple(changes),
            risks=tuple(risks),
            observed=observed,
        )

    def execute(self, env: Environment, args: ModelRemoveArgs, plan: Plan | None) -> Iterator[Event]:
        """`/model/delete` per deployment (stopping at the first failure), then the backend sync."""
        if plan is None:
            try:
                plan = self.plan(env, args)
            except OperationError as exc:
                yield Result(ok=False, summary=f"{args.model} was not removed: {exc}")
                return
        name = str(plan.observed.get("model", args.model))
        planned = plan.observed.get("delete")
        ids = [str(i) for i in planned] if isinstance(planned, list) else []
        if not ids:
            yield Result(ok=False, summary=f"{name} was not removed: the plan names no LiteLLM deployment")
            return

        deleted: list[str] = []
        notes: list[str] = []
        try:
            with open_litellm(env) as client:
                for index, model_id in enumerate(ids, start=1):
                    yield Progress(f"Deleting {name} deployment {model_id} from LiteLLM", index - 1, len(ids))
                    try:
                        client.delete_model(model_id)
                    except LiteLLMError as exc:
                        if not _is_not_found(exc):
                            raise
                        notes.append(f"deployment {model_id} was already gone from LiteLLM")
                    deleted.append(model_id)
        except OperationError as exc:
            yield Result(ok=False, summary=f"{name} was not removed: {exc}")
            return
        except LiteLLMError as exc:
            done = f" ({len(deleted)} of {len(ids)} deployments deleted before that)" if deleted else ""
            yield Result(
                ok=False,
                summary=f"LiteLLM did not delete {name}: {describe_litellm_error(exc)}{done}; "
                f"check with /maas models verify {name}",
                follow_ups=(FollowUp("Verify", f"models verify {name}"),),
            )
            return

        yield Progress(f"{name} deleted from LiteLLM; syncing the catalogue", len(ids), len(ids))
        step = sync_catalogue(env, f"{name} is removed from LiteLLM")
        warnings = list(notes)
        fields = {"LiteLLM": f"{len(deleted)} deployment(s) deleted"}
        if step.ok:
            try:
                row = read_model(env, name)
                if row is not None:
                    fields["catalogue"] = row.availability
                    fields["active subscriptions"] = str(row.active_subscriptions)
            except OperationError as exc:
                warnings.append(f"could not read the catalogue afterwards: {exc}")
            summary = f"{name} removed from LiteLLM; catalogue synced" + _applied(step, plan, warnings)
        else:
            warnings.append(step.line)
            summary = f"{name} removed from LiteLLM; the catalogue will catch up at the next sync or restart"
        sections = [Section(title=f"model/{name}", fields=fields, lines=(step.line,) if step.ok else ())]
        if step.ok:
            sections.append(cascade_section(step))
        yield Result(
            ok=True,
            summary=summary,
            sections=tuple(sections),
            warnings=tuple(warnings),
            follow_ups=(FollowUp("Verify", f"models verify {name}"),),
        )
