"""Rows for the real LiteMaaS and LiteLLM tables: one at a time for tests, a demo set, bulk for benchmarks.

Every helper writes what the real systems write (litemaas-facts.md §1, §3; litellm-facts.md §7):

- `api_keys`: `key_hash` = sha256 hex of the `sk-` key, `key_prefix` = its first 7 characters,
  `lite_llm_key_value` = the key itself, `litellm_key_alias` = LiteLLM's `key_alias`, `sync_status='synced'`.
- `"LiteLLM_VerificationToken"`: `token` = sha256 hex of the key, `key_name` = `sk-...` + last 4 characters,
  `expires` as naive UTC, `metadata.duration` only when given (workshop keys; portal keys have none).
- `"LiteLLM_ProxyModelTable"`: `litellm_params` stored in clear (the sandbox LiteLLM serves clear values
  as they are), `model_info.id` = `model_id`.

The single-row helpers take an open connection and never commit: the caller owns the transaction.
`seed_demo` and `bulk_keys` take URLs and commit themselves. All SQL is parameterized.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import psycopg
from psycopg.types.json import Jsonb

DEFAULT_TEAM_ID = UUID("a0000000-0000-4000-8000-000000000001")
SYSTEM_USER_ID = UUID("00000000-0000-0000-0000-000000000001")
LITELLM_CREATED_BY = "default_user_id"  # what the proxy records for admin (master key) calls

Conn = psycopg.Connection[Any]


def sha256_hex(key: str) -> str:
    """LiteLLM's `hash_token`: the stored token and LiteMaaS's `key_hash` for a `sk-` key."""
    return hashlib.sha256(key.encode()).hexdigest()


def new_key() -> str:
    """A fresh key shaped like LiteLLM's: `sk-` + `secrets.token_urlsafe(16)` (22 characters)."""
    return "sk-" + secrets.token_urlsafe(16)


def key_alias(name: str) -> str:
    """LiteMaaS's `generateUniqueKeyAlias`: sanitised name (≤ 50 chars) + `_` + 8 random hex."""
    clean = re.sub(r"-+", "-", re.sub(r"[^a-zA-Z0-9\-_]", "-", name)).strip("-")[:50] or "api-key"
    return f"{clean}_{secrets.token_hex(4)}"


def _utc_naive(moment: datetime | None) -> datetime | None:
    """LiteLLM's timestamps are `timestamp without time zone` holding UTC."""
    if moment is None or moment.tzinfo is None:
        return moment
    return moment.astimezone(UTC).replace(tzinfo=None)


# --- LiteMaaS rows ------------------------------------------------------------------------------------


def add_user(
    conn: Conn,
    *,
    email: str,
    roles: Sequence[str] = ("user",),
    username: str | None = None,
    full_name: str | None = None,
    is_active: bool = True,
    user_id: UUID | None = None,
) -> UUID:
    """A user as the OAuth login creates it (provider `openshift`), member of the Default Team."""
    row = conn.execute(
        "INSERT INTO users (id, username, email, full_name, oauth_provider, oauth_id, roles, is_active,"
        " sync_status, last_login_at) VALUES (%s, %s, %s, %s, 'openshift', %s, %s, %s, 'synced', now())"
        " RETURNING id",
        (
            user_id or uuid.uuid4(),
            username or email.split("@", 1)[0],
            email,
            full_name,
            str(uuid.uuid4()),
            list(roles),
            is_active,
        ),
    ).fetchone()
    assert row is not None
    conn.execute(
        "INSERT INTO team_members (team_id, user_id, role) VALUES (%s, %s, 'member')"
        " ON CONFLICT (team_id, user_id) DO NOTHING",
        (DEFAULT_TEAM_ID, row[0]),
    )
    return UUID(str(row[0]))


def add_model(
    conn: Conn,
    *,
    id: str,
    litellm_model_id: str | None = None,
    availability: str = "available",
    provider: str | None = None,
    backend_model_name: str | None = None,
    api_base: str | None = None,
    description: str | None = None,
    restricted_access: bool = False,
    litellm_params: dict[str, Any] | None = None,
) -> str:
    """A catalogue row as the backend's sync writes it (`id` = LiteLLM's `model_name`); returns the id."""
    params = {k: v for k, v in (litellm_params or {}).items() if k != "api_key"}
    model = str(params.get("model", ""))
    conn.execute(
        "INSERT INTO models (id, name, provider, description, category, context_length, features,"
        " availability, version, metadata, api_base, litellm_model_id, backend_model_name, restricted_access)"
        " VALUES (%s, %s, %s, %s, 'Language Model', 8192, %s, %s, '1.0', %s, %s, %s, %s, %s)",
        (
            id,
            id,
            provider or (model.split("/", 1)[0] if "/" in model else "openai"),
            description,
            ["chat"],
            availability,
            Jsonb({"litellm_params": params, "litellm_model_info": {"id": litellm_model_id}}),
            api_base or params.get("api_base"),
            litellm_model_id,
            backend_model_name or (model.split("/", 1)[1] if "/" in model else model or None),
            restricted_access,
        ),
    )
    return id


def add_subscription(conn: Conn, user_id: UUID, model_id: str, status: str = "active") -> UUID:
    """One user's subscription to one model, with the quotas the service inserts."""
    row = conn.execute(
        "INSERT INTO subscriptions (user_id, model_id, team_id, status, quota_requests, quota_tokens,"
        " status_changed_at, status_changed_by) VALUES (%s, %s, %s, %s, 10000, 1000000, now(), %s)"
        " RETURNING id",
        (user_id, model_id, DEFAULT_TEAM_ID, status, SYSTEM_USER_ID),
    ).fetchone()
    assert row is not None
    return UUID(str(row[0]))


def add_api_key(
    conn: Conn,
    user_id: UUID,
    *,
    key: str,
    alias: str,
    active: bool = True,
    models: Sequence[str] = (),
    expires_at: datetime | None = None,
    name: str | None = None,
    created_at: datetime | None = None,
    sync_status: str = "synced",
) -> UUID:
    """An `api_keys` row as `createApiKey` writes it, plus one `api_key_models` row per model."""
    row = conn.execute(
        "INSERT INTO api_keys (user_id, name, key_hash, key_prefix, lite_llm_key_value, litellm_key_alias,"
        " metadata, expires_at, is_active, created_at, last_sync_at, sync_status)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, coalesce(%s, now()), now(), %s) RETURNING id",
        (
            user_id,
            name or alias.rsplit("_", 1)[0],
            sha256_hex(key),
            key[:7],
            key,
            alias,
            Jsonb({}),
            expires_at,
            active,
            created_at,
            sync_status,
        ),
    ).fetchone()
    assert row is not None
    key_id = UUID(str(row[0]))
    for model_id in models:
        conn.execute("INSERT INTO api_key_models (api_key_id, model_id) VALUES (%s, %s)", (key_id, model_id))
    return key_id


# --- LiteLLM rows -------------------------------------------------------------------------------------


def add_litellm_token(
    conn: Conn,
    *,
    key: str,
    alias: str | None,
    expires: datetime | None,
    duration: str | None = None,
    models: Sequence[str] = (),
    user_id: UUID | str | None = None,
    team_id: str | None = None,
    metadata: dict[str, Any] | None = None,
    created_at: datetime | None = None,
    blocked: bool | None = None,
) -> str:
    """A `"LiteLLM_VerificationToken"` row as `/key/generate` stores it; returns the token (hash).

    `duration` goes into `metadata.duration` (workshop and script keys); `expires` is stored as naive UTC.
    """
    meta = dict(metadata or {})
    if duration is not None:
        meta["duration"] = duration
    conn.execute(
        'INSERT INTO "LiteLLM_VerificationToken" (token, key_name, key_alias, expires, models, user_id,'
        " team_id, metadata, created_at, created_by, updated_at, updated_by, blocked)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, coalesce(%s, timezone('utc', now())), %s,"
        " coalesce(%s, timezone('utc', now())), %s, %s)",
        (
            sha256_hex(key),
            f"sk-...{key[-4:]}",
            alias,
            _utc_naive(expires),
            list(models),
            None if user_id is None else str(user_id),
            team_id,
            Jsonb(meta),
            _utc_naive(created_at),
            LITELLM_CREATED_BY,
            _utc_naive(created_at),
            LITELLM_CREATED_BY,
            blocked,
        ),
    )
    return sha256_hex(key)


def add_litellm_model(
    conn: Conn,
    model_name: str,
    litellm_params: dict[str, Any],
    model_id: str | None = None,
    model_info: dict[str, Any] | None = None,
) -> str:
    """A `"LiteLLM_ProxyModelTable"` row as `/model/new` stores it; returns the model id."""
    mid = model_id or str(uuid.uuid4())
    conn.execute(
        'INSERT INTO "LiteLLM_ProxyModelTable" (model_id, model_name, litellm_params, model_info, created_by,'
        " updated_by) VALUES (%s, %s, %s, %s, %s, %s)",
        (
            mid,
            model_name,
            Jsonb(litellm_params),
            Jsonb({**(model_info or {}), "id": mid}),
            LITELLM_CREATED_BY,
            LITELLM_CREATED_BY,
        ),
    )
    return mid


# --- The demo data set --------------------------------------------------------------------------------

DEMO_ADMIN_EMAIL = "alice@example.com"
DEMO_MODELS: dict[str, str] = {  # model_name → LiteLLM model id, present in both stores
    "granite-3-8b-instruct": "6f1c2a10-0000-4000-8000-000000000001",
    "llama-3-1-8b-instruct": "6f1c2a10-0000-4000-8000-000000000002",
    "mistral-7b-instruct": "6f1c2a10-0000-4000-8000-000000000003",
    "qwen-2-5-7b-instruct": "6f1c2a10-0000-4000-8000-000000000004",
}


@dataclass(frozen=True)
class DemoDrift:
    """What `seed_demo` plants, by drift kind of product.md §5 and for cleanup (key aliases, model ids).

    The (e) model is `unavailable` in the catalogue and absent from LiteLLM, as the backend's sync leaves
    a model deleted in LiteLLM; a drift check that also lists unavailable catalogue models under (c)
    will see it there too. Old-by-duration keys are LiteLLM-only workshop keys, so they are also (b).
    """

    a_litemaas_keys_missing_in_litellm: tuple[str, ...] = (
        "bob-old-laptop_0a0a0a0a",
        "carol-notebook_0b0b0b0b",
    )
    b_litellm_keys_without_litemaas_row: tuple[str, ...] = (
        "workshop-lab-01_0c0c0c0c",
        "workshop-lab-02_0d0d0d0d",
        "script-key-dave_0e0e0e0e",
    )
    c_litellm_models_missing_in_catalogue: tuple[str, ...] = ("phi-3-mini-instruct",)
    c_catalogue_models_missing_in_litellm: tuple[str, ...] = ("codellama-13b",)
    d_model_id_mismatches: tuple[str, ...] = ("mistral-7b-instruct",)
    e_active_subscriptions_on_unavailable_models: tuple[str, ...] = ("granite-2-legacy",)
    expired_keys: tuple[str, ...] = ("bob-expired_1a1a1a1a", "carol-expired_1b1b1b1b")
    old_by_duration_keys: tuple[str, ...] = ("workshop-lab-01_0c0c0c0c", "workshop-lab-02_0d0d0d0d")


DEMO_DRIFT = DemoDrift()


def _demo_key(alias: str) -> str:
    """A stable, key-shaped secret per demo alias (so re-seeding finds the same rows)."""
    return "sk-" + hashlib.sha256(f"litemaas-demo:{alias}".encode()).hexdigest()[:22]


def _params(model: str) -> dict[str, Any]:
    return {
        "model": f"openai/{model}",
        "api_base": f"https://{model}.models.example.com/v1",
        "api_key": "demo",
    }


def _seed_litemaas(conn: Conn, now: datetime) -> None:
    alice = add_user(conn, email=DEMO_ADMIN_EMAIL, roles=("admin", "user"), full_name="Alice Admin")
    bob = add_user(conn, email="bob@example.com", full_name="Bob Builder")
    carol = add_user(conn, email="carol@example.com", roles=("admin-readonly", "user"), full_name="Carol C")
    dave = add_user(conn, email="dave@example.com", full_name="Dave D")
    for name, mid in DEMO_MODELS.items():
        stale = name in DEMO_DRIFT.d_model_id_mismatches
        add_model(
            conn, id=name, litellm_model_id=("0ld-" + mid[4:]) if stale else mid, litellm_params=_params(name)
        )
    for name in DEMO_DRIFT.c_catalogue_models_missing_in_litellm:
        add_model(
            conn,
            id=name,
            litellm_model_id=str(uuid.uuid5(uuid.NAMESPACE_URL, name)),
            litellm_params=_params(name),
        )
    for name in DEMO_DRIFT.e_active_subscriptions_on_unavailable_models:
        add_model(conn, id=name, availability="unavailable", litellm_params=_params(name))
    granite, llama, mistral, qwen = DEMO_MODELS
    for user, subscribed in (
        (alice, (granite, llama, qwen)),
        (bob, (granite, mistral)),
        (carol, (llama,)),
        (dave, (qwen,)),
    ):
        for model in subscribed:
            add_subscription(conn, user, model)
    add_subscription(conn, bob, "granite-2-legacy")  # (e): still active on an unavailable model
    add_subscription(conn, dave, mistral, status="inactive")
    keys: list[tuple[UUID, str, Sequence[str], datetime | None]] = [
        (alice, "alice-laptop_a1a1a1a1", (granite, llama), None),
        (bob, "bob-ci_b2b2b2b2", (granite,), now + timedelta(days=60)),
        (dave, "dave-notebook_d4d4d4d4", (qwen,), None),
        (bob, DEMO_DRIFT.expired_keys[0], (mistral,), now - timedelta(days=3)),
        (carol, DEMO_DRIFT.expired_keys[1], (llama,), now - timedelta(days=40)),
        (bob, DEMO_DRIFT.a_litemaas_keys_missing_in_litellm[0], (granite,), None),
        (carol, DEMO_DRIFT.a_litemaas_keys_missing_in_litellm[1], (llama,), None),
    ]
    for user, alias, models, expires in keys:
        add_api_key(
            conn,
            user,
            key=_demo_key(alias),
            alias=alias,
            models=models,
            expires_at=expires,
            created_at=now - timedelta(days=45),
        )
    add_api_key(
        conn,
        alice,
        key=_demo_key("alice-revoked_c3c3c3c3"),
        alias="alice-revoked_c3c3c3c3",
        active=False,
        models=(granite,),
    )


def _seed_litellm(conn: Conn, user_ids: dict[str, str], now: datetime) -> None:
    for name, mid in DEMO_MODELS.items():
        add_litellm_model(conn, name, _params(name), mid, {"description": f"{name} (demo)"})
    for name in DEMO_DRIFT.c_litellm_models_missing_in_catalogue:
        add_litellm_model(conn, name, _params(name), str(uuid.uuid5(uuid.NAMESPACE_URL, name)))
    granite, llama, mistral, qwen = DEMO_MODELS
    portal = [  # keys created through LiteMaaS: same alias, user id and hash; no metadata.duration
        ("alice@example.com", "alice-laptop_a1a1a1a1", (granite, llama), None),
        ("bob@example.com", "bob-ci_b2b2b2b2", (granite,), now + timedelta(days=60)),
        ("dave@example.com", "dave-notebook_d4d4d4d4", (qwen,), None),
        ("bob@example.com", DEMO_DRIFT.expired_keys[0], (mistral,), now - timedelta(days=3)),
        ("carol@example.com", DEMO_DRIFT.expired_keys[1], (llama,), now - timedelta(days=40)),
    ]
    for email, alias, models, expires in portal:
        add_litellm_token(
            conn,
            key=_demo_key(alias),
            alias=alias,
            expires=expires,
            models=models,
            user_id=user_ids.get(email),
            metadata={"created_by": "litemaas", "model_count": len(models), "legacy_request": False},
            created_at=now - timedelta(days=45),
        )
    workshop = [  # (b): LiteLLM only; the first two are older than 30 days by expires - duration
        (DEMO_DRIFT.b_litellm_keys_without_litemaas_row[0], now + timedelta(days=50), "90d"),
        (DEMO_DRIFT.b_litellm_keys_without_litemaas_row[1], now - timedelta(days=5), "30d"),
        (DEMO_DRIFT.b_litellm_keys_without_litemaas_row[2], now + timedelta(days=20), "30d"),
    ]
    for alias, expires, duration in workshop:
        add_litellm_token(
            conn,
            key=_demo_key(alias),
            alias=alias,
            expires=expires,
            duration=duration,
            models=(granite,),
            metadata={"alias": alias, "models_count": 1},
        )


def seed_demo(litemaas_url: str, litellm_url: str) -> None:
    """A small realistic data set in both stores, with planted drift (`DEMO_DRIFT`). Idempotent.

    Each store is seeded in one transaction and only when its marker row is missing (the admin user in
    LiteMaaS, the first demo model in LiteLLM), so running it again, or on a shared database, is a no-op.
    """
    now = datetime.now(UTC)
    with psycopg.connect(litemaas_url) as conn:
        if conn.execute("SELECT 1 FROM users WHERE email = %s", (DEMO_ADMIN_EMAIL,)).fetchone() is None:
            _seed_litemaas(conn, now)
        user_ids = {str(e): str(i) for e, i in conn.execute("SELECT email, id FROM users").fetchall()}
    first_model = next(iter(DEMO_MODELS.values()))
    with psycopg.connect(litellm_url) as conn:
        marker = 'SELECT 1 FROM "LiteLLM_ProxyModelTable" WHERE model_id = %s'
        if conn.execute(marker, (first_model,)).fetchone() is None:
            _seed_litellm(conn, user_ids, now)


# --- Bulk keys for benchmarks -------------------------------------------------------------------------


@dataclass(frozen=True)
class BulkKeys:
    """What `bulk_keys` inserted: `n` keys, of which some exist on one side only, some expired."""

    tag: str
    n: int
    litemaas_only: int
    litellm_only: int
    expired: int

    @property
    def litemaas_rows(self) -> int:
        return self.n - self.litellm_only

    @property
    def litellm_rows(self) -> int:
        return self.n - self.litemaas_only


def _every(fraction: float) -> int:
    """Period of a fraction: every k-th key (0 = never)."""
    return 0 if fraction <= 0 else max(1, round(1 / fraction))


# Key i (0-based) of a run: `sk-<tag><i:016d>`. Key i is divergent when div > 0 and i % div = 0: on even
# multiples it lives in LiteMaaS only, on odd ones in LiteLLM only. It is expired when exp > 0 and
# i % exp = exp - 1. Both sides compute the same keys server-side (`sha256` is built into PostgreSQL),
# so the separate layout needs no data shipped between the two databases.
_DIVERGENT = "(%(div)s > 0 AND i %% GREATEST(%(div)s, 1) = 0)"
_ONLY_LITEMAAS = f"({_DIVERGENT} AND (i / GREATEST(%(div)s, 1)) %% 2 = 0)"
_ONLY_LITELLM = f"({_DIVERGENT} AND (i / GREATEST(%(div)s, 1)) %% 2 = 1)"
_EXPIRED = "(%(exp)s > 0 AND i %% GREATEST(%(exp)s, 1) = %(exp)s - 1)"
_KEY = "('sk-' || %(tag)s || lpad(i::text, 16, '0'))"
_ALIAS = "('bulk-' || %(tag)s || '_' || lpad(to_hex(i), 8, '0'))"

_BULK_LITEMAAS = f"""
INSERT INTO api_keys (user_id, name, key_hash, key_prefix, lite_llm_key_value, litellm_key_alias, expires_at,
                      is_active, created_at, last_sync_at, sync_status)
SELECT (%(user_ids)s::uuid[])[1 + i %% %(users)s], 'bulk', encode(sha256(convert_to({_KEY}, 'UTF8')), 'hex'),
       left({_KEY}, 7), {_KEY}, {_ALIAS},
       CASE WHEN {_EXPIRED} THEN now() - interval '2 days' ELSE now() + interval '30 days' END,
       true, now() - interval '1 day', now(), 'synced'
FROM generate_series(%(lo)s::bigint, %(hi)s::bigint - 1) AS i
WHERE NOT {_ONLY_LITELLM}
"""

_BULK_LITELLM = f"""
INSERT INTO "LiteLLM_VerificationToken" (token, key_name, key_alias, expires, models, user_id, metadata,
                                         created_at, created_by, updated_at, updated_by)
SELECT encode(sha256(convert_to({_KEY}, 'UTF8')), 'hex'), 'sk-...' || right({_KEY}, 4), {_ALIAS},
       timezone('utc', now()) + CASE WHEN {_EXPIRED} THEN interval '-2 days' ELSE interval '30 days' END,
       ARRAY['bulk-model'], ((%(user_ids)s::uuid[])[1 + i %% %(users)s])::text,
       '{{"created_by": "litemaas"}}'::jsonb,
       timezone('utc', now()) - interval '1 day', 'bulk', timezone('utc', now()), 'bulk'
FROM generate_series(%(lo)s::bigint, %(hi)s::bigint - 1) AS i
WHERE NOT {_ONLY_LITEMAAS}
"""


def bulk_keys(
    litemaas_url: str,
    litellm_url: str,
    n: int,
    *,
    divergence: float = 0.01,
    expired_fraction: float = 0.0,
    batch: int = 200_000,
    tag: str | None = None,
) -> BulkKeys:
    """Insert `n` keys into both stores, `divergence` of them on one side only (half each way).

    Rows are generated server-side (`generate_series` + `sha256`) in batches of `batch`, one commit per
    batch; a million keys per side take well under a minute. Keys belong to up to 1,000 bulk users.
    `tag` (default random) keeps keys and aliases of separate runs apart.
    """
    if n < 0 or not 0 <= divergence <= 1 or not 0 <= expired_fraction <= 1:
        raise ValueError("n must be ≥ 0 and fractions within [0, 1]")
    tag = tag or secrets.token_hex(3)
    div, exp = _every(divergence), _every(expired_fraction)
    users = max(1, min(1000, n // 10))
    with psycopg.connect(litemaas_url) as conn:
        rows = conn.execute(
            "INSERT INTO users (username, email, oauth_provider, oauth_id, sync_status)"
            " SELECT 'bulk-' || %(tag)s || '-' || u, 'bulk-' || %(tag)s || '-' || u || '@example.com',"
            " 'openshift', gen_random_uuid()::text, 'synced' FROM generate_series(0, %(users)s - 1) AS u"
            " RETURNING id",
            {"tag": tag, "users": users},
        ).fetchall()
    params: dict[str, Any] = {"tag": tag, "div": div, "exp": exp, "users": users}
    params["user_ids"] = [row[0] for row in rows]
    for url, statement in ((litemaas_url, _BULK_LITEMAAS), (litellm_url, _BULK_LITELLM)):
        with psycopg.connect(url, autocommit=True) as conn:
            for lo in range(0, n, batch):
                conn.execute(statement.encode(), {**params, "lo": lo, "hi": min(n, lo + batch)})
            conn.execute("ANALYZE")
    divergent = 0 if not div else (n + div - 1) // div
    only_litemaas = (divergent + 1) // 2
    return BulkKeys(
        tag=tag,
        n=n,
        litemaas_only=only_litemaas,
        litellm_only=divergent - only_litemaas,
        expired=0 if not exp else n // exp,
    )
