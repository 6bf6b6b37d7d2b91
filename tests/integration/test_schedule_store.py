"""Schedule claims in PostgreSQL: a due time runs once even when replicas race, never while the previous
run of the same schedule is still going, and a crashed run does not block the schedule forever."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from bot.store import Database
from bot.store.schedules import ScheduleStore

T0 = datetime(2026, 11, 27, 2, 0, tzinfo=UTC)
STALE = timedelta(hours=6)


@pytest.fixture
def store(pg_url: str) -> Iterator[ScheduleStore]:
    db = Database(pg_url, max_size=10)
    db.migrate()
    schedules = ScheduleStore(db)
    schedules.ensure(["key-cleanup"], T0 - timedelta(days=1))
    yield schedules
    db.close()


def test_racing_replicas_claim_a_due_time_once(store: ScheduleStore) -> None:
    barrier = threading.Barrier(8)
    wins: list[bool] = []

    def claim() -> None:
        barrier.wait()
        wins.append(store.claim("key-cleanup", T0, T0, STALE))

    threads = [threading.Thread(target=claim) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(wins) == [False] * 7 + [True]


def test_a_run_never_overlaps_the_previous_one_until_it_is_stale(store: ScheduleStore) -> None:
    assert store.claim("key-cleanup", T0, T0, STALE)
    next_hour = T0 + timedelta(hours=1)  # an hourly job whose 02:00 run is still going at 03:00
    assert not store.claim("key-cleanup", next_hour, next_hour, STALE), "still running"
    later = T0 + STALE + timedelta(minutes=1)
    assert store.claim("key-cleanup", next_hour, later, STALE), "a run older than the stale bound is dead"


def test_finish_records_the_outcome_and_frees_the_next_due_time(store: ScheduleStore) -> None:
    assert store.claim("key-cleanup", T0, T0, STALE)
    store.finish("key-cleanup", outcome="failed", summary="LiteLLM answered 500", operation_id=None, now=T0)
    row = store.rows()["key-cleanup"]
    assert (row.last_outcome, row.last_summary, row.running_since) == ("failed", "LiteLLM answered 500", None)
    assert not store.claim("key-cleanup", T0, T0, STALE), "the same due time never runs twice"
    assert store.claim("key-cleanup", T0 + timedelta(days=1), T0 + timedelta(days=1), STALE)


def test_a_paused_schedule_is_never_claimed_and_resumes_from_now(store: ScheduleStore) -> None:
    store.set_paused("key-cleanup", True, T0)
    assert not store.claim("key-cleanup", T0, T0, STALE)
    store.set_paused("key-cleanup", False, T0 + timedelta(hours=1))
    assert store.rows()["key-cleanup"].last_due_at == T0 + timedelta(hours=1)
    assert not store.claim("key-cleanup", T0, T0 + timedelta(hours=1), STALE), "missed while paused: skipped"
