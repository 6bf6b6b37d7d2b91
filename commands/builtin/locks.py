"""`locks`: who holds which lock, and since when."""

from __future__ import annotations

from collections.abc import Iterator

from commands.bot_state import BotState
from commands.builtin.state import answer
from commands.builtin.whoami import NoArgs
from commands.contract import Event, Operation, Plan, mention
from commands.environment import Environment


def _held(state: BotState) -> list[str]:
    return [
        f"{h.target}: {mention(h.owner)} since {h.since:%H:%M:%S} UTC ({h.reason})" for h in state.locks()
    ]


class LocksCommand(Operation[NoArgs]):
    """Show who holds which lock, and since when."""

    name = "locks"
    args_model = NoArgs
    bot_state = True
    answer = "note"

    def execute(self, env: Environment, args: NoArgs, plan: Plan | None) -> Iterator[Event]:
        yield from answer(_held, "No locks are held.", env)
