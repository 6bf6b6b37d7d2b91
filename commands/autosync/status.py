"""`autosync status`: whether the backend syncs the catalogue periodically, and how often."""

from __future__ import annotations

from collections.abc import Iterator

from commands.autosync.state import STARTUP_NOTE, read_state, state_fields, state_warnings, summary_of
from commands.clients.rollout import rollout_status
from commands.contract import (
    Args,
    Event,
    Operation,
    OperationError,
    Plan,
    Result,
    Section,
)
from commands.environment import Environment


class AutosyncStatusArgs(Args):
    """`autosync status`."""


class AutosyncStatusOperation(Operation[AutosyncStatusArgs]):
    """Show whether the backend syncs the model catalogue periodically, and how often."""

    name = "autosync status"
    args_model = AutosyncStatusArgs
    default_role = "viewer"

    def execute(self, env: Environment, args: AutosyncStatusArgs, plan: Plan | None) -> Iterator[Event]:
        try:
            component, state = read_state(env)
        except OperationError as exc:
            yield Result(ok=False, summary=str(exc))
            return
        fields = state_fields(state)
        fields["rollout"] = rollout_status(state.deployment).message
        section = Section(
            title=f"{component.name} (deployment/{component.deployment}, container {component.container})",
            fields=fields,
            lines=(STARTUP_NOTE,),
        )
        yield Result(
            ok=True, summary=summary_of(state), sections=(section,), warnings=tuple(state_warnings(state))
        )
