"""The LiteMaaS side of models: the `models` catalogue and what depends on a model (facts §1.4 to §1.7).

Reads go straight to the LiteMaaS database (`database_urls(env)["litemaas"]`: settings, else the
`litemaas-db` Secret). The catalogue is small (tens to hundreds of rows), so it is read whole.
The only write is `write_description`: the one display field the backend's sync keeps (0.4.0 rewrites
name, provider, category and streaming from LiteLLM at every sync, litemaas-facts §9). Every database
failure becomes an `OperationError` that names the database but never its URL or password.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import psycopg

from commands.clients.databases import database_urls, parse_database_url
from commands.clients.health import scrub_database_error
from commands.contract import OperationError
from commands.environment import Environment

CONNECT_TIMEOUT_SECONDS = 10
STATEMENT_TIMEOUT_MS = 30_000

_CATALOGUE_SQL = """
SELECT m.id, m.name, m.provider, COALESCE(m.availability, 'available'), m.litellm_model_id,
       (SELECT count(*) FROM subscriptions s WHERE s.model_id = m.id AND s.status = 'active'),
       (SELECT count(*) FROM api_key_models akm JOIN api_keys k ON k.id = akm.api_key_id
         WHERE akm.model_id = m.id AND k.is_active)
  FROM models m
"""

_IMPACT_SQL = """
SELECT
  (SELECT count(*) FROM subscriptions WHERE model_id = %(id)s AND status = 'active'),
  (SELECT count(DISTINCT user_id) FROM subscriptions WHERE model_id = %(id)s AND status = 'active'),
  (SELECT count(*) FROM api_key_models akm JOIN api_keys k ON k.id = akm.api_key_id
    WHERE akm.model_id = %(id)s AND k.is_active),
  (SELECT count(*) FROM api_key_models akm JOIN api_keys k ON k.id = akm.api_key_id
    WHERE akm.model_id = %(id)s AND k.is_active
      AND NOT EXISTS (SELECT 1 FROM api_key_models other
                       WHERE other.api_key_id = k.id AND other.model_id <> %(id)s)),
  (SELECT count(*) FROM api_keys k WHERE k.is_active
    AND NOT EXISTS (SELECT 1 FROM api_key_models m WHERE m.api_key_id = k.id))
"""


@dataclass(frozen=True)
class CatalogueModel:
    """One row of the LiteMaaS `models` table, with the counts an operator cares about."""

    id: str  # = LiteLLM's model_name
    name: str
    provider: str
    availability: str  # 'available' | 'unavailable'
    litellm_model_id: str | None  # LiteLLM's model_info.id (the seed's playbook wrote the model name)
    active_subscriptions: int
    active_keys: int  # active API keys that list this model (api_key_models)

    @property
    def available(self) -> bool:
        return self.availability == "available"


@dataclass(frozen=True)
class Impact:
    """What removing a model from LiteLLM does to LiteMaaS once the catalogue syncs (facts §2.2, §9).

    The cascade's key rule is table-wide: after a model is marked, EVERY active key with no
    `api_key_models` row is deactivated, so keys that list no model at all go too."""

    active_subscriptions: int  # become 'inactive'
    subscribers: int  # distinct users among them
    keys_losing_model: int  # active keys whose api_key_models row for the model is deleted
    keys_left_without_model: int  # of those, keys with no other model
    keys_without_any_model: int  # active keys that list no model at all (deactivated as well)

    @property
    def keys_deactivated(self) -> int:
        return self.keys_left_without_model + self.keys_without_any_model


def _litemaas_url(env: Environment) -> str:
    return database_urls(env)["litemaas"]


def _where(url: str) -> str:
    try:
        return parse_database_url("litemaas", url, "the LiteMaaS database URL").where
    except OperationError:
        return "the LiteMaaS database"


@contextmanager
def _connect(env: Environment, doing: str) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
    """A connection to the LiteMaaS database; failures (connect or query) → OperationError."""
    url = _litemaas_url(env)
    try:
        with psycopg.connect(
            url,
            connect_timeout=CONNECT_TIMEOUT_SECONDS,
            options=f"-c statement_timeout={STATEMENT_TIMEOUT_MS}",
        ) as conn:
            yield conn
    except psycopg.errors.UndefinedTable:
        raise OperationError(
            f"cannot {doing}: {_where(url)} has no LiteMaaS tables "
            "(is LITEMAAS_DATABASE_URL the backend's database?)"
        ) from None
    except psycopg.ProgrammingError as exc:
        if isinstance(exc, psycopg.errors.SyntaxError | psycopg.errors.UndefinedColumn):
            raise OperationError(f"cannot {doing}: the LiteMaaS schema is not the expected one") from None
        raise OperationError(f"cannot {doing}: the LiteMaaS database URL is not valid") from None
    except psycopg.Error as exc:
        detail = scrub_database_error(str(exc), url).removeprefix("connection failed: ")
        raise OperationError(f"cannot {doing} in {_where(url)}: {detail or type(exc).__name__}") from None


def _row(values: tuple[object, ...]) -> CatalogueModel:
    ident, name, provider, availability, model_id, subs, keys = values
    return CatalogueModel(
        id=str(ident),
        name=str(name),
        provider=str(provider),
        availability=str(availability),
        litellm_model_id=None if model_id is None else str(model_id),
        active_subscriptions=int(str(subs)),
        active_keys=int(str(keys)),
    )


def read_catalogue(env: Environment) -> dict[str, CatalogueModel]:
    """Every catalogue model by id (sorted), with its active subscriptions and keys."""
    with _connect(env, "read the model catalogue") as conn:
        rows = conn.execute(_CATALOGUE_SQL + " ORDER BY m.id").fetchall()
    return {model.id: model for model in map(_row, rows)}


def read_model(env: Environment, model_id: str) -> CatalogueModel | None:
    """One catalogue model, or None when the catalogue has no row with that id."""
    with _connect(env, "read the model catalogue") as conn:
        row = conn.execute(_CATALOGUE_SQL + " WHERE m.id = %s", (model_id,)).fetchone()
    return None if row is None else _row(row)


def read_impact(env: Environment, model_id: str) -> Impact:
    """Counts of what a removal would deactivate, from `subscriptions` and `api_key_models`."""
    with _connect(env, "count the subscriptions and keys of the model") as conn:
        row = conn.execute(_IMPACT_SQL, {"id": model_id}).fetchone()
    assert row is not None  # an aggregate always returns one row
    subs, users, keys, left, keyless = (int(str(v)) for v in row)
    return Impact(subs, users, keys, left, keyless)


def write_description(env: Environment, model_id: str, description: str) -> bool:
    """The description onto the synced catalogue row (the sync keeps it); False when no row yet."""
    with _connect(env, "write the catalogue description") as conn:
        cursor = conn.execute("UPDATE models SET description = %s WHERE id = %s", (description, model_id))
        return cursor.rowcount > 0


SHOWN_COLUMNS = ("name", "provider", "category", "description", "context_length", "supports_streaming")


def read_shown(env: Environment, model_id: str) -> dict[str, str] | None:
    """The catalogue columns `models add` reports, as text; None when the row is not there."""
    with _connect(env, "read the model catalogue") as conn:
        row = conn.execute(
            f"SELECT {', '.join(SHOWN_COLUMNS)} FROM models WHERE id = %s", (model_id,)
        ).fetchone()
    if row is None:
        return None
    return {
        c: "—" if v is None else str(v).lower() if isinstance(v, bool) else str(v)
        for c, v in zip(SHOWN_COLUMNS, row, strict=True)
    }
