"""What operations may see of the bot itself, through protocols the `Environment` carries.

The bot implements them (operations never import the bot): `ScheduleBook` for the `schedules` verbs,
`BotState` for the bot's own commands (help, whoami, audit, approvals, locks). `BotState` answers for
the caller of the command being answered.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from commands.contract import Result


@dataclass(frozen=True)
class ScheduleInfo:
    """One schedule as `schedules` shows it."""

    name: str
    cron: str
    command: str
    channel: str
    paused: bool
    next_run: datetime | None  # None while paused
    last_run: datetime | None
    last_outcome: str | None  # succeeded | failed | refused
    last_summary: str | None
    last_operation_id: str | None
    running: bool


class ScheduleBook(Protocol):
    """The bot's schedules, as operations may see and change them."""

    def schedules(self) -> list[ScheduleInfo]: ...

    def set_paused(self, name: str, paused: bool) -> ScheduleInfo: ...


@dataclass(frozen=True)
class CommandInfo:
    """A command the caller may run: its usage (as typed after the slash command) and one line of help."""

    verb: str
    usage: str
    help: str


@dataclass(frozen=True)
class CallerInfo:
    """Who asks: the chat user id and what the bot grants them."""

    user_id: str
    role: str | None  # None: no role
    approver: bool


@dataclass(frozen=True)
class AuditLine:
    """One audited outcome, newest first in `recent_audit`."""

    at: datetime
    actor: str
    command: str
    outcome: str
    approver: str | None
    duration_ms: int | None
    detail: str | None
    environment: str | None = None  # shown when the bot serves several environments


@dataclass(frozen=True)
class PendingRequest:
    """A request waiting for an approver."""

    text: str
    requester: str
    expires_at: datetime
    approvers: tuple[str, ...] = ()  # who approved so far (a request may need several)
    approvals_required: int = 1


@dataclass(frozen=True)
class LockLine:
    """A held lock: what, who, since when, why."""

    target: str
    owner: str
    since: datetime
    reason: str


@dataclass(frozen=True)
class StoredOperation:
    """An operation as recorded: what was typed, by whom, its state and (when it ended) its result."""

    text: str
    requester: str
    state: str
    result: Result | None


@dataclass(frozen=True)
class AlertLine:
    """One alert as `alerts` shows it: its short id, state (firing, acknowledged, silenced), headline."""

    alert_id: str
    severity: str
    component: str
    title: str
    since: datetime
    acknowledged_by: str | None
    silenced_by: str | None  # the id of the silence hiding it
    environment: str | None = None  # the environment it concerns (None: the only one)


@dataclass(frozen=True)
class SilenceLine:
    """One silence in force: its short id, what it hides, who set it, why, until when."""

    silence_id: str
    shown_as: str
    created_by: str
    reason: str
    expires_at: datetime
    alertmanager: bool  # also a silence in Alertmanager


class AlertBook(Protocol):
    """The bot's alerts and silences, as the `alerts` verbs see and change them (every change audited
    by the bot, as `by`). Methods raise `BotStateUnavailable` when a store is down and `LookupError`
    (its message shown) for an unknown alert, component or silence."""

    def alerts(self) -> list[AlertLine]: ...

    def silences(self) -> list[SilenceLine]: ...

    def acknowledge(self, alert_id: str, by: str) -> AlertLine: ...

    def silence(self, what: str, seconds: int, reason: str, by: str) -> SilenceLine: ...

    def unsilence(self, silence_id: str, by: str) -> SilenceLine: ...


class BotStateUnavailable(Exception):
    """The bot's own stores (PostgreSQL, Redis) cannot be read; the message says which."""


class BotState(Protocol):
    """The bot's own state, for its own commands. Methods raise `BotStateUnavailable` when a store is down."""

    slash_command: str

    def caller(self) -> CallerInfo: ...

    def commands(self) -> list[CommandInfo]: ...

    def recent_audit(self, limit: int) -> list[AuditLine]: ...

    def operation(self, operation_id: str) -> StoredOperation | None: ...

    def pending_requests(self) -> list[PendingRequest]: ...

    def locks(self) -> list[LockLine]: ...
