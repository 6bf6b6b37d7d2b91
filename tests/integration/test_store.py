"""The PostgreSQL store against a real database: migrations, the approval state machine, the audit log."""

from __future__ import annotations

import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from bot.redaction import Redactor
from bot.store import AuditLog, Database, OperationRecord, OperationStore, StoreUnavailable
from bot.store.database import MIGRATIONS_DIR, discover_migrations

DEAD_PG_URL = "postgresql://bot:hunter2-db-password@127.0.0.1:1/chatops"
SHIPPED = discover_migrations()  # the versions the bot ships, in order


def new_request(store: OperationStore, **overrides: Any) -> OperationRecord:
    fields: dict[str, Any] = {
        "command": "scale",
        "args": {"component": "litellm", "replicas": 3, "dry_run": False},
        "text": "scale litellm 3",
        "requester": "U0BOB",
        "channel": "C0OPS",
        "environment": "default",
        "target": "deployment/litellm",
        "state": "requested",
        "approval_required": True,
        "plan": {"summary": "scale litellm 1 → 3", "observed": {"replicas": 1}},
        "plan_fingerprint": "abc123",
        "expires_at": datetime.now(UTC) + timedelta(minutes=30),
    }
    fields.update(overrides)
    return store.create(**fields)


# ------------------------------------------------------------------------------------------ migrations


def test_migrate_creates_the_schema_once_and_records_versions(pg_url: str) -> None:
    database = Database(pg_url)
    try:
        assert database.migrate() == [m.version for m in SHIPPED]
        assert database.migrate() == []
        assert database.applied_migrations() == [(m.version, m.name) for m in SHIPPED]
        assert SHIPPED[0].version == 1 and SHIPPED[0].name == "initial"
        with psycopg.connect(pg_url) as conn:
            tables = {
                row[0]
                for row in conn.execute(
                    "SELECT table_name FROM information_schema.tables WHERE table_schema = 'chatops'"
                )
            }
        assert {"schema_migrations", "operations", "audit"} <= tables
    finally:
        database.close()


def test_new_migrations_apply_in_order_after_the_existing_ones(pg_url: str, tmp_path: Path) -> None:
    for source in MIGRATIONS_DIR.glob("*.sql"):
        (tmp_path / source.name).write_text(source.read_text())
    last = SHIPPED[-1].version
    (tmp_path / f"{last + 2:04d}_note_index.sql").write_text(
        "CREATE INDEX ops_note ON chatops.operations (note);"
    )
    (tmp_path / f"{last + 1:04d}_note.sql").write_text("ALTER TABLE chatops.operations ADD COLUMN note text;")
    database = Database(pg_url)
    try:
        assert database.migrate() == [m.version for m in SHIPPED]
        assert database.migrate(tmp_path) == [last + 1, last + 2]  # the index needs the column: order matters
        assert [v for v, _ in database.applied_migrations()] == [m.version for m in SHIPPED] + [
            last + 1,
            last + 2,
        ]
    finally:
        database.close()


def test_a_failing_migration_leaves_nothing_half_applied(pg_url: str, tmp_path: Path) -> None:
    (tmp_path / "0001_broken.sql").write_text("CREATE TABLE chatops.t (x int); SELECT no_such_function();")
    database = Database(pg_url)
    try:
        with pytest.raises(StoreUnavailable, match="no_such_function"):
            database.migrate(tmp_path)
        assert database.applied_migrations() == []
        with psycopg.connect(pg_url) as conn:
            assert conn.execute("SELECT to_regclass('chatops.t')").fetchone() == (None,)
    finally:
        database.close()


def test_concurrent_migrations_apply_each_version_once(pg_url: str) -> None:
    databases = [Database(pg_url, max_size=2) for _ in range(4)]
    results: list[list[int]] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(databases))

    def migrate(database: Database) -> None:
        barrier.wait(timeout=10)
        try:
            results.append(database.migrate())
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=migrate, args=(d,)) for d in databases]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    for database in databases:
        database.close()
    assert errors == []
    assert len(results) == len(databases)
    assert sorted(v for applied in results for v in applied) == [m.version for m in SHIPPED]  # each once


# ------------------------------------------------------------------------------------------ down


def test_postgres_down_is_reported_fast_and_without_the_password() -> None:
    database = Database(DEAD_PG_URL)
    try:
        started = time.monotonic()
        with pytest.raises(StoreUnavailable) as caught:
            database.ping()
        assert time.monotonic() - started < 2
        assert "hunter2-db-password" not in str(caught.value)
        assert "unreachable" in str(caught.value)
        with pytest.raises(StoreUnavailable):
            OperationStore(database).recent()
    finally:
        database.close()


def test_ping_succeeds_on_a_live_database(db: Database) -> None:
    db.ping()


# ------------------------------------------------------------------------------------------ operations


def test_create_and_get_round_trip(store: OperationStore) -> None:
    created = new_request(store)
    assert isinstance(created.id, uuid.UUID)
    assert created.state == "requested"
    assert created.args == {"component": "litellm", "replicas": 3, "dry_run": False}
    assert created.plan == {"summary": "scale litellm 1 → 3", "observed": {"replicas": 1}}
    assert created.created_at.tzinfo is not None
    assert store.get(created.id) == created
    assert store.get(str(created.id)) == created


def test_get_unknown_or_malformed_ids_returns_none(store: OperationStore) -> None:
    assert store.get(uuid.uuid4()) is None
    assert store.get("not-a-uuid") is None
    assert store.get("") is None
    assert store.transition("garbage", from_states=["requested"], to="approved") is None


def test_invalid_state_or_field_is_rejected(store: OperationStore) -> None:
    with pytest.raises(ValueError, match="unknown operation state"):
        new_request(store, state="pending")
    record = new_request(store)
    with pytest.raises(ValueError, match="cannot set requester"):
        store.transition(record.id, from_states=["requested"], to="approved", requester="U0EVE")


def test_the_full_lifecycle_stamps_times_and_stores_the_result(store: OperationStore) -> None:
    record = new_request(store)
    approved = store.transition(record.id, from_states=["requested"], to="approved", approver="U0ALICE")
    assert approved is not None and approved.approver == "U0ALICE" and approved.decided_at is not None
    running = store.transition(record.id, from_states=["approved"], to="running")
    assert running is not None and running.started_at is not None
    assert store.running() == [running]
    done = store.transition(
        record.id, from_states=["running"], to="succeeded", result={"ok": True, "summary": "scaled"}
    )
    assert done is not None
    assert done.finished_at is not None and done.result == {"ok": True, "summary": "scaled"}
    assert store.running() == []
    # A terminal state does not move again.
    assert store.transition(record.id, from_states=["running"], to="failed", error="late") is None
    assert store.get(record.id) == done


def test_twenty_concurrent_approvals_succeed_exactly_once(store: OperationStore) -> None:
    record = new_request(store)
    barrier = threading.Barrier(20)
    winners: list[str] = []
    errors: list[BaseException] = []

    def click(approver: str) -> None:
        try:
            barrier.wait(timeout=10)
            if store.transition(record.id, from_states=["requested"], to="approved", approver=approver):
                winners.append(approver)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=click, args=(f"U0APPROVER{i}",)) for i in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    assert len(winners) == 1
    final = store.get(record.id)
    assert final is not None and final.state == "approved" and final.approver == winners[0]


def test_expire_due_closes_only_overdue_requests(store: OperationStore) -> None:
    now = datetime.now(UTC)
    overdue = new_request(store, expires_at=now - timedelta(minutes=1))
    fresh = new_request(store, expires_at=now + timedelta(minutes=30))
    approved_overdue = new_request(store, expires_at=now - timedelta(minutes=5), state="approved")
    assert [r.id for r in store.pending()] == [fresh.id]
    expired = store.expire_due()
    assert [(r.id, r.state) for r in expired] == [(overdue.id, "expired")]
    assert expired[0].decided_at is not None
    assert store.expire_due() == []
    assert store.get(approved_overdue.id).state == "approved"  # type: ignore[union-attr]
    # With an explicit clock an hour ahead, the fresh one is due too.
    assert [r.id for r in store.expire_due(now + timedelta(hours=1))] == [fresh.id]
    # Once expired, an approval click no longer succeeds.
    assert store.transition(fresh.id, from_states=["requested"], to="approved", approver="U0ALICE") is None


def test_set_message_and_recent(store: OperationStore) -> None:
    first = new_request(store, text="scale litellm 2")
    second = new_request(store, text="restart all")
    store.set_message(first.id, "C0OPS", "1700000000.000100")
    again = store.get(first.id)
    assert again is not None and (again.message_channel, again.message_ts) == ("C0OPS", "1700000000.000100")
    assert [r.text for r in store.recent(limit=2)] == ["restart all", "scale litellm 2"]
    assert [r.id for r in store.recent(limit=1)] == [second.id]


def test_plan_can_be_replaced_when_the_target_changed(store: OperationStore) -> None:
    record = new_request(store)
    updated = store.transition(
        record.id,
        from_states=["requested"],
        to="requested",
        plan={"summary": "scale litellm 2 → 3"},
        plan_fingerprint="def456",
    )
    assert updated is not None and updated.plan_fingerprint == "def456"
    assert updated.plan == {"summary": "scale litellm 2 → 3"}
    assert updated.decided_at is None


# ------------------------------------------------------------------------------------------ audit


def test_audit_records_and_lists_newest_first(db: Database, store: OperationStore) -> None:
    audit = AuditLog(db, Redactor(["master-key-value"]))
    record = new_request(store)
    audit.record(
        actor="U0BOB", command="scale", args={"replicas": 3}, outcome="requested", operation_id=record.id
    )
    audit.record(
        actor="U0BOB",
        command="scale",
        args={"replicas": 3, "api_key": "sk-abcdefgh12345678"},
        outcome="succeeded",
        operation_id=str(record.id),
        approver="U0ALICE",
        detail="LiteLLM answered with master-key-value",
        duration_ms=1234,
    )
    entries = audit.recent(10)
    assert [e.outcome for e in entries] == ["succeeded", "requested"]
    newest = entries[0]
    assert newest.operation_id == record.id and newest.approver == "U0ALICE" and newest.duration_ms == 1234
    assert newest.detail == "LiteLLM answered with ***"
    assert newest.args == {"replicas": 3, "api_key": "***"}
    assert audit.recent(1) == entries[:1]


def test_audit_rejects_unknown_outcomes(db: Database) -> None:
    with pytest.raises(ValueError, match="unknown audit outcome"):
        AuditLog(db).record(actor="U1", command="status", args={}, outcome="maybe")


def test_audit_is_unavailable_when_postgres_is_down() -> None:
    database = Database(DEAD_PG_URL)
    try:
        with pytest.raises(StoreUnavailable):
            AuditLog(database).record(actor="U1", command="scale", args={}, outcome="blocked")
    finally:
        database.close()


def test_an_approval_landing_after_the_expiry_is_refused_in_the_same_statement(store: OperationStore) -> None:
    """The reaper has not passed yet (still `requested`), but the expiry is behind: no approval lands."""
    overdue = new_request(store, expires_at=datetime.now(UTC) - timedelta(seconds=1))
    assert store.get(overdue.id).state == "requested"  # type: ignore[union-attr]
    for to in ("approved", "denied"):
        moved = store.transition(
            overdue.id, from_states=["requested"], to=to, unexpired=True, approver="U0ALICE"
        )
        assert moved is None
    assert store.get(overdue.id).state == "requested"  # type: ignore[union-attr]
    fresh = new_request(store, expires_at=datetime.now(UTC) + timedelta(minutes=5))
    approved = store.transition(fresh.id, from_states=["requested"], to="approved", unexpired=True)
    assert approved is not None and approved.state == "approved"
