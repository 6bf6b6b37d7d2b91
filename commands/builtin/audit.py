"""`audit [N]`: the most recent operations; `audit show <id>`: one operation's full output."""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar

from pydantic import Field

from commands.bot_state import BotState, BotStateUnavailable
from commands.builtin.state import answer, bot_state
from commands.contract import Args, Event, Operation, Plan, Result, Section, mention, shown_as
from commands.environment import Environment

UUID_PATTERN = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"


class AuditArgs(Args):
    positional: ClassVar[tuple[str, ...]] = ("limit",)
    limit: int = Field(default=10, ge=1, le=50, json_schema_extra=shown_as("N"))


class AuditShowArgs(Args):
    positional: ClassVar[tuple[str, ...]] = ("operation_id",)
    operation_id: str = Field(
        pattern=UUID_PATTERN,
        description="the operation's id, as `schedules` or an alert shows it",
        json_schema_extra=shown_as("operation-id"),
    )


def _audit_lines(state: BotState, limit: int) -> list[str]:
    return [
        f"{e.at:%Y-%m-%d %H:%M:%S} {mention(e.actor)} {e.command}"
        + (f" [{e.environment}]" if e.environment else "")
        + f" → {e.outcome}"
        + (f" (approver {mention(e.approver)})" if e.approver else "")
        + (f" {e.duration_ms} ms" if e.duration_ms is not None else "")
        + (f" — {e.detail}" if e.detail else "")
        for e in state.recent_audit(limit)
    ]


class AuditCommand(Operation[AuditArgs]):
    """Show the most recent operations: who, what, outcome, approver, duration."""

    name = "audit"
    args_model = AuditArgs
    bot_state = True
    answer = "note"

    def execute(self, env: Environment, args: AuditArgs, plan: Plan | None) -> Iterator[Event]:
        yield from answer(lambda state: _audit_lines(state, args.limit), "No operations yet.", env)


class AuditShowCommand(Operation[AuditShowArgs]):
    """Show one operation's full output (a scheduled job's result and files), as it was posted."""

    name = "audit show"
    args_model = AuditShowArgs
    bot_state = True

    def execute(self, env: Environment, args: AuditShowArgs, plan: Plan | None) -> Iterator[Event]:
        try:
            stored = bot_state(env).operation(args.operation_id)
        except BotStateUnavailable as exc:
            yield Result(ok=False, summary=f"Cannot read the bot's state: {exc}")
            return
        if stored is None:
            yield Result(ok=False, summary="No operation with this id.")
            return
        origin = Section(
            "operation",
            fields={"command": stored.text, "requested by": mention(stored.requester), "state": stored.state},
        )
        if stored.result is None:
            yield Result(ok=True, summary=f"`{stored.text}` is {stored.state}; it has no output yet.")
            return
        result = stored.result
        yield Result(
            ok=result.ok,
            summary=result.summary,
            sections=(*result.sections, origin),
            warnings=result.warnings,
            follow_ups=result.follow_ups,
            files=result.files,
        )
