"""The backend's model sync on the REAL LiteMaaS tables (litemaas-facts.md §2.2, observed in §8).

`run_sync(config, force_update=…, mark_unavailable=…)` does what `model-sync.service.ts` does:

1. `GET /model/info` from LiteLLM (the backend's `LITELLM_API_URL`, key `LITELLM_API_KEY`);
2. with a LiteLLM database URL, `SELECT model_name FROM "LiteLLM_ProxyModelTable"`: only models in
   both are processed (the others are stale cache entries); a failing query fails the whole sync;
3. INSERT new `models` rows, UPDATE changed ones (availability back to `available`, description kept);
4. with `mark_unavailable`, every local model missing from the table (or from the API list without a
   LiteLLM database) goes through `markModelUnavailable`, one transaction each: the model
   `unavailable`, its active subscriptions `inactive`, its `api_key_models` rows deleted, keys left
   with no model `is_active=false`, and an `audit_logs` row `MODEL_MARKED_UNAVAILABLE_WITH_CASCADE`
   carrying the cascade counts. Nothing is ever deleted from `models` or `subscriptions`, and
   LiteLLM is never called back.

The outcome is the endpoint's response body. Like the real 0.4.0 backend it carries no
`cascadeStatistics` (its response schema strips them; they are only logged and audited).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import httpx
import psycopg
from psycopg.types.json import Jsonb

AUDIT_CASCADE = "MODEL_MARKED_UNAVAILABLE_WITH_CASCADE"
LITELLM_TIMEOUT_SECONDS = 30.0
CAPABILITIES = (
    "supports_vision",
    "supports_function_calling",
    "supports_tool_choice",
    "supports_parallel_function_calling",
)


class SyncFailed(Exception):
    """The whole sync failed (LiteLLM or a database unreachable): `success:false`, HTTP 500."""


@dataclass(frozen=True)
class SyncConfig:
    """What the backend's env gives the sync: its database, LiteLLM's API and (optionally) database."""

    database_url: str | None
    litellm_api_url: str | None
    litellm_api_key: str | None
    litellm_database_url: str | None = None


@dataclass
class Cascade:
    """What one `markModelUnavailable` changed."""

    subscriptions_deactivated: int = 0
    api_key_model_associations_removed: int = 0
    orphaned_api_keys_deactivated: int = 0

    def as_json(self) -> dict[str, int]:
        return {
            "subscriptionsDeactivated": self.subscriptions_deactivated,
            "apiKeyModelAssociationsRemoved": self.api_key_model_associations_removed,
            "orphanedApiKeysDeactivated": self.orphaned_api_keys_deactivated,
        }


@dataclass
class SyncOutcome:
    """Counts of one sync; `body()` is the HTTP response of `POST /api/v1/models/sync`."""

    total: int = 0
    new: int = 0
    updated: int = 0
    unavailable: int = 0
    errors: list[str] = field(default_factory=list)
    cascade: Cascade = field(default_factory=Cascade)

    def body(self, success: bool = True) -> dict[str, Any]:
        return {
            "success": success,
            "totalModels": self.total,
            "newModels": self.new,
            "updatedModels": self.updated,
            "unavailableModels": self.unavailable,
            "errors": list(self.errors),
            "syncedAt": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        }


def failure_body(message: str) -> dict[str, Any]:
    """The 500 body of a failed sync: the same shape, `success:false`, the reason in `errors`."""
    outcome = SyncOutcome(errors=[f"Synchronization failed: {message}"])
    return outcome.body(success=False)


# -- reading LiteLLM ---------------------------------------------------------------------------------


def fetch_litellm_models(config: SyncConfig) -> list[dict[str, Any]]:
    """`GET /model/info` (fresh); a 500 "no models configured" is an empty list, as in the backend."""
    if not config.litellm_api_url:
        raise SyncFailed("LITELLM_API_URL is not configured")
    key = config.litellm_api_key or ""
    headers = {"x-litellm-api-key": key, "Authorization": f"Bearer {key}"}
    try:
        reply = httpx.get(
            f"{config.litellm_api_url.rstrip('/')}/model/info",
            headers=headers,
            timeout=LITELLM_TIMEOUT_SECONDS,
        )
    except httpx.HTTPError as exc:
        raise SyncFailed(f"LiteLLM API unreachable ({type(exc).__name__})") from None
    if reply.status_code == 500 and "no models" in reply.text.lower():
        return []
    if reply.status_code != 200:
        raise SyncFailed(f"LiteLLM API error: HTTP {reply.status_code}")
    try:
        data = reply.json().get("data")
    except (ValueError, AttributeError):
        raise SyncFailed("LiteLLM API returned an unexpected /model/info body") from None
    if not isinstance(data, list):
        raise SyncFailed("LiteLLM API returned an unexpected /model/info body")
    return [m for m in data if isinstance(m, dict) and isinstance(m.get("model_name"), str)]


def proxy_model_names(litellm_database_url: str) -> set[str]:
    """`SELECT model_name FROM "LiteLLM_ProxyModelTable"`; any failure fails the sync."""
    try:
        with psycopg.connect(litellm_database_url, connect_timeout=10) as conn:
            rows = conn.execute('SELECT model_name FROM "LiteLLM_ProxyModelTable"').fetchall()
    except psycopg.Error as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SyncFailed(first_line) from None
    return {str(r[0]) for r in rows}


# -- one model as a catalogue row ----------------------------------------------------------------------


def _int(value: Any) -> int | None:
    try:
        return int(value) if value is not None and not isinstance(value, bool) else None
    except (TypeError, ValueError):
        return None


def _decimal(value: Any) -> Decimal | None:
    try:
        return Decimal(str(value)) if value is not None and not isinstance(value, bool) else None
    except (InvalidOperation, ValueError):
        return None


def catalogue_row(model: dict[str, Any]) -> dict[str, Any]:
    """The `models` columns the backend derives from one `/model/info` entry."""
    params = dict(model.get("litellm_params") or {})
    info = dict(model.get("model_info") or {})
    target = str(params.get("model") or "")
    prefix, slash, rest = target.partition("/")
    provider = params.get("custom_llm_provider") or (prefix if slash and prefix else "unknown")
    capabilities = {c: bool(info.get(c)) for c in CAPABILITIES}
    features = ["embeddings"] if info.get("mode") == "embedding" else ["chat"]
    features += [c.removeprefix("supports_") for c in CAPABILITIES if capabilities[c]]
    params.pop("api_key", None)
    return {
        "id": model["model_name"],
        "name": model["model_name"],
        "provider": str(provider),
        "context_length": _int(info.get("max_tokens")),
        "input_cost_per_token": _decimal(
            info.get("input_cost_per_token", params.get("input_cost_per_token"))
        ),
        "output_cost_per_token": _decimal(
            info.get("output_cost_per_token", params.get("output_cost_per_token"))
        ),
        **capabilities,
        "features": features,
        "metadata": {"litellm_model_info": info, "litellm_params": params},
        "api_base": params.get("api_base"),
        "tpm": _int(params.get("tpm")),
        "rpm": _int(params.get("rpm")),
        "max_tokens": _int(info.get("max_tokens")),
        "litellm_model_id": None if info.get("id") is None else str(info.get("id")),
        "backend_model_name": rest if slash else (target or None),
    }


COMPARED = (
    "input_cost_per_token",
    "output_cost_per_token",
    *CAPABILITIES,
    "features",
    "api_base",
    "backend_model_name",
    "tpm",
    "rpm",
    "max_tokens",
    "litellm_model_id",
)


def _unchanged(existing: dict[str, Any], row: dict[str, Any]) -> bool:
    if existing.get("availability") != "available":
        return False
    for column in COMPARED:
        old, new = existing.get(column), row.get(column)
        if column == "features":
            old, new = list(old or []), list(new or [])
        if isinstance(old, Decimal) and isinstance(new, Decimal):
            if old.compare(new) != 0:
                return False
        elif old != new:
            return False
    return True


# -- writing the catalogue ----------------------------------------------------------------------------

_INSERT = """
INSERT INTO models (id, name, provider, description, category, context_length, input_cost_per_token,
    output_cost_per_token, supports_vision, supports_function_calling, supports_tool_choice,
    supports_parallel_function_calling, supports_streaming, features, availability, version, metadata,
    api_base, tpm, rpm, max_tokens, litellm_model_id, backend_model_name)
VALUES (%(id)s, %(name)s, %(provider)s, NULL, 'Language Model', %(context_length)s, %(input_cost_per_token)s,
    %(output_cost_per_token)s, %(supports_vision)s, %(supports_function_calling)s, %(supports_tool_choice)s,
    %(supports_parallel_function_calling)s, true, %(features)s, 'available', '1.0', %(metadata)s,
    %(api_base)s, %(tpm)s, %(rpm)s, %(max_tokens)s, %(litellm_model_id)s, %(backend_model_name)s)
"""

_UPDATE = """
UPDATE models SET name = %(name)s, provider = %(provider)s, category = 'Language Model',
    context_length = %(context_length)s, input_cost_per_token = %(input_cost_per_token)s,
    output_cost_per_token = %(output_cost_per_token)s, supports_vision = %(supports_vision)s,
    supports_function_calling = %(supports_function_calling)s,
    supports_tool_choice = %(supports_tool_choice)s,
    supports_parallel_function_calling = %(supports_parallel_function_calling)s, features = %(features)s,
    availability = 'available', version = '1.0', metadata = %(metadata)s, api_base = %(api_base)s,
    tpm = %(tpm)s, rpm = %(rpm)s, max_tokens = %(max_tokens)s, litellm_model_id = %(litellm_model_id)s,
    backend_model_name = %(backend_model_name)s
WHERE id = %(id)s
"""

_SELECT_EXISTING = f"SELECT availability, {', '.join(COMPARED)} FROM models WHERE id = %s"


def _upsert(conn: psycopg.Connection[Any], row: dict[str, Any], force_update: bool) -> str:
    """'new', 'updated' or 'unchanged'."""
    params = {**row, "metadata": Jsonb(row["metadata"])}
    with conn.transaction():
        cur = conn.execute(_SELECT_EXISTING, (row["id"],))
        found = cur.fetchone()
        if found is None:
            conn.execute(_INSERT, params)
            return "new"
        names = [d.name for d in cur.description or ()]
        existing = dict(zip(names, found, strict=True))
        if not force_update and _unchanged(existing, row):
            return "unchanged"
        conn.execute(_UPDATE, params)
        return "updated"


def mark_model_unavailable(conn: psycopg.Connection[Any], model_id: str) -> Cascade | None:
    """`markModelUnavailable(id)` in one transaction; None when the model already was unavailable."""
    with conn.transaction():
        found = conn.execute(
            "SELECT availability FROM models WHERE id = %s FOR UPDATE", (model_id,)
        ).fetchone()
        if found is None or found[0] == "unavailable":
            return None
        conn.execute("UPDATE models SET availability = 'unavailable' WHERE id = %s", (model_id,))
        cascade = Cascade()
        cascade.subscriptions_deactivated = conn.execute(
            "UPDATE subscriptions SET status = 'inactive' WHERE model_id = %s AND status = 'active'",
            (model_id,),
        ).rowcount
        keys = [
            r[0]
            for r in conn.execute(
                "DELETE FROM api_key_models WHERE model_id = %s RETURNING api_key_id", (model_id,)
            ).fetchall()
        ]
        cascade.api_key_model_associations_removed = len(keys)
        if keys:
            cascade.orphaned_api_keys_deactivated = conn.execute(
                """
                UPDATE api_keys SET is_active = false
                WHERE id = ANY(%s) AND is_active
                  AND NOT EXISTS (SELECT 1 FROM api_key_models m WHERE m.api_key_id = api_keys.id)
                """,
                (keys,),
            ).rowcount
        conn.execute(
            "INSERT INTO audit_logs (user_id, action, resource_type, resource_id, metadata) "
            "VALUES (NULL, %s, 'MODEL', %s, %s)",
            (AUDIT_CASCADE, model_id, Jsonb({"cascadeStatistics": cascade.as_json()})),
        )
        return cascade


def run_sync(config: SyncConfig, *, force_update: bool = False, mark_unavailable: bool = True) -> SyncOutcome:
    """The whole sync; raises SyncFailed when it cannot run at all (the endpoint answers 500)."""
    if not config.database_url:
        raise SyncFailed("DATABASE_URL is not configured")
    models = fetch_litellm_models(config)
    in_table = proxy_model_names(config.litellm_database_url) if config.litellm_database_url else None
    by_name: dict[str, dict[str, Any]] = {}
    for model in models:
        by_name.setdefault(model["model_name"], model)
    verified = [m for name, m in by_name.items() if in_table is None or name in in_table]
    present = in_table if in_table is not None else set(by_name)

    outcome = SyncOutcome(total=len(verified))
    try:
        with psycopg.connect(config.database_url, connect_timeout=10) as conn:
            for model in verified:
                try:
                    change = _upsert(conn, catalogue_row(model), force_update)
                except psycopg.Error as exc:
                    outcome.errors.append(f"Failed to sync model {model['model_name']}: {_first_line(exc)}")
                    continue
                outcome.new += change == "new"
                outcome.updated += change == "updated"
            if mark_unavailable:
                local = [r[0] for r in conn.execute("SELECT id FROM models ORDER BY id").fetchall()]
                for model_id in local:
                    if model_id in present:
                        continue
                    try:
                        cascade = mark_model_unavailable(conn, model_id)
                    except psycopg.Error as exc:
                        outcome.errors.append(
                            f"Failed to mark model {model_id} unavailable: {_first_line(exc)}"
                        )
                        continue
                    if cascade is not None:
                        outcome.unavailable += 1
                        outcome.cascade.subscriptions_deactivated += cascade.subscriptions_deactivated
                        outcome.cascade.api_key_model_associations_removed += (
                            cascade.api_key_model_associations_removed
                        )
                        outcome.cascade.orphaned_api_keys_deactivated += cascade.orphaned_api_keys_deactivated
    except psycopg.OperationalError as exc:
        raise SyncFailed(_first_line(exc)) from None
    return outcome


def record_api_access(database_url: str | None, action: str) -> None:
    """The access-log audit row the backend writes for an admin-key call (`user_id` NULL); best effort."""
    if not database_url:
        return
    try:
        with psycopg.connect(database_url, connect_timeout=5) as conn:
            conn.execute(
                "INSERT INTO audit_logs (user_id, action, resource_type, metadata) "
                "VALUES (NULL, %s, 'API_ACCESS', %s)",
                (action, Jsonb({"via": "admin-api-key"})),
            )
    except psycopg.Error:
        pass  # the real hook logs and carries on


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
