"""The approval card of an operation, rendered from its row and kept in step with its state."""

from __future__ import annotations

from datetime import UTC, datetime

from bot import rendering
from bot.messenger import Messenger
from bot.rendering import Message
from bot.store import OperationRecord
from commands.contract import Plan


def card(record: OperationRecord, plan: Plan | None = None, note: str | None = None) -> Message:
    """The card for `record` (its stored plan unless a fresher one is given)."""
    shown = plan or Plan.from_json(record.plan or {"summary": record.text, "target": record.target or ""})
    return rendering.render_approval_card(
        operation_id=str(record.id),
        requester=record.requester,
        command_text=record.text,
        plan=shown,
        expires_at=record.expires_at or datetime.now(UTC),
        state=record.state,
        decided_by=record.approver,
        note=note,
        environment=record.environment,
        production=bool((record.plan or {}).get("production")),
        approvals_required=record.approvals_required,
        approvers=record.approvers,
    )


def update_card(messenger: Messenger, record: OperationRecord, note: str | None = None) -> None:
    """Edit the card of an operation that has one, to show its current state."""
    if not record.approval_required or record.message_channel is None or record.message_ts is None:
        return
    messenger.update(record.message_channel, record.message_ts, card(record, note=note))
