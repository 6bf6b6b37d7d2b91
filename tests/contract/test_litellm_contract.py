"""The LiteLLM admin API as the bot relies on it, through `LiteLLMClient` (litellm-facts.md §2-§4).

Runs against the sandbox by default and against a real proxy with `LITELLM_CONTRACT_URL` +
`LITELLM_CONTRACT_KEY` (tests/contract/conftest.py): every assertion here is documented behaviour of
the real proxy. Other keys may exist on a real proxy, so listings are checked for what this test made,
never for an exact total. Sandbox-only internals (rows in the tables) are in tests/sandbox/.
"""

from __future__ import annotations

import hashlib
import math
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from commands.clients.litellm import LiteLLMClient, LiteLLMError
from tests.contract.conftest import ContractTarget
from tests.contract.waiting import eventually

CLOCK_SLACK = timedelta(seconds=30)  # proxy clock vs. test clock, plus request time


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def parse_time(value: str) -> datetime:
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


# -- keys ------------------------------------------------------------------------------------------


def test_generate_then_info_by_key_and_token_then_delete_by_token(
    client: LiteLLMClient, contract_target: ContractTarget
) -> None:
    alias = contract_target.alias("lifecycle")
    made = client.generate_key(key_alias=alias, duration="1h", models=["fake-gpt"], metadata={"owner": "bot"})

    key, token = made["key"], made["token"]
    assert key.startswith("sk-") and token == sha256(key)
    assert made["key_alias"] == alias and made["models"] == ["fake-gpt"]
    assert made["metadata"] == {"owner": "bot"} and made["duration"] is None
    by_key, by_token = client.key_info(key), client.key_info(token)
    assert by_key is not None and by_token is not None
    assert (by_key["key_alias"], by_key["status"]) == (alias, "active")
    assert (by_token["key_alias"], by_token["metadata"]) == (alias, {"owner": "bot"})

    assert client.delete_keys(keys=[token]) == [token]
    after = client.key_info(token)
    assert after is None or after["status"] == "deleted"  # served from the archive (facts §3.2)
    assert client.delete_keys(keys=[token]) == []  # 404 "No keys found"
    assert all(k["token"] != token for k in client.list_keys(key_alias=alias).keys)


def test_delete_by_plaintext_key_confirms_its_token(
    client: LiteLLMClient, contract_target: ContractTarget
) -> None:
    made = client.generate_key(key_alias=contract_target.alias("plain"))

    assert client.delete_keys(keys=[made["key"]]) == [made["token"]]
    assert client.list_keys(key_alias=made["key_alias"]).total_count == 0


def test_delete_by_alias_and_then_none_found(client: LiteLLMClient, contract_target: ContractTarget) -> None:
    alias = contract_target.alias("by-alias")
    other = contract_target.alias("survivor")
    client.generate_key(key_alias=alias)
    survivor = client.generate_key(key_alias=other)

    assert client.delete_keys(key_aliases=[alias]) == [alias]
    assert client.delete_keys(key_aliases=[alias]) == []
    assert client.list_keys(key_alias=alias).total_count == 0
    assert [k["token"] for k in client.list_keys(key_alias=other).keys] == [survivor["token"]]


def test_delete_with_nothing_to_delete_sends_nothing_and_an_empty_body_is_422(
    client: LiteLLMClient, contract_target: ContractTarget
) -> None:
    assert client.delete_keys() == []
    assert client.delete_keys(keys=[], key_aliases=[]) == []

    headers = {"Authorization": f"Bearer {contract_target.master_key}"}
    with httpx.Client(base_url=contract_target.url, headers=headers, timeout=10) as raw:
        empty = raw.post("/key/delete", json={})
        http_delete = raw.request("DELETE", "/key/delete", json={"key_aliases": ["x"]})

    assert empty.status_code == 422
    assert "At least one of 'keys' or 'key_aliases' must be provided" in empty.text
    assert http_delete.status_code == 405  # POST only: the seed's CronJob bug


def test_unknown_key_info_is_none(client: LiteLLMClient) -> None:
    assert client.key_info(sha256("sk-never-issued-contract-key")) is None
    assert client.key_info("sk-never-issued-contract-key") is None


def test_expires_is_now_plus_duration_and_null_without_one(
    client: LiteLLMClient, contract_target: ContractTarget
) -> None:
    before = datetime.now(UTC)
    hours = client.generate_key(key_alias=contract_target.alias("2h"), duration="2h")
    days = client.generate_key(key_alias=contract_target.alias("30d"), duration="30d")
    forever = client.generate_key(key_alias=contract_target.alias("forever"))
    after = datetime.now(UTC)

    for made, span in ((hours, timedelta(hours=2)), (days, timedelta(days=30))):
        expires = parse_time(made["expires"])
        assert before + span - CLOCK_SLACK <= expires <= after + span + CLOCK_SLACK
        assert made["duration"] is None
        listed = client.list_keys(key_alias=made["key_alias"]).keys
        assert abs(parse_time(listed[0]["expires"]) - expires) < timedelta(seconds=1)
    assert forever["expires"] is None


def test_duplicate_alias_is_refused_with_400(client: LiteLLMClient, contract_target: ContractTarget) -> None:
    alias = contract_target.alias("dup")
    client.generate_key(key_alias=alias)

    with pytest.raises(LiteLLMError) as refused:
        client.generate_key(key_alias=alias)

    assert refused.value.status == 400 and "already exists" in refused.value.message
    assert client.list_keys(key_alias=alias).total_count == 1


def test_list_pages_through_every_key_without_repeats(
    client: LiteLLMClient, contract_target: ContractTarget
) -> None:
    made = {client.generate_key(key_alias=contract_target.alias(f"page-{i}"))["token"] for i in range(5)}

    first = client.list_keys(page=1, size=2)
    pages = [first] + [client.list_keys(page=n, size=2) for n in range(2, first.total_pages + 1)]
    seen = [k["token"] for page in pages for k in page.keys]

    assert first.total_count >= 5 and first.total_pages == math.ceil(first.total_count / 2)
    assert [p.current_page for p in pages] == list(range(1, first.total_pages + 1))
    assert all(len(p.keys) == 2 for p in pages[:-1]) and 1 <= len(pages[-1].keys) <= 2
    assert len(seen) == len(set(seen)) == first.total_count
    assert made <= set(seen)
    assert all("key" not in k or k["key"] is None for k in first.keys)  # never the plaintext key
    assert made <= {k["token"] for k in client.iter_keys(size=3)}


def test_alias_filter_finds_exactly_that_key(client: LiteLLMClient, contract_target: ContractTarget) -> None:
    wanted = client.generate_key(key_alias=contract_target.alias("wanted"), metadata={"duration": "30d"})
    client.generate_key(key_alias=contract_target.alias("wanted-not"))

    page = client.list_keys(key_alias=wanted["key_alias"])

    assert (page.total_count, page.current_page, page.total_pages) == (1, 1, 1)
    (only,) = page.keys
    assert (only["token"], only["key_alias"], only["metadata"]) == (
        wanted["token"],
        wanted["key_alias"],
        {"duration": "30d"},
    )
    assert only["key_name"] == "sk-..." + wanted["key"][-4:]
    assert client.list_keys(key_alias=contract_target.alias("nobody")).keys == []


def _models_as(url: str, key: str) -> httpx.Response:
    return httpx.get(f"{url}/v1/models", headers={"Authorization": f"Bearer {key}"}, timeout=10)


def test_block_refuses_the_key_and_unblock_restores_it(
    client: LiteLLMClient, contract_target: ContractTarget
) -> None:
    made = client.generate_key(key_alias=contract_target.alias("blocked"), duration="1h")
    key, token = made["key"], made["token"]
    assert _models_as(contract_target.url, key).status_code == 200  # usable

    assert client.block_key(token) is True  # by token, as the bot sends it
    refused = _models_as(contract_target.url, key)
    assert refused.status_code == 401
    assert "Key is blocked" in refused.json()["error"]["message"] and key not in refused.text
    info = client.key_info(token)
    assert info is not None and info["blocked"] is True
    assert client.block_key(token) is True  # blocking twice is harmless

    assert client.unblock_key(key) is True  # a plaintext key is sent as its token
    assert _models_as(contract_target.url, key).status_code == 200
    after = client.key_info(token)
    assert after is not None and not after["blocked"]


def test_blocking_an_unknown_key_blocks_nothing(client: LiteLLMClient) -> None:
    unknown = sha256("sk-contract-never-made-000000")
    try:
        assert client.block_key(unknown) is False
    except LiteLLMError as refused:  # some releases answer the missing row otherwise: never a 200
        assert refused.status != 200
    assert client.key_info(unknown) is None


# -- models ----------------------------------------------------------------------------------------


def test_model_new_info_delete(client: LiteLLMClient, contract_target: ContractTarget) -> None:
    name = f"{contract_target.prefix}-model"
    added = client.new_model(
        name,
        {"model": "openai/fake-model", "api_base": "http://127.0.0.1:9/v1", "api_key": "sk-upstream-secret"},
        {"description": "added by the contract suite"},
    )
    model_id = added["model_id"]
    contract_target.model_ids.append(model_id)

    def listed() -> dict[str, Any] | None:
        return next((m for m in client.model_info() if m["model_info"].get("id") == model_id), None)

    entry = eventually(listed)
    assert added["model_name"] == name and added["model_info"]["id"] == model_id
    assert added["litellm_params"].get("api_key") != "sk-upstream-secret"  # encrypted at rest
    assert entry["model_name"] == name
    assert entry["litellm_params"]["model"] == "openai/fake-model"
    assert entry["litellm_params"]["api_base"] == "http://127.0.0.1:9/v1"
    assert "api_key" not in entry["litellm_params"]
    assert entry["model_info"]["db_model"] is True
    assert entry["model_info"]["description"] == "added by the contract suite"

    client.delete_model(model_id)
    eventually(lambda: True if listed() is None else None)
    with pytest.raises(LiteLLMError) as again:
        client.delete_model(model_id)
    assert again.value.status == 400


# -- auth and health -------------------------------------------------------------------------------


def test_wrong_master_key_is_a_401_error_without_the_key(contract_target: ContractTarget) -> None:
    wrong = "sk-wrong-master-key-for-contract"
    with LiteLLMClient(contract_target.url, wrong, timeout=10) as intruder:
        with pytest.raises(LiteLLMError) as listing:
            intruder.list_keys()
        with pytest.raises(LiteLLMError) as generating:
            intruder.generate_key(key_alias=contract_target.alias("intruder"))
        with pytest.raises(LiteLLMError) as deleting:
            intruder.delete_keys(key_aliases=["anything"])
        ready = intruder.readiness()  # health needs no key

    for refused in (listing.value, generating.value, deleting.value):
        assert refused.status == 401
        assert wrong not in str(refused) and contract_target.master_key not in str(refused)
    assert ready["status"] == "healthy"
