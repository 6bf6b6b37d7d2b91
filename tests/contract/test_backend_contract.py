"""The LiteMaaS backend's model sync as 0.4.0 really answers it (litemaas-facts.md §2, §8, §9).

Runs against the sandbox twin by default and against a real backend with `BACKEND_CONTRACT_URL` +
`BACKEND_CONTRACT_ADMIN_KEY` (and, for the tests that watch the sync's rows, the variables named in
tests/contract/backend_target.py). Every assertion here was seen on a real 0.4.0 backend, its bugs
included; where the catalogue has other models, counts are compared with a baseline taken first.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from commands.clients.backend import BackendClient
from sandbox import seed_data
from tests.contract.backend_target import BackendTarget

SEVEN_FIELDS = {
    "success",
    "totalModels",
    "newModels",
    "updatedModels",
    "unavailableModels",
    "errors",
    "syncedAt",
}
JSON = {"Content-Type": "application/json"}
WITH_A_CAPABILITY = {"supports_function_calling": True, "max_tokens": 4096}


def counts(body: dict[str, Any]) -> tuple[int, int, int]:
    return body["newModels"], body["updatedModels"], body["unavailableModels"]


# -- the HTTP contract -------------------------------------------------------------------------------


def test_a_valid_sync_answers_the_seven_fields_and_no_cascade_counts(backend_target: BackendTarget) -> None:
    for body in ({}, {"forceUpdate": False, "markUnavailable": True}, {"forceUpdate": "true"}, {"x": 1}):
        answer = backend_target.sync(body)  # "true" is coerced, unknown fields are dropped
        assert set(answer) == SEVEN_FIELDS, answer
        assert answer["success"] is True and answer["errors"] == []
        assert answer["syncedAt"].endswith("Z")
    with BackendClient(backend_target.url, backend_target.admin_key, timeout=60) as client:
        report = client.sync_models()
    assert report.success and report.cascade is None  # 0.4.0's response schema strips cascadeStatistics


def test_a_sync_that_fails_inside_is_200_with_success_false(backend_target: BackendTarget) -> None:
    backend_target.needs("failing_url")
    assert backend_target.failing_url is not None
    key = {"Authorization": f"Bearer {backend_target.admin_key}"}

    reply = httpx.post(f"{backend_target.failing_url}/api/v1/models/sync", json={}, headers=key, timeout=60)

    assert reply.status_code == 200
    body = reply.json()
    assert set(body) == SEVEN_FIELDS and body["success"] is False
    assert body["errors"][0].startswith("Synchronization failed: ")
    with BackendClient(backend_target.failing_url, backend_target.admin_key, timeout=60) as client:
        report = client.sync_models()
    assert not report.success and report.errors[0].startswith("Synchronization failed: ")


def _validation_error(reply: httpx.Response) -> dict[str, Any]:
    assert reply.status_code == 400, reply.text
    error: dict[str, Any] = reply.json()["error"]
    assert error["code"] == "VALIDATION_ERROR" and error["statusCode"] == 400
    assert isinstance(error["message"], str) and error["message"]
    assert isinstance(error["requestId"], str) and error["requestId"]  # inside `error` on a 400
    return error


def test_no_body_or_an_empty_json_body_is_400_validation_error(backend_target: BackendTarget) -> None:
    no_body = _validation_error(backend_target.post_sync())
    assert no_body["details"]["validation"] == [
        {"field": "unknown", "message": "must be object", "code": "type"}
    ]
    empty = _validation_error(
        backend_target.post_sync(
            content=b"", headers={**JSON, "Authorization": f"Bearer {backend_target.admin_key}"}
        )
    )
    assert "cannot be empty" in empty["message"]


@pytest.mark.parametrize(
    ("content", "field"),
    [
        (b'{"forceUpdate": "yes"}', "forceUpdate"),
        (b'{"markUnavailable": 2}', "markUnavailable"),
        (b'{"forceUpdate": {}}', "forceUpdate"),
        (b"[]", "unknown"),
        (b"null", "unknown"),
        (b'{"forceUpdate":', None),  # malformed JSON: the parser's message, no details
    ],
)
def test_a_bad_body_is_400_validation_error_naming_the_field(
    backend_target: BackendTarget, content: bytes, field: str | None
) -> None:
    key = {"Authorization": f"Bearer {backend_target.admin_key}"}
    error = _validation_error(backend_target.post_sync(content=content, headers={**JSON, **key}))
    if field is None:
        assert "details" not in error
    else:
        assert [v["field"] for v in error["details"]["validation"]] == [field]
    # the body is validated before the key is looked at
    _validation_error(backend_target.post_sync(content=content, headers=JSON))


@pytest.mark.parametrize(
    "header",
    [
        None,
        "bearer {admin}",  # the scheme word is case-sensitive
        "BEARER {admin}",
        "Bearer ltm_admin_not-a-listed-key",
        "Bearer sk-contract-user-key-000000001",
        "Bearer not-a-jwt-and-no-prefix",
    ],
)
def test_every_refusal_is_the_same_401(backend_target: BackendTarget, header: str | None) -> None:
    shown = None if header is None else header.format(admin=backend_target.admin_key)
    headers = {**JSON, **({"Authorization": shown} if shown else {}), "x-request-id": "contract-req-1"}

    reply = backend_target.post_sync(json={}, headers=headers)

    assert reply.status_code == 401
    assert reply.json() == {
        "error": {"code": "UNAUTHORIZED", "message": "Invalid or missing authentication token"},
        "requestId": "contract-req-1",
    }
    assert backend_target.admin_key not in reply.text


def test_the_word_bearer_is_optional_and_unknown_routes_answer_not_found(
    backend_target: BackendTarget,
) -> None:
    reply = backend_target.post_sync(json={}, headers={"Authorization": backend_target.admin_key})
    assert reply.status_code == 200 and reply.json()["success"] is True

    missing = httpx.post(f"{backend_target.url}/api/v1/no-such-route", json={}, timeout=30)
    assert missing.status_code == 404
    error = missing.json()["error"]
    assert (error["code"], error["statusCode"]) == ("NOT_FOUND", 404)
    assert error["message"] == "Route POST /api/v1/no-such-route not found"


# -- what the sync does to the catalogue ---------------------------------------------------------------


def _row(target: BackendTarget, model: str, *columns: str) -> tuple[Any, ...]:
    with target.db() as conn:
        row = conn.execute(f"SELECT {', '.join(columns)} FROM models WHERE id = %s", (model,)).fetchone()
    assert row is not None, model
    return tuple(row)


def test_updated_and_unavailable_models_are_counted_as_0_4_0_counts_them(
    backend_target: BackendTarget,
) -> None:
    backend_target.needs("database_url", "litellm_url", "litellm_key")
    backend_target.sync()
    baseline = backend_target.sync()  # models always "updated" or missing before this test
    capable, plain = backend_target.name("capable"), backend_target.name("plain")
    capable_id = backend_target.add_litellm_model(capable, WITH_A_CAPABILITY)
    plain_id = backend_target.add_litellm_model(plain, {"max_tokens": 4096})

    first = backend_target.sync()
    assert counts(first) == (2, baseline["updatedModels"], baseline["unavailableModels"])
    assert _row(backend_target, capable, "features") == (["chat", "function_calling"],)

    # 0.4.0 compares `features` capabilities-first: a model with a capability is UPDATEd every time
    for _ in range(2):
        again = backend_target.sync()
        assert counts(again) == (0, baseline["updatedModels"] + 1, baseline["unavailableModels"])

    backend_target.delete_litellm_model(capable_id)
    backend_target.delete_litellm_model(plain_id)
    gone = backend_target.sync()
    assert counts(gone) == (0, baseline["updatedModels"], baseline["unavailableModels"] + 2)
    # already unavailable: counted again on every sync, although nothing changes
    still = backend_target.sync()
    assert counts(still) == (0, baseline["updatedModels"], baseline["unavailableModels"] + 2)
    assert _row(backend_target, capable, "availability") == ("unavailable",)


def test_the_update_rewrites_name_provider_category_and_streaming_only_description_survives(
    backend_target: BackendTarget,
) -> None:
    backend_target.needs("database_url", "litellm_url", "litellm_key")
    capable, plain, streaming = (backend_target.name(n) for n in ("capable", "plain", "nostream"))
    backend_target.add_litellm_model(capable, WITH_A_CAPABILITY)
    backend_target.add_litellm_model(plain, {"max_tokens": 4096})
    backend_target.add_litellm_model(streaming, {"max_tokens": 4096})
    backend_target.sync()
    edited = ("Shown Name", "someone", "code", "hand-written")
    with backend_target.db() as conn:
        for model in (capable, plain):
            conn.execute(
                "UPDATE models SET name = %s, provider = %s, category = %s, description = %s WHERE id = %s",
                (*edited, model),
            )
        conn.execute("UPDATE models SET supports_streaming = false WHERE id = %s", (streaming,))

    backend_target.sync()

    columns = ("name", "provider", "category", "supports_streaming", "description")
    assert _row(backend_target, capable, *columns) == (
        capable,
        "openai",
        "Language Model",
        True,
        "hand-written",
    )
    # no capability, streaming untouched: "unchanged", so the hand-written fields stay until an update
    assert _row(backend_target, plain, *columns) == (*edited[:3], True, "hand-written")
    assert _row(backend_target, streaming, *columns) == (streaming, "openai", "Language Model", True, None)


def test_the_cascade_deactivates_every_active_key_left_without_a_model(backend_target: BackendTarget) -> None:
    backend_target.needs("database_url", "litellm_url", "litellm_key")
    doomed, kept = backend_target.name("doomed"), backend_target.name("kept")
    doomed_id = backend_target.add_litellm_model(doomed)
    backend_target.add_litellm_model(kept)
    backend_target.sync()
    with backend_target.db() as conn:
        user = seed_data.add_user(conn, email=f"{backend_target.name('user')}@example.com")
        seed_data.add_subscription(conn, user, doomed)
        seed_data.add_subscription(conn, user, kept)

        def key(tag: str, models: list[str], active: bool = True) -> Any:
            return seed_data.add_api_key(
                conn,
                user,
                key=seed_data.new_key(),
                alias=f"{backend_target.name(tag)}_0000",
                models=models,
                active=active,
            )

        only_doomed, both = key("only", [doomed]), key("both", [doomed, kept])
        no_model, inactive = key("none", []), key("off", [], active=False)
        before = conn.execute(
            "SELECT count(*) FROM api_keys k WHERE k.is_active AND k.id <> %s"
            " AND NOT EXISTS (SELECT 1 FROM api_key_models m WHERE m.api_key_id = k.id)",
            (no_model,),
        ).fetchone()
    assert before is not None
    backend_target.delete_litellm_model(doomed_id)

    backend_target.sync()

    with backend_target.db() as conn:
        state = {
            key_id: tuple(rest)
            for key_id, *rest in conn.execute(
                "SELECT id, is_active, revoked_at, sync_status FROM api_keys WHERE id = ANY(%s)",
                ([only_doomed, both, no_model, inactive],),
            )
        }
        audit = conn.execute(
            "SELECT metadata FROM audit_logs WHERE action = 'MODEL_MARKED_UNAVAILABLE_WITH_CASCADE'"
            " AND resource_id = %s",
            (doomed,),
        ).fetchall()
        subscriptions = dict(
            conn.execute("SELECT model_id, status FROM subscriptions WHERE user_id = %s", (user,)).fetchall()
        )
    assert state[only_doomed] == (False, None, "synced")  # no revoked_at; LiteLLM is not told
    assert state[both][0] is True
    assert state[no_model] == (False, None, "synced")  # never listed the model: the rule is table-wide
    assert state[inactive][0] is False
    assert subscriptions == {doomed: "inactive", kept: "active"}
    [(metadata,)] = audit
    assert metadata["modelId"] == doomed and metadata["operation"] == "model_sync_cascade"
    assert metadata["cascadeStatistics"] == {
        "subscriptionsDeactivated": 1,
        "apiKeyModelAssociationsRemoved": 2,
        "orphanedApiKeysDeactivated": 2 + int(before[0]),
    }

    backend_target.sync()  # already unavailable: no second cascade, no second audit row
    with backend_target.db() as conn:
        again = conn.execute(
            "SELECT count(*) FROM audit_logs WHERE action = 'MODEL_MARKED_UNAVAILABLE_WITH_CASCADE'"
            " AND resource_id = %s",
            (doomed,),
        ).fetchone()
    assert again == (1,)
