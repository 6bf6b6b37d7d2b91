"""`models sync` through the backend emulator over HTTP, on the real tables, in both database layouts.

The operation asks the backend (`POST /api/v1/models/sync`) with the admin key from settings or from the
`backend-secret` Secret of the Kubernetes sandbox, and reads the cascade counts the 0.4.0 answer strips
from the sync's `audit_logs` rows. The 401 of the RHDP-generated (unprefixed) key is explained.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest

from commands.clients.backend import UNAUTHORIZED_HINT, BackendClient, BackendError
from commands.clients.kube import KubeClient
from commands.contract import Event, OperationError, Progress, Result
from commands.environment import Environment
from commands.models.sync import ModelsSyncArgs, ModelsSyncOperation
from sandbox import seed_data
from sandbox.backend import BackendSandbox
from sandbox.kube import KubeSandbox
from sandbox.litellm import LiteLLMSandbox
from tests.conftest import DEAD_URL_PORT, DatabasePair

NAMESPACE = "litellm-rhpds"
MASTER = "sk-master-models-sync-0001"
ADMIN = "ltm_admin_models-sync-0001"


@dataclass
class World:
    dbs: DatabasePair
    kube_sandbox: KubeSandbox
    kube: KubeClient
    litellm: LiteLLMSandbox
    backend: BackendSandbox

    def env(self, **overrides: Any) -> Environment:
        settings: dict[str, Any] = {
            "backend_url": self.backend.url,
            "backend_admin_key": ADMIN,
            "litemaas_database_url": self.dbs.litemaas_url,
            "litellm_database_url": self.dbs.litellm_url,
        }
        settings.update(overrides)
        return Environment(
            name="test", namespace=NAMESPACE, kube=self.kube, litellm_redis_ping=lambda: True, **settings
        )


def seed(dbs: DatabasePair) -> None:
    with psycopg.connect(dbs.litellm_url) as conn:
        seed_data.add_litellm_model(
            conn, "granite", {"model": "openai/granite-3-8b", "api_base": "http://v/v1"}
        )
        seed_data.add_litellm_model(
            conn, "llama", {"model": "openai/llama-3-1-8b", "api_base": "http://v/v1"}
        )
    with psycopg.connect(dbs.litemaas_url) as conn:
        seed_data.add_model(
            conn, id="old-model", litellm_model_id="old-id", litellm_params={"model": "openai/o"}
        )
        seed_data.add_model(
            conn, id="older-model", litellm_model_id="x-id", litellm_params={"model": "openai/x"}
        )
        alice = seed_data.add_user(conn, email="alice@example.com")
        bob = seed_data.add_user(conn, email="bob@example.com")
        seed_data.add_subscription(conn, alice, "old-model")
        seed_data.add_subscription(conn, bob, "old-model")
        seed_data.add_subscription(conn, bob, "older-model")
        seed_data.add_api_key(
            conn, alice, key="sk-alice-key-00000000001", alias="a_00000001", models=["old-model"]
        )


@pytest.fixture
def world(litemaas_litellm_dbs: DatabasePair, tmp_path: Path) -> Iterator[World]:
    dbs = litemaas_litellm_dbs
    seed(dbs)
    secrets = {"litemaas-db": {"DATABASE_URL": dbs.litemaas_url, "LITELLM_DATABASE_URL": dbs.litellm_url}}
    kube_sandbox = KubeSandbox(namespace=NAMESPACE, seed=True, secrets=secrets).start()
    kube = KubeClient.from_kubeconfig(kube_sandbox.write_kubeconfig(tmp_path / "kubeconfig"), NAMESPACE)
    try:
        with LiteLLMSandbox(master_key=MASTER, database_url=dbs.litellm_url) as litellm:
            backend = BackendSandbox(
                litellm_url=litellm.url,
                litellm_master_key=MASTER,
                database_url=dbs.litemaas_url,
                litellm_database_url=dbs.litellm_url,
                admin_keys=(ADMIN,),
            )
            with backend:
                yield World(dbs, kube_sandbox, kube, litellm, backend)
    finally:
        kube.close()
        kube_sandbox.stop()


def run(env: Environment) -> tuple[list[Progress], Result]:
    op = ModelsSyncOperation()
    args = ModelsSyncArgs()
    events: list[Event] = list(op.execute(env, args, op.plan(env, args)))
    assert isinstance(events[-1], Result) and all(isinstance(e, Progress) for e in events[:-1])
    return [e for e in events[:-1] if isinstance(e, Progress)], events[-1]


def test_sync_reports_new_updated_unavailable_and_the_cascade(world: World) -> None:
    progress, result = run(world.env())

    assert result.ok, result
    assert result.summary == (
        "catalogue synced: 2 models in LiteLLM — 2 new, 0 changed, 2 newly marked unavailable"
    )
    catalogue, cascade = result.sections
    assert catalogue.fields == {
        "models in LiteLLM": "2",
        "new": "2",
        "changed": "0",
        "newly marked unavailable": "2",
        "updated (the backend's count)": "0",
        "missing from LiteLLM (the backend's count)": "2",
    }
    assert catalogue.lines == ("new: granite, llama", "newly unavailable: old-model, older-model")
    assert cascade.fields == {
        "subscriptions deactivated": "3",
        "key-model links removed": "1",
        "keys deactivated": "1",
    }
    assert cascade.lines == (
        "old-model: 2 subscriptions inactive, 1 key links removed, 1 keys deactivated",
        "older-model: 1 subscriptions inactive, 0 key links removed, 0 keys deactivated",
    )
    assert any("`drift block-inactive`" in w for w in result.warnings)
    assert [p.text for p in progress] == ["the backend is syncing the catalogue from LiteLLM"]
    with psycopg.connect(world.dbs.litemaas_url) as conn:
        rows = conn.execute("SELECT id, availability FROM models ORDER BY id").fetchall()
    assert rows == [
        ("granite", "available"),
        ("llama", "available"),
        ("old-model", "unavailable"),
        ("older-model", "unavailable"),
    ]

    # 0.4.0 counts the two already-unavailable models again; they are not newly marked
    _, again = run(world.env())
    assert again.ok and again.summary.endswith("0 new, 0 changed, 0 newly marked unavailable")
    assert again.sections[0].fields["missing from LiteLLM (the backend's count)"] == "2"
    assert again.sections[1].fields["subscriptions deactivated"] == "0"
    assert not any("drift" in w for w in again.warnings)


def test_database_urls_may_come_from_the_litemaas_db_secret(world: World) -> None:
    _, result = run(world.env(litemaas_database_url=None, litellm_database_url=None))

    assert result.ok and result.sections[1].fields["subscriptions deactivated"] == "3"


def test_the_unprefixed_generated_admin_key_gets_the_401_explained(world: World) -> None:
    generated = world.kube_sandbox.secret_data("backend-secret")["ADMIN_API_KEY"]
    env = world.env(backend_admin_key=None)  # read from backend-secret, as the seed's scripts do

    _, result = run(env)

    assert not result.ok
    assert result.summary == f"model sync failed: {UNAUTHORIZED_HINT}"
    assert generated not in str(result.to_json())
    with psycopg.connect(world.dbs.litemaas_url) as conn:
        assert conn.execute("SELECT count(*) FROM models").fetchone() == (2,)  # nothing synced


def test_a_failed_sync_and_an_unreachable_backend_are_plain_failures(world: World) -> None:
    world.litellm.stop()  # the backend cannot read LiteLLM: its sync answers 500 success:false

    _, failed = run(world.env())
    _, down = run(world.env(backend_url=f"http://127.0.0.1:{DEAD_URL_PORT}"))

    assert not failed.ok
    assert failed.summary == (
        "the backend's model sync failed: Synchronization failed: LiteLLM API unreachable (ConnectError)"
    )
    assert not down.ok
    where = f"http://127.0.0.1:{DEAD_URL_PORT}"
    assert down.summary == f"model sync failed: the backend at {where} could not be reached (ConnectError)"
    assert ADMIN not in failed.summary + down.summary


def test_without_any_admin_key_the_plan_refuses(world: World) -> None:
    world.kube_sandbox.set_secret("backend-secret", {"JWT_SECRET": "x"}, replace=True)
    env = world.env(backend_admin_key=None)

    with pytest.raises(OperationError, match="BACKEND_ADMIN_KEY is not set and the Secret backend-secret"):
        ModelsSyncOperation().plan(env, ModelsSyncArgs())


def test_the_client_reads_config_and_readiness_and_never_shows_the_key(world: World) -> None:
    with BackendClient(world.backend.url, ADMIN, timeout=5) as client:
        assert client.config()["version"] == "0.4.0"
        assert client.health_ready() == {"ready": True}
        world.backend.set_ready(False)
        assert client.health_ready() == {"ready": False}
        assert ADMIN not in repr(client)
    world.backend.set_latency(1.0)
    with BackendClient(world.backend.url, ADMIN, timeout=0.2) as slow, pytest.raises(BackendError) as caught:
        slow.sync_models()
    assert (
        caught.value.status == 0 and "did not answer POST /api/v1/models/sync in time" in caught.value.message
    )


@pytest.mark.parametrize("features_order_bug", [True, False], ids=["0.4.0", "fixed"])
def test_a_model_with_a_capability_is_not_reported_changed_on_every_sync(
    world: World, features_order_bug: bool
) -> None:
    """0.4.0 UPDATEs such a model on every sync (its `features` comparison bug); a fixed backend does not.
    Either way the operator is told what really changed: nothing."""
    with psycopg.connect(world.dbs.litellm_url) as conn:
        seed_data.add_litellm_model(
            conn,
            "tools",
            {"model": "openai/tools", "api_base": "http://v/v1"},
            model_info={"supports_function_calling": True},
        )
    backend = BackendSandbox(
        litellm_url=world.litellm.url,
        litellm_master_key=MASTER,
        database_url=world.dbs.litemaas_url,
        litellm_database_url=world.dbs.litellm_url,
        admin_keys=(ADMIN,),
        features_order_bug=features_order_bug,
    )
    with backend:
        env = world.env(backend_url=backend.url)
        run(env)
        _, again = run(env)

    assert again.ok and again.summary.endswith("0 new, 0 changed, 0 newly marked unavailable")
    assert again.sections[0].fields["updated (the backend's count)"] == ("1" if features_order_bug else "0")
