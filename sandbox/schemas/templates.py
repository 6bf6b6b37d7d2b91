"""Template databases: build each schema once per machine, then clone it per test in milliseconds.

A template is named after a hash of every schema input (`litemaas.sql` and the LiteLLM migration files),
so a changed schema gets a new template and an old one is never reused by mistake:
`tmpl_litemaas_<hash8>`, `tmpl_litellm_<hash8>`, `tmpl_shared_<hash8>` (both schemas in one database).
It is built under a PostgreSQL advisory lock, so concurrent test processes never race, and it is marked
complete with `COMMENT ON DATABASE` only after every file applied; an incomplete leftover (a process
killed mid-build) is dropped and rebuilt, and so are templates of the same layout built from an older
schema. A finished template refuses connections (`ALLOW_CONNECTIONS false`), so nothing can change it
or block `CREATE DATABASE … TEMPLATE` by being connected to it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Literal

import psycopg
from psycopg import sql

from sandbox.schemas.litellm import create_litellm_schema, migration_files
from sandbox.schemas.litemaas import create_litemaas_schema, litemaas_sql

Layout = Literal["litemaas", "litellm", "shared"]
LAYOUTS: tuple[Layout, ...] = ("litemaas", "litellm", "shared")
_COMPLETE = "litemaas-chatops schema template: complete"
_BUILD_VERSION = 1  # bump when the way templates are built changes (not only their SQL inputs)
_LOCK_KEY = 0x6C6D5F746D706C  # "lm_tmpl": one advisory lock for all template builds


def schema_fingerprint() -> str:
    """Eight hex characters of sha256 over every schema input, in apply order."""
    digest = hashlib.sha256(f"build-{_BUILD_VERSION}".encode())
    digest.update(litemaas_sql().encode())
    for path in migration_files():
        digest.update(path.parent.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:8]


def database_url(admin_url: str, name: str) -> str:
    """`admin_url` pointing at database `name` instead (same host, port, user and query)."""
    head, sep, query = admin_url.partition("?")
    base, _, _ = head.rpartition("/")
    return f"{base}/{name}{sep}{query}"


def clone_database(admin_url: str, template: str, name: str) -> str:
    """Create database `name` as a copy of `template`; return its URL."""
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(sql.Identifier(name), sql.Identifier(template))
        )
    return database_url(admin_url, name)


def drop_database(admin_url: str, name: str) -> None:
    """Drop database `name` if it exists, disconnecting whoever is still connected."""
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@dataclass
class TemplateDatabases:
    """Finds or builds the template of each layout on the server of `admin_url` (a maintenance DB)."""

    admin_url: str
    fingerprint: str = field(default_factory=schema_fingerprint)
    _ready: set[str] = field(default_factory=set)

    def name(self, layout: Layout) -> str:
        return f"tmpl_{layout}_{self.fingerprint}"

    def ensure(self, layout: Layout) -> str:
        """The name of the complete template for `layout`, building it first if needed."""
        name = self.name(layout)
        if name in self._ready:
            return name
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK_KEY,))
            try:
                self._ensure_locked(conn, layout)
            finally:
                conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_KEY,))
        self._ready.add(name)
        return name

    def clone(self, layout: Layout, name: str) -> str:
        """A new database `name` with the schema(s) of `layout`; returns its URL."""
        return clone_database(self.admin_url, self.ensure(layout), name)

    def _ensure_locked(self, conn: psycopg.Connection[tuple[object, ...]], layout: Layout) -> str:
        name = self.name(layout)
        if not self._is_complete(conn, name):
            self._build(conn, name, layout)
        return name

    @staticmethod
    def _is_complete(conn: psycopg.Connection[tuple[object, ...]], name: str) -> bool:
        row = conn.execute(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s", (name,)
        ).fetchone()
        return row is not None and row[0] == _COMPLETE

    def _build(self, conn: psycopg.Connection[tuple[object, ...]], name: str, layout: Layout) -> None:
        ident = sql.Identifier(name)
        stale = conn.execute(  # templates of this layout from an older schema, or this one half-built
            "SELECT datname FROM pg_database WHERE datname LIKE %s", (f"tmpl\\_{layout}\\_%",)
        ).fetchall()
        for (old,) in stale:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(str(old))))
        url = database_url(self.admin_url, name)
        if layout == "shared":  # the LiteLLM template plus the (fast) LiteMaaS script
            base = self._ensure_locked(conn, "litellm")
            conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(ident, sql.Identifier(base)))
            create_litemaas_schema(url)
        else:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(ident))
            (create_litemaas_schema if layout == "litemaas" else create_litellm_schema)(url)
        conn.execute(sql.SQL("ALTER DATABASE {} WITH ALLOW_CONNECTIONS false").format(ident))
        conn.execute(sql.SQL("COMMENT ON DATABASE {} IS {}").format(ident, sql.Literal(_COMPLETE)))
