"""`drift block-inactive`: drift (f) fixed through LiteLLM's `/key/block`, in both database layouts.

The keys are real sandbox LiteLLM keys (their plaintext known to the test only), so "blocked" is
checked the way a user would notice it: `/v1/models` with the key is refused, and works again once
unblocked. LiteMaaS rows are never touched.
"""

from __future__ import annotations

import json
import secrets
from datetime import UTC, datetime, timedelta

import httpx
import psycopg

import sandbox.seed_data as seed
from commands.clients.litellm import LiteLLMClient
from commands.contract import Event, Progress, Result
from commands.drift.block import BlockInactiveArgs, DriftBlockInactiveOperation
from commands.drift.operation import DriftArgs, DriftOperation
from tests.integration.test_keys_cleanup import MASTER_KEY, World, world  # noqa: F401 - the fixture

CASCADED = ("cascaded-1", "cascaded-2", "cascaded-3")


def plant(world: World) -> None:  # noqa: F811
    """Three keys deactivated in LiteMaaS but usable in LiteLLM (f); one blocked already, one expired,
    one active everywhere (none of them f)."""
    now = datetime.now(UTC)
    with psycopg.connect(world.dbs.litemaas_url) as lm, psycopg.connect(world.dbs.litellm_url) as ll:
        user = seed.add_user(lm, email="erin@example.com")

        def key(
            alias: str, *, active: bool, expires: datetime | None = None, blocked: bool | None = None
        ) -> None:
            world.keys[alias] = k = "sk-" + secrets.token_urlsafe(16)
            seed.add_api_key(lm, user, key=k, alias=alias, active=active)
            seed.add_litellm_token(ll, key=k, alias=alias, expires=expires, blocked=blocked)

        for alias in CASCADED:
            key(alias, active=False, expires=now + timedelta(days=3))
        key("already-blocked", active=False, blocked=True)
        key("expired", active=False, expires=now - timedelta(hours=1))
        key("working", active=True)


def works(world: World, alias: str) -> bool:  # noqa: F811
    """Whether the key can still call LiteLLM (what its owner would notice)."""
    reply = httpx.get(
        f"{world.litellm.url}/v1/models",
        headers={"Authorization": f"Bearer {world.keys[alias]}"},
        timeout=10,
    )
    return reply.status_code == 200


def litemaas_rows(world: World) -> list[tuple[object, ...]]:  # noqa: F811
    with psycopg.connect(world.dbs.litemaas_url) as conn:
        return conn.execute(
            "SELECT litellm_key_alias, is_active, revoked_at, sync_status, updated_at"
            " FROM api_keys ORDER BY 1"
        ).fetchall()


def run(world: World, op: DriftBlockInactiveOperation) -> tuple[list[Progress], Result]:  # noqa: F811
    events: list[Event] = list(
        op.execute(world.env, BlockInactiveArgs(), op.plan(world.env, BlockInactiveArgs()))
    )
    result = events[-1]
    assert isinstance(result, Result)
    return [e for e in events if isinstance(e, Progress)], result


def drift_f(world: World) -> int:  # noqa: F811
    result = list(DriftOperation().execute(world.env, DriftArgs(), None))[-1]
    assert isinstance(result, Result)
    [section] = [s for s in result.sections if s.title.startswith("(f)")]
    return int(section.fields["count"])


def test_blocks_exactly_the_inactive_keys_that_still_work_and_nothing_else(world: World) -> None:  # noqa: F811
    plant(world)
    before = litemaas_rows(world)
    assert all(works(world, alias) for alias in (*CASCADED, "working"))
    op = DriftBlockInactiveOperation()

    plan = op.plan(world.env, BlockInactiveArgs())

    assert plan.summary == "Block 3 LiteLLM keys that LiteMaaS has deactivated (POST /key/block)"
    assert {c.target for c in plan.changes} >= {f"key/{a}" for a in CASCADED}
    assert not plan.noop and "Reversible" in plan.risks[0]
    assert all(works(world, alias) for alias in CASCADED)  # the plan changes nothing

    progress, result = run(world, op)

    assert result.ok, result.to_json()
    assert result.summary == "Blocked 3 of 3 keys that LiteMaaS had deactivated"
    assert [p.text for p in progress][-1] == "3 / 3 keys"
    assert not any(works(world, alias) for alias in CASCADED)
    assert works(world, "working")
    assert litemaas_rows(world) == before  # LiteMaaS is not touched
    assert drift_f(world) == 0
    text = json.dumps(result.to_json()) + json.dumps(plan.to_json())
    assert "sk-" not in text and MASTER_KEY not in text

    again = op.plan(world.env, BlockInactiveArgs())  # nothing left: a no-op
    assert again.noop and again.summary.startswith("Block 0 ")

    with LiteLLMClient(world.litellm.url, MASTER_KEY) as client:  # reversible
        assert client.unblock_key(world.keys["cascaded-1"])
    assert works(world, "cascaded-1") and drift_f(world) == 1


def test_the_plan_fingerprint_follows_the_set_of_keys(world: World) -> None:  # noqa: F811
    plant(world)
    op = DriftBlockInactiveOperation()
    first = op.plan(world.env, BlockInactiveArgs())
    with psycopg.connect(world.dbs.litemaas_url) as conn:
        conn.execute("UPDATE api_keys SET is_active = false WHERE litellm_key_alias = 'working'")

    second = op.plan(world.env, BlockInactiveArgs())

    assert (first.observed["count"], second.observed["count"]) == (3, 4)
    assert first.fingerprint != second.fingerprint


def test_litellm_failing_is_reported_and_a_second_run_finishes(world: World) -> None:  # noqa: F811
    plant(world)
    world.litellm.inject_failure("/key/block", status=500, times=2)
    op = DriftBlockInactiveOperation()

    _, failed = run(world, op)

    assert not failed.ok
    assert failed.summary == "Blocked 1 of 3 keys that LiteMaaS had deactivated; 2 failed"
    [first_failures] = [s for s in failed.sections if s.title == "First failures"]
    assert len(first_failures.lines) == 2 and all("500" in line for line in first_failures.lines)
    assert any("run `drift block-inactive` again" in w.lower() for w in failed.warnings)
    assert sum(works(world, alias) for alias in CASCADED) == 2

    _, finished = run(world, op)

    assert finished.ok and finished.summary == "Blocked 2 of 2 keys that LiteMaaS had deactivated"
    assert not any(works(world, alias) for alias in CASCADED)
