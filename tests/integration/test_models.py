"""`models list | verify | add | remove` against real peers.

The LiteLLM sandbox serves `/model/*` from LiteLLM's real tables and the backend sandbox runs its
model sync on the real LiteMaaS tables, both over HTTP on 127.0.0.1; the databases are real
PostgreSQL in both layouts (one shared database, or LiteMaaS and LiteLLM apart). Catalogue rows,
users, subscriptions and keys are planted with plain SQL; LiteLLM deployments through its API.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import kubernetes.client as k8s
import psycopg
import pydantic
import pytest

import sandbox.backend as backend_sandbox
import sandbox.litellm as litellm_sandbox
from bot.parsing import ParseError, parse_command
from commands.clients.kube import KubeClient
from commands.contract import Event, OperationError, Progress, Result
from commands.environment import DEFAULT_COMPONENTS, Environment
from commands.models.add import ModelAddArgs, ModelsAddOperation
from commands.models.listing import ModelsListArgs, ModelsListOperation
from commands.models.remove import ModelRemoveArgs, ModelsRemoveOperation
from commands.models.verify import ModelsVerifyArgs, ModelsVerifyOperation
from commands.registry import default_registry
from tests.conftest import DatabasePair, SchemaDatabases, database_pair

NAMESPACE = "litellm-rhpds"
MASTER_KEY = "sk-master-models-test-0123456789"
ADMIN_KEY = "ltm_admin_models_test"
UPSTREAM_KEY = "sk-upstream-provider-secret-9f8e7d"
DEAD_URL = "http://127.0.0.1:1"
SYSTEM_USER = "00000000-0000-0000-0000-000000000001"

# Where the layout matters (the sync's cross-check, the catalogue after it) tests run in both layouts;
# elsewhere the two-database layout alone, to keep the file fast.
ONE_LAYOUT = pytest.mark.parametrize("module_dbs", ["separate"], indirect=True)


# -- peers -------------------------------------------------------------------------------------------


@dataclass
class World:
    env: Environment
    litellm: Any
    backend: Any
    dbs: DatabasePair


def dead_kube() -> KubeClient:
    """A client for a cluster that is not there: every setting is given, so it must never be used."""
    config = k8s.Configuration()
    config.host = DEAD_URL
    return KubeClient(k8s.ApiClient(config), NAMESPACE)


def make_env(world_urls: dict[str, str], dbs: DatabasePair, **extra: Any) -> Environment:
    settings: dict[str, Any] = {
        "litellm_url": world_urls["litellm"],
        "backend_url": world_urls["backend"],
        "litemaas_database_url": dbs.litemaas_url,
        "litellm_database_url": dbs.litellm_url,
        "litellm_master_key": MASTER_KEY,
        "backend_admin_key": ADMIN_KEY,
    }
    settings.update(extra)
    return Environment(
        name="test", namespace=NAMESPACE, kube=dead_kube(), litellm_redis_ping=lambda: False, **settings
    )


@pytest.fixture(scope="module", params=["shared", "separate"])
def module_dbs(request: pytest.FixtureRequest, schema_databases: SchemaDatabases) -> Iterator[DatabasePair]:
    """Both schemas for the whole module (creating databases costs seconds); `reset` empties them."""
    with database_pair(schema_databases, request.param) as pair:
        yield pair


def reset(dbs: DatabasePair) -> None:
    """Back to the freshly migrated state: no model, user (but the system user), subscription or key."""
    with psycopg.connect(dbs.litemaas_url, autocommit=True) as conn:
        for table in ("api_key_models", "api_keys", "subscriptions", "models", "audit_logs"):
            conn.execute(f"DELETE FROM {table}")  # DELETE: much cheaper than TRUNCATE on tiny tables
        conn.execute("DELETE FROM users WHERE id <> %s", (SYSTEM_USER,))
    with psycopg.connect(dbs.litellm_url, autocommit=True) as conn:
        conn.execute('DELETE FROM "LiteLLM_ProxyModelTable"')


@pytest.fixture
def world(module_dbs: DatabasePair) -> Iterator[World]:
    dbs = module_dbs
    reset(dbs)
    litellm = litellm_sandbox.LiteLLMSandbox(master_key=MASTER_KEY, database_url=dbs.litellm_url).start()
    backend = backend_sandbox.BackendSandbox(
        litellm_url=litellm.url,
        database_url=dbs.litemaas_url,
        litellm_master_key=MASTER_KEY,
        admin_keys=(ADMIN_KEY,),
        litellm_database_url=dbs.litellm_url,
    ).start()
    env = make_env({"litellm": litellm.url, "backend": backend.url}, dbs)
    try:
        yield World(env, litellm, backend, dbs)
    finally:
        env.kube.close()
        backend.stop()
        litellm.stop()


# -- planting ----------------------------------------------------------------------------------------


def plant_deployment(world: World, name: str, model: str = "openai/upstream") -> str:
    """A deployment registered through LiteLLM's API; its `model_info.id`."""
    reply = httpx.post(
        f"{world.litellm.url}/model/new",
        headers={"Authorization": f"Bearer {MASTER_KEY}"},
        json={
            "model_name": name,
            "litellm_params": {"model": model, "api_base": "http://upstream/v1", "api_key": "sk-planted"},
        },
        timeout=10,
    )
    assert reply.status_code == 200, reply.text
    return str(reply.json()["model_info"]["id"])


def plant_catalogue(
    world: World, name: str, *, litellm_model_id: str | None, availability: str = "available"
) -> None:
    with psycopg.connect(world.dbs.litemaas_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO models (id, name, provider, availability, litellm_model_id) "
            "VALUES (%s, %s, 'openai', %s, %s)",
            (name, name, availability, litellm_model_id),
        )


def plant_subscribers(world: World, model: str, count: int, *, key_models: tuple[str, ...] = ()) -> None:
    """`count` users subscribed (active) to `model`, each with one active key listing `model` (+ others)."""
    with psycopg.connect(world.dbs.litemaas_url, autocommit=True) as conn:
        for _ in range(count):
            tag = uuid.uuid4().hex[:10]
            row = conn.execute(
                "INSERT INTO users (username, email, oauth_provider, oauth_id) "
                "VALUES (%s, %s, 'openshift', %s) RETURNING id",
                (f"u{tag}", f"u{tag}@example.com", tag),
            ).fetchone()
            assert row is not None
            user_id = row[0]
            conn.execute(
                "INSERT INTO subscriptions (user_id, model_id, status) VALUES (%s, %s, 'active')",
                (user_id, model),
            )
            key = conn.execute(
                "INSERT INTO api_keys (user_id, key_hash, key_prefix, is_active) "
                "VALUES (%s, %s, 'sk-abcd', true) RETURNING id",
                (user_id, uuid.uuid4().hex),
            ).fetchone()
            assert key is not None
            for model_id in (model, *key_models):
                conn.execute(
                    "INSERT INTO api_key_models (api_key_id, model_id) VALUES (%s, %s)", (key[0], model_id)
                )


def litellm_rows(world: World) -> list[tuple[str, str]]:
    with psycopg.connect(world.dbs.litellm_url) as conn:
        rows = conn.execute(
            'SELECT model_name, model_id FROM "LiteLLM_ProxyModelTable" ORDER BY 1'
        ).fetchall()
    return [(str(a), str(b)) for a, b in rows]


def catalogue_row(world: World, name: str) -> dict[str, Any] | None:
    with psycopg.connect(world.dbs.litemaas_url) as conn:
        cur = conn.execute(
            "SELECT name, provider, category, description, availability, litellm_model_id, context_length "
            "FROM models WHERE id = %s",
            (name,),
        )
        row = cur.fetchone()
        columns = [c.name for c in cur.description or ()]
    return None if row is None else dict(zip(columns, row, strict=True))


def statuses(world: World, model: str) -> list[str]:
    with psycopg.connect(world.dbs.litemaas_url) as conn:
        rows = conn.execute("SELECT status FROM subscriptions WHERE model_id = %s", (model,)).fetchall()
    return sorted(str(r[0]) for r in rows)


def run(events: Iterator[Event]) -> tuple[list[Progress], Result]:
    collected = list(events)
    assert collected and isinstance(collected[-1], Result), collected
    assert all(isinstance(e, Progress) for e in collected[:-1]), collected
    return [e for e in collected[:-1] if isinstance(e, Progress)], collected[-1]


def text_of(*things: Any) -> str:
    """Everything a user could read of plans, progress and results, as one string."""
    parts: list[str] = []
    for thing in things:
        if isinstance(thing, Result):
            parts.append(repr(thing.to_json()))
            parts.extend(f.content for f in thing.files)
        elif hasattr(thing, "to_json"):
            parts.append(repr(thing.to_json()))
        else:
            parts.append(repr(thing))
    return "\n".join(parts)


def add_args(**fields: Any) -> ModelAddArgs:
    base: dict[str, Any] = {
        "model_name": "granite-8b",
        "litellm_model": "openai/granite-3-8b-instruct",
        "api_base": "https://granite.apps.example.com/v1",
        "api_key": UPSTREAM_KEY,
    }
    base.update(fields)
    return ModelAddArgs.model_validate(base)


# -- models add: bad input ---------------------------------------------------------------------------

BASE_WORDS = [
    "model_name=granite-8b",
    "litellm_model=openai/granite",
    "api_base=https://granite.example.com/v1",
    f"api_key={UPSTREAM_KEY}",
]


def _words_without(field: str) -> list[str]:
    return [w for w in BASE_WORDS if not w.startswith(f"{field}=")]


BAD_INPUT = [
    (_words_without("api_base"), "api_base", "missing"),
    (_words_without("api_key"), "api_key", "missing"),
    ([*_words_without("api_base"), "api_base=granite.example.com"], "api_base", "http(s) URL"),
    ([*_words_without("api_base"), "api_base=ftp://granite.example.com"], "api_base", "http(s) URL"),
    ([*BASE_WORDS, "rpm=-5"], "rpm", "greater than 0"),
    ([*BASE_WORDS, "context_length=0"], "context_length", "greater than 0"),
    ([*BASE_WORDS, "tpm=many"], "tpm", "whole number"),
]


@ONE_LAYOUT
def test_add_bad_input_names_the_field_and_registers_nothing(world: World) -> None:
    before = litellm_rows(world)
    for words, field, message in BAD_INPUT:
        text = "models add " + " ".join(words)

        # Typed: one readable line naming the field; the key never echoed.
        with pytest.raises(ParseError) as caught:
            parse_command(text, default_registry(), components=list(DEFAULT_COMPONENTS))
        assert message in caught.value.message, (field, caught.value.message)
        assert field.split("_")[-1] in caught.value.message.replace("-", "_"), caught.value.message
        assert UPSTREAM_KEY not in caught.value.message
        assert UPSTREAM_KEY not in str(caught.value.usage)

        # Modal: the same model, an error located on the field (what the form shows next to the input).
        data = dict(w.split("=", 1) for w in words)
        with pytest.raises(pydantic.ValidationError) as invalid:
            ModelAddArgs.model_validate(data)
        assert {str(e["loc"][0]) for e in invalid.value.errors()} == {field}
        assert UPSTREAM_KEY not in str([e["msg"] for e in invalid.value.errors()])

        # Nor does anything reach LiteLLM.
        assert litellm_rows(world) == before
    assert not [r for r in world.litellm.requests if r.path.startswith("/model/new")]


def test_api_base_with_credentials_is_refused_without_echo() -> None:
    with pytest.raises(pydantic.ValidationError) as invalid:
        add_args(api_base="https://user:hunter2@granite.example.com/v1")
    assert "credentials" in str(invalid.value)
    assert "hunter2" not in str([e["msg"] for e in invalid.value.errors()])


def test_defaults_are_the_seeds_and_the_operation_asks_with_a_modal() -> None:
    args = add_args()
    assert args.description == "AI model"
    # what the sync writes from LiteLLM is no argument: neither typed nor in the form
    for field in ("display_name", "provider", "category", "supports_streaming"):
        assert field not in ModelAddArgs.model_fields
        with pytest.raises(ParseError, match=f"unknown argument `{field}="):
            parse_command(
                f"models add {' '.join(BASE_WORDS)} {field}=x",
                default_registry(),
                components=list(DEFAULT_COMPONENTS),
            )
    assert args.catalogue_row() == {
        "name": "granite-8b",
        "provider": "openai",
        "category": "Language Model",
        "description": "AI model",
        "context_length": "—",
        "supports_streaming": "true",
    }
    assert ModelsAddOperation.modal is True
    assert ModelsAddOperation.default_role == "admin" and ModelsAddOperation.default_approval
    titles = {name: f.title for name, f in ModelAddArgs.model_fields.items() if name != "dry_run"}
    assert all(titles.values()), titles
    assert UPSTREAM_KEY not in repr(args) and UPSTREAM_KEY not in str(args.model_dump(mode="json"))


# -- models add ---------------------------------------------------------------------------------------


def test_add_registers_in_litellm_then_the_catalogue(world: World) -> None:
    args = add_args(description="IBM Granite", context_length=8192)
    op = ModelsAddOperation()
    plan = op.plan(world.env, args)
    assert litellm_rows(world) == []  # planning changes nothing
    shown = {(c.target, c.field): c.after for c in plan.changes}
    assert shown["model/granite-8b", "api_base"] == "https://granite.apps.example.com/v1"
    assert shown["catalogue/models/granite-8b", "category"] == "Language Model"
    assert all(field != "api_key" for _, field in shown)
    assert any("come from LiteLLM" in r for r in plan.risks)

    progress, result = run(op.execute(world.env, args, plan))

    assert result.ok, result
    [(name, model_id)] = litellm_rows(world)
    assert name == "granite-8b"
    row = catalogue_row(world, "granite-8b")
    assert row is not None
    assert row["litellm_model_id"] == model_id
    assert row["availability"] == "available"
    assert (row["name"], row["category"], row["description"], row["context_length"]) == (
        "granite-8b",
        "Language Model",
        "IBM Granite",
        8192,
    )
    assert result.sections[0].fields["LiteLLM id"] == model_id
    assert result.sections[1].fields == args.catalogue_row()  # the row, read back, as the plan said
    assert not result.warnings
    everything = text_of(plan, *progress, result)
    assert UPSTREAM_KEY not in everything
    assert MASTER_KEY not in everything and ADMIN_KEY not in everything
    # LiteLLM stored the upstream key (encrypted), so the model can actually be called.
    with psycopg.connect(world.dbs.litellm_url) as conn:
        stored = conn.execute('SELECT litellm_params::text FROM "LiteLLM_ProxyModelTable"').fetchone()
    assert stored is not None and UPSTREAM_KEY not in stored[0] and '"api_key"' in stored[0]


@ONE_LAYOUT
def test_add_refuses_a_name_either_side_already_has(world: World) -> None:
    plant_deployment(world, "in-litellm")
    plant_catalogue(world, "in-catalogue", litellm_model_id=None)
    op = ModelsAddOperation()
    with pytest.raises(OperationError, match="LiteLLM already has a model named in-litellm"):
        op.plan(world.env, add_args(model_name="in-litellm"))
    with pytest.raises(OperationError, match="catalogue already has in-catalogue"):
        op.plan(world.env, add_args(model_name="in-catalogue"))
    assert [name for name, _ in litellm_rows(world)] == ["in-litellm"]


@ONE_LAYOUT
def test_add_with_a_failing_sync_says_the_catalogue_catches_up(world: World) -> None:
    env = make_env(
        {"litellm": world.litellm.url, "backend": world.backend.url},
        world.dbs,
        backend_admin_key="generated-admin-key-without-prefix",
    )
    try:
        progress, result = run(ModelsAddOperation().execute(env, add_args(), None))
    finally:
        env.kube.close()
    assert result.ok
    assert [name for name, _ in litellm_rows(world)] == ["granite-8b"]
    assert catalogue_row(world, "granite-8b") is None
    assert "next sync" in result.summary
    assert any("ltm_admin_" in w and "models sync" in w for w in result.warnings), result.warnings
    assert "generated-admin-key-without-prefix" not in text_of(*progress, result)


@ONE_LAYOUT
def test_add_when_litellm_fails_registers_nothing_and_keeps_the_key_secret(world: World) -> None:
    world.litellm.inject_failure("/model/new", status=500)
    progress, result = run(ModelsAddOperation().execute(world.env, add_args(), None))
    assert not result.ok
    assert "500" in result.summary and "granite-8b" in result.summary
    assert litellm_rows(world) == []
    assert catalogue_row(world, "granite-8b") is None
    assert UPSTREAM_KEY not in text_of(*progress, result)


@ONE_LAYOUT
def test_add_never_runs_with_a_masked_key(world: World) -> None:
    _, result = run(ModelsAddOperation().execute(world.env, add_args(api_key="**********"), None))
    assert not result.ok and "api_key" in result.summary
    assert litellm_rows(world) == []


# -- models remove -----------------------------------------------------------------------------------


def test_remove_shows_the_impact_before_any_change_then_syncs(world: World) -> None:
    plant_deployment(world, "other")
    plant_catalogue(world, "other", litellm_model_id=None)
    model_id = plant_deployment(world, "doomed")
    plant_catalogue(world, "doomed", litellm_model_id=model_id)
    plant_subscribers(world, "doomed", 2)  # keys with only this model: deactivated
    plant_subscribers(world, "doomed", 1, key_models=("other",))  # keeps "other"

    op = ModelsRemoveOperation()
    args = ModelRemoveArgs(model="doomed")
    plan = op.plan(world.env, args)

    risks = " | ".join(plan.risks)
    assert "3 active subscription(s) on doomed (3 user(s)) become inactive" in risks
    assert "3 active API key(s) lose doomed; 2 of them have no other model" in risks
    assert "2 active API key(s) are deactivated (left without a model)" in risks
    assert statuses(world, "doomed") == ["active"] * 3  # nothing changed by the plan
    assert ("doomed", model_id) in litellm_rows(world)

    progress, result = run(op.execute(world.env, args, plan))

    assert result.ok, result
    assert [name for name, _ in litellm_rows(world)] == ["other"]
    row = catalogue_row(world, "doomed")
    assert row is not None and row["availability"] == "unavailable"  # sync never deletes
    assert statuses(world, "doomed") == ["inactive"] * 3
    assert result.sections[0].fields["catalogue"] == "unavailable"
    assert MASTER_KEY not in text_of(plan, *progress, result)


@ONE_LAYOUT
def test_remove_one_duplicate_deployment_by_id_keeps_the_model(world: World) -> None:
    keep = plant_deployment(world, "twin")
    drop = plant_deployment(world, "twin")
    plant_catalogue(world, "twin", litellm_model_id=keep)
    op = ModelsRemoveOperation()
    plan = op.plan(world.env, ModelRemoveArgs(model=drop))
    assert "stay in LiteLLM" in " ".join(plan.risks)
    _, result = run(op.execute(world.env, ModelRemoveArgs(model=drop), plan))
    assert result.ok
    assert litellm_rows(world) == [("twin", keep)]
    row = catalogue_row(world, "twin")
    assert row is not None and row["availability"] == "available"


@ONE_LAYOUT
def test_remove_refuses_unknown_and_catalogue_only_models(world: World) -> None:
    plant_deployment(world, "granite-8b")
    plant_catalogue(world, "ghost", litellm_model_id="x")
    op = ModelsRemoveOperation()
    with pytest.raises(OperationError, match="did you mean `granite-8b`"):
        op.plan(world.env, ModelRemoveArgs(model="granite-8c"))
    with pytest.raises(OperationError, match="ghost is not in LiteLLM"):
        op.plan(world.env, ModelRemoveArgs(model="ghost"))
    assert len(litellm_rows(world)) == 1


@ONE_LAYOUT
def test_remove_when_litellm_refuses_reports_it_and_the_catalogue_is_untouched(world: World) -> None:
    model_id = plant_deployment(world, "sticky")
    plant_catalogue(world, "sticky", litellm_model_id=model_id)
    plant_subscribers(world, "sticky", 1)
    op = ModelsRemoveOperation()
    plan = op.plan(world.env, ModelRemoveArgs(model="sticky"))
    world.litellm.inject_failure("/model/delete", status=500)
    _, result = run(op.execute(world.env, ModelRemoveArgs(model="sticky"), plan))
    assert not result.ok and "500" in result.summary
    assert litellm_rows(world) == [("sticky", model_id)]
    assert statuses(world, "sticky") == ["active"]


# -- models list / verify ----------------------------------------------------------------------------


def plant_mismatches(world: World) -> dict[str, str]:
    ok_id = plant_deployment(world, "fine")
    plant_catalogue(world, "fine", litellm_model_id=ok_id)
    plant_deployment(world, "ui-only")  # added in the LiteLLM UI: not in the catalogue
    plant_catalogue(world, "gone", litellm_model_id="deleted-id")  # available, not in LiteLLM
    plant_deployment(world, "playbook")
    plant_catalogue(world, "playbook", litellm_model_id="playbook")  # the seed's playbook wrote the name
    plant_catalogue(world, "retired", litellm_model_id="old", availability="unavailable")
    plant_subscribers(world, "retired", 2)
    return {"fine": ok_id}


def test_list_shows_each_planted_mismatch(world: World) -> None:
    ids = plant_mismatches(world)
    _, result = run(ModelsListOperation().execute(world.env, ModelsListArgs(), None))
    assert result.ok, result
    lines = {line.split()[0]: line for line in result.sections[0].lines}
    assert set(lines) == {"fine", "ui-only", "gone", "playbook", "retired"}
    assert "both" in lines["fine"] and "available" in lines["fine"] and "id ok" in lines["fine"]
    assert "only LiteLLM" in lines["ui-only"]
    assert "only catalogue" in lines["gone"] and "available" in lines["gone"]
    assert "id MISMATCH" in lines["playbook"]
    assert "unavailable" in lines["retired"]
    problems = {line.split(":")[0] for line in result.sections[1].lines}
    assert problems == {"ui-only", "gone", "playbook", "retired"}  # and nothing about "fine"
    assert "4 with problems" in result.summary
    assert ids["fine"] not in " ".join(result.sections[1].lines)
    assert [f.command for f in result.follow_ups] == ["models sync"]


@ONE_LAYOUT
def test_verify_says_what_is_wrong_and_the_fix(world: World) -> None:
    plant_mismatches(world)
    for model, expected in [
        ("ui-only", "users cannot subscribe"),
        ("gone", "not in LiteLLM: requests to it fail"),
        ("playbook", "written by the seed's playbook"),
        ("retired", "unavailable with 2 active subscription(s)"),
    ]:
        _, result = run(ModelsVerifyOperation().execute(world.env, ModelsVerifyArgs(model=model), None))
        assert result.ok
        assert any(expected in w for w in result.warnings), (model, result.warnings)
        assert all("→ fix: " in w for w in result.warnings)


@ONE_LAYOUT
def test_verify_a_healthy_model_by_name_or_litellm_id(world: World) -> None:
    ids = plant_mismatches(world)
    for wanted in ("fine", ids["fine"]):
        _, result = run(ModelsVerifyOperation().execute(world.env, ModelsVerifyArgs(model=wanted), None))
        assert result.ok and not result.warnings, result
        assert result.summary.startswith("fine: in LiteLLM and in the catalogue")
        assert result.sections[1].fields["availability"] == "available"


@ONE_LAYOUT
def test_verify_unknown_model_suggests_close_names(world: World) -> None:
    plant_mismatches(world)
    _, result = run(ModelsVerifyOperation().execute(world.env, ModelsVerifyArgs(model="playbok"), None))
    assert not result.ok
    assert "No model `playbok`" in result.summary and "`playbook`" in result.summary


# -- outages -----------------------------------------------------------------------------------------


@ONE_LAYOUT
def test_litellm_down_or_database_down_is_a_plain_failure(world: World) -> None:
    plant_mismatches(world)
    down = make_env({"litellm": DEAD_URL, "backend": world.backend.url}, world.dbs)
    _, result = run(ModelsListOperation().execute(down, ModelsListArgs(), None))
    assert not result.ok and "LiteLLM" in result.summary
    assert MASTER_KEY not in result.summary

    url = "postgresql://postgres:s3cret-pw@127.0.0.1:1/litemaas_db"
    no_db = make_env(
        {"litellm": world.litellm.url, "backend": world.backend.url}, world.dbs, litemaas_database_url=url
    )
    _, result = run(ModelsVerifyOperation().execute(no_db, ModelsVerifyArgs(model="fine"), None))
    assert not result.ok and "litemaas_db at 127.0.0.1:1" in result.summary
    assert "s3cret-pw" not in result.summary
    with pytest.raises(OperationError) as refused:
        ModelsRemoveOperation().plan(no_db, ModelRemoveArgs(model="fine"))
    assert "s3cret-pw" not in str(refused.value)
    for env in (down, no_db):
        env.kube.close()
