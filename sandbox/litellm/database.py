"""The emulated proxy's storage: LiteLLM's REAL tables (litellm-facts.md §7) through a psycopg pool.

Keys live in `"LiteLLM_VerificationToken"` (token = sha256 hex of the key), deleted keys move to
`"LiteLLM_DeletedVerificationToken"` in the same statement that deletes them, DB-stored models live in
`"LiteLLM_ProxyModelTable"`. Timestamps are naive UTC (`timestamp without time zone`), as LiteLLM
writes them. The schema itself is created elsewhere (`sandbox.schemas.create_litellm_schema`); `open()`
refuses a database without it. Rows come back as plain dicts; nothing here logs a key.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import DictRow, dict_row
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

KEYS = "LiteLLM_VerificationToken"
DELETED_KEYS = "LiteLLM_DeletedVerificationToken"
MODELS = "LiteLLM_ProxyModelTable"

SORTABLE = frozenset(
    {
        "created_at",
        "updated_at",
        "expires",
        "spend",
        "key_alias",
        "key_name",
        "user_id",
        "team_id",
        "max_budget",
    }
)
JSON_COLUMNS = frozenset(
    {"metadata", "aliases", "config", "permissions", "model_max_budget", "model_spend", "budget_fallbacks"}
)

Row = dict[str, Any]


class SchemaMissing(RuntimeError):
    """The database has no LiteLLM tables; create them with `sandbox.schemas.create_litellm_schema`."""


@dataclass(frozen=True)
class KeyFilter:
    """The `/key/list` filters the sandbox honours (all optional, combined with AND)."""

    key_alias: str | None = None
    substring_matching: bool = False
    user_id: str | None = None
    team_id: str | None = None
    key_hash: str | None = None
    expired: bool | None = None  # True: expires < now; False: not expired


class LiteLLMDatabase:
    """Connection pool plus the few statements the admin API needs; safe from many threads."""

    def __init__(self, url: str, *, max_connections: int = 10) -> None:
        self._pool: ConnectionPool[psycopg.Connection[DictRow]] = ConnectionPool(
            url,
            connection_class=psycopg.Connection[DictRow],
            min_size=1,
            max_size=max_connections,
            open=False,
            kwargs={"autocommit": True, "row_factory": dict_row, "connect_timeout": 5},
            check=ConnectionPool.check_connection,
            name="litellm-sandbox",
        )
        self._archived: list[str] = []

    def open(self) -> None:
        """Open the pool; SchemaMissing when the LiteLLM tables are absent."""
        self._pool.open(wait=True, timeout=10)
        with self._pool.connection() as conn:
            columns: dict[str, set[str]] = {KEYS: set(), DELETED_KEYS: set(), MODELS: set()}
            for row in conn.execute(
                "SELECT table_name, column_name FROM information_schema.columns "
                "WHERE table_schema = current_schema() AND table_name = ANY(%s)",
                (list(columns),),
            ):
                columns[row["table_name"]].add(row["column_name"])
        missing = [name for name, cols in columns.items() if not cols]
        if missing:
            self._pool.close()
            raise SchemaMissing(
                f"no LiteLLM tables {missing} in the sandbox database; create the schema first"
            )
        # Copied to the archive on delete: every column both tables have (the archive adds its own id).
        self._archived = sorted((columns[KEYS] & columns[DELETED_KEYS]) - {"id"})

    def close(self) -> None:
        self._pool.close()

    # -- keys ----------------------------------------------------------------------------------

    def alias_taken(self, alias: str) -> bool:
        with self._pool.connection() as conn:
            found = conn.execute(
                sql.SQL("SELECT 1 FROM {} WHERE key_alias = %s LIMIT 1").format(sql.Identifier(KEYS)),
                (alias,),
            ).fetchone()
        return found is not None

    def insert_key(self, values: Row) -> Row:
        """INSERT one key row (`values` maps column → value) and return the stored row."""
        names = list(values)
        params = [Jsonb(values[n]) if n in JSON_COLUMNS else values[n] for n in names]
        statement = sql.SQL("INSERT INTO {} ({}) VALUES ({}) RETURNING *").format(
            sql.Identifier(KEYS),
            sql.SQL(", ").join(map(sql.Identifier, names)),
            sql.SQL(", ").join(sql.Placeholder() * len(names)),
        )
        with self._pool.connection() as conn:
            row = conn.execute(statement, params).fetchone()
        assert row is not None
        return row

    def find_key(self, token: str) -> Row | None:
        with self._pool.connection() as conn:
            return conn.execute(
                sql.SQL("SELECT * FROM {} WHERE token = %s").format(sql.Identifier(KEYS)), (token,)
            ).fetchone()

    def set_blocked(self, token: str, blocked: bool, now: datetime) -> Row | None:
        """`blocked` on one key (what `/key/block` and `/key/unblock` write); None when there is no key."""
        with self._pool.connection() as conn:
            return conn.execute(
                sql.SQL("UPDATE {} SET blocked = %s, updated_at = %s WHERE token = %s RETURNING *").format(
                    sql.Identifier(KEYS)
                ),
                (blocked, now, token),
            ).fetchone()

    def find_deleted_key(self, token: str) -> Row | None:
        """The most recent archive row of `token`, if it was ever deleted."""
        with self._pool.connection() as conn:
            return conn.execute(
                sql.SQL("SELECT * FROM {} WHERE token = %s ORDER BY deleted_at DESC LIMIT 1").format(
                    sql.Identifier(DELETED_KEYS)
                ),
                (token,),
            ).fetchone()

    def list_keys(
        self, where: KeyFilter, now: datetime, sort_by: str, descending: bool, offset: int, limit: int
    ) -> tuple[list[Row], int]:
        """One page of keys plus the total count under `where`.

        The page is chosen on (sort column, token) only, then the full rows are fetched: sorting
        narrow tuples keeps deep pages cheap on 100,000 keys.
        """
        if sort_by not in SORTABLE:
            raise ValueError(f"cannot sort by {sort_by!r}")
        conditions: list[sql.Composable] = []
        params: list[Any] = []
        if where.key_alias is not None:
            if where.substring_matching:
                conditions.append(sql.SQL("key_alias ILIKE %s"))
                params.append("%" + where.key_alias.replace("%", r"\%").replace("_", r"\_") + "%")
            else:
                conditions.append(sql.SQL("key_alias = %s"))
                params.append(where.key_alias)
        for column, value in (
            ("user_id", where.user_id),
            ("team_id", where.team_id),
            ("token", where.key_hash),
        ):
            if value is not None:
                conditions.append(sql.SQL("{} = %s").format(sql.Identifier(column)))
                params.append(value)
        if where.expired is True:
            conditions.append(sql.SQL("expires < %s"))
            params.append(now)
        elif where.expired is False:
            conditions.append(sql.SQL("(expires IS NULL OR expires >= %s)"))
            params.append(now)
        condition = sql.SQL(" AND ").join(conditions) if conditions else sql.SQL("TRUE")
        direction = sql.SQL("DESC" if descending else "ASC")
        order = sql.SQL("{} {}, token ASC").format(sql.Identifier(sort_by), direction)
        table = sql.Identifier(KEYS)
        page = sql.SQL(
            "SELECT k.* FROM {table} k JOIN ("
            " SELECT token FROM {table} WHERE {condition} ORDER BY {order} LIMIT %s OFFSET %s"
            ") chosen USING (token) ORDER BY {order_k}"
        ).format(
            table=table,
            condition=condition,
            order=order,
            order_k=sql.SQL("k.{} {}, k.token ASC").format(sql.Identifier(sort_by), direction),
        )
        count = sql.SQL("SELECT count(*) AS n FROM {} WHERE {}").format(table, condition)
        with self._pool.connection() as conn:
            rows = conn.execute(page, [*params, limit, offset]).fetchall()
            total_row = conn.execute(count, params).fetchone()
        return rows, int(total_row["n"]) if total_row else 0

    def delete_keys(
        self, column: str, values: Sequence[str], now: datetime, deleted_by: str, changed_by: str | None
    ) -> list[str]:
        """Delete the keys whose `column` (token or key_alias) is in `values`, archiving them atomically.

        Returns the deleted tokens (empty when none matched).
        """
        if column not in ("token", "key_alias"):
            raise ValueError(f"cannot delete keys by {column!r}")
        copied = sql.SQL(", ").join(map(sql.Identifier, self._archived))
        statement = sql.SQL(
            "WITH gone AS (DELETE FROM {keys} WHERE {column} = ANY(%s) RETURNING *) "
            "INSERT INTO {archive} (id, {copied}, deleted_at, deleted_by, litellm_changed_by) "
            "SELECT gen_random_uuid()::text, {copied}, %s, %s, %s FROM gone RETURNING token"
        ).format(
            keys=sql.Identifier(KEYS),
            column=sql.Identifier(column),
            archive=sql.Identifier(DELETED_KEYS),
            copied=copied,
        )
        with self._pool.connection() as conn:
            rows = conn.execute(statement, (list(values), now, deleted_by, changed_by)).fetchall()
        return [row["token"] for row in rows]

    # -- models --------------------------------------------------------------------------------

    def insert_model(
        self, model_id: str, model_name: str, litellm_params: Row, model_info: Row, by: str, now: datetime
    ) -> Row:
        with self._pool.connection() as conn:
            row = conn.execute(
                sql.SQL(
                    "INSERT INTO {} (model_id, model_name, litellm_params, model_info,"
                    " created_at, created_by, updated_at, updated_by)"
                    " VALUES (%s, %s, %s, %s, %s, %s, %s, %s) RETURNING *"
                ).format(sql.Identifier(MODELS)),
                (model_id, model_name, Jsonb(litellm_params), Jsonb(model_info), now, by, now, by),
            ).fetchone()
        assert row is not None
        return row

    def list_models(self, model_id: str | None = None) -> list[Row]:
        with self._pool.connection() as conn:
            if model_id is None:
                return conn.execute(
                    sql.SQL("SELECT * FROM {} ORDER BY created_at, model_id").format(sql.Identifier(MODELS))
                ).fetchall()
            return conn.execute(
                sql.SQL("SELECT * FROM {} WHERE model_id = %s").format(sql.Identifier(MODELS)), (model_id,)
            ).fetchall()

    def delete_model(self, model_id: str) -> bool:
        with self._pool.connection() as conn:
            cursor = conn.execute(
                sql.SQL("DELETE FROM {} WHERE model_id = %s").format(sql.Identifier(MODELS)), (model_id,)
            )
            return cursor.rowcount > 0


DatabaseError = psycopg.Error
