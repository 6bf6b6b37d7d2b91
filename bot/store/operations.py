"""Operations and their state machine, stored in `chatops.operations`.

`requested → approved | denied | expired → running → succeeded | failed | interrupted` (and `blocked`
for requests refused before they ran). Every state change is ONE conditional UPDATE, so concurrent
clicks on the same approval card change the state exactly once. A request that needs several
approvals collects them with `add_approval`, which becomes `approved` in the statement that counts
the last one.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any, LiteralString
from uuid import UUID

from psycopg import sql

from bot.store.database import Database, jsonb

STATES = frozenset(
    {"requested", "approved", "denied", "expired", "running", "succeeded", "failed", "interrupted", "blocked"}
)
TERMINAL_STATES = frozenset({"denied", "expired", "succeeded", "failed", "interrupted", "blocked"})
TRANSITION_FIELDS = frozenset(
    {
        "approver",
        "decided_at",
        "started_at",
        "finished_at",
        "result",
        "error",
        "plan",
        "plan_fingerprint",
        "expires_at",
        "message_channel",
        "message_ts",
        "progress_ts",
        "approvers",
    }
)
_JSON_FIELDS = frozenset({"args", "plan", "result"})
# The timestamp a target state fills with now() unless the caller gives one.
_STAMPED_BY = {
    "approved": "decided_at",
    "denied": "decided_at",
    "expired": "decided_at",
    "running": "started_at",
    "succeeded": "finished_at",
    "failed": "finished_at",
    "interrupted": "finished_at",
    "blocked": "finished_at",
}


@dataclass(frozen=True)
class OperationRecord:
    """One row of `chatops.operations`."""

    id: UUID
    command: str
    args: dict[str, Any]
    text: str
    requester: str
    channel: str
    environment: str
    target: str | None
    state: str
    approval_required: bool
    plan: dict[str, Any] | None
    plan_fingerprint: str | None
    approver: str | None
    decided_at: datetime | None
    expires_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    created_at: datetime
    message_channel: str | None
    message_ts: str | None
    result: dict[str, Any] | None
    error: str | None
    progress_ts: str | None = None
    approvals_required: int = 1  # distinct approvers (never the requester when more than one)
    approvers: tuple[str, ...] = ()  # who approved so far, in order

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> OperationRecord:
        return cls(**{**row, "approvers": tuple(row.get("approvers") or ())})


@dataclass(frozen=True)
class AddedApproval:
    """An approval that counted: the row after it, and whether it was the last one needed."""

    record: OperationRecord

    @property
    def complete(self) -> bool:
        """The request is now approved (this approval reached `approvals_required`)."""
        return self.record.state == "approved"


# One statement counts an approval: appended only while the request waits, is unexpired, still has
# the plan the approver checked, and the approver is new (and not the requester, unless a single
# approval is needed and self-approval is allowed); the count reaching `approvals_required` approves
# it in the same statement. Concurrent clicks are serialised on the row lock and re-check all of it.
_ADD_APPROVAL = """
UPDATE chatops.operations
   SET approvers = array_append(approvers, %(who)s::text),
       state = CASE WHEN cardinality(approvers) + 1 >= approvals_required THEN 'approved' ELSE state END,
       approver = CASE WHEN cardinality(approvers) + 1 >= approvals_required THEN %(who)s ELSE approver END,
       decided_at = CASE WHEN cardinality(approvers) + 1 >= approvals_required THEN now() ELSE decided_at END
 WHERE id = %(id)s
   AND state = 'requested'
   AND (expires_at IS NULL OR expires_at > now())
   AND plan_fingerprint IS NOT DISTINCT FROM %(fingerprint)s
   AND NOT (%(who)s::text = ANY(approvers))
   AND (requester <> %(who)s OR (%(self_ok)s AND approvals_required = 1))
RETURNING *
"""


def _uuid(op_id: UUID | str) -> UUID | None:
    if isinstance(op_id, UUID):
        return op_id
    try:
        return UUID(str(op_id))
    except ValueError:
        return None


class OperationStore:
    """Create, read and atomically transition operations."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def create(
        self,
        *,
        command: str,
        args: dict[str, Any],
        text: str,
        requester: str,
        channel: str,
        environment: str,
        target: str | None,
        state: str,
        approval_required: bool,
        plan: dict[str, Any] | None = None,
        plan_fingerprint: str | None = None,
        expires_at: datetime | None = None,
        approvals_required: int = 1,
    ) -> OperationRecord:
        """Insert a new operation in `state` and return it (`approvals_required`: distinct approvers)."""
        if state not in STATES:
            raise ValueError(f"unknown operation state {state!r}")
        if approvals_required < 1:
            raise ValueError(f"approvals_required must be at least 1, not {approvals_required}")
        with self.db.connection() as conn:
            row = conn.execute(
                "INSERT INTO chatops.operations (command, args, text, requester, channel, environment,"
                " target, state, approval_required, plan, plan_fingerprint, expires_at, approvals_required)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING *",
                (
                    command,
                    jsonb(args),
                    text,
                    requester,
                    channel,
                    environment,
                    target,
                    state,
                    approval_required,
                    None if plan is None else jsonb(plan),
                    plan_fingerprint,
                    expires_at,
                    approvals_required,
                ),
            ).fetchone()
        assert row is not None
        return OperationRecord.from_row(row)

    def get(self, op_id: UUID | str) -> OperationRecord | None:
        """The operation, or None when there is none (or `op_id` is not a UUID)."""
        key = _uuid(op_id)
        if key is None:
            return None
        with self.db.connection() as conn:
            row = conn.execute("SELECT * FROM chatops.operations WHERE id = %s", (key,)).fetchone()
        return None if row is None else OperationRecord.from_row(row)

    def transition(
        self,
        op_id: UUID | str,
        *,
        from_states: Collection[str],
        to: str,
        unexpired: bool = False,
        **fields: Any,
    ) -> OperationRecord | None:
        """Move the operation to `to` if it is in one of `from_states`; None if it was not (or is unknown).

        One atomic UPDATE: of concurrent callers, exactly one succeeds. `fields` are stored with it.
        `unexpired`: only while `expires_at` is still ahead (checked in the same statement, so a
        decision that took seconds can never land after the expiry).
        """
        unknown = set(fields) - TRANSITION_FIELDS
        if unknown:
            raise ValueError(f"cannot set {', '.join(sorted(unknown))} in a transition")
        bad_states = ({to} | set(from_states)) - STATES
        if bad_states:
            raise ValueError(f"unknown operation state(s): {', '.join(sorted(bad_states))}")
        key = _uuid(op_id)
        if key is None:
            return None
        assignments: list[sql.Composable] = [sql.SQL("state = %s")]
        params: list[Any] = [to]
        stamp = _STAMPED_BY.get(to)
        if stamp is not None and fields.get(stamp) is None:
            assignments.append(sql.SQL("{} = now()").format(sql.Identifier(stamp)))
            fields.pop(stamp, None)
        for name, value in fields.items():
            assignments.append(sql.SQL("{} = %s").format(sql.Identifier(name)))
            params.append(jsonb(value) if name in _JSON_FIELDS and value is not None else value)
        expiry = sql.SQL(" AND (expires_at IS NULL OR expires_at > now())" if unexpired else "")
        query = sql.SQL(
            "UPDATE chatops.operations SET {} WHERE id = %s AND state = ANY(%s){} RETURNING *"
        ).format(sql.SQL(", ").join(assignments), expiry)
        params += [key, list(from_states)]
        with self.db.connection() as conn:
            row = conn.execute(query, params).fetchone()
        return None if row is None else OperationRecord.from_row(row)

    def add_approval(
        self,
        op_id: UUID | str,
        approver: str,
        *,
        fingerprint: str | None,
        self_approval: bool = False,
    ) -> AddedApproval | None:
        """Count `approver`'s approval of the plan with `fingerprint`; None when it does not count.

        It does not count when the request no longer waits (decided, expired, unknown), its plan
        changed, the approver already approved, or the approver is the requester (allowed only with
        `self_approval` and a single approval needed). One atomic UPDATE: concurrent approvals are
        counted once each, and exactly one of them completes the request.
        """
        key = _uuid(op_id)
        if key is None:
            return None
        params = {"id": key, "who": approver, "fingerprint": fingerprint, "self_ok": self_approval}
        with self.db.connection() as conn:
            row = conn.execute(_ADD_APPROVAL, params).fetchone()
        return None if row is None else AddedApproval(OperationRecord.from_row(row))

    def set_message(self, op_id: UUID | str, channel: str, ts: str) -> None:
        """Remember the Slack message (channel, ts) that shows this operation."""
        key = _uuid(op_id)
        if key is None:
            return
        with self.db.connection() as conn:
            conn.execute(
                "UPDATE chatops.operations SET message_channel = %s, message_ts = %s WHERE id = %s",
                (channel, ts, key),
            )

    def expire_due(self, now: datetime | None = None) -> list[OperationRecord]:
        """Atomically expire requested operations past their `expires_at`; return those expired."""
        with self.db.connection() as conn:
            rows = conn.execute(
                "UPDATE chatops.operations SET state = 'expired', decided_at = now()"
                " WHERE state = 'requested' AND expires_at IS NOT NULL"
                " AND expires_at <= COALESCE(%s::timestamptz, now()) RETURNING *",
                (now,),
            ).fetchall()
        return sorted((OperationRecord.from_row(r) for r in rows), key=lambda r: r.created_at)

    def pending(self) -> list[OperationRecord]:
        """Requested operations still waiting for a decision (not yet expired), oldest first."""
        return self._select(
            "WHERE state = 'requested' AND (expires_at IS NULL OR expires_at > now()) ORDER BY created_at"
        )

    def recent(self, limit: int = 10) -> list[OperationRecord]:
        """The newest operations, newest first."""
        return self._select("ORDER BY created_at DESC, id LIMIT %s", (max(0, limit),))

    def running(self) -> list[OperationRecord]:
        """Operations currently running, oldest first."""
        return self._select("WHERE state = 'running' ORDER BY created_at")

    def unfinished(self, approved_before: datetime) -> list[OperationRecord]:
        """Operations running, or approved before `approved_before` and never started, oldest first."""
        return self._select(
            "WHERE state = 'running' OR (state = 'approved' AND decided_at < %s) ORDER BY created_at",
            (approved_before,),
        )

    def set_progress_message(self, op_id: UUID | str, ts: str) -> None:
        """Remember the message that shows this operation's progress (and, at the end, its result)."""
        key = _uuid(op_id)
        if key is not None:
            with self.db.connection() as conn:
                conn.execute("UPDATE chatops.operations SET progress_ts = %s WHERE id = %s", (ts, key))

    def _select(self, clause: LiteralString, params: tuple[Any, ...] = ()) -> list[OperationRecord]:
        query = sql.SQL("SELECT * FROM chatops.operations ") + sql.SQL(clause)
        with self.db.connection() as conn:
            rows = conn.execute(query, params).fetchall()
        return [OperationRecord.from_row(r) for r in rows]
