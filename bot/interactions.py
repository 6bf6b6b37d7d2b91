"""What reaches the bot from a user: a command as typed, and a click on Approve or Deny."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CommandRequest:
    """A command as typed: who, where, what (and Slack's trigger, to open a form)."""

    user_id: str
    channel_id: str
    text: str
    trigger_id: str | None = None


@dataclass(frozen=True)
class Decision:
    """A click on Approve or Deny."""

    user_id: str
    operation_id: str
    approve: bool
    channel_id: str | None = None  # where the clicked message is …
    message_ts: str | None = None  # … and which one: it must be the request's card
