"""Target locks and retry dedupe against the real local Redis (a private key prefix per test)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import redis

from bot.dedupe import Deduper
from bot.locks import HeldLock, LockBusy, LocksUnavailable, TargetLocks, redis_client

ROOT = Path(__file__).resolve().parents[2]
DEAD_REDIS_URL = "redis://:redis-pass-secret@127.0.0.1:1/0"


@pytest.fixture
def client(redis_url: str) -> Iterator[redis.Redis]:
    connection = redis_client(redis_url)
    yield connection
    connection.close()


def wait_until(condition: object, timeout: float, interval: float = 0.05) -> bool:
    """Poll `condition()` until it is true or `timeout` seconds passed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return True
        time.sleep(interval)
    return False


def test_second_acquire_is_refused_with_holder_reason_and_since(
    client: redis.Redis, redis_prefix: str
) -> None:
    locks = TargetLocks(client, redis_prefix)
    with locks.acquire("deployment/litellm", owner="U0BOB", reason="scale litellm 3"):
        with pytest.raises(LockBusy) as caught:
            locks.acquire("deployment/litellm", owner="U0CAROL", reason="restart litellm")
        busy = caught.value
        assert (busy.holder, busy.reason) == ("U0BOB", "scale litellm 3")
        assert datetime.now(UTC) - busy.since < timedelta(seconds=5)
        assert "deployment/litellm is locked by U0BOB since" in str(busy)
        # Another target is independent.
        with locks.acquire("deployment/litellm-backend", owner="U0CAROL", reason="restart backend"):
            assert [h.target for h in locks.holders()] == ["deployment/litellm", "deployment/litellm-backend"]
    assert locks.holders() == []
    # Released: the next one gets it.
    locks.acquire("deployment/litellm", owner="U0CAROL", reason="restart litellm").release()


def test_holders_lists_owner_reason_and_since(client: redis.Redis, redis_prefix: str) -> None:
    locks = TargetLocks(client, redis_prefix)
    with locks.acquire("keystore", owner="U0ALICE", reason="keys cleanup"):
        (info,) = locks.holders()
        assert (info.target, info.owner, info.reason) == ("keystore", "U0ALICE", "keys cleanup")
        assert info.since.tzinfo is not None


def test_two_threads_racing_one_wins_and_the_other_is_told_who(
    client: redis.Redis, redis_prefix: str
) -> None:
    locks = TargetLocks(client, redis_prefix)
    barrier = threading.Barrier(2)
    won: list[tuple[str, HeldLock]] = []
    refused: list[LockBusy] = []

    def race(owner: str) -> None:
        barrier.wait(timeout=5)
        try:
            won.append((owner, locks.acquire("deployment/litellm", owner=owner, reason=f"{owner} scales")))
        except LockBusy as busy:
            refused.append(busy)

    threads = [threading.Thread(target=race, args=(owner,)) for owner in ("U0BOB", "U0CAROL")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert len(won) == 1 and len(refused) == 1
    winner, held = won[0]
    assert refused[0].holder == winner and refused[0].reason == f"{winner} scales"
    held.release()


def test_a_held_lock_outlives_its_ttl_through_renewal(client: redis.Redis, redis_prefix: str) -> None:
    locks = TargetLocks(client, redis_prefix, ttl_seconds=0.3)
    with locks.acquire("deployment/litellm", owner="U0BOB", reason="upgrade") as held:
        time.sleep(1.0)  # more than three TTLs
        with pytest.raises(LockBusy):
            locks.acquire("deployment/litellm", owner="U0CAROL", reason="restart")
        assert not held.lost


def test_a_crashed_holder_frees_the_lock_after_the_ttl(
    redis_url: str, client: redis.Redis, redis_prefix: str
) -> None:
    """A real holder process is killed (no release, no more renewals); the lock frees itself."""
    script = (
        "import os, signal, sys\n"
        "from bot.locks import TargetLocks, redis_client\n"
        f"locks = TargetLocks(redis_client({redis_url!r}), {redis_prefix!r}, ttl_seconds=0.6)\n"
        "locks.acquire('deployment/litellm', owner='U0CRASH', reason='doomed upgrade')\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.run([sys.executable, "-c", script], env=env, timeout=30, check=False)
    assert process.returncode == -9
    locks = TargetLocks(client, redis_prefix)
    with pytest.raises(LockBusy) as caught:
        locks.acquire("deployment/litellm", owner="U0BOB", reason="rollback")
    assert caught.value.holder == "U0CRASH"

    def acquired() -> bool:
        try:
            locks.acquire("deployment/litellm", owner="U0BOB", reason="rollback").release()
            return True
        except LockBusy:
            return False

    assert wait_until(acquired, timeout=3)


def test_release_never_deletes_someone_elses_lock(client: redis.Redis, redis_prefix: str) -> None:
    locks = TargetLocks(client, redis_prefix, ttl_seconds=0.3)
    stale = locks.acquire("deployment/litellm", owner="U0BOB", reason="slow")
    client.delete(locks.key("deployment/litellm"))  # its key vanished (e.g. Redis was restarted)
    fresh = locks.acquire("deployment/litellm", owner="U0CAROL", reason="next")
    assert wait_until(lambda: stale.lost, timeout=3)  # renewal noticed it is not ours any more
    assert stale.release() is False
    assert [h.owner for h in locks.holders()] == ["U0CAROL"]
    assert fresh.release() is True
    assert locks.holders() == []


def test_redis_down_is_locks_unavailable_fast_and_without_password() -> None:
    dead = redis_client(DEAD_REDIS_URL)
    locks = TargetLocks(dead, "x:")
    started = time.monotonic()
    with pytest.raises(LocksUnavailable) as caught:
        locks.acquire("deployment/litellm", owner="U0BOB", reason="scale")
    with pytest.raises(LocksUnavailable):
        locks.holders()
    with pytest.raises(LocksUnavailable):
        Deduper(dead, "x:").first_time("event-1")
    assert time.monotonic() - started < 3
    assert "redis-pass-secret" not in str(caught.value)


def test_dedupe_is_true_once_per_key(client: redis.Redis, redis_prefix: str) -> None:
    deduper = Deduper(client, redis_prefix, ttl_seconds=60)
    assert deduper.first_time("Ev123") is True
    assert deduper.first_time("Ev123") is False
    assert Deduper(client, redis_prefix).first_time("Ev123") is False  # another replica
    assert deduper.first_time("Ev124") is True
    assert 0 < client.ttl(f"{redis_prefix}dedupe:Ev123") <= 60


def test_dedupe_keys_expire(client: redis.Redis, redis_prefix: str) -> None:
    deduper = Deduper(client, redis_prefix, ttl_seconds=1)
    assert deduper.first_time("action:1700000000.1:U0BOB:approve")
    assert wait_until(lambda: deduper.first_time("action:1700000000.1:U0BOB:approve"), timeout=3)


def test_dedupe_is_atomic_under_concurrency(client: redis.Redis, redis_prefix: str) -> None:
    deduper = Deduper(client, redis_prefix)
    barrier = threading.Barrier(10)
    firsts: list[bool] = []

    def deliver() -> None:
        barrier.wait(timeout=5)
        firsts.append(deduper.first_time("Ev-retried"))

    threads = [threading.Thread(target=deliver) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert sorted(firsts) == [False] * 9 + [True]


def test_holder_of_one_target_is_one_lookup_and_none_when_free(
    client: redis.Redis, redis_prefix: str
) -> None:
    locks = TargetLocks(client, redis_prefix)
    assert locks.holder("deployment/litellm") is None
    with locks.acquire("deployment/litellm", "U0BOB", "/maas scale litellm 3"):
        info = locks.holder("deployment/litellm")
        assert info is not None and (info.owner, info.reason) == ("U0BOB", "/maas scale litellm 3")
        assert locks.holder("deployment/litellm-backend") is None
    assert locks.holder("deployment/litellm") is None


def test_ping_reports_a_dead_redis() -> None:
    locks = TargetLocks(redis_client("redis://127.0.0.1:1/0", timeout_seconds=0.5), "x:")
    with pytest.raises(LocksUnavailable):
        locks.ping()


def test_a_lock_set_is_all_or_nothing_and_the_refusal_names_each_holder(
    client: redis.Redis, redis_prefix: str
) -> None:
    """`restart all` (every Deployment) against `scale litellm` and `autosync on` (the backend)."""
    from commands.targets import every_deployment

    locks = TargetLocks(client, redis_prefix, ttl_seconds=5)
    everything = every_deployment(["litellm", "litellm-backend", "litellm-frontend"])
    with (
        locks.acquire("deployment/litellm", owner="U0BOB", reason="scale litellm 3", operation="op-1"),
        locks.acquire("deployment/litellm-backend", owner="U0DAVE", reason="autosync on"),
    ):
        with pytest.raises(LockBusy) as caught:
            locks.acquire_all(everything, owner="U0ALICE", reason="restart all")
        named = {(h.target, h.owner, h.reason) for h in caught.value.holders}
        assert named == {
            ("deployment/litellm", "U0BOB", "scale litellm 3"),
            ("deployment/litellm-backend", "U0DAVE", "autosync on"),
        }
        assert "U0BOB" in str(caught.value) and "U0DAVE" in str(caught.value)
        # nothing of the set was taken: the free Deployment stays free
        assert locks.holder("deployment/litellm-frontend") is None
        assert locks.holder("deployments/litemaas") is None
    with locks.acquire_all(everything, owner="U0ALICE", reason="restart all") as held:
        assert {h.target for h in locks.holders()} == set(everything)
        with pytest.raises(LockBusy) as single:
            locks.acquire("deployment/litellm-frontend", owner="U0BOB", reason="scale frontend 2")
        assert single.value.holder == "U0ALICE"
        assert not held.lost
    assert locks.holders() == []


def test_a_lost_member_of_a_lock_set_marks_the_whole_set_lost(client: redis.Redis, redis_prefix: str) -> None:
    locks = TargetLocks(client, redis_prefix, ttl_seconds=0.3)
    held = locks.acquire_all(
        ("deployments/litemaas", "deployment/litellm"), owner="U0BOB", reason="upgrade all"
    )
    client.delete(locks.key("deployment/litellm"))  # e.g. Redis lost it past its TTL
    assert wait_until(lambda: held.lost, timeout=2)
    held.release()
