"""`backup restore`: writers stopped, a safety backup, the backup restored into a new database, verified,
swapped in, writers back; in both layouts, from a directory and from S3; `--cleanup`; refusals. Real
PostgreSQL (only the tests' own uuid-named databases), real pg_dump and psql, the Kubernetes sandbox over
HTTP through the production client.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from commands.backup import BackupNowOperation, list_targets, run_backup
from commands.backup.operations import BackupNowArgs
from commands.backup.restore.operation import BackupRestoreArgs, BackupRestoreOperation
from commands.contract import Progress
from commands.environment import Environment
from commands.registry import default_registry
from sandbox.kube import KubeSandbox
from tests.conftest import PG_ADMIN_URL, DatabasePair
from tests.integration.backup_peers import (
    PASSWORD,
    SAFE_TABLE,
    database_oid,
    databases_named_after,
    rows_of,
    run,
)
from tests.integration.conftest import dbname_of
from tests.integration.restore.peers import (
    LOCKS,
    backed_rows,
    change_live_data,
    live_names,
    replicas,
    restore,
    scale_writes,
)

pytestmark = pytest.mark.slow  # each restore: a backup, a safety backup, loads, rollouts


def test_restore_replaces_the_databases_with_the_backup_and_keeps_the_old_ones(
    sb: KubeSandbox, env: Environment, seeded: DatabasePair
) -> None:
    manifest = run_backup(env)
    change_live_data(seeded)
    changed = {name: rows_of(f"{PG_ADMIN_URL.rpartition('/')[0]}/{name}") for name in live_names(seeded)}
    op = BackupRestoreOperation()
    assert default_registry().get("backup restore") is BackupRestoreOperation
    assert (op.default_role, op.default_approval, op.approvals_required) == ("admin", True, 2)

    plan, progress, result = restore(env, manifest.id)

    assert (plan.target, plan.targets) == ("backup", LOCKS)
    changes = {(c.target, c.field): (c.before, c.after) for c in plan.changes}
    assert changes[("deployment/litellm-backend", "replicas")] == ("1", "0 during the restore, then 1")
    assert changes[("deployment/litellm", "replicas")] == ("2", "0 during the restore, then 2")
    assert changes[("database/litemaas", f"table {SAFE_TABLE} rows")] == (
        "0",
        str(backed_rows(manifest)[SAFE_TABLE]),
    )
    [contents] = [
        c for c in plan.changes if c.field == "contents" and c.target.startswith("database/litemaas")
    ]
    assert contents.before.startswith("today: ") and contents.after.startswith(f"backup {manifest.id} (")
    assert PASSWORD not in json.dumps(plan.to_json())

    assert result.ok, result.summary
    suffix = manifest.id.lower()
    kept = [f"{name}_before_{suffix}" for name in live_names(seeded)]
    assert result.summary.startswith("Restored ")
    for name in live_names(seeded):
        restored = rows_of(f"{PG_ADMIN_URL.rpartition('/')[0]}/{name}")
        assert restored == {t: n for t, n in backed_rows(manifest).items() if t in restored}
        assert rows_of(f"{PG_ADMIN_URL.rpartition('/')[0]}/{name}_before_{suffix}") == changed[name]
    assert [n for name in live_names(seeded) for n in databases_named_after(name)] == kept  # no leftover
    assert scale_writes(sb) == [
        ("litellm-backend", 0),
        ("litellm", 0),
        ("litellm", 2),
        ("litellm-backend", 1),
    ]
    assert replicas(sb) == {"litellm-backend": 1, "litellm": 2}
    steps = next(s for s in result.sections if s.title == "Steps").lines
    assert [line.split(":")[0] for line in steps] == [
        "✓ check the backup",
        "✓ safety backup",
        "✓ stop the writers",
        "✓ restore into new databases",
        "✓ verify against the manifest",
        "✓ swap",
        "✓ start the writers",
        "✓ status",
    ]
    status = next(s for s in result.sections if s.title == "Status").fields
    assert status["deployment/litellm"] == "2/2 available"
    [contents_of] = list_targets(env)
    assert contents_of.listing is not None and len(contents_of.listing.backups) == 2  # + the safety backup
    assert [p.text for p in progress if p.text.startswith("Step ")][:2] == [
        "Step 1/8: check the backup",
        "Step 2/8: safety backup",
    ]
    texts = json.dumps(result.to_json()) + " ".join(p.text for p in progress)
    assert PASSWORD not in texts

    cleanup = BackupRestoreOperation()
    args = BackupRestoreArgs(cleanup=True)
    cleanup_plan = cleanup.plan(env, args)
    assert sorted(cleanup_plan.observed["kept"]) == sorted(kept)
    _p, dropped = run(cleanup.execute(env, args, cleanup_plan))
    assert dropped.ok and dropped.summary.startswith(f"Dropped {len(kept)} kept database")
    assert all(database_oid(name) is None for name in kept)
    assert cleanup.plan(env, args).noop


def test_only_the_named_database_is_restored(sb: KubeSandbox, env: Environment, seeded: DatabasePair) -> None:
    manifest = run_backup(env)
    change_live_data(seeded)
    if seeded.shared:
        with pytest.raises(Exception, match="restore it with --database litemaas"):
            restore(env, manifest.id, database="litellm")
        return
    litemaas_oid = database_oid(dbname_of(seeded.litemaas_url))

    _plan, _progress, result = restore(env, manifest.id, database="litellm")

    assert result.ok, result.summary
    assert database_oid(dbname_of(seeded.litemaas_url)) == litemaas_oid  # untouched
    assert rows_of(seeded.litemaas_url)[SAFE_TABLE] == 0
    assert rows_of(seeded.litellm_url)["public.LiteLLM_ProxyModelTable"] > 0


def test_a_backup_kept_in_s3_is_downloaded_checked_and_restored(
    sb: KubeSandbox, env: Environment, seeded: DatabasePair, s3: Any, bucket: str, tmp_path: Path
) -> None:
    env.backup_targets = (f"s3://{bucket}/prod",)
    op = BackupNowOperation()
    _p, stored = run(op.execute(env, BackupNowArgs(), op.plan(env, BackupNowArgs())))
    assert stored.ok, stored.summary
    [contents] = list_targets(env)
    assert contents.listing is not None
    backup_id = contents.listing.backups[0].id
    change_live_data(seeded)

    plan, progress, result = restore(env, backup_id)

    assert result.ok, result.summary
    assert f"from s3://{bucket}/prod" in plan.summary
    assert rows_of(seeded.litemaas_url)[SAFE_TABLE] > 0
    assert any(
        p.text == f"Copying the safety backup {p.text.split()[-3]} to s3://{bucket}/prod" for p in progress
    )
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="prod/")["Contents"]]
    assert len({k.split("/")[1] for k in keys}) == 2  # the backup and the safety backup
    assert [p.name for p in env.backup_dir.iterdir()] == []  # no download or staging copy left


# -- after the swap --------------------------------------------------------------------------------


def test_writers_that_do_not_come_back_are_reported_after_the_swap(
    sb: KubeSandbox, env: Environment, seeded: DatabasePair
) -> None:
    manifest = run_backup(env)

    def refuse_litellm(event: Progress) -> None:
        if event.text.startswith("Step 7/8"):
            sb.inject_error("PATCH", r"/deployments/litellm/scale$", 503, "etcdserver: request timed out")

    _plan, _progress, result = restore(env, manifest.id, on_progress=refuse_litellm)

    assert not result.ok
    assert result.summary.startswith(f"Backup {manifest.id} is restored into ")
    assert "but the writers are not all back: scaling deployment/litellm to 2 failed" in result.summary
    assert replicas(sb) == {"litellm-backend": 1, "litellm": 0}  # the backend came back all the same
    steps = next(s for s in result.sections if s.title == "Steps").lines
    assert steps[-2].startswith("✗ start the writers: ") and steps[-1] == "· status: not done"
    assert rows_of(seeded.litemaas_url) == {
        t: n for t, n in backed_rows(manifest).items() if t in rows_of(seeded.litemaas_url)
    }


# -- refusals --------------------------------------------------------------------------------------


def test_a_backup_of_the_other_layout_is_refused(
    sb: KubeSandbox, env: Environment, seeded: DatabasePair, tmp_path: Path, schema_databases: Any
) -> None:
    manifest = run_backup(env)
    data = json.loads(manifest.path.read_text())
    if seeded.shared:  # pretend it was taken with two databases
        data["files"].append({**data["files"][0], "database": "litellm"})
        expected = "holds LiteMaaS and LiteLLM in two databases"
    else:
        data["files"] = data["files"][:1]
        expected = "was taken when LiteLLM shared the litemaas database"
    manifest.path.write_text(json.dumps(data))
    sb.clear_requests()

    with pytest.raises(Exception, match=expected):
        BackupRestoreOperation().plan(env, BackupRestoreArgs(backup_id=manifest.id))
    assert sb.writes() == []


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({}, "name the backup to restore"),
        ({"backup_id": "yesterday"}, "'yesterday' is not a backup id"),
        ({"cleanup": True, "database": "litellm"}, "leave out --database"),
        (
            {"backup_id": "20260101T000000Z", "database": "postgres"},
            "Input should be 'litemaas' or 'litellm'",
        ),
    ],
)
def test_bad_arguments_are_refused_plainly(given: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        BackupRestoreArgs(**given)
