"""The command path assembled: intake → (approvals) → runs, with recovery of unfinished runs.

Every command takes this one path — slash command, button, alert button, form, console, schedule.
Mutating commands are refused when PostgreSQL (audit) or Redis (locks) cannot be reached. Each stage
is a module of its own: `intake.py`, `approvals.py`, `runs.py`, `recovery.py`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from bot.access import AccessControl
from bot.approvals import Approvals
from bot.audit_trail import AuditTrail
from bot.environments import EnvironmentSet
from bot.intake import Intake
from bot.locks import TargetLocks
from bot.messenger import Messenger
from bot.metrics import BotMetrics
from bot.outcomes import OutcomeBook
from bot.permissions import Permissions
from bot.recovery import Inflight, Recovery
from bot.runner import JobRunner
from bot.runs import Runs
from bot.stash import ArgumentStash
from bot.store import AuditLog, Database, OperationStore
from commands.registry import Registry


@dataclass(frozen=True)
class CommandService:
    """The stages of the command path, wired once."""

    intake: Intake
    approvals: Approvals
    runs: Runs
    recovery: Recovery
    store: OperationStore
    locks: TargetLocks


def build_service(
    *,
    registry: Registry,
    environments: EnvironmentSet,
    access: AccessControl,
    permissions: Permissions,
    db: Database,
    store: OperationStore,
    audit: AuditLog,
    locks: TargetLocks,
    runner: JobRunner,
    messenger: Messenger,
    stash: ArgumentStash,
    metrics: BotMetrics,
    progress_interval: float = 1.0,
) -> CommandService:
    """Wire the stages of the command path for the environments served."""
    trail = AuditTrail(audit, metrics)
    inflight = Inflight()
    outcomes = OutcomeBook(locks.redis, locks.prefix, messenger.redactor)  # next to the locks
    runs = Runs(
        registry=registry,
        environments=environments,
        db=db,
        store=store,
        locks=locks,
        runner=runner,
        messenger=messenger,
        trail=trail,
        stash=stash,
        inflight=inflight,
        outcomes=outcomes,
        slash_command=permissions.slash_command,
        approval_ttl=timedelta(minutes=access.approval.ttl_minutes),
        progress_interval=progress_interval,
    )
    approvals = Approvals(
        registry=registry,
        environments=environments,
        access=access,
        store=store,
        runs=runs,
        stash=stash,
        messenger=messenger,
        trail=trail,
    )
    intake = Intake(
        registry=registry,
        environments=environments,
        access=access,
        permissions=permissions,
        runs=runs,
        approvals=approvals,
        locks=locks,
        messenger=messenger,
        trail=trail,
    )
    recovery = Recovery(
        store=store,
        locks=locks,
        messenger=messenger,
        trail=trail,
        inflight=inflight,
        outcomes=outcomes,
        slash_command=permissions.slash_command,
    )
    return CommandService(intake, approvals, runs, recovery, store, locks)
