"""`alerts ack <alert-id>`: say you are on it; the alert shows it and its reminders stop."""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar

from pydantic import Field

from commands.alerts.book import changed
from commands.bot_state import AlertBook
from commands.contract import Args, Event, Operation, Plan, mention, shown_as
from commands.environment import Environment

ALERT_ID = r"^[0-9a-f]{8}$"


class AckArgs(Args):
    positional: ClassVar[tuple[str, ...]] = ("alert",)
    alert: str = Field(
        pattern=ALERT_ID,
        description="the alert's id, as `alerts` shows it",
        json_schema_extra=shown_as("alert-id"),
    )


class AlertsAckCommand(Operation[AckArgs]):
    """Acknowledge an alert: it shows who is on it, and its reminders stop."""

    name = "alerts ack"
    args_model = AckArgs
    bot_state = True
    answer = "note"

    def execute(self, env: Environment, args: AckArgs, plan: Plan | None) -> Iterator[Event]:
        def ack(book: AlertBook, by: str) -> str:
            line = book.acknowledge(args.alert, by)
            return f"{mention(by)} is on it: `{line.alert_id}` {line.title}"

        yield from changed(ack, env)
