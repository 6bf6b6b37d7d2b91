"""`models list`: every model name in LiteLLM and/or the LiteMaaS catalogue, one line each.

Each line says where the model is (both / only LiteLLM / only catalogue), its catalogue availability
and whether the catalogue's `litellm_model_id` matches LiteLLM's `model_info.id`. Problems follow in
their own section with the fix to run; past `MAX_LINES` models the full table comes as a file.
"""

from __future__ import annotations

from collections.abc import Iterator

from commands.contract import (
    Args,
    Event,
    FollowUp,
    Operation,
    OperationError,
    Plan,
    Result,
    ResultFile,
    Section,
)
from commands.environment import Environment
from commands.models.catalogue import read_catalogue
from commands.models.compare import SYNC_FIX, ModelView, compare
from commands.models.deployments import read_deployments

MAX_LINES = 40
MAX_PROBLEM_LINES = 20
NAME_WIDTH = 36


class ModelsListArgs(Args):
    """`models list` takes no arguments."""


def _id_text(view: ModelView) -> str:
    match = view.id_match
    return "—" if match is None else ("id ok" if match else "id MISMATCH")


def model_line(view: ModelView, width: int = NAME_WIDTH) -> str:
    """`granite-8b   both   available   id ok` (aligned for a code block)."""
    name = view.name if len(view.name) <= width else view.name[: width - 1] + "…"
    return f"{name:<{width}}  {view.where:<14}  {view.availability:<11}  {_id_text(view)}"


def _counts(views: list[ModelView]) -> str:
    both = sum(v.where == "both" for v in views)
    only_litellm = sum(v.where == "only LiteLLM" for v in views)
    only_catalogue = sum(v.where == "only catalogue" for v in views)
    return f"{both} in both, {only_litellm} only in LiteLLM, {only_catalogue} only in the catalogue"


class ModelsListOperation(Operation[ModelsListArgs]):
    """List the models in LiteLLM against the LiteMaaS catalogue, with what does not match."""

    name = "models list"
    args_model = ModelsListArgs

    def execute(self, env: Environment, args: ModelsListArgs, plan: Plan | None = None) -> Iterator[Event]:
        """Read both sides (LiteLLM `/model/info`, the `models` table) and compare them by name."""
        try:
            views = compare(read_deployments(env), read_catalogue(env))
        except OperationError as exc:
            yield Result(ok=False, summary=f"Cannot list models: {exc}")
            return
        if not views:
            yield Result(ok=True, summary="No models: LiteLLM serves none and the catalogue is empty")
            return

        width = min(NAME_WIDTH, max(len(v.name) for v in views))
        lines = [model_line(v, width) for v in views]
        problems = [(v.name, p) for v in views for p in v.problems()]
        affected = len({name for name, _ in problems})
        summary = f"{len(views)} model(s): {_counts(views)}"
        summary += f"; {affected} with problems" if affected else "; everything matches"

        sections = [Section(title="Models (LiteLLM vs catalogue)", lines=tuple(lines[:MAX_LINES]))]
        if problems:
            problem_lines = [f"{name}: {p.text} → {p.fix}" for name, p in problems]
            sections.append(Section(title="Problems", lines=tuple(problem_lines[:MAX_PROBLEM_LINES])))
        files: tuple[ResultFile, ...] = ()
        if len(lines) > MAX_LINES or len(problems) > MAX_PROBLEM_LINES:
            body = "\n".join([*lines, "", *(f"{n}: {p.text} → {p.fix}" for n, p in problems)])
            files = (ResultFile("models.txt", "Models: LiteLLM vs catalogue", body + "\n"),)
        follow_ups = (
            (FollowUp("Sync catalogue", SYNC_FIX.removeprefix("/maas ")),)
            if any(p.fix.startswith(SYNC_FIX) for _, p in problems)
            else ()
        )
        yield Result(ok=True, summary=summary, sections=tuple(sections), files=files, follow_ups=follow_ups)
