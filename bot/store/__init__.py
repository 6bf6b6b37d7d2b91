"""The bot's durable state in PostgreSQL (schema `chatops`): operations, approvals and the audit log."""

from bot.store.audit import OUTCOMES, AuditEntry, AuditLog
from bot.store.database import Database, StoreUnavailable
from bot.store.operations import STATES, TERMINAL_STATES, AddedApproval, OperationRecord, OperationStore

__all__ = [
    "OUTCOMES",
    "STATES",
    "TERMINAL_STATES",
    "AddedApproval",
    "AuditEntry",
    "AuditLog",
    "Database",
    "OperationRecord",
    "OperationStore",
    "StoreUnavailable",
]
