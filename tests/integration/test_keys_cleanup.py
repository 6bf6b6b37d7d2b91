"""`keys cleanup` against real peers: PostgreSQL with the real LiteMaaS and LiteLLM schemas (one shared
database, or two) and the LiteLLM sandbox serving `/key/*` from those tables over HTTP.

The seeded mix is the issue's: expired keys, keys 30+ days old by `expires - metadata.duration`, fresh
ones, portal keys without `metadata.duration`, keys only in LiteMaaS, keys only in LiteLLM. Failures are
real too: the sandbox answers 500 or hangs on the 3rd `/key/delete`, and the test terminates the bot's
PostgreSQL backends (`pg_terminate_backend`) between batches.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import kubernetes.client as k8s
import psycopg
import pydantic
import pytest

import sandbox.litellm as litellm_sandbox
import sandbox.seed_data as seed
from commands.clients.kube import KubeClient
from commands.clients.litellm import LiteLLMClient
from commands.clients.sessions import APPLICATION_NAME
from commands.contract import Event, Progress, Result
from commands.environment import Environment
from commands.keys.cleanup import CleanupArgs, KeysCleanupOperation
from tests.conftest import DatabasePair

NAMESPACE = "litellm-rhpds"
MASTER_KEY = "sk-master-keys-test-0123456789"
DEAD_URL = "http://127.0.0.1:1"
CLEANUP = "Key deleted by cleanup"
ORPHAN = "Key deleted from LiteLLM"


# -- peers -------------------------------------------------------------------------------------------


def dead_kube() -> KubeClient:
    """A cluster that is not there: every setting is given, so the Secrets are never read."""
    config = k8s.Configuration()
    config.host = DEAD_URL
    return KubeClient(k8s.ApiClient(config), NAMESPACE)


@dataclass
class World:
    env: Environment
    litellm: Any
    dbs: DatabasePair
    keys: dict[str, str]  # alias → plaintext key (never shown; used to find tokens and rows)

    def token(self, alias: str) -> str:
        return str(seed.sha256_hex(self.keys[alias]))


@pytest.fixture
def world(litemaas_litellm_dbs: DatabasePair) -> Iterator[World]:
    dbs = litemaas_litellm_dbs
    litellm = litellm_sandbox.LiteLLMSandbox(master_key=MASTER_KEY, database_url=dbs.litellm_url).start()
    env = Environment(
        name="test",
        namespace=NAMESPACE,
        kube=dead_kube(),
        litellm_redis_ping=lambda: False,
        litellm_url=litellm.url,
        litellm_master_key=MASTER_KEY,
        litemaas_database_url=dbs.litemaas_url,
        litellm_database_url=dbs.litellm_url,
    )
    try:
        yield World(env, litellm, dbs, {})
    finally:
        env.kube.close()
        litellm.stop()


def now_utc() -> datetime:
    return datetime.now(UTC)


def plant(
    world: World,
    alias: str,
    *,
    litemaas: bool = True,
    litellm: bool = True,
    expires: datetime | None = None,
    duration: str | None = None,
    active: bool = True,
    alias_in_litemaas: bool = True,
    user: UUID | None = None,
) -> str:
    """One key on either or both sides; returns the alias."""
    key = "sk-" + secrets.token_urlsafe(16)
    world.keys[alias] = key
    if litemaas:
        with psycopg.connect(world.dbs.litemaas_url) as conn:
            owner = user or seed.add_user(conn, email=f"{alias.lower()}@example.com")
            seed.add_api_key(conn, owner, key=key, alias=alias, active=active, expires_at=expires)
            if not alias_in_litemaas:
                conn.execute(
                    "UPDATE api_keys SET litellm_key_alias = NULL WHERE litellm_key_alias = %s", (alias,)
                )
    if litellm:
        metadata = {"created_by": "litemaas"} if duration is None else {"alias": alias}
        with psycopg.connect(world.dbs.litellm_url) as conn:
            seed.add_litellm_token(
                conn, key=key, alias=alias, expires=expires, duration=duration, metadata=metadata
            )
    return alias


def litellm_aliases(world: World) -> set[str]:
    with psycopg.connect(world.dbs.litellm_url) as conn:
        return {r[0] for r in conn.execute('SELECT key_alias FROM "LiteLLM_VerificationToken"')}


def rows(world: World) -> dict[str, tuple[Any, ...]]:
    """alias (or key hash when the alias is NULL) → (is_active, sync_status, sync_error, revoked_at)."""
    by_hash = {seed.sha256_hex(k): a for a, k in world.keys.items()}
    with psycopg.connect(world.dbs.litemaas_url) as conn:
        found = conn.execute(
            "SELECT litellm_key_alias, key_hash, is_active, sync_status, sync_error, revoked_at FROM api_keys"
        ).fetchall()
    return {(alias or by_hash[key_hash]): (act, st, err, rev) for alias, key_hash, act, st, err, rev in found}


def run(
    op: KeysCleanupOperation, env: Environment, on_event: Callable[[Event], None] | None = None
) -> Result:
    args = CleanupArgs()
    events: list[Event] = []
    for event in op.execute(env, args, op.plan(env, args)):
        events.append(event)
        if on_event is not None:
            on_event(event)
    assert events and isinstance(events[-1], Result), events
    assert all(isinstance(e, Progress) for e in events[:-1])
    assert_no_secret(world_keys=None, events=events)
    return events[-1]


def assert_no_secret(world_keys: dict[str, str] | None, events: list[Any]) -> None:
    text = json.dumps([e.to_json() if isinstance(e, Result) else vars(e) for e in events], default=str)
    assert "sk-" not in text
    for key in (world_keys or {}).values():
        assert key not in text


def marked(state: tuple[Any, ...], reason: str) -> bool:
    active, status, error, revoked = state
    return active is False and status == "error" and error == reason and revoked is not None


def untouched(state: tuple[Any, ...]) -> bool:
    active, status, error, revoked = state
    return active is True and status == "synced" and error is None and revoked is None


# -- the seeded mix ----------------------------------------------------------------------------------


def seed_mix(world: World) -> None:
    now = now_utc()
    # selected: expired, or started (expires - metadata.duration) more than 30 days ago
    plant(world, "portal-expired", expires=now - timedelta(days=2))
    plant(world, "workshop-60d-old", expires=now + timedelta(days=20), duration="60d")
    plant(world, "script-1000h-old", expires=now + timedelta(hours=1), duration="1000h", litemaas=False)
    plant(
        world, "workshop-expired-only-litellm", expires=now - timedelta(days=1), duration="7d", litemaas=False
    )
    plant(world, "expired-row-without-alias", expires=now - timedelta(hours=3), alias_in_litemaas=False)
    # kept
    plant(world, "workshop-fresh", expires=now + timedelta(days=25), duration="30d")
    plant(world, "portal-fresh", expires=now + timedelta(days=10))
    plant(world, "portal-year-long", expires=now + timedelta(days=300))
    plant(world, "odd-duration", expires=now + timedelta(days=1), duration="30 days")
    plant(world, "never-expires", expires=None, duration="1d")
    plant(world, "only-litellm-fresh", expires=now + timedelta(days=5), litemaas=False)
    # only in LiteMaaS: the orphan pass
    plant(world, "gone-from-litellm", litellm=False)
    plant(world, "gone-no-alias", litellm=False, alias_in_litemaas=False)
    plant(world, "already-revoked", litellm=False, active=False)


DELETED = {
    "portal-expired",
    "workshop-60d-old",
    "script-1000h-old",
    "workshop-expired-only-litellm",
    "expired-row-without-alias",
}
KEPT = {
    "workshop-fresh",
    "portal-fresh",
    "portal-year-long",
    "odd-duration",
    "never-expires",
    "only-litellm-fresh",
}


def test_seeded_mix_deletes_exactly_the_right_keys_and_marks_the_right_rows(world: World) -> None:
    seed_mix(world)
    op = KeysCleanupOperation()
    plan = op.plan(world.env, CleanupArgs())
    assert plan.observed == {"expired": 3, "old": 2, "orphans": 2, "older_than": "30d"}
    assert not plan.noop
    shown = json.dumps(plan.to_json())
    assert "portal-expired" in shown and "workshop-60d-old" in shown
    assert "sk-" not in shown and world.token("portal-expired") not in shown  # 8-char prefix at most

    result = run(op, world.env)

    assert result.ok, result.to_json()
    assert litellm_aliases(world) == KEPT
    state = rows(world)
    for alias in ("portal-expired", "workshop-60d-old", "expired-row-without-alias"):
        assert marked(state[alias], CLEANUP), (alias, state[alias])
    for alias in ("gone-from-litellm", "gone-no-alias"):
        assert marked(state[alias], ORPHAN), (alias, state[alias])
    for alias in KEPT - {"only-litellm-fresh"}:
        assert untouched(state[alias]), (alias, state[alias])
    assert state["already-revoked"][0] is False and state["already-revoked"][2] is None
    fields = result.sections[0].fields
    assert fields["deleted in LiteLLM"] == "5"
    assert fields["LiteMaaS keys marked"] == "3"
    assert fields["orphans marked"] == "2"
    assert fields["failures"] == "0"

    # A second run finds nothing to do and changes nothing.
    assert op.plan(world.env, CleanupArgs()).noop
    again = run(op, world.env)
    assert again.ok and again.sections[0].fields["deleted in LiteLLM"] == "0"
    assert rows(world) == state


def test_bad_older_than_is_refused_before_anything_runs() -> None:
    for text in ("30", "0h", "3651d", "2w", "-5d", "30d; drop"):
        with pytest.raises(pydantic.ValidationError):
            CleanupArgs(older_than=text)
    assert CleanupArgs(older_than="12h").older_than == "12h"
    assert CleanupArgs(older_than="48h").older_than == "2d"


def test_older_than_moves_the_threshold(world: World) -> None:
    now = now_utc()
    plant(world, "started-10d-ago", expires=now + timedelta(days=20), duration="30d")
    plant(world, "started-3d-ago", expires=now + timedelta(days=27), duration="30d")
    op = KeysCleanupOperation()
    args = CleanupArgs(older_than="7d")
    assert op.plan(world.env, args).observed["old"] == 1
    events = list(op.execute(world.env, args, None))
    assert isinstance(events[-1], Result) and events[-1].ok
    assert litellm_aliases(world) == {"started-3d-ago"}
    assert marked(rows(world)["started-10d-ago"], CLEANUP)


# -- failures mid-run ------------------------------------------------------------------------------------

BATCH = 3
EXPIRED_KEYS = 10  # 4 batches of 3, 3, 3, 1


def seed_expired(world: World) -> list[str]:
    now = now_utc()
    with psycopg.connect(world.dbs.litemaas_url) as conn:
        owner = seed.add_user(conn, email="owner@example.com")
    return [
        plant(world, f"expired-{i:02d}", expires=now - timedelta(days=1, minutes=i), user=owner)
        for i in range(EXPIRED_KEYS)
    ]


def third_batch(world: World, aliases: list[str]) -> set[str]:
    """Aliases of the 3rd batch: pages are in token order."""
    ordered = sorted(aliases, key=world.token)
    return set(ordered[2 * BATCH : 3 * BATCH])


def assert_finished(world: World, aliases: list[str], first_marks: dict[str, tuple[Any, ...]]) -> None:
    """Everything deleted and marked once: rows marked by the first run keep their first revoked_at."""
    assert litellm_aliases(world) == set()
    state = rows(world)
    for alias in aliases:
        assert marked(state[alias], CLEANUP), (alias, state[alias])
        if alias in first_marks:
            assert state[alias] == first_marks[alias]


@pytest.mark.parametrize("failure", ["status500", "timeout"])
def test_litellm_failing_on_the_third_batch_marks_nothing_unconfirmed_and_a_rerun_finishes(
    world: World, failure: str
) -> None:
    aliases = seed_expired(world)
    failing = third_batch(world, aliases)
    if failure == "status500":
        world.litellm.inject_failure("/key/delete", status=500, after=2)
    else:
        world.litellm.inject_failure("/key/delete", timeout=True, after=2)
    op = KeysCleanupOperation(
        batch_size=BATCH,
        client_factory=lambda env: LiteLLMClient(env.litellm_url, MASTER_KEY, timeout=1.0),
    )

    first = run(op, world.env)

    assert not first.ok
    assert first.sections[0].fields["failures"] == str(len(failing))
    assert first.sections[0].fields["deleted in LiteLLM"] == str(EXPIRED_KEYS - len(failing))
    reasons = "\n".join(first.sections[1].lines)
    assert "/key/delete failed" in reasons
    assert any("again" in w for w in first.warnings)
    assert litellm_aliases(world) == failing
    state = rows(world)
    for alias in aliases:
        if alias in failing:
            assert untouched(state[alias]), (alias, state[alias])  # never marked while unconfirmed
        else:
            assert marked(state[alias], CLEANUP), (alias, state[alias])
    first_marks = {a: s for a, s in state.items() if a not in failing}

    world.litellm.clear_requests()
    second = run(op, world.env)

    assert second.ok, second.to_json()
    assert second.sections[0].fields["deleted in LiteLLM"] == str(len(failing))
    assert second.sections[0].fields["LiteMaaS keys marked"] == str(len(failing))
    deletes = [r for r in world.litellm.requests if r.path == "/key/delete"]
    assert len(deletes) == 1  # only the failed batch is sent again
    assert_finished(world, aliases, first_marks)


def _terminate_bot_backends(world: World) -> int:
    """`pg_terminate_backend` on every connection of the bot (by application_name), both databases."""
    killed = 0
    for url in {world.dbs.litemaas_url, world.dbs.litellm_url}:
        with psycopg.connect(url, autocommit=True) as conn:
            row = conn.execute(
                "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE datname = current_database() AND application_name LIKE %s"
                " AND pid <> pg_backend_pid()",
                (APPLICATION_NAME + "%",),
            ).fetchone()
            killed += int(row[0]) if row else 0
    return killed


def test_postgresql_dropping_the_connection_between_batches_loses_nothing(world: World) -> None:
    aliases = seed_expired(world)
    op = KeysCleanupOperation(batch_size=BATCH)
    killed: list[int] = []

    def on_event(event: Event) -> None:
        if isinstance(event, Progress) and event.done in (BATCH, 2 * BATCH):  # after batches 1 and 2
            killed.append(_terminate_bot_backends(world))

    result = run(op, world.env, on_event)

    assert killed and all(n >= 1 for n in killed), killed  # the run really lost its connections
    assert result.ok, result.to_json()
    assert result.sections[0].fields["deleted in LiteLLM"] == str(EXPIRED_KEYS)
    assert result.sections[0].fields["LiteMaaS keys marked"] == str(EXPIRED_KEYS)
    assert_finished(world, aliases, {})


def test_postgresql_down_is_reported_plainly(world: World) -> None:
    env = Environment(
        name="test",
        namespace=NAMESPACE,
        kube=world.env.kube,
        litellm_redis_ping=lambda: False,
        litellm_url=world.litellm.url,
        litellm_master_key=MASTER_KEY,
        litemaas_database_url="postgresql://bot:hunter2-secret@127.0.0.1:1/litemaas",
        litellm_database_url="postgresql://bot:hunter2-secret@127.0.0.1:1/litellm",
    )
    events = list(KeysCleanupOperation().execute(env, CleanupArgs(), None))
    result = events[-1]
    assert isinstance(result, Result) and not result.ok
    text = json.dumps(result.to_json())
    assert "unreachable" in text and "hunter2" not in text


def test_the_approval_fingerprint_is_the_intent_not_the_moving_counts(world: World) -> None:
    """Issue 12 item 5: keys expiring between request and approval never ask the approver again."""
    seed_mix(world)
    op = KeysCleanupOperation()
    before = op.plan(world.env, CleanupArgs())
    plant(world, "expired-meanwhile", expires=now_utc() - timedelta(minutes=1), duration="30d")
    after = op.plan(world.env, CleanupArgs())
    assert after.observed["expired"] == before.observed["expired"] + 1
    assert after.fingerprint == before.fingerprint
    assert any("counts may have grown" in risk for risk in after.risks)
    assert op.plan(world.env, CleanupArgs(older_than="7d")).fingerprint != before.fingerprint
