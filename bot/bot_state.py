"""The bot's own state as its own commands see it (`commands.bot_state.BotState`), for one caller.

The caller is whoever the command being answered runs for: `answering(caller)` sets it around the run
(a context variable, so concurrent answers on other threads never see each other's caller).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from bot.access import AccessControl, Caller
from bot.locks import LocksUnavailable, TargetLocks
from bot.permissions import Permissions
from bot.store import AuditLog, OperationStore, StoreUnavailable
from commands.bot_state import (
    AuditLine,
    BotStateUnavailable,
    CallerInfo,
    CommandInfo,
    LockLine,
    PendingRequest,
    StoredOperation,
)
from commands.contract import Result
from commands.registry import Registry

_caller: ContextVar[Caller | None] = ContextVar("chatops_caller", default=None)


@contextmanager
def answering(caller: Caller) -> Iterator[None]:
    """Within this block, `BotStateView` answers for `caller`."""
    token = _caller.set(caller)
    try:
        yield
    finally:
        _caller.reset(token)


class BotStateView:
    """Reads the bot's stores for its own commands; a store that is down raises `BotStateUnavailable`."""

    def __init__(
        self,
        *,
        registry: Registry,
        access: AccessControl,
        permissions: Permissions,
        audit: AuditLog,
        store: OperationStore,
        locks: TargetLocks,
        several_environments: bool = False,
    ) -> None:
        self.slash_command = permissions.slash_command
        self._several = several_environments  # audit lines then name their environment
        self._registry = registry
        self._access = access
        self._permissions = permissions
        self._audit = audit
        self._store = store
        self._locks = locks
        self._visible: dict[tuple[str | None, bool], list[CommandInfo]] = {}

    def _current(self) -> Caller:
        caller = _caller.get()
        if caller is None:
            raise BotStateUnavailable("no caller is known for this command")
        return caller

    def caller(self) -> CallerInfo:
        caller = self._current()
        return CallerInfo(caller.user_id, caller.role, caller.approver)

    def commands(self) -> list[CommandInfo]:
        """What the caller may run; the same for every caller of one role, so computed once per role."""
        caller = self._current()
        key = (caller.role, caller.approver)
        if key not in self._visible:
            self._visible[key] = [
                CommandInfo(op.name, op.usage, op.help())
                for op in self._registry.operations()
                if self._permissions.may_see(caller, op)
            ]
        return self._visible[key]

    def recent_audit(self, limit: int) -> list[AuditLine]:
        try:
            entries = self._audit.recent(limit)
        except StoreUnavailable as exc:
            raise BotStateUnavailable(str(exc)) from None
        return [
            AuditLine(
                e.at,
                e.actor,
                e.command,
                e.outcome,
                e.approver,
                e.duration_ms,
                e.detail,
                e.environment if self._several else None,
            )
            for e in entries
        ]

    def operation(self, operation_id: str) -> StoredOperation | None:
        try:
            record = self._store.get(operation_id)
        except StoreUnavailable as exc:
            raise BotStateUnavailable(str(exc)) from None
        if record is None:
            return None
        result = Result.from_json(record.result) if record.result is not None else None
        return StoredOperation(record.text, record.requester, record.state, result)

    def pending_requests(self) -> list[PendingRequest]:
        try:
            pending = self._store.pending()
        except StoreUnavailable as exc:
            raise BotStateUnavailable(str(exc)) from None
        return [
            PendingRequest(r.text, r.requester, r.expires_at, r.approvers, r.approvals_required)
            for r in pending
            if r.expires_at is not None
        ]

    def locks(self) -> list[LockLine]:
        try:
            holders = self._locks.holders()
        except LocksUnavailable as exc:
            raise BotStateUnavailable(str(exc)) from None
        return [LockLine(h.target, h.owner, h.since, h.reason) for h in holders]
