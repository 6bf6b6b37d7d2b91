"""`models verify <id>`: one model on both sides in detail, what is wrong with it and the fix to run.

`<id>` is the model name (= the catalogue id) or one of its LiteLLM deployment ids (`model_info.id`).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator

from pydantic import Field, field_validator

from commands.contract import (
    Args,
    Event,
    FollowUp,
    Operation,
    OperationError,
    Plan,
    Result,
    Section,
    shown_as,
)
from commands.environment import Environment
from commands.models.catalogue import CatalogueModel, read_catalogue
from commands.models.compare import SYNC_FIX, ModelView, compare
from commands.models.deployments import Deployment, read_deployments

MAX_DEPLOYMENT_LINES = 10


class ModelsVerifyArgs(Args):
    """`models verify <id>`."""

    positional = ("model",)

    model: str = Field(
        json_schema_extra=shown_as("model name or LiteLLM id"),
        min_length=1,
        max_length=255,
        title="Model",
        description="Model name (the catalogue id) or a LiteLLM deployment id",
    )

    @field_validator("model")
    @classmethod
    def _strip(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("<model> must not be blank")
        return value


def resolve_name(wanted: str, deployments: list[Deployment]) -> str:
    """The model name `wanted` designates: itself, or the name of the deployment with that id."""
    for deployment in deployments:
        if deployment.id and deployment.id == wanted and deployment.model_name != wanted:
            return deployment.model_name
    return wanted


def not_found_message(wanted: str, names: list[str]) -> str:
    """ "No model `x` …", with the closest known names."""
    close = difflib.get_close_matches(wanted, names, n=3, cutoff=0.6)
    hint = f"; did you mean {', '.join(f'`{c}`' for c in close)}?" if close else ""
    return f"No model `{wanted}` in LiteLLM or in the catalogue{hint}"


def _litellm_section(view: ModelView) -> Section:
    if not view.deployments:
        return Section(title="LiteLLM", lines=("not in LiteLLM",))
    lines = [
        f"{d.id or '(no id)'}  {d.litellm_model or '?'}  {d.api_base or '(no api_base)'}"
        + ("" if d.db_model else "  (config file)")
        for d in view.deployments[:MAX_DEPLOYMENT_LINES]
    ]
    if len(view.deployments) > MAX_DEPLOYMENT_LINES:
        lines.append(f"… and {len(view.deployments) - MAX_DEPLOYMENT_LINES} more")
    return Section(title=f"LiteLLM: {len(view.deployments)} deployment(s)", lines=tuple(lines))


def _catalogue_section(row: CatalogueModel | None) -> Section:
    if row is None:
        return Section(title="Catalogue", lines=("not in the catalogue",))
    return Section(
        title="Catalogue",
        fields={
            "name": row.name,
            "provider": row.provider,
            "availability": row.availability,
            "litellm_model_id": row.litellm_model_id or "none",
            "active subscriptions": str(row.active_subscriptions),
            "active API keys": str(row.active_keys),
        },
    )


class ModelsVerifyOperation(Operation[ModelsVerifyArgs]):
    """Check one model in LiteLLM and in the catalogue: what is wrong and how to fix it."""

    name = "models verify"
    args_model = ModelsVerifyArgs

    def execute(self, env: Environment, args: ModelsVerifyArgs, plan: Plan | None = None) -> Iterator[Event]:
        """Read both sides, show the model on each, list its problems with their fixes."""
        try:
            deployments = read_deployments(env)
            catalogue = read_catalogue(env)
        except OperationError as exc:
            yield Result(ok=False, summary=f"Cannot verify {args.model}: {exc}")
            return
        name = resolve_name(args.model, deployments)
        views = {v.name: v for v in compare(deployments, catalogue)}
        view = views.get(name)
        if view is None:
            yield Result(ok=False, summary=not_found_message(args.model, sorted(views)))
            return

        problems = view.problems()
        verdict = f"{len(problems)} problem(s)" if problems else "nothing to fix"
        summary = f"{name}: {view.facts()} — {verdict}"
        follow_ups = (
            (FollowUp("Sync catalogue", SYNC_FIX.removeprefix("/maas ")),)
            if any(p.fix.startswith(SYNC_FIX) for p in problems)
            else ()
        )
        yield Result(
            ok=True,
            summary=summary,
            sections=(_litellm_section(view), _catalogue_section(view.catalogue)),
            warnings=tuple(f"{p.text} → fix: {p.fix}" for p in problems),
            follow_ups=follow_ups,
        )
