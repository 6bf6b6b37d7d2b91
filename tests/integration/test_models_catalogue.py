"""The catalogue as backend 0.4.0's sync really leaves it (litemaas-facts.md §9), through the operations.

- `models add`: what the operator is told is the row after ANY later sync (plain or forced), with
  0.4.0's comparison bug and with it fixed;
- `models remove`: the forecast uses the sync's table-wide key rule, the result the cascade applied
  (from its audit rows), and says so when the two differ;
- `models verify` after a removal: the headline states what the sections show.
Peers and fixtures as in test_models.py (both database layouts).
"""

from __future__ import annotations

import uuid

import psycopg
import pytest

import sandbox.backend as backend_sandbox
from commands.clients.backend import BackendClient
from commands.models.add import ModelsAddOperation
from commands.models.catalogue import read_shown
from commands.models.remove import ModelRemoveArgs, ModelsRemoveOperation
from commands.models.verify import ModelsVerifyArgs, ModelsVerifyOperation
from tests.integration.test_models import (  # noqa: F401 - fixtures
    ADMIN_KEY,
    MASTER_KEY,
    World,
    add_args,
    make_env,
    module_dbs,
    plant_catalogue,
    plant_deployment,
    plant_subscribers,
    run,
    statuses,
    world,
)


@pytest.mark.parametrize("features_order_bug", [True, False], ids=["0.4.0", "fixed"])
def test_add_tells_the_operator_the_row_every_later_sync_leaves(
    world: World,  # noqa: F811
    features_order_bug: bool,
) -> None:
    backend = backend_sandbox.BackendSandbox(
        litellm_url=world.litellm.url,
        database_url=world.dbs.litemaas_url,
        litellm_master_key=MASTER_KEY,
        admin_keys=(ADMIN_KEY,),
        litellm_database_url=world.dbs.litellm_url,
        features_order_bug=features_order_bug,
    ).start()
    env = make_env({"litellm": world.litellm.url, "backend": backend.url}, world.dbs)
    try:
        args = add_args(description="IBM Granite, 8B", context_length=8192)
        _, result = run(ModelsAddOperation().execute(env, args, None))
        told = result.sections[1].fields
        assert result.ok and not result.warnings, result
        assert told == {
            "name": "granite-8b",
            "provider": "openai",
            "category": "Language Model",
            "description": "IBM Granite, 8B",
            "context_length": "8192",
            "supports_streaming": "true",
        }
        with BackendClient(backend.url, ADMIN_KEY) as client:
            for forced in (False, True):  # the startup sync, and an admin create's forced one
                assert client.sync_models(force_update=forced).success
                assert read_shown(env, "granite-8b") == told
    finally:
        env.kube.close()
        backend.stop()


def plant_keyless_key(world: World) -> None:  # noqa: F811
    """An active key that lists no model at all (a cascade of the past, or a script's)."""
    with psycopg.connect(world.dbs.litemaas_url, autocommit=True) as conn:
        tag = uuid.uuid4().hex[:10]
        row = conn.execute(
            "INSERT INTO users (username, email, oauth_provider, oauth_id) VALUES (%s, %s, 'openshift', %s)"
            " RETURNING id",
            (f"k{tag}", f"k{tag}@example.com", tag),
        ).fetchone()
        assert row is not None
        conn.execute(
            "INSERT INTO api_keys (user_id, key_hash, key_prefix, is_active)"
            " VALUES (%s, %s, 'sk-abcd', true)",
            (row[0], uuid.uuid4().hex),
        )


def plant_doomed(world: World) -> None:  # noqa: F811
    plant_deployment(world, "other")
    plant_catalogue(world, "other", litellm_model_id=None)
    model_id = plant_deployment(world, "doomed")
    plant_catalogue(world, "doomed", litellm_model_id=model_id)
    plant_subscribers(world, "doomed", 2)  # keys listing only doomed
    plant_subscribers(world, "doomed", 1, key_models=("other",))  # keeps "other"
    plant_keyless_key(world)  # never listed doomed: deactivated all the same


def test_remove_forecasts_the_table_wide_cascade_and_reports_the_one_applied(world: World) -> None:  # noqa: F811
    plant_doomed(world)
    op = ModelsRemoveOperation()
    args = ModelRemoveArgs(model="doomed")

    plan = op.plan(world.env, args)

    risks = " | ".join(plan.risks)
    assert "3 active API key(s) lose doomed; 2 of them have no other model" in risks
    assert "3 active API key(s) are deactivated" in risks and "also 1 that list no model at all" in risks

    _, result = run(op.execute(world.env, args, plan))

    assert result.ok and not result.warnings, result
    assert result.summary == (
        "doomed removed from LiteLLM; catalogue synced: 3 subscription(s) and 3 key(s) deactivated"
    )
    cascade = result.sections[1]
    assert cascade.fields["keys deactivated"] == "3"
    assert cascade.lines == ("doomed: 3 subscriptions inactive, 3 key links removed, 3 keys deactivated",)
    with psycopg.connect(world.dbs.litemaas_url) as conn:
        active = conn.execute("SELECT count(*) FROM api_keys WHERE is_active").fetchone()
    assert active == (1,)  # only the key that keeps "other"
    assert statuses(world, "doomed") == ["inactive"] * 3


def test_remove_says_when_the_cascade_applied_differs_from_the_forecast(world: World) -> None:  # noqa: F811
    plant_doomed(world)
    plant_catalogue(world, "stale", litellm_model_id="gone")  # available, not in LiteLLM
    op = ModelsRemoveOperation()
    args = ModelRemoveArgs(model="doomed")
    plan = op.plan(world.env, args)
    assert any("also marks 1 other available catalogue model(s)" in r and "stale" in r for r in plan.risks)
    plant_keyless_key(world)  # appears between approval and run

    _, result = run(op.execute(world.env, args, plan))

    assert result.ok
    assert result.summary.endswith("3 subscription(s) and 4 key(s) deactivated")
    assert any("the plan forecast 3 deactivated key(s); the sync deactivated 4" in w for w in result.warnings)
    models = {line.split(":")[0] for line in result.sections[1].lines}
    assert models == {"doomed", "stale"}


def test_verify_after_a_removal_headlines_what_its_sections_say(world: World) -> None:  # noqa: F811
    plant_doomed(world)
    op = ModelsRemoveOperation()
    _, removed = run(op.execute(world.env, ModelRemoveArgs(model="doomed"), None))
    assert removed.ok

    _, result = run(ModelsVerifyOperation().execute(world.env, ModelsVerifyArgs(model="doomed"), None))

    assert result.summary == "doomed: not in LiteLLM; in the catalogue, unavailable — nothing to fix"
    litellm, catalogue = result.sections
    assert litellm.lines == ("not in LiteLLM",)
    assert catalogue.fields["availability"] == "unavailable"
