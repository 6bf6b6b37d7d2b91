"""The one way the bot records an outcome: an audit row (redacted by the store) and its metrics.

Refusals, dry runs and ends of runs are recorded best-effort (a refusal still stands when PostgreSQL
is down; it is logged). A request that must be audited before it proceeds says `required=True`.
"""

from __future__ import annotations

import logging
from typing import Any

from bot.metrics import BotMetrics
from bot.store import AuditLog, OperationRecord, StoreUnavailable

log = logging.getLogger(__name__)


class AuditTrail:
    """Audit rows and command metrics, recorded together."""

    def __init__(self, audit: AuditLog, metrics: BotMetrics) -> None:
        self.audit = audit
        self.metrics = metrics

    def record(
        self,
        actor: str,
        command: str,
        args: dict[str, Any],
        outcome: str,
        *,
        operation_id: str | None = None,
        approver: str | None = None,
        detail: str | None = None,
        duration_ms: int | None = None,
        required: bool = False,
        environment: str | None = None,
    ) -> None:
        """One audited outcome; raises `StoreUnavailable` only when `required`."""
        self.metrics.command(command, outcome)
        if duration_ms is not None:
            self.metrics.operation_duration(command, duration_ms / 1000)
        try:
            self.audit.record(
                actor=actor,
                command=command,
                args=args,
                outcome=outcome,
                operation_id=operation_id,
                approver=approver,
                detail=detail,
                duration_ms=duration_ms,
                environment=environment,
            )
        except StoreUnavailable as exc:
            if required:
                raise
            log.warning("could not audit a %s %s: %s", outcome, command, exc)

    def of(
        self,
        record: OperationRecord,
        actor: str,
        outcome: str,
        *,
        detail: str | None = None,
        duration_ms: int | None = None,
        approver: str | None = None,
    ) -> None:
        """An outcome of a recorded operation (its args, id and approver, unless `approver` is given:
        one of several approvals), with the decision latency once decided."""
        if outcome in ("approved", "denied") and record.decided_at is not None:
            latency = (record.decided_at - record.created_at).total_seconds()
            self.metrics.approval_decided(outcome, latency)
        self.record(
            actor,
            record.command,
            record.args,
            outcome,
            operation_id=str(record.id),
            approver=approver or record.approver,
            detail=detail,
            duration_ms=duration_ms,
            environment=record.environment,
        )
