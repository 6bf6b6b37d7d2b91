"""`whoami`: your chat user id and the roles the bot gives you."""

from __future__ import annotations

from collections.abc import Iterator

from commands.builtin.state import bot_state
from commands.contract import Args, Event, Operation, Plan, Result, mention
from commands.environment import Environment


class NoArgs(Args):
    pass


class WhoamiCommand(Operation[NoArgs]):
    """Show your Slack user ID and the roles the bot gives you."""

    name = "whoami"
    args_model = NoArgs
    everyone = True
    bot_state = True
    answer = "private"

    def execute(self, env: Environment, args: NoArgs, plan: Plan | None) -> Iterator[Event]:
        caller = bot_state(env).caller()
        role = caller.role or "no role"
        approver = ", approver" if caller.approver else ""
        yield Result(
            ok=True, summary=f"You are {mention(caller.user_id)} (`{caller.user_id}`): {role}{approver}."
        )
