"""`backup now` / `backup list` against real PostgreSQL, real pg_dump/psql/gunzip and the Kubernetes sandbox.

Each test builds a small LiteMaaS-like schema in fresh databases, dumps it through the public API or
the operations, and checks what an operator would: the files in the backup directory, the manifest,
that `gunzip | psql` restores the same rows, and that failures leave nothing behind and show no
password. The local PostgreSQL trusts every login, so URLs carry a password it ignores: that lets the
tests prove the password never appears in messages or on pg_dump's command line.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import subprocess
import threading
import time
import uuid
from collections.abc import Generator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest

from commands.backup import (
    BackupListOperation,
    BackupManifest,
    BackupNowOperation,
    database_urls,
    list_backups,
    run_backup,
)
from commands.backup.operations import BackupListArgs, BackupNowArgs
from commands.clients.databases import last_meaningful_line, redact
from commands.clients.kube import KubeClient
from commands.contract import Event, OperationError, Progress, Result
from commands.environment import Environment
from commands.registry import default_registry
from tests.conftest import DEAD_URL_PORT, PG_ADMIN_URL

NAMESPACE = "litellm-rhpds"
PASSWORD = f"pw-{uuid.uuid4().hex}"  # trust auth ignores it; it must never show up anywhere

LITEMAAS_ROWS = {"users": 3, "models": 4, "api_keys": 5}
LITELLM_ROWS = {"LiteLLM_VerificationToken": 6, "LiteLLM_ProxyModelTable": 2}


# -- fixtures and helpers --------------------------------------------------------------------------


def with_password(url: str, password: str = PASSWORD) -> str:
    """postgresql://postgres@host/db → postgresql://postgres:<password>@host/db."""
    scheme, rest = url.split("://", 1)
    user, host = rest.split("@", 1)
    return f"{scheme}://{user}:{password}@{host}"


def dbname_of(url: str) -> str:
    return url.rsplit("/", 1)[1].split("?", 1)[0]


@contextmanager
def fresh_database() -> Iterator[str]:
    """Another empty database (pg_url gives only one per test), dropped afterwards."""
    name = f"chatops_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{PG_ADMIN_URL.rpartition('/')[0]}/{name}"
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def other_pg_url() -> Iterator[str]:
    with fresh_database() as url:
        yield url


def fill(url: str, rows: dict[str, int]) -> None:
    """Tables named as given, each with an id, a text and a JSON column, holding that many rows."""
    with psycopg.connect(url, autocommit=True) as conn:
        for table, count in rows.items():
            conn.execute(
                f'CREATE TABLE "{table}" (id serial PRIMARY KEY, name text NOT NULL, '
                "data jsonb, created_at timestamptz DEFAULT now())"
            )
            for i in range(count):
                conn.execute(
                    f'INSERT INTO "{table}" (name, data) VALUES (%s, %s)',
                    (f'{table}-{i} it\'s "quoted"\ttab', json.dumps({"i": i})),
                )


def row_counts(url: str) -> dict[str, int]:
    with psycopg.connect(url) as conn:
        tables = [
            r[0]
            for r in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"
            ).fetchall()
        ]
        return {t: int(conn.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0]) for t in tables}  # type: ignore[index]


def restore(dump: Path, url: str) -> None:
    """`gunzip -c dump | psql` into `url`, stopping at the first error."""
    subprocess.run(
        ["bash", "-o", "pipefail", "-c", 'gunzip -c "$0" | psql -X -q -v ON_ERROR_STOP=1 -d "$1"', dump, url],
        check=True,
        capture_output=True,
        timeout=60,
    )


@pytest.fixture
def backup_dir(tmp_path: Path) -> Path:
    return tmp_path / "backups"


def make_env(kube: KubeClient, backup_dir: Path, litemaas: str | None, litellm: str | None) -> Environment:
    return Environment(
        name="test",
        namespace=NAMESPACE,
        kube=kube,
        litellm_redis_ping=lambda: True,
        litemaas_database_url=litemaas,
        litellm_database_url=litellm,
        backup_dir=backup_dir,
    )


def secret_reads(sb: Any) -> list[Any]:
    return [r for r in sb.requests if "/secrets/" in r.path]


def all_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.rglob("*") if p.is_file()) if directory.exists() else []


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def server_version() -> str:
    with psycopg.connect(PG_ADMIN_URL) as conn:
        return str(conn.execute("SHOW server_version").fetchone()[0])  # type: ignore[index]


# -- database URLs ---------------------------------------------------------------------------------


def test_urls_from_settings_do_not_read_the_secret(
    sb: Any, kube: KubeClient, backup_dir: Path, pg_url: str, other_pg_url: str
) -> None:
    env = make_env(kube, backup_dir, with_password(pg_url), with_password(other_pg_url))

    assert database_urls(env) == {"litemaas": with_password(pg_url), "litellm": with_password(other_pg_url)}
    assert secret_reads(sb) == []


def test_the_same_database_twice_is_one_entry(kube: KubeClient, backup_dir: Path, pg_url: str) -> None:
    # Another spelling of the same database: other user/password, explicit default port, a query.
    host_db = pg_url.split("@", 1)[1]
    same = f"postgresql://litellm:other@{host_db}?sslmode=disable"
    env = make_env(kube, backup_dir, with_password(pg_url), same)

    assert database_urls(env) == {"litemaas": with_password(pg_url)}


def test_unreadable_secret_says_which_settings_to_provide(
    sb: Any, kube: KubeClient, backup_dir: Path
) -> None:
    sb.inject_error("GET", r"/secrets/litemaas-db$", 403, 'secrets "litemaas-db" is forbidden')
    env = make_env(kube, backup_dir, None, None)

    with pytest.raises(OperationError) as caught:
        database_urls(env)

    message = str(caught.value)
    assert message.startswith(f"cannot read Secret litemaas-db in {NAMESPACE}")
    assert "forbidden" in message
    assert "set LITEMAAS_DATABASE_URL and LITELLM_DATABASE_URL" in message


def test_a_secret_without_the_litellm_key_names_what_to_add(
    sb: Any, kube: KubeClient, backup_dir: Path, pg_url: str
) -> None:
    sb.set_secret("litemaas-db", {"password": PASSWORD, "DATABASE_URL": with_password(pg_url)}, replace=True)
    env = make_env(kube, backup_dir, None, None)

    with pytest.raises(OperationError) as caught:
        run_backup(env)

    message = str(caught.value)
    assert message.startswith("no URL for the litellm database: set LITELLM_DATABASE_URL or add key")
    assert "LITELLM_DATABASE_URL to Secret litemaas-db" in message
    assert PASSWORD not in message and dbname_of(pg_url) not in message
    assert all_files(backup_dir) == []


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (f"postgresql://u:{PASSWORD}@db:notaport/x", "invalid port"),
        (f"postgresql://u:{PASSWORD}@db:5432/x?nosuchoption={PASSWORD}", "not a valid PostgreSQL URL"),
        (f"user=u password={PASSWORD} host", "not a valid PostgreSQL URL"),
        ("   ", "is empty"),
    ],
)
def test_bad_urls_are_refused_without_showing_them(
    kube: KubeClient, backup_dir: Path, pg_url: str, url: str, expected: str
) -> None:
    env = make_env(kube, backup_dir, url, with_password(pg_url))

    with pytest.raises(OperationError) as caught:
        run_backup(env)

    assert expected in str(caught.value)
    assert "LITEMAAS_DATABASE_URL" in str(caught.value)
    assert PASSWORD not in str(caught.value)
    assert all_files(backup_dir) == []


def test_urls_from_the_litemaas_db_secret(
    sb: Any, kube: KubeClient, backup_dir: Path, pg_url: str, other_pg_url: str
) -> None:
    sb.set_secret(
        "litemaas-db",
        {
            "username": "postgres",
            "password": PASSWORD,
            "database": dbname_of(pg_url),
            "DATABASE_URL": with_password(pg_url),
            "LITELLM_DATABASE_URL": with_password(other_pg_url),
        },
        replace=True,
    )
    fill(pg_url, LITEMAAS_ROWS)
    fill(other_pg_url, LITELLM_ROWS)
    env = make_env(kube, backup_dir, None, None)

    assert database_urls(env) == {"litemaas": with_password(pg_url), "litellm": with_password(other_pg_url)}
    manifest = run_backup(env)
    assert [f.database for f in manifest.files] == ["litemaas", "litellm"]
    assert secret_reads(sb)


def test_the_seeded_secret_unreachable_host_fails_without_its_password(
    sb: Any, kube: KubeClient, backup_dir: Path
) -> None:
    password = sb.secret_data("litemaas-db")["password"]  # the seeded URLs name host litellm-postgres
    env = make_env(kube, backup_dir, None, None)

    _progress, result = run(BackupNowOperation().execute(env, BackupNowArgs(), None))

    assert not result.ok
    assert result.summary.startswith(
        "Backup failed: cannot connect to the litemaas database (litemaas_db at "
    )
    assert password not in json.dumps(result.to_json())
    assert all_files(backup_dir) == []


# -- run_backup ------------------------------------------------------------------------------------


def test_backup_of_one_shared_database(kube: KubeClient, backup_dir: Path, pg_url: str) -> None:
    fill(pg_url, LITEMAAS_ROWS)
    env = make_env(kube, backup_dir, with_password(pg_url), with_password(pg_url, "another"))
    progress: list[Progress] = []

    manifest = run_backup(env, progress.append)

    assert [f.database for f in manifest.files] == ["litemaas"]
    [file] = manifest.files
    assert file.path == backup_dir / manifest.id / "litemaas.sql.gz"
    assert all_files(backup_dir) == sorted([file.path, manifest.path])
    assert file.size == file.path.stat().st_size > 0
    assert file.sha256 == sha256_of(file.path)
    assert file.server_version == server_version()
    sql = gzip.decompress(file.path.read_bytes()).decode()
    assert "CREATE TABLE public.api_keys" in sql and "ALTER TABLE" in sql
    assert "OWNER TO" not in sql and "GRANT " not in sql  # --no-owner --no-privileges

    written = json.loads(manifest.path.read_text())
    assert (written["version"], written["id"]) == (2, manifest.id)
    [entry] = written["files"]
    tables = entry.pop("tables")
    assert entry == {
        "database": "litemaas",
        "filename": "litemaas.sql.gz",
        "size": file.size,
        "sha256": file.sha256,
        "server_version": file.server_version,
    }
    assert {t["table"]: t["rows"] for t in tables} == LITEMAAS_ROWS  # counted in the dump's snapshot
    users = next(t for t in tables if t["table"] == "users")
    assert users["schema"] == "public"
    assert users["columns"] == [
        "id integer NOT NULL",
        "name text NOT NULL",
        "data jsonb",
        "created_at timestamp with time zone",
    ]
    assert users["constraints"] == ["users_pkey: PRIMARY KEY (id)"]
    assert PASSWORD not in manifest.path.read_text() and dbname_of(pg_url) not in manifest.path.read_text()
    assert progress[0].text.startswith("Dumping the litemaas database")
    assert all(PASSWORD not in p.text for p in progress)


def test_backup_of_two_databases_restores_with_the_same_rows(
    kube: KubeClient, backup_dir: Path, pg_url: str, other_pg_url: str
) -> None:
    fill(pg_url, LITEMAAS_ROWS)
    fill(other_pg_url, LITELLM_ROWS)
    env = make_env(kube, backup_dir, with_password(pg_url), with_password(other_pg_url))

    manifest = run_backup(env)

    assert [f.database for f in manifest.files] == ["litemaas", "litellm"]
    assert [f.path.name for f in manifest.files] == ["litemaas.sql.gz", "litellm.sql.gz"]
    assert list_backups(env) == [manifest]
    for file, source, rows in zip(
        manifest.files, (pg_url, other_pg_url), (LITEMAAS_ROWS, LITELLM_ROWS), strict=True
    ):
        with fresh_database() as empty:
            restore(file.path, empty)
            assert row_counts(empty) == row_counts(source) == rows


def test_dead_server_fails_plainly_and_leaves_nothing(
    kube: KubeClient, backup_dir: Path, pg_url: str
) -> None:
    dead = f"postgresql://postgres:{PASSWORD}@127.0.0.1:{DEAD_URL_PORT}/litemaas_db"
    env = make_env(kube, backup_dir, with_password(pg_url), dead)

    with pytest.raises(OperationError) as caught:
        run_backup(env)

    message = str(caught.value)
    assert "litellm" in message and "127.0.0.1:1" in message
    assert PASSWORD not in message
    assert all_files(backup_dir) == []  # the litemaas dump already written is removed with its backup
    assert list_backups(env) == []


def test_missing_database_fails_with_the_servers_reason(
    kube: KubeClient, backup_dir: Path, pg_url: str
) -> None:
    missing = with_password(pg_url.rsplit("/", 1)[0] + "/no_such_db_" + uuid.uuid4().hex[:8])
    env = make_env(kube, backup_dir, missing, missing)

    with pytest.raises(OperationError) as caught:
        run_backup(env)

    assert "does not exist" in str(caught.value)
    assert PASSWORD not in str(caught.value)
    assert all_files(backup_dir) == []


@pytest.fixture
def unprivileged_role() -> Iterator[str]:
    """A login role that may connect but not read tables: pg_dump starts, then fails."""
    role = f"chatops_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE ROLE "{role}" LOGIN')
    try:
        yield role
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP ROLE IF EXISTS "{role}"')


def test_pg_dump_failing_leaves_no_partial_and_no_final_file(
    kube: KubeClient, backup_dir: Path, pg_url: str, other_pg_url: str, unprivileged_role: str
) -> None:
    fill(pg_url, LITEMAAS_ROWS)
    fill(other_pg_url, LITELLM_ROWS)
    host_db = other_pg_url.split("@", 1)[1]
    env = make_env(
        kube, backup_dir, with_password(pg_url), f"postgresql://{unprivileged_role}:{PASSWORD}@{host_db}"
    )

    with pytest.raises(OperationError) as caught:
        run_backup(env)

    message = str(caught.value)
    assert message.startswith("pg_dump of the litellm database")
    assert "permission denied" in message
    assert PASSWORD not in message and "postgresql://" not in message
    assert all_files(backup_dir) == []
    assert list(backup_dir.iterdir()) == []


def find_pg_dump(dbname: str, deadline: float) -> int | None:
    """The pid of a running pg_dump whose command line names `dbname`, within the deadline."""
    while time.monotonic() < deadline:
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                argv = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if argv and argv[0].endswith(b"pg_dump") and any(dbname.encode() in a for a in argv):
                return int(entry.name)
        time.sleep(0.05)
    return None


def test_a_stuck_dump_times_out_and_its_password_stays_off_the_command_line(
    kube: KubeClient, backup_dir: Path, pg_url: str
) -> None:
    fill(pg_url, LITEMAAS_ROWS)
    env = make_env(kube, backup_dir, with_password(pg_url), with_password(pg_url))
    outcome: list[BaseException | BackupManifest] = []

    with psycopg.connect(pg_url) as blocker:
        blocker.execute("LOCK TABLE users IN ACCESS EXCLUSIVE MODE")  # pg_dump waits for its share lock

        def backup() -> None:
            try:
                outcome.append(run_backup(env, timeout=2.0))
            except BaseException as exc:
                outcome.append(exc)

        thread = threading.Thread(target=backup, daemon=True)
        thread.start()
        pid = find_pg_dump(dbname_of(pg_url), time.monotonic() + 3.0)
        assert pid is not None, "pg_dump did not start"
        assert PASSWORD.encode() not in Path(f"/proc/{pid}/cmdline").read_bytes()
        assert f"PGPASSWORD={PASSWORD}".encode() in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        partial = backup_dir.glob("*/litemaas.sql.gz.partial")
        assert list(partial), "the dump is not written under a .partial name while it runs"
        thread.join(timeout=10)
        blocker.rollback()

    assert not thread.is_alive()
    [error] = outcome
    assert isinstance(error, OperationError)
    assert "timed out after 2 s" in str(error)
    assert all_files(backup_dir) == []
    assert not Path(f"/proc/{pid}").exists() or b"pg_dump" not in Path(f"/proc/{pid}/cmdline").read_bytes()


# -- backup list -----------------------------------------------------------------------------------


def test_backup_list_newest_first_and_skips_a_broken_manifest(
    kube: KubeClient, backup_dir: Path, pg_url: str
) -> None:
    fill(pg_url, LITEMAAS_ROWS)
    env = make_env(kube, backup_dir, with_password(pg_url), with_password(pg_url))
    op = BackupListOperation()

    [empty] = list(op.execute(env, BackupListArgs(), None))
    assert isinstance(empty, Result) and empty.ok
    assert empty.summary == f"No backups in dir://{backup_dir} yet"

    first = run_backup(env)
    second = run_backup(env)
    broken = backup_dir / "20200101T000000Z"
    broken.mkdir()
    (broken / "manifest.json").write_text("{not json")
    (backup_dir / "29990101T000000Z").mkdir()  # a backup in progress: no manifest yet, not listed

    assert [m.id for m in list_backups(env)] == [second.id, first.id]
    assert second.id != first.id and second.created_at > first.created_at

    [listed] = list(op.execute(env, BackupListArgs(), None))
    assert isinstance(listed, Result) and listed.ok
    assert listed.summary == f"2 backups in dir://{backup_dir}, newest first"
    [section] = listed.sections  # one target: the local backup directory
    assert section.title == f"dir://{backup_dir}"
    assert [line.split(" · ")[0] for line in section.lines] == [second.id, first.id]
    _id, time_shown, size, databases, verified = section.lines[0].split(" · ")
    assert verified == "never verified"
    assert time_shown == second.created_at.strftime("%Y-%m-%d %H:%M:%S UTC")
    assert databases == "litemaas" and size.endswith(("B", "KiB"))
    assert section.fields == {"backups": "2", "unreadable manifests": "1 (skipped)"}


# -- the operations through the contract -----------------------------------------------------------


def run(events: Iterator[Event]) -> tuple[list[Progress], Result]:
    collected = list(events)
    assert collected and isinstance(collected[-1], Result), collected
    assert all(isinstance(e, Progress) for e in collected[:-1]), collected
    return [e for e in collected[:-1] if isinstance(e, Progress)], collected[-1]


def test_backup_now_plans_then_executes(
    kube: KubeClient, backup_dir: Path, pg_url: str, other_pg_url: str
) -> None:
    fill(pg_url, LITEMAAS_ROWS)
    fill(other_pg_url, LITELLM_ROWS)
    env = make_env(kube, backup_dir, with_password(pg_url), with_password(other_pg_url))
    op = BackupNowOperation()
    args = BackupNowArgs()
    registry = default_registry()
    assert registry.get("backup now") is BackupNowOperation
    assert registry.get("backup list") is BackupListOperation
    assert (op.mutating, op.default_role, op.default_approval, op.plan(env, args).target) == (
        True,
        "operator",
        False,
        "backup",
    )

    plan = op.plan(env, args)
    assert dbname_of(pg_url) in plan.summary and dbname_of(other_pg_url) in plan.summary
    assert str(backup_dir) in plan.summary
    assert [c.target for c in plan.changes] == [
        "database/litemaas",
        "database/litellm",
        f"dir://{backup_dir}",
    ]
    assert (plan.changes[-1].before, plan.changes[-1].after) == ("0", "1 (+1 new, 0 oldest deleted)")
    assert PASSWORD not in json.dumps(plan.to_json())
    assert all_files(backup_dir) == []  # planning writes nothing

    progress, result = run(op.execute(env, args, plan))

    assert result.ok, result.summary
    assert [p.done for p in progress] == [0, 1, 1, 2] and {p.total for p in progress} == {2}
    [manifest] = list_backups(env)
    assert result.summary.startswith(f"Backup {manifest.id} done: litemaas and litellm")
    assert [s.title for s in result.sections] == ["litemaas", "litellm", f"dir://{backup_dir}"]
    assert result.sections[-1].fields == {
        "status": "stored",
        "retention": "nothing to delete (keeping the newest 12)",
    }
    for section, file in zip(result.sections[:2], manifest.files, strict=True):
        assert section.fields["path"] == str(file.path)
        assert section.fields["sha256"] == file.sha256[:16]
        assert section.fields["server version"] == server_version()
    assert PASSWORD not in json.dumps(result.to_json())


def test_backup_now_failure_is_a_failed_result(kube: KubeClient, backup_dir: Path, pg_url: str) -> None:
    dead = f"postgresql://postgres:{PASSWORD}@127.0.0.1:{DEAD_URL_PORT}/litemaas_db"
    env = make_env(kube, backup_dir, dead, dead)
    op = BackupNowOperation()

    plan = op.plan(env, BackupNowArgs())  # planning does not connect
    _progress, result = run(op.execute(env, BackupNowArgs(), plan))

    assert not result.ok
    assert result.summary.startswith("Backup failed: cannot connect to the litemaas database")
    assert PASSWORD not in json.dumps(result.to_json())
    assert all_files(backup_dir) == []


def test_pg_dump_not_installed_is_a_refusal(
    kube: KubeClient, backup_dir: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(backup_dir))  # an environment without PostgreSQL's client tools
    env = make_env(kube, backup_dir, with_password(pg_url), with_password(pg_url))

    with pytest.raises(OperationError, match="pg_dump is not installed"):
        BackupNowOperation().plan(env, BackupNowArgs())
    assert all_files(backup_dir) == []


def test_pg_dump_stderr_is_redacted_to_its_reason() -> None:
    stderr = (
        f'pg_dump: error: connection to server at "db" (10.0.0.1), port 5432 failed: FATAL:  password '
        f'authentication failed for user "litellm" (password={PASSWORD})\n'
        f"pg_dump: detail: tried postgresql://litellm:{PASSWORD}@db:5432/litemaas_db\n"
    )

    line = last_meaningful_line(redact(stderr, [PASSWORD]), prefix="pg_dump: ")

    assert line.endswith('password authentication failed for user "litellm" (password=***)')
    assert PASSWORD not in redact(stderr, [PASSWORD]) and "litellm:" not in redact(stderr, [PASSWORD])


def test_an_abandoned_backup_now_removes_what_it_wrote(
    kube: KubeClient, backup_dir: Path, pg_url: str
) -> None:
    fill(pg_url, LITEMAAS_ROWS)
    env = make_env(kube, backup_dir, with_password(pg_url), with_password(pg_url))
    events = BackupNowOperation().execute(env, BackupNowArgs(), None)
    assert isinstance(events, Generator)

    first = next(events)
    assert isinstance(first, Progress) and first.text.startswith("Dumping the litemaas database")
    assert len(list(backup_dir.iterdir())) == 1  # the backup's directory is claimed
    events.close()  # the bot stops the run (shutdown, cancelled job)

    assert list(backup_dir.iterdir()) == []
