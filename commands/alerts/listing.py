"""`alerts`: the alerts firing now (acknowledged and silenced ones too) and the silences in force."""

from __future__ import annotations

from collections.abc import Iterator

from commands.alerts.book import NoArgs, listed
from commands.contract import Event, Operation, Plan
from commands.environment import Environment


class AlertsCommand(Operation[NoArgs]):
    """List firing, acknowledged and silenced alerts, and the silences in force."""

    name = "alerts"
    args_model = NoArgs
    bot_state = True
    answer = "note"

    def execute(self, env: Environment, args: NoArgs, plan: Plan | None) -> Iterator[Event]:
        yield from listed(env)
