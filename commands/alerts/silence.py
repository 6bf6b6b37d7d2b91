"""`alerts silence <component|alert-id> <duration> [reason]` and `alerts unsilence <silence-id>`."""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar

from pydantic import Field

from commands.alerts.book import DURATION, changed, seconds_of, silence_text
from commands.bot_state import AlertBook
from commands.contract import Args, Event, Operation, Plan, shown_as
from commands.environment import Environment


class SilenceArgs(Args):
    positional: ClassVar[tuple[str, ...]] = ("target", "duration", "reason")
    rest: ClassVar[bool] = True
    target: str = Field(
        pattern=r"^[a-z0-9][a-z0-9-]{0,39}$",
        description="a component, or an alert's id as `alerts` shows it",
        json_schema_extra=shown_as("component|alert-id"),
    )
    duration: str = Field(pattern=DURATION, description="how long: 30m, 1h, 4h, 24h, 7d at most")
    reason: str = Field(default="", max_length=300, description="why (shown on the alert and audited)")


class AlertsSilenceCommand(Operation[SilenceArgs]):
    """Silence a component's alerts or one alert for a while (shown on them; ends on its own)."""

    name = "alerts silence"
    args_model = SilenceArgs
    default_role = "operator"
    bot_state = True
    answer = "note"

    def execute(self, env: Environment, args: SilenceArgs, plan: Plan | None) -> Iterator[Event]:
        seconds = seconds_of(args.duration)

        def silence(book: AlertBook, by: str) -> str:
            return f"Silenced: {silence_text(book.silence(args.target, seconds, args.reason.strip(), by))}"

        yield from changed(silence, env)


class UnsilenceArgs(Args):
    positional: ClassVar[tuple[str, ...]] = ("silence",)
    silence: str = Field(
        pattern=r"^[0-9a-f]{8}$",
        description="the silence's id, as `alerts` shows it",
        json_schema_extra=shown_as("silence-id"),
    )


class AlertsUnsilenceCommand(Operation[UnsilenceArgs]):
    """End a silence now: the alerts it hid show again."""

    name = "alerts unsilence"
    args_model = UnsilenceArgs
    default_role = "operator"
    bot_state = True
    answer = "note"

    def execute(self, env: Environment, args: UnsilenceArgs, plan: Plan | None) -> Iterator[Event]:
        def unsilence(book: AlertBook, by: str) -> str:
            line = book.unsilence(args.silence, by)
            return f"Silence `{line.silence_id}` on {line.shown_as} ended."

        yield from changed(unsilence, env)
