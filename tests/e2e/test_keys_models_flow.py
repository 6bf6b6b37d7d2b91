"""Keys and models from Slack: the `models add` form, key cleanup through approval, drift as a file, a
model removal whose cascade leaves keys working in LiteLLM (drift f) blocked after approval.

The data flows run in both database layouts (LiteMaaS and LiteLLM in one shared database, or apart),
with the LiteLLM sandbox and the backend twin (0.4.0's sync) on those databases."""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import psycopg
import pytest

from sandbox.backend import BackendSandbox
from sandbox.kube import KubeSandbox
from sandbox.litellm import LiteLLMSandbox
from sandbox.seed_data import DEMO_DRIFT, DEMO_MODELS, seed_demo
from sandbox.slack import sign
from tests.conftest import DatabasePair, SchemaDatabases, database_pair
from tests.e2e.conftest import MASTER_KEY
from tests.e2e.harness import SIGNING_SECRET, BotHarness, operation_id_of, wait_until

ADMIN_KEY = "ltm_admin_e2e-flows"


@dataclass
class Data:
    """The demo data in one layout, and the bot that operates it."""

    dbs: DatabasePair
    litellm: LiteLLMSandbox
    harness: BotHarness

    @property
    def litemaas_db(self) -> str:
        return self.dbs.litemaas_url

    @property
    def litellm_db(self) -> str:
        return self.dbs.litellm_url


@pytest.fixture(params=["shared", "separate"])
def data(
    request: pytest.FixtureRequest, schema_databases: SchemaDatabases, start_bot: Callable[..., BotHarness]
) -> Iterator[Data]:
    with database_pair(schema_databases, request.param) as dbs:
        seed_demo(dbs.litemaas_url, dbs.litellm_url)
        with LiteLLMSandbox(master_key=MASTER_KEY, database_url=dbs.litellm_url) as litellm:
            backend = BackendSandbox(
                litellm_url=litellm.url,
                litellm_master_key=MASTER_KEY,
                database_url=dbs.litemaas_url,
                litellm_database_url=dbs.litellm_url,
                admin_keys=(ADMIN_KEY,),
            )
            with backend:
                harness = start_bot(
                    litemaas_database_url=dbs.litemaas_url,
                    litellm_database_url=dbs.litellm_url,
                    litellm_url=litellm.url,
                    litellm_master_key=MASTER_KEY,
                    backend_url=backend.url,
                    backend_admin_key=ADMIN_KEY,
                )
                yield Data(dbs, litellm, harness)
                harness.bot.wait_idle(10)


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


def posted(data: Data) -> str:
    """Everything the bot has posted in the ops channel so far (current contents), as one string."""
    return json.dumps(data.harness.slack.messages("C0OPS"))


def approve(data: Data, approver: str, verb: str) -> None:
    """Approve the pending card of `verb` and wait for `verb` to succeed."""

    def pending() -> list[dict[str, Any]]:
        cards = data.harness.cards()
        return [c for c in cards if verb in str(c.get("text")) and "approval.approve" in json.dumps(c)]

    card = wait_until(pending, what=f"the approval card of {verb}")[-1]
    data.harness.click(approver, "approval.approve", operation_id_of(card), message_ts=card["ts"])
    wait_until(
        lambda: (verb, "succeeded") in data.harness.operations(), timeout=30, what=f"{verb} to succeed"
    )


def test_models_add_form_shows_field_errors_then_registers_after_approval(data: Data) -> None:
    harness = data.harness
    before = litellm_model_names(data.litellm_db)
    harness.command("alice", "models add")
    view = harness.slack.wait_for("views.open").args["view"]
    view = json.loads(view) if isinstance(view, str) else view
    assert view["callback_id"] == "op.form"
    assert {b["block_id"] for b in view["blocks"]}.isdisjoint({"display_name", "category", "provider"})

    answer = submit_form(
        harness,
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
    assert litellm_model_names(data.litellm_db) == before

    answer = submit_form(
        harness,
        "U0ALICE",
        view,
        {
            "model_name": "qwen-coder",
            "litellm_model": "openai/qwen",
            "api_base": "https://models.example/v1",
            "api_key": "sk-form-1234567890",
            "description": "Qwen for code",
        },
    )
    assert answer == {}
    approve(data, "dave", "models add")
    assert "qwen-coder" in litellm_model_names(data.litellm_db)
    with psycopg.connect(data.litemaas_db) as conn:
        row = conn.execute(
            "SELECT name, provider, category, description FROM models WHERE id = 'qwen-coder'"
        ).fetchone()
    assert row == ("qwen-coder", "openai", "Language Model", "Qwen for code")
    assert "come from LiteLLM" in wait_until(lambda: "come from LiteLLM" in posted(data) and posted(data))


def test_keys_cleanup_previews_then_deletes_after_approval(data: Data) -> None:
    harness = data.harness
    with psycopg.connect(data.litellm_db) as conn:
        expired_before = conn.execute(
            'SELECT count(*) FROM "LiteLLM_VerificationToken" WHERE expires < now()'
        ).fetchone()
    assert expired_before is not None and expired_before[0] > 0

    _, key = harness.command("bob", "keys cleanup --dry-run")
    preview = harness.wait_reply(key)
    assert "expired" in preview.lower()

    harness.command("bob", "keys cleanup")
    approve(data, "dave", "keys cleanup")
    with psycopg.connect(data.litellm_db) as conn:
        left = conn.execute(
            'SELECT count(*) FROM "LiteLLM_VerificationToken" WHERE expires < now()'
        ).fetchone()
    assert left == (0,)


def test_drift_report_names_each_kind_and_attaches_the_full_list(data: Data) -> None:
    harness = data.harness
    _, key = harness.command("carol", "drift")
    reply = str(wait_until(lambda: harness.slack.responses(key), what="the drift report"))
    for kind in ("(a)", "(b)", "(c", "(d)", "(e)", "(f)"):
        assert kind in reply
    upload = wait_until(lambda: harness.slack.files, what="the full list as a file")[-1]
    assert "kind" in str(upload.get("content", ""))


def test_a_viewer_lists_every_orphan_as_a_file_but_may_not_fix_them(data: Data) -> None:
    harness = data.harness
    orphans = DEMO_DRIFT.a_litemaas_keys_missing_in_litellm
    with psycopg.connect(data.litemaas_db) as conn:
        ids = dict(
            conn.execute(
                "SELECT litellm_key_alias, id::text FROM api_keys WHERE litellm_key_alias = ANY(%s)",
                (list(orphans),),
            ).fetchall()
        )

    _, key = harness.command("carol", "keys orphans")
    reply = harness.wait_reply(key, timeout=20)
    assert f"{len(orphans)} active LiteMaaS keys whose LiteLLM key is gone" in reply, reply
    upload = wait_until(
        lambda: [f for f in harness.slack.files if f.get("name") == "orphaned-keys.csv"], what="the list"
    )[-1]
    lines = str(upload["content"]).splitlines()
    assert lines[0] == "api_key_id,litellm_key_alias,name,user_email,created_at"
    listed = {line.split(",")[1]: line.split(",")[0] for line in lines[1:]}
    assert listed == {alias: ids[alias] for alias in orphans}, lines  # every orphan, one line each
    assert "sk-" not in str(upload["content"])

    _, key = harness.command("carol", "keys orphans --dry-run --fix")
    assert "`keys orphans --fix` needs the operator role; you are viewer" in harness.wait_reply(key)
    with psycopg.connect(data.litemaas_db) as conn:
        active = conn.execute(
            "SELECT count(*) FROM api_keys WHERE is_active AND litellm_key_alias = ANY(%s)", (list(orphans),)
        ).fetchone()
    assert active == (len(orphans),)


def usable_in_litellm(data: Data, alias: str) -> bool:
    with psycopg.connect(data.litellm_db) as conn:
        row = conn.execute(
            'SELECT blocked FROM "LiteLLM_VerificationToken" WHERE key_alias = %s', (alias,)
        ).fetchone()
    assert row is not None
    return not row[0]


def test_a_removal_cascade_leaves_a_working_key_that_drift_finds_and_blocks(data: Data) -> None:
    """`models remove` → the backend's cascade deactivates dave's key in LiteMaaS only → `drift` (f)
    names it → `drift block-inactive`, approved, blocks it in LiteLLM."""
    harness, qwen, daves = data.harness, "qwen-2-5-7b-instruct", "dave-notebook_d4d4d4d4"
    harness.command("alice", f"models remove {qwen}")
    approve(data, "dave", "models remove")
    with psycopg.connect(data.litemaas_db) as conn:
        active = conn.execute(
            "SELECT is_active FROM api_keys WHERE litellm_key_alias = %s", (daves,)
        ).fetchone()
    assert active == (False,) and usable_in_litellm(data, daves)
    assert "key(s) deactivated" in posted(data)

    _, key = harness.command("carol", "drift")
    reply = str(wait_until(lambda: harness.slack.responses(key), what="the drift report"))
    assert "(f) Keys inactive in LiteMaaS but usable in LiteLLM" in reply and daves in reply

    harness.command("bob", "drift block-inactive")
    approve(data, "alice", "drift block-inactive")
    assert not usable_in_litellm(data, daves)
    assert "Blocked 1 of 1 keys" in wait_until(lambda: "Blocked 1 of 1" in posted(data) and posted(data))


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
