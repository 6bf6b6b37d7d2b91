"""What the built-in commands share: the environment's `BotState`, and a store outage as a plain result."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from commands.bot_state import BotState, BotStateUnavailable
from commands.contract import Event, OperationError, Result, Section
from commands.environment import Environment


def bot_state(env: Environment) -> BotState:
    if env.bot is None:
        raise OperationError("the bot's own state is not available here")
    return env.bot


def answer(read: Callable[[BotState], list[str]], empty: str, env: Environment) -> Iterator[Event]:
    """One note: the lines `read` returns (or `empty`); a store outage says which store."""
    try:
        lines = read(bot_state(env))
    except BotStateUnavailable as exc:
        yield Result(ok=False, summary=f"Cannot read the bot's state: {exc}")
        return
    yield Result(ok=True, summary="" if lines else empty, sections=(Section("", lines=tuple(lines)),))
