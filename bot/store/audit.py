"""The audit trail, `chatops.audit`: one row per command outcome (who, what, result, approver).

A row is written whatever its texts contain: invisible characters (a NUL, which PostgreSQL refuses in
text and jsonb, a bidi override) are stored as visible escapes (`\\u0000`), secrets redacted.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from bot.redaction import Redactor
from bot.store.database import Database, jsonb
from commands.input_rules import show_invisible

OUTCOMES = frozenset(
    {
        "blocked",
        "refused",
        "requested",
        "approved",
        "denied",
        "expired",
        "dry-run",
        "succeeded",
        "failed",
        "interrupted",
        "read",
    }
)


@dataclass(frozen=True)
class AuditEntry:
    """One row of `chatops.audit`."""

    id: int
    at: datetime
    operation_id: UUID | None
    actor: str
    command: str
    args: dict[str, Any]
    outcome: str
    approver: str | None
    detail: str | None
    duration_ms: int | None
    environment: str | None = None


class AuditLog:
    """Appends audit rows and reads the newest ones; texts pass through the redactor when given one."""

    def __init__(self, db: Database, redactor: Redactor | None = None) -> None:
        self.db = db
        self.redactor = redactor or Redactor()

    def record(
        self,
        *,
        actor: str,
        command: str,
        args: dict[str, Any],
        outcome: str,
        operation_id: UUID | str | None = None,
        approver: str | None = None,
        detail: str | None = None,
        duration_ms: int | None = None,
        environment: str | None = None,
    ) -> None:
        """Append one audit row. Raises `StoreUnavailable` when PostgreSQL cannot take it."""
        if outcome not in OUTCOMES:
            raise ValueError(f"unknown audit outcome {outcome!r}")
        op_uuid = None if operation_id is None else UUID(str(operation_id))
        with self.db.connection() as conn:
            conn.execute(
                "INSERT INTO chatops.audit (operation_id, actor, command, args, outcome, approver, detail,"
                " duration_ms, environment) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
                (
                    op_uuid,
                    show_invisible(actor),
                    show_invisible(command),
                    jsonb(self.redactor.redact_obj(_visible(args))),
                    outcome,
                    None if approver is None else show_invisible(approver),
                    None if detail is None else self.redactor.redact(show_invisible(detail)),
                    duration_ms,
                    None if environment is None else show_invisible(environment),
                ),
            )

    def recent(self, limit: int = 20) -> list[AuditEntry]:
        """The newest audit rows, newest first."""
        with self.db.connection() as conn:
            rows = conn.execute(
                "SELECT * FROM chatops.audit ORDER BY at DESC, id DESC LIMIT %s", (max(0, limit),)
            ).fetchall()
        return [AuditEntry(**row) for row in rows]


def _visible(obj: Any) -> Any:
    """Every string of a JSON-like value (keys too) with its invisible characters escaped."""
    if isinstance(obj, str):
        return show_invisible(obj)
    if isinstance(obj, dict):
        return {_visible(key): _visible(value) for key, value in obj.items()}
    if isinstance(obj, list | tuple):
        return [_visible(item) for item in obj]
    return obj
