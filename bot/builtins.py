"""The bot's own read-only commands (help, whoami, audit, approvals, locks).

They are declared as operations so that parsing, validation and help work as for every other
command; `CommandService` answers them itself because they read the bot's own state.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field

from commands.contract import Args, Operation


class HelpArgs(Args):
    positional: ClassVar[tuple[str, ...]] = ("command",)
    command: str | None = Field(default=None, max_length=40)


class NoArgs(Args):
    pass


class AuditArgs(Args):
    positional: ClassVar[tuple[str, ...]] = ("limit",)
    limit: int = Field(default=10, ge=1, le=50)


class AuditShowArgs(Args):
    positional: ClassVar[tuple[str, ...]] = ("operation_id",)
    operation_id: str = Field(
        pattern=r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$",
        description="the operation's id, as `schedules` or an alert shows it",
    )


class HelpCommand(Operation[HelpArgs]):
    """Show the commands you may run, or the usage of one command."""

    name = "help"
    args_model = HelpArgs
    usage = "help [command]"
    everyone: ClassVar[bool] = True


class WhoamiCommand(Operation[NoArgs]):
    """Show your Slack user ID and the roles the bot gives you."""

    name = "whoami"
    args_model = NoArgs
    usage = "whoami"
    everyone: ClassVar[bool] = True


class AuditCommand(Operation[AuditArgs]):
    """Show the most recent operations: who, what, outcome, approver, duration."""

    name = "audit"
    args_model = AuditArgs
    usage = "audit [N]"


class AuditShowCommand(Operation[AuditShowArgs]):
    """Show one operation's full output (a scheduled job's result and files), as it was posted."""

    name = "audit show"
    args_model = AuditShowArgs
    usage = "audit show <operation-id>"


class ApprovalsCommand(Operation[NoArgs]):
    """List the requests waiting for an approver."""

    name = "approvals"
    args_model = NoArgs
    usage = "approvals"


class LocksCommand(Operation[NoArgs]):
    """Show who holds which lock, and since when."""

    name = "locks"
    args_model = NoArgs
    usage = "locks"


BUILTINS: tuple[type[Operation[Any]], ...] = (
    HelpCommand,
    WhoamiCommand,
    AuditCommand,
    AuditShowCommand,
    ApprovalsCommand,
    LocksCommand,
)


def is_for_everyone(op: type[Operation[Any]]) -> bool:
    """Commands anyone may run, even without a role (help and whoami)."""
    return bool(getattr(op, "everyone", False))
