"""Whole databases on a PostgreSQL server: create, drop, list, rename, and the sessions on one.

Each call opens a maintenance connection with the credentials of a database on that server, to a
database the call does not touch (that database itself, else `postgres`, else `template1`, as createdb
does): a database being renamed or dropped must have nobody connected, not even us. Names are always
quoted identifiers. Errors are OperationError with the server's reason, never a password.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

import psycopg
from psycopg import sql

from commands.clients.databases import DatabaseTarget, connect, last_meaningful_line, redact
from commands.contract import OperationError

MAINTENANCE_DATABASES = ("postgres", "template1")
NAME_LIMIT = 63  # bytes of a PostgreSQL identifier
SWAP_ATTEMPTS = 3  # a session may reconnect between the termination and the rename: try again


def on_database(target: DatabaseTarget, dbname: str) -> DatabaseTarget:
    """`target`'s server and credentials, database `dbname`."""
    return replace(target, dbname=dbname)


def reason_of(exc: psycopg.Error, target: DatabaseTarget) -> str:
    return last_meaningful_line(redact(str(exc), [target.password])) or type(exc).__name__


def where_server(target: DatabaseTarget) -> str:
    """`host:port` of the server, safe to show."""
    return target.where.split(" at ", 1)[1]


@contextmanager
def maintenance(target: DatabaseTarget, avoid: Collection[str] = ()) -> Iterator[psycopg.Connection[Any]]:
    """An autocommit connection to the server of `target`, on none of the databases in `avoid`."""
    candidates = [n for n in (target.dbname, *MAINTENANCE_DATABASES) if n not in avoid]
    problem: OperationError | None = None
    for dbname in dict.fromkeys(candidates):
        try:
            conn = connect(on_database(target, dbname), autocommit=True)
        except OperationError as exc:
            problem = problem or exc
            continue
        try:
            yield conn
        finally:
            conn.close()
        return
    raise problem or OperationError(f"no database to connect to on {where_server(target)}")


def check_name(name: str) -> str:
    if len(name.encode()) > NAME_LIMIT:
        raise OperationError(f"the database name {name} is longer than PostgreSQL's {NAME_LIMIT} bytes")
    return name


def database_exists(target: DatabaseTarget, name: str) -> bool:
    """Whether the server of `target` has a database `name`; OperationError when it cannot be asked."""
    try:
        with maintenance(target) as conn:
            row = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
    except psycopg.Error as exc:
        raise OperationError(
            f"cannot list the databases on {where_server(target)}: {reason_of(exc, target)}"
        ) from None
    return row is not None


def databases_like(target: DatabaseTarget, prefix: str) -> list[tuple[str, int]]:
    """(name, size in bytes) of the databases whose name starts with `prefix`, by name."""
    pattern = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    try:
        with maintenance(target) as conn:
            rows = conn.execute(
                "SELECT datname, pg_database_size(oid) FROM pg_database WHERE datname LIKE %s ORDER BY 1",
                (pattern,),
            ).fetchall()
    except psycopg.Error as exc:
        raise OperationError(
            f"cannot list the databases on {where_server(target)}: {reason_of(exc, target)}"
        ) from None
    return [(str(name), int(size)) for name, size in rows]


def create_database(target: DatabaseTarget, name: str, *, like: str | None = None) -> None:
    """Create an empty database `name` (from template0), with the encoding and locale of `like`."""
    check_name(name)
    try:
        with maintenance(target, avoid={name}) as conn:
            options: sql.Composable = sql.SQL("")
            if like is not None:
                row = conn.execute(
                    "SELECT pg_encoding_to_char(encoding), datcollate, datctype FROM pg_database "
                    "WHERE datname = %s",
                    (like,),
                ).fetchone()
                if row is not None:
                    options = sql.SQL(" ENCODING {} LC_COLLATE {} LC_CTYPE {}").format(
                        sql.Literal(row[0]), sql.Literal(row[1]), sql.Literal(row[2])
                    )
            conn.execute(
                sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(sql.Identifier(name)) + options
            )
    except psycopg.Error as exc:
        raise OperationError(
            f"cannot create the database {name} on {where_server(target)}: {reason_of(exc, target)}"
        ) from None


def drop_database(target: DatabaseTarget, name: str) -> None:
    """Drop `name` if it exists, disconnecting whoever is connected to it."""
    try:
        with maintenance(target, avoid={name}) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
    except psycopg.Error as exc:
        raise OperationError(
            f"cannot drop the database {name} on {where_server(target)}: {reason_of(exc, target)}"
        ) from None


def terminate_sessions(conn: psycopg.Connection[Any], names: Sequence[str]) -> int:
    """End every other session connected to the databases `names`; how many were ended."""
    row = conn.execute(
        "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity "
        "WHERE datname = ANY(%s) AND pid <> pg_backend_pid()",
        (list(names),),
    ).fetchone()
    return int(row[0]) if row else 0


def rename_all(target: DatabaseTarget, renames: Sequence[tuple[str, str]]) -> int:
    """Apply `renames` ((old, new) in order) in ONE transaction, after ending the sessions on the old
    names; all of them happen or none. Returns how many sessions were ended. Raises OperationError."""
    olds = [old for old, _new in renames]
    touched = {name for pair in renames for name in pair}
    for _old, new in renames:
        check_name(new)
    terminated = 0
    try:
        with maintenance(target, avoid=touched) as conn:
            for attempt in range(1, SWAP_ATTEMPTS + 1):
                terminated += terminate_sessions(conn, olds)
                try:
                    with conn.transaction():
                        for old, new in renames:
                            conn.execute(
                                sql.SQL("ALTER DATABASE {} RENAME TO {}").format(
                                    sql.Identifier(old), sql.Identifier(new)
                                )
                            )
                    return terminated
                except psycopg.errors.ObjectInUse:
                    if attempt == SWAP_ATTEMPTS:
                        raise
                    time.sleep(1.0)
    except psycopg.Error as exc:
        raise OperationError(
            f"renaming {', '.join(f'{old} → {new}' for old, new in renames)} on {where_server(target)} "
            f"failed: {reason_of(exc, target)}"
        ) from None
    raise AssertionError("unreachable")
