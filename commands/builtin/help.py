"""`help [command]`: what the caller may run, or the usage of one command."""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar

from pydantic import Field

from commands.bot_state import CommandInfo
from commands.builtin.state import bot_state
from commands.contract import Args, Event, Operation, Plan, Result, Section
from commands.environment import Environment
from commands.text import shown, suggest_verb


class HelpArgs(Args):
    positional: ClassVar[tuple[str, ...]] = ("command",)
    rest: ClassVar[bool] = True  # `help models add` asks about "models add"

    command: str | None = Field(default=None, max_length=40)


def _match(commands: list[CommandInfo], asked: str) -> CommandInfo | None:
    """The command the words name: its verb, or its verb's first words (`help models add now`)."""
    words = asked.lower().split()
    for width in (2, 1):
        wanted = " ".join(words[:width])
        for info in commands:
            if info.verb == wanted:
                return info
    return None


class HelpCommand(Operation[HelpArgs]):
    """Show the commands you may run, or the usage of one command."""

    name = "help"
    args_model = HelpArgs
    everyone = True
    bot_state = True
    answer = "private"

    def execute(self, env: Environment, args: HelpArgs, plan: Plan | None) -> Iterator[Event]:
        state = bot_state(env)
        commands = state.commands()
        slash = state.slash_command
        if args.command is None:
            lines = [f"`{slash} {c.usage}` — {c.help}" for c in commands]
            if state.caller().role is None:
                lines.append("You have no role yet: ask a platform admin to add you to the access file.")
            yield Result(ok=True, summary="", sections=(Section("", lines=tuple(lines)),))
            return
        found = _match(commands, args.command)
        if found is None:
            close = suggest_verb(args.command, [c.verb for c in commands])
            hint = f" Did you mean `{close}`?" if close else ""
            unknown = f"No command `{shown(args.command, 40)}` that you may run.{hint}"
            yield Result(ok=False, summary=unknown)
            return
        yield Result(
            ok=True, summary="", sections=(Section("", lines=(f"`{slash} {found.usage}`", found.help)),)
        )
