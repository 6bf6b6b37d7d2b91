"""The real schemas, their fixtures and the seed helpers, checked against a real PostgreSQL.

What other tests rely on: the LiteMaaS foreign keys behave as the backend's code defines them
(litemaas-facts.md §1.10), LiteLLM's tables have the columns the facts list, both layouts hold what they
should, and the seed helpers write rows that join the way the real systems' rows do.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from sandbox.schemas import LITEMAAS_TABLES, SchemaError, create_litellm_schema, create_litemaas_schema
from sandbox.seed_data import (
    DEMO_DRIFT,
    DEMO_MODELS,
    add_api_key,
    add_litellm_model,
    add_litellm_token,
    add_model,
    add_subscription,
    add_user,
    bulk_keys,
    new_key,
    seed_demo,
    sha256_hex,
)
from tests.conftest import DEAD_URL_PORT, DatabasePair

SYSTEM_USER = "00000000-0000-0000-0000-000000000001"
VERIFICATION_TOKEN_COLUMNS = """
    token key_name key_alias soft_budget_cooldown spend expires models aliases config user_id team_id
    permissions max_parallel_requests metadata blocked tpm_limit rpm_limit max_budget budget_duration
    budget_reset_at allowed_cache_controls model_spend model_max_budget budget_id organization_id created_at
    created_by updated_at updated_by allowed_routes object_permission_id auto_rotate key_rotation_at
    last_rotation_at rotation_count rotation_interval project_id router_settings policies access_group_ids
    last_active agent_id budget_limits budget_fallbacks key_type settings_updated_at tpd_limit total_spend
"""  # litellm-facts.md §7.2, all 48


def _one(conn: psycopg.Connection[Any], query: str, params: tuple[Any, ...] = ()) -> Any:
    row = conn.execute(query.encode(), params).fetchone()
    assert row is not None
    return row[0]


def _tables(url: str) -> set[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'").fetchall()
    return {str(r[0]) for r in rows}


def _columns(conn: psycopg.Connection[Any], table: str) -> dict[str, tuple[str, str]]:
    rows = conn.execute(
        "SELECT column_name, udt_name, is_nullable FROM information_schema.columns WHERE table_name = %s",
        (table,),
    ).fetchall()
    return {str(name): (str(udt), str(nullable)) for name, udt, nullable in rows}


# --- LiteMaaS schema facts ---------------------------------------------------------------------------


def test_litemaas_schema_has_its_17_tables_and_seed_rows(litemaas_db: str) -> None:
    tables = _tables(litemaas_db)
    assert set(LITEMAAS_TABLES) == tables
    with psycopg.connect(litemaas_db, autocommit=True) as conn:
        assert _one(conn, "SELECT username FROM users WHERE id = %s", (SYSTEM_USER,)) == "system"
        assert _one(conn, "SELECT alias FROM teams") == "default-team"
        create_litemaas_schema(litemaas_db)  # idempotent, like the backend's start-up migrations
        assert _one(conn, "SELECT count(*) FROM users") == 1
        assert _one(conn, "SELECT count(*) FROM system_settings") == 2


def test_deleting_a_user_cascades_to_keys_subscriptions_and_memberships(litemaas_db: str) -> None:
    with psycopg.connect(litemaas_db) as conn:
        user = add_user(conn, email="bob@example.com")
        add_model(conn, id="granite", litellm_model_id="m-1")
        add_subscription(conn, user, "granite")
        add_api_key(conn, user, key=new_key(), alias="laptop_12345678", models=["granite"])
        conn.commit()
        conn.execute("DELETE FROM users WHERE id = %s", (user,))
        for table in ("api_keys", "api_key_models", "subscriptions"):
            assert _one(conn, f"SELECT count(*) FROM {table}") == 0, table
        assert _one(conn, "SELECT count(*) FROM team_members WHERE user_id = %s", (user,)) == 0
        assert _one(conn, "SELECT count(*) FROM models") == 1


def test_audit_logs_block_deleting_their_user(litemaas_db: str) -> None:
    with psycopg.connect(litemaas_db) as conn:
        user = add_user(conn, email="audited@example.com")
        conn.execute(
            "INSERT INTO audit_logs (user_id, action, resource_type) VALUES (%s, 'USER_UPDATE', 'USER')",
            (user,),
        )
        conn.commit()
        with pytest.raises(psycopg.errors.ForeignKeyViolation):
            conn.execute("DELETE FROM users WHERE id = %s", (user,))


def test_deleting_a_model_with_subscriptions_fails_and_changes_nothing(litemaas_db: str) -> None:
    with psycopg.connect(litemaas_db) as conn:
        user = add_user(conn, email="carol@example.com")
        add_model(conn, id="llama", litellm_model_id="m-2")
        add_subscription(conn, user, "llama")
        conn.commit()
        with pytest.raises(psycopg.errors.ForeignKeyViolation) as failure:
            conn.execute("DELETE FROM models WHERE id = 'llama'")
        assert failure.value.diag.constraint_name == "subscriptions_model_id_fkey"
        conn.rollback()
        assert _one(conn, "SELECT count(*) FROM models WHERE id = 'llama'") == 1
        with pytest.raises(psycopg.errors.ForeignKeyViolation):  # "user cannot subscribe" symptom
            add_subscription(conn, user, "no-such-model")


def test_deleting_a_model_without_subscriptions_cascades_to_api_key_models(litemaas_db: str) -> None:
    with psycopg.connect(litemaas_db) as conn:
        user = add_user(conn, email="dave@example.com")
        add_model(conn, id="qwen")
        key_id = add_api_key(conn, user, key=new_key(), alias="k_00000000", models=["qwen"])
        conn.execute("DELETE FROM models WHERE id = 'qwen'")
        assert _one(conn, "SELECT count(*) FROM api_key_models") == 0
        assert _one(conn, "SELECT count(*) FROM api_keys WHERE id = %s", (key_id,)) == 1


def test_updated_at_trigger_moves_on_update(litemaas_db: str) -> None:
    with psycopg.connect(litemaas_db, autocommit=True) as conn:
        user = add_user(conn, email="erin@example.com")
        key_id = add_api_key(conn, user, key=new_key(), alias="k_11111111")
        before = _one(conn, "SELECT updated_at FROM api_keys WHERE id = %s", (key_id,))
        conn.execute(
            "UPDATE api_keys SET is_active = false, updated_at = '2000-01-01' WHERE id = %s", (key_id,)
        )
        after = _one(conn, "SELECT updated_at FROM api_keys WHERE id = %s", (key_id,))
        assert after > before  # the trigger overrides even an explicit value
        triggered = conn.execute(
            "SELECT event_object_table FROM information_schema.triggers"
            " WHERE action_statement LIKE '%%update_updated_at_column%%'"
        ).fetchall()
        expected = {"users", "teams", "models", "subscriptions", "api_keys", "banner_announcements"}
        assert {r[0] for r in triggered} == expected


@pytest.mark.parametrize(
    ("statement", "constraint"),
    [
        ("UPDATE api_keys SET sync_status = 'deleted'", "api_keys_sync_status_check"),
        (
            "UPDATE users SET sync_status = 'gone' WHERE email = 'frank@example.com'",
            "users_sync_status_check",
        ),
        ("UPDATE subscriptions SET status = 'paused'", "subscriptions_status_check"),
    ],
)
def test_check_constraints_reject_unknown_states(litemaas_db: str, statement: str, constraint: str) -> None:
    with psycopg.connect(litemaas_db) as conn:
        user = add_user(conn, email="frank@example.com")
        add_model(conn, id="m")
        add_subscription(conn, user, "m")
        add_api_key(conn, user, key=new_key(), alias="k_22222222")
        with pytest.raises(psycopg.errors.CheckViolation) as failure:
            conn.execute(statement.encode())
        assert failure.value.diag.constraint_name == constraint


# --- LiteLLM schema facts ----------------------------------------------------------------------------


def test_litellm_schema_is_the_real_one(litellm_db: str) -> None:
    tables = _tables(litellm_db)
    assert len(tables) == 101 and all(t.startswith("LiteLLM_") for t in tables)
    with psycopg.connect(litellm_db) as conn:
        token = _columns(conn, "LiteLLM_VerificationToken")
        assert token["token"] == ("text", "NO")
        assert token["key_alias"] == ("text", "YES")
        assert token["expires"][0] == "timestamp"
        assert token["models"][0] == "_text"
        assert token["metadata"] == ("jsonb", "NO")
        assert set(token) == set(VERIFICATION_TOKEN_COLUMNS.split())
        model = _columns(conn, "LiteLLM_ProxyModelTable")
        assert model == {
            "model_id": ("text", "NO"),
            "model_name": ("text", "NO"),
            "litellm_params": ("jsonb", "NO"),
            "model_info": ("jsonb", "YES"),
            "created_at": ("timestamp", "NO"),
            "created_by": ("text", "NO"),
            "updated_at": ("timestamp", "NO"),
            "updated_by": ("text", "NO"),
            "blocked": ("bool", "NO"),
        }
        indexes = {r[0] for r in conn.execute("SELECT indexname FROM pg_indexes").fetchall()}
        assert {"LiteLLM_SpendLogs_api_key_startTime_idx", "LiteLLM_SpendLogs_litellm_call_id_idx"} <= indexes


def test_litellm_schema_failure_is_one_clear_error() -> None:
    with pytest.raises(SchemaError, match="psql failed on 20250326162113_baseline"):
        create_litellm_schema(f"postgresql://postgres@127.0.0.1:{DEAD_URL_PORT}/nothing")


def test_both_layouts_hold_what_they_should(litemaas_litellm_dbs: DatabasePair) -> None:
    pair = litemaas_litellm_dbs
    litemaas, litellm = _tables(pair.litemaas_url), _tables(pair.litellm_url)
    assert set(LITEMAAS_TABLES) <= litemaas and "LiteLLM_VerificationToken" in litellm
    assert pair.shared == (pair.litemaas_url == pair.litellm_url)
    if pair.shared:
        assert litemaas == litellm and len(litemaas) == 101 + len(LITEMAAS_TABLES)
    else:
        assert not any(t.startswith("LiteLLM_") for t in litemaas)
        assert litellm.isdisjoint(LITEMAAS_TABLES)


# --- Seed helpers ------------------------------------------------------------------------------------


def test_one_of_everything_joins_like_the_real_systems(litemaas_litellm_dbs: DatabasePair) -> None:
    pair = litemaas_litellm_dbs
    key = new_key()
    expires = datetime.now(UTC) + timedelta(days=30)
    with psycopg.connect(pair.litellm_url) as conn:
        model_id = add_litellm_model(conn, "granite", {"model": "openai/granite", "api_base": "http://x/v1"})
    with psycopg.connect(pair.litemaas_url) as conn:
        user = add_user(conn, email="gina@example.com", roles=["admin", "user"])
        add_model(conn, id="granite", litellm_model_id=model_id, litellm_params={"model": "openai/granite"})
        add_subscription(conn, user, "granite")
        add_api_key(conn, user, key=key, alias="gina-key_abcdef01", models=["granite"], expires_at=expires)
        row = conn.execute(
            "SELECT key_hash, key_prefix, lite_llm_key_value, litellm_key_alias, sync_status, m.provider,"
            " m.backend_model_name, m.litellm_model_id FROM api_keys"
            " JOIN api_key_models ON api_key_id = api_keys.id JOIN models m ON m.id = model_id"
        ).fetchone()
    assert row == (
        sha256_hex(key),
        key[:7],
        key,
        "gina-key_abcdef01",
        "synced",
        "openai",
        "granite",
        model_id,
    )
    with psycopg.connect(pair.litellm_url) as conn:
        add_litellm_token(
            conn,
            key=key,
            alias="gina-key_abcdef01",
            expires=expires,
            duration="30d",
            models=["granite"],
            user_id=user,
        )
        token = conn.execute(
            "SELECT token, key_name, key_alias, expires, metadata, models, user_id"
            ' FROM "LiteLLM_VerificationToken"'
        ).fetchone()
        info = _one(conn, 'SELECT model_info FROM "LiteLLM_ProxyModelTable"')
    assert token is not None
    assert token[0] == sha256_hex(key) and token[1] == "sk-..." + key[-4:] and token[2] == "gina-key_abcdef01"
    stored = expires.astimezone(UTC).replace(tzinfo=None)  # naive UTC, milliseconds (Prisma TIMESTAMP(3))
    assert token[3].tzinfo is None and abs(token[3] - stored) < timedelta(milliseconds=1)
    assert token[4] == {"duration": "30d"} and token[5] == ["granite"] and token[6] == str(user)
    assert info["id"] == model_id
    if pair.shared:  # the drift join of litemaas-facts §3 works across the two schemas
        with psycopg.connect(pair.litemaas_url) as conn:
            joined = _one(
                conn,
                'SELECT count(*) FROM api_keys k JOIN "LiteLLM_VerificationToken" t'
                " ON t.token = k.key_hash AND t.key_alias = k.litellm_key_alias",
            )
        assert joined == 1


def _aliases(url: str, query: str) -> set[str]:
    with psycopg.connect(url) as conn:
        return {str(r[0]) for r in conn.execute(query.encode()).fetchall()}


def test_seed_demo_is_idempotent_and_plants_the_drift(litemaas_litellm_dbs: DatabasePair) -> None:
    pair = litemaas_litellm_dbs
    seed_demo(pair.litemaas_url, pair.litellm_url)
    counts = [_aliases(pair.litemaas_url, "SELECT count(*) FROM api_keys")]
    seed_demo(pair.litemaas_url, pair.litellm_url)
    counts.append(_aliases(pair.litemaas_url, "SELECT count(*) FROM api_keys"))
    assert counts[0] == counts[1] == {"8"}
    litemaas_active = _aliases(pair.litemaas_url, "SELECT litellm_key_alias FROM api_keys WHERE is_active")
    litemaas_all = _aliases(pair.litemaas_url, "SELECT litellm_key_alias FROM api_keys")
    litellm = _aliases(pair.litellm_url, 'SELECT key_alias FROM "LiteLLM_VerificationToken"')
    assert litemaas_active - litellm == set(DEMO_DRIFT.a_litemaas_keys_missing_in_litellm)
    assert litellm - litemaas_all == set(DEMO_DRIFT.b_litellm_keys_without_litemaas_row)
    catalogue = _aliases(pair.litemaas_url, "SELECT id FROM models")
    deployed = _aliases(pair.litellm_url, 'SELECT model_name FROM "LiteLLM_ProxyModelTable"')
    assert deployed - catalogue == set(DEMO_DRIFT.c_litellm_models_missing_in_catalogue)
    unavailable = set(DEMO_DRIFT.e_active_subscriptions_on_unavailable_models)
    assert catalogue - deployed == set(DEMO_DRIFT.c_catalogue_models_missing_in_litellm) | unavailable
    ids = _aliases(pair.litellm_url, "SELECT model_name || '=' || model_id FROM \"LiteLLM_ProxyModelTable\"")
    catalogue_ids = _aliases(pair.litemaas_url, "SELECT id || '=' || litellm_model_id FROM models")
    mismatched = {entry.split("=")[0] for entry in catalogue_ids - ids if entry.split("=")[0] in DEMO_MODELS}
    assert mismatched == set(DEMO_DRIFT.d_model_id_mismatches)
    on_unavailable = _aliases(
        pair.litemaas_url,
        "SELECT s.model_id FROM subscriptions s JOIN models m ON m.id = s.model_id"
        " WHERE s.status = 'active' AND m.availability = 'unavailable'",
    )
    assert on_unavailable == unavailable
    expired = _aliases(
        pair.litellm_url,
        "SELECT key_alias FROM \"LiteLLM_VerificationToken\" WHERE expires < timezone('utc', now())",
    )
    assert set(DEMO_DRIFT.expired_keys) <= expired
    old = _aliases(
        pair.litellm_url,
        "SELECT key_alias FROM \"LiteLLM_VerificationToken\" WHERE metadata ? 'duration' AND expires"
        " - (regexp_replace(metadata->>'duration', 'd$', '') || ' days')::interval"
        " < timezone('utc', now()) - interval '30 days'",
    )
    assert old == set(DEMO_DRIFT.old_by_duration_keys)


def test_bulk_keys_diverge_exactly_as_reported(litemaas_litellm_dbs: DatabasePair) -> None:
    pair = litemaas_litellm_dbs
    report = bulk_keys(
        pair.litemaas_url, pair.litellm_url, 5_000, divergence=0.01, expired_fraction=0.1, batch=2_000
    )
    assert (report.litemaas_only, report.litellm_only, report.expired) == (25, 25, 500)
    litemaas = _aliases(pair.litemaas_url, "SELECT key_hash || ' ' || litellm_key_alias FROM api_keys")
    litellm = _aliases(
        pair.litellm_url, "SELECT token || ' ' || key_alias FROM \"LiteLLM_VerificationToken\""
    )
    assert (len(litemaas), len(litellm)) == (report.litemaas_rows, report.litellm_rows)
    assert len(litemaas - litellm) == report.litemaas_only and len(litellm - litemaas) == report.litellm_only
    with psycopg.connect(pair.litellm_url) as conn:
        expired = _one(
            conn, "SELECT count(*) FROM \"LiteLLM_VerificationToken\" WHERE expires < timezone('utc', now())"
        )
        key = "sk-" + report.tag + "1".rjust(16, "0")  # key 1 is on both sides, found by its hash
        alias = _one(
            conn, 'SELECT key_alias FROM "LiteLLM_VerificationToken" WHERE token = %s', (sha256_hex(key),)
        )
    assert expired == report.expired  # expired keys (i % 10 = 9) are never divergent (i % 100 = 0)
    assert f"{sha256_hex(key)} {alias}" in litemaas
    with pytest.raises(ValueError):
        bulk_keys(pair.litemaas_url, pair.litellm_url, 10, divergence=2.0)
