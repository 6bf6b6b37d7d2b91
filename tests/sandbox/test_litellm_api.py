"""The LiteLLM sandbox's admin API on LiteLLM's real tables, and `LiteLLMClient` against its failures.

What the contract suite cannot check on a real proxy lives here: the rows in
`"LiteLLM_VerificationToken"`, `"LiteLLM_DeletedVerificationToken"` and `"LiteLLM_ProxyModelTable"`,
the exact error bodies, scripted failures (status, timeout, after N requests), the request log keeping
no secret, concurrency, and the client's retry policy (GETs retried, POSTs never repeated).
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import kubernetes.client as k8s
import psycopg
import pytest
from psycopg.rows import dict_row

from commands.clients.kube import KubeClient
from commands.clients.litellm import LiteLLMClient, LiteLLMError, litellm_client
from commands.contract import OperationError
from commands.environment import Environment
from sandbox.kube import KubeSandbox
from sandbox.litellm import LiteLLMSandbox
from sandbox.seed_data import add_litellm_model, add_litellm_token
from tests.conftest import DEAD_URL_PORT

MASTER = "sk-sandbox-test-master-0001"


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@pytest.fixture
def sandbox(litellm_db: str) -> Iterator[LiteLLMSandbox]:
    with LiteLLMSandbox(master_key=MASTER, database_url=litellm_db) as sb:
        yield sb


@pytest.fixture
def http(sandbox: LiteLLMSandbox) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=sandbox.url, headers={"Authorization": f"Bearer {MASTER}"}, timeout=5
    ) as client:
        yield client


@pytest.fixture
def client(sandbox: LiteLLMSandbox) -> Iterator[LiteLLMClient]:
    with LiteLLMClient(sandbox.url, MASTER, timeout=0.8, backoff=0.01) as c:
        yield c


def rows(url: str, query: str, *params: Any) -> list[dict[str, Any]]:
    with psycopg.connect(url, row_factory=dict_row) as conn:
        return conn.execute(query, params).fetchall()


# -- what lands in the tables -----------------------------------------------------------------------


def test_generate_stores_the_sha256_token_naive_utc_expiry_and_fields(
    http: httpx.Client, litellm_db: str
) -> None:
    before = datetime.now(UTC).replace(tzinfo=None)
    made = http.post(
        "/key/generate",
        json={
            "key_alias": "bot-test-1",
            "duration": "30d",
            "models": ["fake-gpt"],
            "metadata": {"t": "T-1"},
            "max_budget": 5.0,
            "user_id": "u-123",
        },
    ).json()
    custom = http.post("/key/generate", json={"key": "sk-custom-bot-0001", "key_alias": "custom"}).json()

    (row,) = rows(litellm_db, 'SELECT * FROM "LiteLLM_VerificationToken" WHERE key_alias = %s', "bot-test-1")
    assert row["token"] == sha256(made["key"]) == made["token"] == made["token_id"]
    assert len(made["key"]) == len("sk-") + 22
    assert row["key_name"] == "sk-..." + made["key"][-4:]
    assert before + timedelta(days=30) <= row["expires"] <= before + timedelta(days=30, seconds=5)
    assert row["expires"].tzinfo is None  # timestamp without time zone, in UTC
    assert (row["models"], row["metadata"], row["max_budget"], row["user_id"]) == (
        ["fake-gpt"],
        {"t": "T-1"},
        5.0,
        "u-123",
    )
    assert custom["token"] == sha256("sk-custom-bot-0001")
    assert made["duration"] is None and made["expires"].endswith("Z")


def test_delete_moves_rows_to_the_archive_and_info_reports_them_deleted(
    http: httpx.Client, litellm_db: str
) -> None:
    made = http.post("/key/generate", json={"key_alias": "goner"}).json()

    gone = http.post("/key/delete", json={"keys": [made["key"]]}, headers={"litellm-changed-by": "U0ALICE"})
    info = http.get("/key/info", params={"key": made["token"]})

    assert (gone.status_code, gone.json()) == (200, {"deleted_keys": [made["key"]]})  # echoed as sent
    assert rows(litellm_db, 'SELECT 1 FROM "LiteLLM_VerificationToken"') == []
    (archived,) = rows(litellm_db, 'SELECT * FROM "LiteLLM_DeletedVerificationToken"')
    assert (archived["token"], archived["key_alias"], archived["litellm_changed_by"]) == (
        made["token"],
        "goner",
        "U0ALICE",
    )
    assert info.status_code == 200
    assert (info.json()["info"]["status"], info.json()["info"]["key_alias"]) == ("deleted", "goner")
    assert "deleted_at" in info.json()["info"] and "token" not in info.json()["info"]


def test_error_bodies_are_litellms(http: httpx.Client) -> None:
    http.post("/key/generate", json={"key_alias": "pg-1"})

    missing = http.post("/key/delete", json={"key_aliases": ["nope"]})
    empty = http.post("/key/delete", json={})
    dup = http.post("/key/generate", json={"key_alias": "pg-1"})
    unknown = http.get("/key/info", params={"key": "sk-never"})
    bad_duration = http.post("/key/generate", json={"duration": "soon"})

    assert missing.status_code == 404
    assert missing.json() == {
        "error": {
            "message": "{'error': 'No keys found'}",
            "type": "internal_server_error",
            "param": None,
            "code": "404",
        }
    }
    assert empty.status_code == 422
    assert empty.json()["detail"][0]["msg"] == (
        "Value error, At least one of 'keys' or 'key_aliases' must be provided."
    )
    assert dup.status_code == 400 and dup.json()["error"]["message"] == (
        "Key with alias 'pg-1' already exists. Unique key aliases across all keys are required."
    )
    assert (unknown.status_code, unknown.json()["error"]["message"]) == (404, "Key not found in database")
    assert bad_duration.status_code == 400


def test_list_pages_sorts_and_bounds_the_page_size(http: httpx.Client) -> None:
    for alias in ("pg-2", "custom", "pg-3", "pg-1"):
        http.post("/key/generate", json={"key_alias": alias})

    def page(**params: Any) -> httpx.Response:
        return http.get(
            "/key/list", params={"sort_by": "key_alias", "sort_order": "asc", "size": 2, **params}
        )

    first, second = (
        page(page=1, return_full_object="true").json(),
        page(page=2, return_full_object="true").json(),
    )
    hashes = page(page=1).json()

    assert [k["key_alias"] for k in first["keys"]] == ["custom", "pg-1"]
    assert [k["key_alias"] for k in second["keys"]] == ["pg-2", "pg-3"]
    assert (first["total_count"], first["current_page"], first["total_pages"]) == (4, 1, 2)
    assert hashes["keys"] == [k["token"] for k in first["keys"]]  # token hashes without the flag
    assert all("key" not in k for k in first["keys"])
    assert [http.get("/key/list", params={"size": s}).status_code for s in (0, 101, 100)] == [422, 422, 200]
    assert http.get("/key/list", params={"page": 0}).status_code == 422
    assert (
        http.get("/key/list", params={"key_alias": "PG", "substring_matching": "true"}).json()["total_count"]
        == 3
    )


def test_seeded_rows_are_served_and_cleaned_like_generated_ones(
    sandbox: LiteLLMSandbox, litellm_db: str
) -> None:
    now = datetime.now(UTC)
    with psycopg.connect(litellm_db, autocommit=True) as conn:
        token = add_litellm_token(
            conn,
            key="sk-seeded-workshop-01",
            alias="workshop-01",
            expires=now - timedelta(days=1),
            duration="30d",
        )
        model_id = add_litellm_model(conn, "granite", {"model": "openai/granite", "api_key": "sk-upstream"})

    with LiteLLMClient(sandbox.url, MASTER) as client:
        info = client.key_info("sk-seeded-workshop-01")
        (listed,) = client.list_keys(key_alias="workshop-01").keys
        (model,) = client.model_info()
        assert client.delete_keys(keys=[token]) == [token]

    assert info is not None and info["status"] == "expired"
    assert listed["metadata"] == {"duration": "30d"} and listed["token"] == token
    assert (model["model_info"]["id"], model["litellm_params"]) == (model_id, {"model": "openai/granite"})


def test_models_are_encrypted_at_rest_and_served_decrypted_without_api_key(
    http: httpx.Client, litellm_db: str
) -> None:
    body = {
        "model_name": "bot-model-1",
        "litellm_params": {
            "model": "openai/fake-model",
            "api_base": "http://up/v1",
            "api_key": "sk-upstream-secret",
        },
        "model_info": {"description": "added by test"},
    }
    added = http.post("/model/new", json=body).json()
    model_id = added["model_id"]

    (row,) = rows(litellm_db, 'SELECT * FROM "LiteLLM_ProxyModelTable"')
    info = http.get("/model/info").json()["data"]
    v1 = http.get("/v1/model/info", params={"litellm_model_id": model_id}).json()["data"]
    unknown = http.get("/model/info", params={"litellm_model_id": "nope"})
    deleted = http.post("/model/delete", json={"id": model_id})
    again = http.post("/model/delete", json={"id": model_id})

    assert (row["model_id"], row["model_name"], row["model_info"]["id"]) == (
        model_id,
        "bot-model-1",
        model_id,
    )
    assert "sk-upstream-secret" not in str(row["litellm_params"]) and "http://up/v1" not in str(
        row["litellm_params"]
    )
    assert info == v1
    assert info[0]["litellm_params"] == {"model": "openai/fake-model", "api_base": "http://up/v1"}
    assert (info[0]["model_info"]["db_model"], info[0]["model_info"]["litellm_provider"]) == (True, "openai")
    assert (unknown.status_code, unknown.json()) == (
        400,
        {"detail": {"error": "Model id = nope not found on litellm proxy"}},
    )
    assert deleted.json() == {"message": f"Model: {model_id} deleted successfully"}
    assert again.status_code == 400 and "not found in db" in again.json()["error"]["message"]
    assert http.post("/model/new", json={"model_name": "x", "litellm_params": {}}).status_code == 422
    assert rows(litellm_db, 'SELECT 1 FROM "LiteLLM_ProxyModelTable"') == []


# -- auth, no database, the request log ------------------------------------------------------------


def test_master_key_auth_by_bearer_or_header_and_401_otherwise(sandbox: LiteLLMSandbox) -> None:
    with httpx.Client(base_url=sandbox.url, timeout=5) as raw:
        bearer = raw.get("/key/list", headers={"Authorization": f"Bearer {MASTER}"})
        header = raw.get("/key/list", headers={"x-litellm-api-key": MASTER})
        none = raw.get("/key/list")
        wrong = raw.post("/key/generate", headers={"Authorization": "Bearer sk-wrong"}, json={})
        health = raw.get("/health/readiness")

    assert (bearer.status_code, header.status_code, health.status_code) == (200, 200, 200)
    assert none.status_code == wrong.status_code == 401
    assert wrong.json()["error"]["type"] == "auth_error" and wrong.json()["error"]["code"] == "401"


def test_without_a_database_key_and_model_routes_answer_the_proxys_500s() -> None:
    with (
        LiteLLMSandbox(master_key=MASTER) as sb,
        httpx.Client(base_url=sb.url, headers={"Authorization": f"Bearer {MASTER}"}, timeout=5) as raw,
    ):
        generate = raw.post("/key/generate", json={})
        delete = raw.post("/key/delete", json={"keys": ["x"]})
        model = raw.post("/model/new", json={})

    assert generate.status_code == delete.status_code == model.status_code == 500
    assert delete.json()["error"]["message"] == "Not connected to DB!"
    assert model.json()["error"]["message"].startswith("No DB Connected")


def test_the_request_log_keeps_no_body_no_credential_and_no_key(
    sandbox: LiteLLMSandbox, http: httpx.Client
) -> None:
    made = http.post("/key/generate", json={"key_alias": "logged"}).json()
    http.get("/key/info", params={"key": made["key"]})
    http.post("/key/delete", json={"keys": [made["key"]]})

    recorded = sandbox.requests
    assert [(r.method, r.path) for r in recorded] == [
        ("POST", "/key/generate"),
        ("GET", "/key/info"),
        ("POST", "/key/delete"),
    ]
    assert all(r.time > 0 for r in recorded)
    assert made["key"] not in repr(recorded) and MASTER not in repr(recorded)
    assert all(r.body == "" and "authorization" not in r.headers for r in recorded)


def test_concurrent_generates_all_land(
    sandbox: LiteLLMSandbox, client: LiteLLMClient, litellm_db: str
) -> None:
    tokens: list[str] = []
    lock = threading.Lock()

    def make(i: int) -> None:
        token = client.generate_key(key_alias=f"c-{i}")["token"]
        with lock:
            tokens.append(token)

    threads = [threading.Thread(target=make, args=(i,)) for i in range(24)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)

    assert len(set(tokens)) == 24
    assert rows(litellm_db, 'SELECT count(*) AS n FROM "LiteLLM_VerificationToken"')[0]["n"] == 24


# -- scripted failures and the client's retry policy -----------------------------------------------


def test_injected_status_after_n_requests_for_times(sandbox: LiteLLMSandbox, http: httpx.Client) -> None:
    sandbox.inject_failure("/key/list", status=500, after=2, times=2)

    codes = [http.get("/key/list").status_code for _ in range(5)]
    other = http.get("/health/readiness").status_code

    assert codes == [200, 200, 500, 500, 200]
    assert other == 200
    with pytest.raises(ValueError):
        sandbox.inject_failure("/key/list")
    with pytest.raises(ValueError):
        sandbox.inject_failure("/key/list", status=200)


def test_get_is_retried_after_a_503_and_a_timeout(sandbox: LiteLLMSandbox, client: LiteLLMClient) -> None:
    client.generate_key(key_alias="one")
    sandbox.inject_failure("/key/list", status=503)
    assert client.list_keys().total_count == 1
    sandbox.clear_requests()
    sandbox.inject_failure("/key/list", timeout=True)

    started = time.monotonic()
    assert client.list_keys().total_count == 1

    assert 0.7 < time.monotonic() - started < 4  # one read timeout (0.8 s), then the retry
    assert [r.path for r in sandbox.requests] == ["/key/list", "/key/list"]


def test_post_delete_is_never_repeated_after_a_500_or_a_timeout(
    sandbox: LiteLLMSandbox, client: LiteLLMClient
) -> None:
    made = client.generate_key(key_alias="keep-me")
    sandbox.clear_requests()
    sandbox.inject_failure("/key/delete", status=500)
    with pytest.raises(LiteLLMError) as failed:
        client.delete_keys(key_aliases=["keep-me"])
    sandbox.inject_failure("/key/delete", timeout=True)
    started = time.monotonic()
    with pytest.raises(LiteLLMError) as timed_out:
        client.delete_keys(keys=[made["key"]])
    waited = time.monotonic() - started

    assert failed.value.status == 500 and "500" in failed.value.message
    assert timed_out.value.status == 0 and "in time" in timed_out.value.message
    assert waited < 3
    assert [(r.method, r.path) for r in sandbox.requests] == [
        ("POST", "/key/delete"),
        ("POST", "/key/delete"),
    ]
    still = client.key_info(made["token"])
    assert still is not None and still["status"] == "active"  # nothing deleted, nothing retried
    assert made["key"] not in str(timed_out.value) and MASTER not in str(failed.value)


def test_unreachable_proxy_is_a_plain_error_after_bounded_retries() -> None:
    with LiteLLMClient(f"http://127.0.0.1:{DEAD_URL_PORT}", MASTER, timeout=1, backoff=0.01) as dead:
        started = time.monotonic()
        with pytest.raises(LiteLLMError) as listing:
            dead.list_keys()
        with pytest.raises(LiteLLMError) as deleting:
            dead.delete_keys(keys=["sk-some-user-key-1234"])

    assert time.monotonic() - started < 5
    assert listing.value.status == deleting.value.status == 0
    assert "unreachable" in listing.value.message
    assert "sk-some-user-key" not in str(deleting.value) and MASTER not in repr(deleting.value)


def test_error_messages_mask_any_key_the_proxy_echoes() -> None:
    error = LiteLLMError(401, "Invalid token sk-AbCdEf123_-x passed, master sk-master.key")
    assert "AbCdEf" not in str(error) and "master.key" not in error.message
    assert str(error).count("sk-***") == 2


# -- litellm_client(env) ---------------------------------------------------------------------------


def test_litellm_client_uses_the_setting_else_the_litellm_secret(sandbox: LiteLLMSandbox) -> None:
    secrets = {"litellm-secret": {"LITELLM_MASTER_KEY": MASTER}}
    kube_sandbox = KubeSandbox(namespace="litellm-rhpds", seed=True, secrets=secrets).start()
    config = k8s.Configuration()
    config.host = kube_sandbox.url
    kube = KubeClient(k8s.ApiClient(config), "litellm-rhpds")
    try:
        from_secret = Environment(
            name="t",
            namespace="litellm-rhpds",
            kube=kube,
            litellm_redis_ping=lambda: True,
            litellm_url=sandbox.url,
        )
        with litellm_client(from_secret) as c:
            assert c.list_keys().total_count == 0
        configured = Environment(
            name="t",
            namespace="litellm-rhpds",
            kube=kube,
            litellm_redis_ping=lambda: True,
            litellm_url=sandbox.url,
            litellm_master_key="sk-a-wrong-configured-key",
        )
        with litellm_client(configured) as c, pytest.raises(LiteLLMError) as refused:
            c.list_keys()
        assert refused.value.status == 401
        kube_sandbox.inject_error("GET", r"/secrets/litellm-secret$", 403, "forbidden")
        with pytest.raises(OperationError) as unreadable:
            litellm_client(from_secret)
        assert "LITELLM_MASTER_KEY" in str(unreadable.value) and MASTER not in str(unreadable.value)
    finally:
        kube.close()
        kube_sandbox.stop()


def test_v1_models_answers_each_kind_of_key_as_the_proxy_does(
    sandbox: LiteLLMSandbox, litellm_db: str, client: LiteLLMClient
) -> None:
    """A virtual key sees its own models; expired (400), blocked and unknown keys (401) are refused
    without the key in the answer; the master key sees every model."""
    now = datetime.now(UTC)
    with psycopg.connect(litellm_db) as conn:
        for name in ("granite", "llama"):
            add_litellm_model(conn, name, {"model": f"openai/{name}"})
        add_litellm_token(conn, key="sk-only-granite-0001", alias="g", expires=None, models=["granite"])
        add_litellm_token(conn, key="sk-every-model-0002", alias="all", expires=now + timedelta(days=1))
        add_litellm_token(conn, key="sk-expired-key-0003", alias="old", expires=now - timedelta(hours=1))

    def models(key: str) -> httpx.Response:
        return httpx.get(f"{sandbox.url}/v1/models", headers={"Authorization": f"Bearer {key}"}, timeout=5)

    def names(reply: httpx.Response) -> list[str]:
        assert reply.status_code == 200, reply.text
        return [m["id"] for m in reply.json()["data"]]

    assert names(models(MASTER)) == ["granite", "llama"]
    assert names(models("sk-only-granite-0001")) == ["granite"]
    assert names(models("sk-every-model-0002")) == ["granite", "llama"]
    expired = models("sk-expired-key-0003")
    assert expired.status_code == 400 and expired.json()["error"]["type"] == "expired_key"
    assert models("sk-never-made-000004").status_code == 401
    assert client.block_key("sk-every-model-0002")
    blocked = models("sk-every-model-0002")
    assert blocked.status_code == 401 and "Key is blocked" in blocked.json()["error"]["message"]
    assert all("sk-" not in r.text for r in (expired, blocked))
    assert client.block_key("sk-never-made-000004") is False
