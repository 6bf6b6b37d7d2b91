"""`keys stats`, `keys orphans` and `keys orphans --fix` against real PostgreSQL (both layouts) with the
real schemas."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta

import psycopg

import sandbox.seed_data as seed
from commands.contract import Result
from commands.keys.orphans import (
    KeysOrphansFixOperation,
    KeysOrphansOperation,
    OrphanRow,
    OrphansArgs,
    OrphansFixArgs,
    orphans_csv,
)
from commands.keys.stats import KeysStatsOperation, StatsArgs
from commands.registry import default_registry
from tests.integration.test_keys_cleanup import (  # noqa: F401 - `world` is the fixture
    ORPHAN,
    World,
    marked,
    plant,
    rows,
    untouched,
    world,
)


def only_result(events: list[object]) -> Result:
    result = events[-1]
    assert isinstance(result, Result)
    return result


def test_stats_counts_both_sides(world: World) -> None:  # noqa: F811
    now = datetime.now(UTC)
    plant(world, "expired-1", expires=now - timedelta(days=1))
    plant(world, "expired-2", expires=now - timedelta(days=40), litemaas=False)
    plant(world, "expiring-soon", expires=now + timedelta(days=3))
    plant(world, "expiring-later", expires=now + timedelta(days=30))
    plant(world, "never", expires=None)
    plant(world, "revoked", litellm=False, active=False)
    with psycopg.connect(world.dbs.litemaas_url) as conn:
        user = seed.add_user(conn, email="subscriber@example.com")
        seed.add_model(conn, id="granite")
        seed.add_model(conn, id="llama")
        seed.add_subscription(conn, user, "granite")
        seed.add_subscription(conn, user, "llama", status="inactive")

    result = only_result(list(KeysStatsOperation().execute(world.env, StatsArgs(), None)))

    assert result.ok, result.to_json()
    litellm, litemaas = result.sections
    assert litellm.fields == {"total": "5", "expired": "2", "expiring within 7 days": "1"}
    assert litemaas.fields == {"active keys": "4", "active subscriptions": "1"}


def test_orphans_lists_without_fix_and_marks_with_fix(world: World) -> None:  # noqa: F811
    plant(world, "healthy", expires=None)
    plant(world, "orphan-one", litellm=False)
    plant(world, "orphan-two", litellm=False, alias_in_litemaas=False)
    plant(world, "revoked-long-ago", litellm=False, active=False)
    plant(world, "litellm-only", litemaas=False)

    listed = only_result(list(KeysOrphansOperation().execute(world.env, OrphansArgs(), None)))
    assert listed.ok and listed.summary.startswith("2 active LiteMaaS keys") and "--fix" in listed.summary
    assert listed.sections[0].fields == {"count": "2", "in the file": "2"}
    (file,) = listed.files
    assert {r["user_email"] for r in csv.DictReader(io.StringIO(file.content))} == {
        "orphan-one@example.com",
        "orphan-two@example.com",
    }
    assert "sk-" not in json.dumps(listed.to_json()) + file.content
    assert all(untouched(state) for alias, state in rows(world).items() if alias != "revoked-long-ago")

    op = KeysOrphansFixOperation()
    plan = op.plan(world.env, OrphansFixArgs())
    assert not plan.noop and plan.observed["orphans"] == 2 and plan.target == "keystore"
    fixed = only_result(list(op.execute(world.env, OrphansFixArgs(), plan)))

    assert fixed.ok and "Marked 2" in fixed.summary
    state = rows(world)
    assert marked(state["orphan-one"], ORPHAN) and marked(state["orphan-two"], ORPHAN)
    assert untouched(state["healthy"])
    assert state["revoked-long-ago"][2] is None  # an inactive row is left alone
    assert op.plan(world.env, OrphansFixArgs()).noop  # nothing left, and nothing marked twice
    assert only_result(list(op.execute(world.env, OrphansFixArgs(), None))).summary.startswith("Marked 0")


def test_the_listing_file_escapes_its_fields() -> None:
    hostile = OrphanRow(
        id="1",
        alias='=HYPERLINK("http://x")',
        name="key sk-abcdef0123456789 pasted",
        email="a,b\nc@example.com",
        created_at=None,
    )
    content = orphans_csv((hostile,))
    (row,) = csv.DictReader(io.StringIO(content))
    assert row["litellm_key_alias"] == '\'=HYPERLINK("http://x")'  # never a formula
    assert row["name"] == "***" and "sk-" not in content
    assert row["user_email"] == "a,b?c@example.com"  # one line per key, quoted where needed


def test_the_commands_are_registered_with_their_policies() -> None:
    registry = default_registry()
    expected = {
        "keys stats": ("viewer", False, False),
        "keys cleanup": ("operator", True, True),
        "keys orphans": ("viewer", False, False),
        "keys orphans --fix": ("operator", True, True),
        "drift": ("viewer", False, False),
    }
    for verb, (role, approval, mutating) in expected.items():
        op = registry.get(verb)
        assert op is not None, verb
        assert (op.default_role, op.default_approval, op.mutating) == (role, approval, mutating)
