"""`keys cleanup` killed between LiteLLM's deletion of a batch and the marking of its LiteMaaS rows.

The run is a real process, SIGKILLed at the worst moment: LiteLLM has confirmed the deletion of two
batches (the second deleted while the first one's UPDATE ran, as the run overlaps them), and the
UPDATE of the first is held by a lock this test takes on `api_keys`. PostgreSQL then drops the dead
bot's sessions, as it does when their client is gone. Nothing may be lost: the rows of the deleted
keys are not marked by the dead run, and the next run deletes the rest and marks every row once —
those of the crashed batches by its orphan pass.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import time
from collections.abc import Callable

import psycopg

from commands.contract import Result
from commands.environment import Environment
from commands.keys.cleanup import CleanupArgs, KeysCleanupOperation
from tests.integration.test_keys_cleanup import (  # noqa: F401  (`world` is a fixture)
    BATCH,
    CLEANUP,
    EXPIRED_KEYS,
    MASTER_KEY,
    NAMESPACE,
    ORPHAN,
    World,
    _terminate_bot_backends,
    dead_kube,
    litellm_aliases,
    marked,
    rows,
    run,
    seed_expired,
    untouched,
    world,
)

_BLOCKED_MARK = """SELECT count(*) FROM pg_stat_activity
    WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE 'UPDATE api_keys%'"""


def cleanup_in_a_process(litellm_url: str, litemaas_url: str, litellm_db_url: str) -> None:
    """The child: `keys cleanup` with batches of `BATCH`, as the bot runs it."""
    env = Environment(
        name="test",
        namespace=NAMESPACE,
        kube=dead_kube(),
        litellm_redis_ping=lambda: False,
        litellm_url=litellm_url,
        litellm_master_key=MASTER_KEY,
        litemaas_database_url=litemaas_url,
        litellm_database_url=litellm_db_url,
    )
    for _event in KeysCleanupOperation(batch_size=BATCH).execute(env, CleanupArgs(), None):
        pass


def wait_until(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("the cleanup never reached the moment to kill it")
        time.sleep(0.02)


def test_a_crash_between_delete_and_mark_loses_nothing(world: World) -> None:  # noqa: F811
    aliases = seed_expired(world)
    ctx = mp.get_context("spawn")
    with psycopg.connect(world.dbs.litemaas_url) as blocker:
        blocker.execute("LOCK TABLE api_keys IN SHARE MODE")  # UPDATEs wait, reads go on
        child = ctx.Process(
            target=cleanup_in_a_process,
            args=(world.litellm.url, world.dbs.litemaas_url, world.dbs.litellm_url),
            daemon=True,
        )
        child.start()
        try:

            def two_batches_deleted_first_mark_held() -> bool:
                with psycopg.connect(world.dbs.litemaas_url, autocommit=True) as watcher:
                    blocked = watcher.execute(_BLOCKED_MARK).fetchone()
                held = blocked is not None and int(blocked[0]) == 1
                return held and len(litellm_aliases(world)) == EXPIRED_KEYS - 2 * BATCH

            wait_until(two_batches_deleted_first_mark_held)
        finally:
            assert child.pid is not None
            os.kill(child.pid, signal.SIGKILL)
            child.join(timeout=10)
        assert _terminate_bot_backends(world) >= 1  # the dead bot's held UPDATE is dropped
        blocker.rollback()

    gone = set(aliases) - litellm_aliases(world)
    assert len(gone) == 2 * BATCH  # deleted in LiteLLM and confirmed…
    state = rows(world)
    assert all(untouched(state[alias]) for alias in aliases), state  # …but not marked: the crash

    result = run(KeysCleanupOperation(batch_size=BATCH), world.env)

    assert isinstance(result, Result) and result.ok, result.to_json()
    assert litellm_aliases(world) == set()
    state = rows(world)
    for alias in aliases:
        assert marked(state[alias], ORPHAN if alias in gone else CLEANUP), (alias, state[alias])
    fields = result.sections[0].fields
    assert fields["deleted in LiteLLM"] == str(EXPIRED_KEYS - len(gone))
    assert fields["LiteMaaS keys marked"] == str(EXPIRED_KEYS - len(gone))
    assert fields["orphans marked"] == str(len(gone))
