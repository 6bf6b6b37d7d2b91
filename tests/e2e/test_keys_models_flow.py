"""Keys and models from Slack: the `models add` form, key cleanup through approval, drift as a file."""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Callable
from typing import Any

import psycopg
import pytest

from sandbox.kube import KubeSandbox
from sandbox.litellm import LiteLLMSandbox
from sandbox.seed_data import DEMO_MODELS, seed_demo
from sandbox.slack import sign
from tests.e2e.conftest import MASTER_KEY
from tests.e2e.harness import SIGNING_SECRET, BotHarness, operation_id_of, wait_until


@pytest.fixture
def data_harness(
    start_bot: Callable[..., BotHarness], litemaas_db: str, litellm_db: str, data_litellm: LiteLLMSandbox
) -> BotHarness:
    seed_demo(litemaas_db, litellm_db)
    return start_bot(
        litemaas_database_url=litemaas_db,
        litellm_database_url=litellm_db,
        litellm_url=data_litellm.url,
        litellm_master_key=MASTER_KEY,
    )


def submit_form(
    harness: BotHarness, user: str, view: dict[str, Any], values: dict[str, str]
) -> dict[str, Any]:
    """Submit a form as Slack does (view_submission); returns the JSON answer (errors) or {}."""
    state = {}
    for block in view["blocks"]:
        block_id = block["block_id"]
        if block_id not in values:
            continue
        if block["element"]["type"] == "static_select":
            state[block_id] = {
                "value": {"type": "static_select", "selected_option": {"value": values[block_id]}}
            }
        else:
            state[block_id] = {"value": {"type": "plain_text_input", "value": values[block_id]}}
    payload = {
        "type": "view_submission",
        "team": {"id": "T0SANDBOX"},
        "user": {"id": user, "team_id": "T0SANDBOX"},
        "api_app_id": "A0SANDBOX",
        "trigger_id": "trig-form",
        "view": {**view, "id": "V0FORM", "state": {"values": state}},
    }
    body = "payload=" + urllib.parse.quote(json.dumps(payload))
    response = harness.http.post(
        f"{harness.server.url}/slack/events", content=body, headers=sign(SIGNING_SECRET, body)
    )
    assert response.status_code == 200, response.text
    return response.json() if response.content else {}


def litellm_model_names(litellm_db: str) -> set[str]:
    with psycopg.connect(litellm_db) as conn:
        return {str(r[0]) for r in conn.execute('SELECT model_name FROM "LiteLLM_ProxyModelTable"')}


def test_models_add_form_shows_field_errors_then_registers_after_approval(
    data_harness: BotHarness, litellm_db: str
) -> None:
    before = litellm_model_names(litellm_db)
    data_harness.command("alice", "models add")
    view = data_harness.slack.wait_for("views.open").args["view"]
    view = json.loads(view) if isinstance(view, str) else view
    assert view["callback_id"] == "op.form"

    answer = submit_form(
        data_harness,
        "U0ALICE",
        view,
        {
            "model_name": "qwen-coder",
            "litellm_model": "openai/qwen",
            "api_base": "not a url",
            "api_key": "sk-form-1234567890",
            "rpm": "-5",
        },
    )
    assert answer["response_action"] == "errors"
    assert set(answer["errors"]) >= {"api_base", "rpm"}
    assert litellm_model_names(litellm_db) == before

    answer = submit_form(
        data_harness,
        "U0ALICE",
        view,
        {
            "model_name": "qwen-coder",
            "litellm_model": "openai/qwen",
            "api_base": "https://models.example/v1",
            "api_key": "sk-form-1234567890",
            "category": "code",
        },
    )
    assert answer == {}
    card = data_harness.wait_card()
    assert "api_key=***" in card["text"] or "qwen-coder" in card["text"]
    data_harness.click("dave", "approval.approve", operation_id_of(card), message_ts=card["ts"])
    wait_until(
        lambda: "qwen-coder" in litellm_model_names(litellm_db), timeout=30, what="the model in LiteLLM"
    )


def test_keys_cleanup_previews_then_deletes_after_approval(data_harness: BotHarness, litellm_db: str) -> None:
    with psycopg.connect(litellm_db) as conn:
        expired_before = conn.execute(
            'SELECT count(*) FROM "LiteLLM_VerificationToken" WHERE expires < now()'
        ).fetchone()
    assert expired_before is not None and expired_before[0] > 0

    _, key = data_harness.command("bob", "keys cleanup --dry-run")
    preview = data_harness.wait_reply(key)
    assert "expired" in preview.lower()

    data_harness.command("bob", "keys cleanup")
    card = data_harness.wait_card()
    data_harness.click("dave", "approval.approve", operation_id_of(card), message_ts=card["ts"])
    wait_until(
        lambda: ("keys cleanup", "succeeded") in data_harness.operations(), timeout=30, what="the cleanup"
    )
    with psycopg.connect(litellm_db) as conn:
        left = conn.execute(
            'SELECT count(*) FROM "LiteLLM_VerificationToken" WHERE expires < now()'
        ).fetchone()
    assert left == (0,)


def test_drift_report_names_each_kind_and_attaches_the_full_list(data_harness: BotHarness) -> None:
    _, key = data_harness.command("carol", "drift")
    reply = str(wait_until(lambda: data_harness.slack.responses(key), what="the drift report"))
    for kind in ("(a)", "(b)", "(c", "(d)", "(e)"):
        assert kind in reply
    upload = wait_until(lambda: data_harness.slack.files, what="the full list as a file")[-1]
    assert "kind" in str(upload.get("content", ""))


def test_the_master_key_is_read_from_litellm_secret_when_not_configured(
    start_bot: Callable[..., BotHarness],
    kube: KubeSandbox,
    litemaas_db: str,
    litellm_db: str,
    data_litellm: LiteLLMSandbox,
) -> None:
    seed_demo(litemaas_db, litellm_db)
    kube.set_secret("litellm-secret", {"LITELLM_MASTER_KEY": MASTER_KEY})  # as the seed's scripts read it
    harness = start_bot(
        litemaas_database_url=litemaas_db, litellm_database_url=litellm_db, litellm_url=data_litellm.url
    )
    _, key = harness.command("carol", "models list")
    assert "4 in both" in harness.wait_reply(key, timeout=20)  # LiteLLM answered with the Secret's key
    listing = str(harness.slack.responses(key)[-1])
    assert all(name in listing for name in DEMO_MODELS), listing
    assert any(r.path.endswith("/secrets/litellm-secret") for r in kube.requests)
