"""Who may run what, where: one policy lookup per command, one refusal text per reason."""

from __future__ import annotations

from typing import Any

from bot.access import AccessControl, Caller, Policy
from commands.contract import Operation


class Permissions:
    """The access file's roles, channels and policy applied to operations."""

    def __init__(self, access: AccessControl, slash_command: str) -> None:
        self.access = access
        self.slash_command = slash_command

    def policy(self, op: type[Operation[Any]], environment: str | None = None) -> Policy:
        """The role and approval this command needs in `environment` (the access file's override for
        that environment, else its general one, else the command's defaults)."""
        return self.access.policy(op.name, op.default_role, op.default_approval, environment)

    def refusal(self, caller: Caller, op: type[Operation[Any]], policy: Policy, channel: str) -> str | None:
        """Why `caller` may not run `op` in `channel`, or None when they may."""
        if op.everyone:
            return None
        if caller.role is None:
            return (
                f"You have no role for the bot, so you may only use `{self.slash_command} help` and "
                f"`{self.slash_command} whoami`. Ask a platform admin to add you to the access file."
            )
        if not caller.may(policy.role):
            return f"`{op.name}` needs the {policy.role} role; you are {caller.role}."
        if not self.access.channel_allowed(channel, op.mutating):
            if channel.startswith("D"):
                return f"`{op.name}` changes the system, so it is only accepted in the ops channels."
            return "Commands are not accepted in this channel; use one of the configured ops channels."
        return None

    def may_see(self, caller: Caller, op: type[Operation[Any]]) -> bool:
        """Whether `help` lists `op` for `caller` (the role check alone: channels do not hide commands)."""
        if op.everyone:
            return True
        return caller.role is not None and caller.may(self.policy(op).role)
