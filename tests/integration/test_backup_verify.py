"""`backup verify`: a backup is proved by restoring it into a scratch database and comparing it with the
census taken in the dump's own snapshot. Real PostgreSQL, pg_dump and psql; the real LiteMaaS and
LiteLLM schemas with the demo data in both layouts; S3 is moto's server; faults are real files damaged
or rewritten after their manifest was written, and a server that does not answer.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest

from commands.backup import BackupListOperation, run_backup
from commands.backup.operations import BackupListArgs
from commands.backup.verifying import BackupVerifyArgs, BackupVerifyOperation
from commands.clients.kube import KubeClient
from commands.contract import OperationError, Result
from commands.registry import default_registry
from tests.conftest import DEAD_URL_PORT, PG_ADMIN_URL, DatabasePair
from tests.integration.backup_peers import (
    PASSWORD,
    SAFE_TABLE,
    census,
    flip_a_byte,
    make_env,
    rewrite_dump,
    rows_of,
    run,
    with_password,
    without_first_row,
)
from tests.integration.conftest import SECRET_KEY, dbname_of
from tests.integration.test_backup import find_pg_dump


def verify(env: Any, backup_id: str | None = None) -> tuple[list[str], Result]:
    op = BackupVerifyOperation()
    args = BackupVerifyArgs(backup_id=backup_id)
    progress, result = run(op.execute(env, args, op.plan(env, args)))
    return [p.text for p in progress], result


def scratch_names(progress: list[str]) -> list[str]:
    return [text.split(" into ", 1)[1].split(" ", 1)[0] for text in progress if text.startswith("Restoring ")]


def exists(name: str) -> bool:
    with psycopg.connect(PG_ADMIN_URL) as conn:
        return conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is not None


def test_dump_then_verify_passes_records_it_and_drops_the_scratch_databases(
    kube: KubeClient, tmp_path: Path, seeded: DatabasePair
) -> None:
    env = make_env(kube, tmp_path / "backups", seeded)
    manifest = run_backup(env)
    assert default_registry().get("backup verify") is BackupVerifyOperation
    op = BackupVerifyOperation()
    assert (op.mutating, op.default_role, op.default_approval) == (True, "operator", False)

    plan = op.plan(env, BackupVerifyArgs())  # the newest by default
    assert plan.summary.startswith(f"Verify backup {manifest.id} (")
    assert plan.changes[-1].before == "never verified"
    progress, result = verify(env)

    databases = ["litemaas"] if seeded.shared else ["litemaas", "litellm"]
    assert result.ok, result.summary
    assert result.summary.startswith(
        f"Backup {manifest.id} verified: {' and '.join(databases)} restore and match"
    )
    for section, file in zip(result.sections, manifest.files, strict=False):
        assert section.title == file.database
        assert file.tables is not None
        assert section.fields["tables"] == str(len(file.tables))
        assert section.fields["rows"] == f"{sum(t.rows for t in file.tables):,}"
        assert section.fields["status"] == "matches the manifest"
        assert section.fields["restore time"].endswith(" s")
    assert result.sections[-1].fields == {"recorded in": f"dir://{env.backup_dir}"}
    scratch = scratch_names(progress)
    assert len(scratch) == len(databases) and all(n.startswith("chatops_verify_") for n in scratch)
    assert not any(exists(name) for name in scratch)
    assert PASSWORD not in json.dumps(result.to_json()) and PASSWORD not in " ".join(progress)

    recorded = json.loads(manifest.path.read_text())["verification"]
    assert recorded["ok"] is True and recorded["summary"] == result.summary
    assert [line.split(":")[0] for line in recorded["databases"]] == databases
    [listed] = list(BackupListOperation().execute(env, BackupListArgs(), None))
    assert isinstance(listed, Result)
    assert " · verified " in listed.sections[0].lines[0]
    assert op.plan(env, BackupVerifyArgs()).changes[-1].before.startswith("passed ")


def test_the_counts_are_those_of_the_dumps_snapshot_not_of_a_later_moment(
    kube: KubeClient, tmp_path: Path, seeded: DatabasePair
) -> None:
    """Rows committed while pg_dump runs are in neither the dump nor the census: verify still passes."""
    env = make_env(kube, tmp_path / "backups", seeded)
    before = rows_of(seeded.litemaas_url)[SAFE_TABLE]
    outcome: list[Any] = []
    with psycopg.connect(seeded.litemaas_url) as blocker:
        blocker.execute("LOCK TABLE users IN ACCESS EXCLUSIVE MODE")  # pg_dump waits, with its snapshot
        thread = threading.Thread(target=lambda: outcome.append(run_backup(env)), daemon=True)
        thread.start()
        assert find_pg_dump(dbname_of(seeded.litemaas_url), time.monotonic() + 10) is not None
        time.sleep(0.5)  # pg_dump has set its snapshot and is waiting for the lock
        with psycopg.connect(seeded.litemaas_url, autocommit=True) as writer:
            writer.execute(
                "INSERT INTO api_key_models (api_key_id, model_id) SELECT a.id, m.id FROM api_keys a "
                "CROSS JOIN models m ON CONFLICT DO NOTHING"
            )
        blocker.rollback()
        thread.join(timeout=60)
    [manifest] = outcome
    now = rows_of(seeded.litemaas_url)[SAFE_TABLE]
    assert now > before
    litemaas = manifest.files[0]
    assert litemaas.tables is not None
    assert {t.name: t.rows for t in litemaas.tables}[SAFE_TABLE] == before

    _progress, result = verify(env, manifest.id)
    assert result.ok, result.summary


def test_a_dump_rewritten_after_its_manifest_fails_verify_naming_the_table(
    kube: KubeClient, tmp_path: Path, seeded: DatabasePair
) -> None:
    env = make_env(kube, tmp_path / "backups", seeded)
    manifest = run_backup(env)
    rewrite_dump(manifest.path, "litemaas", without_first_row(SAFE_TABLE))

    progress, result = verify(env, manifest.id)

    assert not result.ok
    expected = int(rows_of(seeded.litemaas_url)[SAFE_TABLE])
    assert result.summary == (
        f"Backup {manifest.id} failed verify: litemaas differs from the manifest: "
        f"{SAFE_TABLE}: {expected} rows in the backup, {expected - 1} restored"
    )
    [section] = [s for s in result.sections if s.title == "litemaas"]
    assert section.fields["status"] == "differs from the manifest"
    assert section.lines == (f"{SAFE_TABLE}: {expected} rows in the backup, {expected - 1} restored",)
    assert not any(exists(name) for name in scratch_names(progress))
    recorded = json.loads(manifest.path.read_text())["verification"]
    assert recorded["ok"] is False and SAFE_TABLE in recorded["summary"]
    [listed] = list(BackupListOperation().execute(env, BackupListArgs(), None))
    assert isinstance(listed, Result)
    assert "verify FAILED " in listed.sections[0].lines[0] and SAFE_TABLE in listed.sections[0].lines[0]


def test_a_damaged_dump_fails_on_its_checksum_before_anything_is_restored(
    kube: KubeClient, tmp_path: Path, seeded: DatabasePair
) -> None:
    env = make_env(kube, tmp_path / "backups", seeded)
    manifest = run_backup(env)
    flip_a_byte(manifest.files[-1].path)

    progress, result = verify(env, manifest.id)

    assert not result.ok
    assert result.summary == (
        f"Backup {manifest.id} failed verify: the dump {manifest.files[-1].path.name} changed after it was "
        "written (size or sha256 differs)"
    )
    assert scratch_names(progress) == []  # nothing was restored
    assert json.loads(manifest.path.read_text())["verification"]["ok"] is False


def test_a_schema_difference_names_the_table_and_the_column(
    kube: KubeClient, tmp_path: Path, seeded: DatabasePair
) -> None:
    env = make_env(kube, tmp_path / "backups", seeded)
    manifest = run_backup(env)
    rewrite_dump(
        manifest.path,
        "litemaas",
        lambda text: text.replace(
            "CREATE TABLE public.api_key_models (\n",
            "CREATE TABLE public.api_key_models (\n    planted text,\n",
            1,
        ),
    )

    _progress, result = verify(env, manifest.id)

    assert not result.ok
    assert result.summary.endswith(f"{SAFE_TABLE}: columns differ (unexpected planted text)")


def test_verify_reads_an_s3_backup_and_records_its_outcome_there(
    kube: KubeClient, tmp_path: Path, seeded: DatabasePair, s3: Any, bucket: str
) -> None:
    env = make_env(kube, tmp_path / "staging", seeded, backup_targets=(f"s3://{bucket}/prod",))
    from commands.backup import BackupNowOperation
    from commands.backup.operations import BackupNowArgs

    now = BackupNowOperation()
    _p, stored = run(now.execute(env, BackupNowArgs(), now.plan(env, BackupNowArgs())))
    assert stored.ok, stored.summary
    backup_id = stored.summary.split()[1]

    progress, result = verify(env)

    assert result.ok, result.summary
    assert progress[0] == f"Reading backup {backup_id} from s3://{bucket}/prod"
    assert result.sections[-1].fields == {"recorded in": f"s3://{bucket}/prod"}
    body = s3.get_object(Bucket=bucket, Key=f"prod/{backup_id}/manifest.json")["Body"].read()
    assert json.loads(body)["verification"]["ok"] is True
    assert [p.name for p in (tmp_path / "staging").iterdir()] == []  # the download is gone
    assert SECRET_KEY not in json.dumps(result.to_json())


def test_a_scratch_server_that_does_not_answer_fails_the_run_and_records_nothing(
    kube: KubeClient, tmp_path: Path, seeded: DatabasePair
) -> None:
    dead = f"postgresql://postgres:{PASSWORD}@127.0.0.1:{DEAD_URL_PORT}/postgres"
    env = make_env(kube, tmp_path / "backups", seeded, backup_verify_database_url=dead)
    manifest = run_backup(env)

    _progress, result = verify(env, manifest.id)

    assert not result.ok
    assert result.summary.startswith(
        "Cannot verify: cannot connect to the scratch database (postgres at 127.0.0.1:1)"
    )
    assert PASSWORD not in result.summary
    assert "verification" not in json.loads(manifest.path.read_text())  # says nothing about the backup


def test_a_scratch_server_named_by_the_setting_is_used(
    kube: KubeClient, tmp_path: Path, seeded: DatabasePair
) -> None:
    env = make_env(kube, tmp_path / "backups", seeded, backup_verify_database_url=with_password(PG_ADMIN_URL))
    manifest = run_backup(env)
    plan = BackupVerifyOperation().plan(env, BackupVerifyArgs())
    assert plan.changes[0].target == "server 127.0.0.1:5432"

    _progress, result = verify(env, manifest.id)
    assert result.ok, result.summary


def test_an_older_manifest_without_counts_still_proves_the_dump_restores(
    kube: KubeClient, tmp_path: Path, seeded: DatabasePair
) -> None:
    env = make_env(kube, tmp_path / "backups", seeded)
    manifest = run_backup(env)
    data = json.loads(manifest.path.read_text())
    data["version"] = 1
    for entry in data["files"]:
        del entry["tables"]
    manifest.path.write_text(json.dumps(data))

    _progress, result = verify(env, manifest.id)

    assert result.ok, result.summary
    assert {s.fields.get("status") for s in result.sections[:-1]} == {"restores (no counts recorded)"}


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ("latest", "'latest' is not a backup id"),
        ("20260101T000000Z", "no backup 20260101T000000Z in dir://"),
    ],
)
def test_bad_or_unknown_ids_are_refused_plainly(
    kube: KubeClient, tmp_path: Path, litemaas_db: str, given: str, message: str
) -> None:
    pair = DatabasePair(litemaas_db, litemaas_db, shared=True)
    env = make_env(kube, tmp_path / "backups", pair)
    try:
        args = BackupVerifyArgs(backup_id=given)
    except ValueError as exc:
        assert message in str(exc)
        return
    with pytest.raises(OperationError, match=message):
        BackupVerifyOperation().plan(env, args)
    assert census(litemaas_db)  # untouched
