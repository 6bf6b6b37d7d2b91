"""The backend emulator's `POST /api/v1/models/sync` on the real LiteMaaS and LiteLLM tables, over HTTP.

The sandbox LiteLLM serves `/model/info` from `"LiteLLM_ProxyModelTable"`; the backend emulator reads it
with the master key, cross-checks the table and writes the real `models`, `subscriptions`, `api_keys`,
`api_key_models` and `audit_logs` rows (litemaas-facts.md §2.2, §8). Both database layouts.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import httpx
import psycopg
import pytest

from sandbox import seed_data
from sandbox.backend import BackendSandbox
from sandbox.litellm import LiteLLMSandbox
from tests.conftest import DEAD_URL_PORT, DatabasePair

MASTER = "sk-sandbox-master-test-0001"
ADMIN = "ltm_admin_sync-test-key"
SYNC = "/api/v1/models/sync"
GRANITE_ID = "11111111-0000-4000-8000-000000000001"
LLAMA_ID = "11111111-0000-4000-8000-000000000002"


@dataclass
class World:
    dbs: DatabasePair
    litellm: LiteLLMSandbox
    backend: BackendSandbox
    keys: dict[str, UUID]

    def sync(self, body: Any = {}, key: str | None = ADMIN) -> httpx.Response:  # noqa: B006 - never mutated
        headers = {"Authorization": f"Bearer {key}"} if key is not None else {}
        return httpx.post(f"{self.backend.url}{SYNC}", json=body, headers=headers, timeout=10)

    def one(self, sql: str, *params: Any) -> Any:
        with psycopg.connect(self.dbs.litemaas_url) as conn:
            row = conn.execute(sql, params).fetchone()
        return None if row is None else (row[0] if len(row) == 1 else row)


def seed(dbs: DatabasePair) -> dict[str, UUID]:
    """LiteLLM: granite (new id) and llama. Catalogue: granite (old id), old-model (gone from LiteLLM)."""
    with psycopg.connect(dbs.litellm_url) as conn:
        seed_data.add_litellm_model(
            conn,
            "granite",
            {"model": "openai/granite-3-8b", "api_base": "http://vllm:8000/v1", "api_key": "sk-upstream-1"},
            model_id=GRANITE_ID,
            model_info={"max_tokens": 8192},
        )
        seed_data.add_litellm_model(
            conn,
            "llama",
            {"model": "openai/llama-3-1-8b", "api_base": "http://vllm-2:8000/v1"},
            model_id=LLAMA_ID,
        )
    with psycopg.connect(dbs.litemaas_url) as conn:
        seed_data.add_model(
            conn, id="granite", litellm_model_id="stale-id", litellm_params={"model": "openai/g"}
        )
        seed_data.add_model(
            conn, id="old-model", litellm_model_id="old-id", litellm_params={"model": "openai/o"}
        )
        alice = seed_data.add_user(conn, email="alice@example.com")
        bob = seed_data.add_user(conn, email="bob@example.com")
        carol = seed_data.add_user(conn, email="carol@example.com")
        seed_data.add_subscription(conn, alice, "old-model")
        seed_data.add_subscription(conn, bob, "old-model")
        seed_data.add_subscription(conn, carol, "old-model", status="cancelled")
        seed_data.add_subscription(conn, alice, "granite")
        only_old = seed_data.add_api_key(
            conn, alice, key="sk-only-old-000000000001", alias="only-old_00000001", models=["old-model"]
        )
        both = seed_data.add_api_key(
            conn, bob, key="sk-both-00000000000000002", alias="both_00000002", models=["old-model", "granite"]
        )
    return {"only_old": only_old, "both": both}


@pytest.fixture
def world(litemaas_litellm_dbs: DatabasePair) -> Iterator[World]:
    dbs = litemaas_litellm_dbs
    keys = seed(dbs)
    with LiteLLMSandbox(master_key=MASTER, database_url=dbs.litellm_url) as litellm:
        backend = BackendSandbox(
            litellm_url=litellm.url,
            litellm_master_key=MASTER,
            database_url=dbs.litemaas_url,
            litellm_database_url=dbs.litellm_url,
            admin_keys=(ADMIN, "plain-key-without-prefix"),
        )
        with backend:
            yield World(dbs, litellm, backend, keys)


def test_sync_inserts_updates_and_marks_unavailable_with_the_cascade(world: World) -> None:
    reply = world.sync({})

    assert reply.status_code == 200
    body = reply.json()
    assert {
        k: body[k] for k in ("success", "totalModels", "newModels", "updatedModels", "unavailableModels")
    } == {
        "success": True,
        "totalModels": 2,
        "newModels": 1,
        "updatedModels": 1,
        "unavailableModels": 1,
    }
    assert body["errors"] == [] and body["syncedAt"].endswith("Z")
    assert "cascadeStatistics" not in body  # 0.4.0's response schema strips it (facts §8)

    llama = world.one(
        "SELECT provider, litellm_model_id, backend_model_name, features, availability, category, version,"
        " api_base, metadata FROM models WHERE id = 'llama'"
    )
    assert llama[:8] == (
        "openai",
        LLAMA_ID,
        "llama-3-1-8b",
        ["chat"],
        "available",
        "Language Model",
        "1.0",
        "http://vllm-2:8000/v1",
    )
    assert set(llama[8]) == {"litellm_params", "litellm_model_info"}
    granite = world.one("SELECT litellm_model_id, context_length, metadata FROM models WHERE id = 'granite'")
    assert granite[:2] == (GRANITE_ID, 8192)
    assert "api_key" not in granite[2]["litellm_params"]  # the upstream key never lands in the catalogue

    # the cascade: kept, not deleted; only active subscriptions; keys left without a model
    assert world.one("SELECT availability, litellm_model_id FROM models WHERE id = 'old-model'") == (
        "unavailable",
        "old-id",
    )
    statuses = world.one(
        "SELECT array_agg(status ORDER BY status) FROM subscriptions WHERE model_id = 'old-model'"
    )
    assert statuses == ["cancelled", "inactive", "inactive"]
    assert world.one("SELECT status FROM subscriptions WHERE model_id = 'granite'") == "active"
    assert world.one("SELECT count(*) FROM api_key_models WHERE model_id = 'old-model'") == 0
    assert world.one(
        "SELECT is_active, revoked_at, sync_status FROM api_keys WHERE id = %s", world.keys["only_old"]
    ) == (
        False,
        None,
        "synced",
    )
    assert world.one("SELECT is_active FROM api_keys WHERE id = %s", world.keys["both"]) is True
    audit = world.one(
        "SELECT resource_type, resource_id, metadata FROM audit_logs"
        " WHERE action = 'MODEL_MARKED_UNAVAILABLE_WITH_CASCADE'"
    )
    assert audit[:2] == ("MODEL", "old-model")
    assert audit[2]["cascadeStatistics"] == {
        "subscriptionsDeactivated": 2,
        "apiKeyModelAssociationsRemoved": 2,
        "orphanedApiKeysDeactivated": 1,
    }
    assert world.one("SELECT count(*) FROM audit_logs WHERE action = 'POST_/api/v1/models/sync'") == 1
    [outcome] = world.backend.syncs
    assert outcome.cascade.as_json() == audit[2]["cascadeStatistics"]

    again = world.sync().json()  # old-model is counted again although it already is unavailable
    assert (again["newModels"], again["updatedModels"], again["unavailableModels"]) == (0, 0, 1)
    assert (
        world.one("SELECT count(*) FROM audit_logs WHERE action = 'MODEL_MARKED_UNAVAILABLE_WITH_CASCADE'")
        == 1
    )


def test_a_model_back_in_litellm_is_available_again_but_its_subscriptions_stay_inactive(world: World) -> None:
    world.sync()
    with psycopg.connect(world.dbs.litellm_url) as conn:
        seed_data.add_litellm_model(conn, "old-model", {"model": "openai/o"})

    body = world.sync().json()

    assert (body["newModels"], body["updatedModels"], body["unavailableModels"]) == (0, 1, 0)
    assert world.one("SELECT availability FROM models WHERE id = 'old-model'") == "available"
    # and its keys stay inactive: the cascade only ever deactivates
    assert world.one("SELECT is_active FROM api_keys WHERE id = %s", world.keys["only_old"]) is False
    assert (
        world.one("SELECT count(*) FROM subscriptions WHERE model_id = 'old-model' AND status = 'inactive'")
        == 2
    )


def test_options_force_update_and_mark_unavailable(world: World) -> None:
    kept = world.sync({"markUnavailable": False}).json()
    assert (
        kept["unavailableModels"],
        world.one("SELECT availability FROM models WHERE id = 'old-model'"),
    ) == (
        0,
        "available",
    )
    forced = world.sync({"forceUpdate": True, "markUnavailable": False}).json()
    assert (forced["newModels"], forced["updatedModels"]) == (0, 2)

    bad = world.sync({"forceUpdate": "yes"})
    assert bad.status_code == 400
    assert bad.json()["error"]["details"]["validation"][0]["field"] == "forceUpdate"


def test_without_a_litellm_database_the_api_list_is_trusted(litemaas_litellm_dbs: DatabasePair) -> None:
    seed(litemaas_litellm_dbs)
    with (
        LiteLLMSandbox(master_key=MASTER, database_url=litemaas_litellm_dbs.litellm_url) as litellm,
        BackendSandbox(
            litellm_url=litellm.url, litellm_master_key=MASTER, database_url=litemaas_litellm_dbs.litemaas_url
        ) as backend,
    ):
        reply = httpx.post(
            f"{backend.url}{SYNC}", json={}, headers={"Authorization": "Bearer ltm_admin_sandbox"}, timeout=10
        )
    assert reply.status_code == 200
    assert (reply.json()["newModels"], reply.json()["unavailableModels"]) == (1, 1)


def test_a_missing_litellm_table_or_an_unreachable_litellm_fails_the_whole_sync(
    litemaas_db: str,
) -> None:
    with LiteLLMSandbox(master_key=MASTER, database_url=None) as litellm:
        wrong_table = BackendSandbox(
            litellm_url=litellm.url,
            litellm_master_key=MASTER,
            database_url=litemaas_db,
            litellm_database_url=litemaas_db,  # the LiteMaaS database has no LiteLLM tables (facts §4.8)
        )
        with wrong_table:
            reply = httpx.post(
                f"{wrong_table.url}{SYNC}", json={}, headers={"Authorization": "ltm_admin_sandbox"}
            )
    assert reply.status_code == 200  # 0.4.0 answers a failed sync with 200 (facts §9)
    body = reply.json()
    assert body["success"] is False and body["totalModels"] == 0
    assert body["errors"][0].startswith("Synchronization failed:")

    down = BackendSandbox(
        litellm_url=f"http://127.0.0.1:{DEAD_URL_PORT}", litellm_master_key=MASTER, database_url=litemaas_db
    )
    with down:
        reply = httpx.post(
            f"{down.url}{SYNC}", json={}, headers={"Authorization": "Bearer ltm_admin_sandbox"}
        )
    assert reply.status_code == 200
    assert reply.json()["errors"] == ["Synchronization failed: LiteLLM API unreachable (ConnectError)"]
    with psycopg.connect(litemaas_db) as conn:
        assert conn.execute("SELECT count(*) FROM models").fetchone() == (0,)


@pytest.mark.parametrize(
    "header",
    [
        None,
        "Bearer plain-key-without-prefix",  # listed, but no prefix: verified as a JWT
        "Bearer ltm_admin_not-listed",
        f"Bearer {MASTER}",
        "Bearer sk-user-key-0000000000000001",
        "Bearer",
    ],
)
def test_only_a_listed_ltm_admin_key_is_an_admin(header: str | None) -> None:
    with BackendSandbox(admin_keys=(ADMIN, "plain-key-without-prefix")) as backend:
        headers = {"Authorization": header} if header is not None else {}
        reply = httpx.post(f"{backend.url}{SYNC}", json={}, headers=headers, timeout=5)
        accepted = httpx.post(f"{backend.url}{SYNC}", json={}, headers={"Authorization": ADMIN}, timeout=5)

    assert reply.status_code == 401
    assert reply.json()["error"]["code"] == "UNAUTHORIZED"
    secret = (header or "").removeprefix("Bearer ").strip()
    assert not secret or secret not in reply.text
    # accepted without the word Bearer; without a database the sync itself fails (200 success:false)
    assert accepted.status_code == 200 and accepted.json()["success"] is False
