"""Several approvals against real PostgreSQL: `OperationStore.add_approval` counts each distinct
approver once, never the requester, never after the expiry or a plan change, and exactly one approval
(the last one needed) approves the request, however the clicks race."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from bot.store import AddedApproval, OperationRecord, OperationStore

FINGERPRINT = "plan-a"


def restore_request(store: OperationStore, **overrides: Any) -> OperationRecord:
    fields: dict[str, Any] = {
        "command": "backup restore",
        "args": {"backup_id": "20261206-010000", "database": None, "cleanup": False},
        "text": "/maas backup restore 20261206-010000",
        "requester": "U0ALICE",
        "channel": "C0OPS",
        "environment": "default",
        "target": "database/litemaas",
        "state": "requested",
        "approval_required": True,
        "plan": {"summary": "restore"},
        "plan_fingerprint": FINGERPRINT,
        "expires_at": datetime.now(UTC) + timedelta(minutes=30),
        "approvals_required": 2,
    }
    fields.update(overrides)
    return store.create(**fields)


def approve(store: OperationStore, record: OperationRecord, who: str, **kw: Any) -> AddedApproval | None:
    return store.add_approval(record.id, who, fingerprint=kw.pop("fingerprint", FINGERPRINT), **kw)


def test_two_distinct_approvals_approve_it_and_the_first_only_counts(store: OperationStore) -> None:
    record = restore_request(store)
    assert (record.approvals_required, record.approvers) == (2, ())

    first = approve(store, record, "U0DAVE")
    assert first is not None and not first.complete
    assert (first.record.state, first.record.approvers, first.record.approver) == (
        "requested",
        ("U0DAVE",),
        None,
    )
    assert first.record.decided_at is None

    second = approve(store, record, "U0FRANK")
    assert second is not None and second.complete
    assert second.record.state == "approved" and second.record.approvers == ("U0DAVE", "U0FRANK")
    assert second.record.approver == "U0FRANK" and second.record.decided_at is not None

    assert approve(store, record, "U0CAROL") is None, "an approved request takes no more approvals"


def test_the_same_approver_twice_counts_once(store: OperationStore) -> None:
    record = restore_request(store)
    assert approve(store, record, "U0DAVE") is not None
    assert approve(store, record, "U0DAVE") is None
    current = store.get(record.id)
    assert current is not None and current.state == "requested" and current.approvers == ("U0DAVE",)


def test_the_requester_never_counts_even_with_self_approval_allowed(store: OperationStore) -> None:
    record = restore_request(store)
    assert approve(store, record, "U0ALICE") is None
    assert approve(store, record, "U0ALICE", self_approval=True) is None  # two needed: never the requester
    current = store.get(record.id)
    assert current is not None and current.approvers == () and current.state == "requested"

    single = restore_request(store, command="scale", approvals_required=1)
    assert approve(store, single, "U0ALICE") is None
    added = approve(store, single, "U0ALICE", self_approval=True)  # the access file allows it for one
    assert added is not None and added.complete


def test_an_approval_of_another_plan_does_not_count(store: OperationStore) -> None:
    record = restore_request(store)
    assert approve(store, record, "U0DAVE", fingerprint="plan-b") is None
    assert approve(store, record, "U0DAVE") is not None
    # the target changed: the bot stores the new plan and voids the approvals of the old one
    store.transition(
        record.id, from_states=["requested"], to="requested", plan_fingerprint="plan-b", approvers=[]
    )
    assert approve(store, record, "U0FRANK") is None
    added = approve(store, record, "U0FRANK", fingerprint="plan-b")
    assert added is not None and not added.complete and added.record.approvers == ("U0FRANK",)


def test_expiry_between_the_two_approvals_means_no_run(store: OperationStore, pg_url: str) -> None:
    record = restore_request(store)
    assert approve(store, record, "U0DAVE") is not None
    with psycopg.connect(pg_url) as conn:
        conn.execute(
            "UPDATE chatops.operations SET expires_at = now() - interval '1 second' WHERE id = %s",
            (record.id,),
        )
    assert approve(store, record, "U0FRANK") is None
    [expired] = store.expire_due()
    assert expired.id == record.id and expired.state == "expired" and expired.approvers == ("U0DAVE",)
    assert approve(store, record, "U0FRANK") is None


def race(store: OperationStore, record: OperationRecord, clickers: list[str]) -> list[AddedApproval | None]:
    """Every clicker approves `record` at the same moment, each on its own thread and connection."""
    barrier = threading.Barrier(len(clickers))
    outcomes: list[AddedApproval | None] = []
    lock = threading.Lock()

    def click(who: str) -> None:
        barrier.wait()
        added = approve(store, record, who)
        with lock:
            outcomes.append(added)

    threads = [threading.Thread(target=click, args=(who,)) for who in clickers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    return outcomes


def test_concurrent_approvals_approve_it_exactly_once(store: OperationStore) -> None:
    """Ten rounds: dave and frank click together (each twice); exactly one approval completes it."""
    for _ in range(10):
        record = restore_request(store)
        outcomes = race(store, record, ["U0DAVE", "U0FRANK", "U0DAVE", "U0FRANK"])
        counted = [o for o in outcomes if o is not None]
        assert len(outcomes) == 4 and len(counted) == 2, "each approver counts once"
        assert [o.complete for o in counted].count(True) == 1, "exactly one approval completes it"
        final = store.get(record.id)
        assert final is not None and final.state == "approved"
        assert sorted(final.approvers) == ["U0DAVE", "U0FRANK"]


def test_a_single_approval_request_is_approved_by_its_first_approver(store: OperationStore) -> None:
    record = restore_request(store, command="scale", approvals_required=1)
    added = approve(store, record, "U0DAVE")
    assert added is not None and added.complete and added.record.approver == "U0DAVE"


def test_a_request_cannot_need_fewer_than_one_approval(store: OperationStore, pg_url: str) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        restore_request(store, approvals_required=0)
    with psycopg.connect(pg_url) as conn, pytest.raises(psycopg.errors.CheckViolation):
        conn.execute(
            "INSERT INTO chatops.operations (command, text, requester, channel, environment, state,"
            " approvals_required) VALUES ('x', 'x', 'U0A', 'C0OPS', 'default', 'requested', 0)"
        )
