"""The backend's model sync on the REAL LiteMaaS tables, as 0.4.0 runs it (litemaas-facts.md §2.2, §8, §9).

`run_sync(config, force_update=…, mark_unavailable=…)`:

1. `GET /model/info` from LiteLLM (the backend's `LITELLM_API_URL`, key `LITELLM_API_KEY`);
2. with a LiteLLM database URL, `SELECT model_name FROM "LiteLLM_ProxyModelTable"`: only entries in both
   are processed (the others are stale cache entries); a failing query fails the whole sync;
3. each verified ENTRY (two deployments of one name are two entries) is INSERTed when its name was not
   in the catalogue before the sync, else UPDATEd unless unchanged (`catalogue.py`);
4. with `mark_unavailable`, every catalogue model (as it was before the sync) missing from the table
   (or from the API list without a LiteLLM database) goes through `markModelUnavailable` and is
   counted in `unavailableModels` — also when it already was unavailable, in which case nothing
   changes and no audit row is written. Otherwise, in one transaction: the model `unavailable`, its
   active subscriptions `inactive`, its `api_key_models` rows deleted, then EVERY active key with no
   `api_key_models` row left (table-wide, not only this model's keys) `is_active=false`, and an
   `audit_logs` row `MODEL_MARKED_UNAVAILABLE_WITH_CASCADE` with the counts.

A failure of a single model is an entry of `errors` and makes `success` false; a failure of the whole
sync is `success:false` with "Synchronization failed: …". Both are HTTP 200. The response carries no
`cascadeStatistics` (0.4.0's response schema strips them). LiteLLM is never called back.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import psycopg
from psycopg.types.json import Jsonb

from sandbox.backend import catalogue

AUDIT_CASCADE = "MODEL_MARKED_UNAVAILABLE_WITH_CASCADE"
LITELLM_TIMEOUT_SECONDS = 30.0
_FATAL = re.compile(r"FATAL:\s+(.*)")


class SyncFailed(Exception):
    """The whole sync failed (LiteLLM or a database unreachable): `success:false`, nothing counted."""


@dataclass(frozen=True)
class SyncConfig:
    """What the backend's env gives the sync: its database, LiteLLM's API and (optionally) database.

    `features_order_bug`: 0.4.0's comparison bug (`catalogue.unchanged`); False emulates a fixed backend.
    """

    database_url: str | None
    litellm_api_url: str | None
    litellm_api_key: str | None
    litellm_database_url: str | None = None
    features_order_bug: bool = True


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

    def add(self, other: Cascade) -> None:
        self.subscriptions_deactivated += other.subscriptions_deactivated
        self.api_key_model_associations_removed += other.api_key_model_associations_removed
        self.orphaned_api_keys_deactivated += other.orphaned_api_keys_deactivated


@dataclass
class SyncOutcome:
    """Counts of one sync; `body()` is the HTTP response of `POST /api/v1/models/sync`."""

    total: int = 0
    new: int = 0
    updated: int = 0
    unavailable: int = 0
    errors: list[str] = field(default_factory=list)
    cascade: Cascade = field(default_factory=Cascade)
    synced_at: str = field(
        default_factory=lambda: datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    )

    def body(self) -> dict[str, Any]:
        return {
            "success": not self.errors,
            "totalModels": self.total,
            "newModels": self.new,
            "updatedModels": self.updated,
            "unavailableModels": self.unavailable,
            "errors": list(self.errors),
            "syncedAt": self.synced_at,
        }


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    fatal = _FATAL.search(text)
    if fatal:
        return fatal.group(1).strip()  # node-postgres reports the server's message alone
    return text.splitlines()[0] if text else type(exc).__name__


# -- reading LiteLLM ---------------------------------------------------------------------------------


def fetch_litellm_models(config: SyncConfig) -> list[dict[str, Any]]:
    """`GET /model/info` (fresh); a 500 "no models configured" is an empty list, as in the backend."""
    if not config.litellm_api_url:
        raise SyncFailed("LITELLM_API_URL is not configured")
    key = config.litellm_api_key or ""
    try:
        reply = httpx.get(
            f"{config.litellm_api_url.rstrip('/')}/model/info",
            headers={"x-litellm-api-key": key, "Authorization": f"Bearer {key}"},
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
        raise SyncFailed(_first_line(exc)) from None
    return {str(r[0]) for r in rows}


# -- the cascade ------------------------------------------------------------------------------------

_DEACTIVATE_KEYLESS = """UPDATE api_keys SET is_active = false, updated_at = CURRENT_TIMESTAMP
    WHERE id IN (SELECT ak.id FROM api_keys ak LEFT JOIN api_key_models akm ON ak.id = akm.api_key_id
                 WHERE akm.api_key_id IS NULL AND ak.is_active = true)"""


def mark_model_unavailable(conn: psycopg.Connection[Any], model_id: str) -> Cascade:
    """`markModelUnavailable(id)` in one transaction; all zeros (no audit) when it was not available."""
    cascade = Cascade()
    with conn.transaction():
        marked = conn.execute(
            "UPDATE models SET availability = 'unavailable', updated_at = CURRENT_TIMESTAMP "
            "WHERE id = %s AND availability != 'unavailable' RETURNING id",
            (model_id,),
        ).fetchone()
        if marked is None:
            return cascade
        cascade.subscriptions_deactivated = conn.execute(
            "UPDATE subscriptions SET status = 'inactive', updated_at = CURRENT_TIMESTAMP "
            "WHERE model_id = %s AND status = 'active'",
            (model_id,),
        ).rowcount
        cascade.api_key_model_associations_removed = conn.execute(
            "DELETE FROM api_key_models WHERE model_id = %s", (model_id,)
        ).rowcount
        cascade.orphaned_api_keys_deactivated = conn.execute(_DEACTIVATE_KEYLESS).rowcount
        metadata = {
            "modelId": model_id,
            "cascadeStatistics": cascade.as_json(),
            "operation": "model_sync_cascade",
            "timestamp": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        }
        conn.execute(
            "INSERT INTO audit_logs (action, resource_type, resource_id, metadata, success) "
            "VALUES (%s, 'MODEL', %s, %s, true)",
            (AUDIT_CASCADE, model_id, Jsonb(metadata)),
        )
    return cascade


# -- the whole sync ---------------------------------------------------------------------------------


def _sync_one(
    conn: psycopg.Connection[Any],
    model: dict[str, Any],
    known: set[str],
    config: SyncConfig,
    force_update: bool,
) -> str:
    """'new', 'updated' or 'unchanged' for one deployment entry (each in its own transaction)."""
    row = catalogue.catalogue_row(model)
    with conn.transaction():
        if row["id"] not in known:
            catalogue.insert(conn, row)
            return "new"
        changed = catalogue.update(
            conn, row, force_update=force_update, features_order_bug=config.features_order_bug
        )
    return "updated" if changed else "unchanged"


def run_sync(config: SyncConfig, *, force_update: bool = False, mark_unavailable: bool = True) -> SyncOutcome:
    """The whole sync; raises SyncFailed when it cannot run at all."""
    if not config.database_url:
        raise SyncFailed("DATABASE_URL is not configured")
    models = fetch_litellm_models(config)
    if config.litellm_database_url:
        present = proxy_model_names(config.litellm_database_url)
    else:
        present = {m["model_name"] for m in models}
    verified = [m for m in models if m["model_name"] in present]

    outcome = SyncOutcome(total=len(verified))
    try:
        with psycopg.connect(config.database_url, connect_timeout=10, autocommit=True) as conn:
            known = {str(r[0]) for r in conn.execute("SELECT id FROM models ORDER BY id").fetchall()}
            for model in verified:
                try:
                    change = _sync_one(conn, model, known, config, force_update)
                except psycopg.Error as exc:
                    outcome.errors.append(f"Failed to sync model {model['model_name']}: {_first_line(exc)}")
                    continue
                outcome.new += change == "new"
                outcome.updated += change == "updated"
            if mark_unavailable:
                for model_id in sorted(known - present):
                    try:
                        outcome.cascade.add(mark_model_unavailable(conn, model_id))
                    except psycopg.Error as exc:
                        outcome.errors.append(
                            f"Failed to mark model {model_id} as unavailable: {_first_line(exc)}"
                        )
                        continue
                    outcome.unavailable += 1
    except psycopg.OperationalError as exc:
        raise SyncFailed(_first_line(exc)) from None
    return outcome


def record_api_access(database_url: str | None, status: int) -> None:
    """The access-log row the backend writes after answering an admin-key call (`user_id` NULL)."""
    if not database_url:
        return
    metadata = {
        "statusCode": status,
        "method": "POST",
        "url": "/api/v1/models/sync",
        "authenticatedAs": "admin-api-key",
    }
    try:
        with psycopg.connect(database_url, connect_timeout=5) as conn:
            conn.execute(
                "INSERT INTO audit_logs (user_id, action, resource_type, ip_address, metadata) "
                "VALUES (NULL, 'POST_/api/v1/models/sync', 'API_ACCESS', '127.0.0.1', %s)",
                (Jsonb(metadata),),
            )
    except psycopg.Error:
        pass  # the real hook logs and carries on
