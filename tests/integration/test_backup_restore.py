"""`backup restore`: writers stopped, a safety backup, the backup restored into a new database, verified,
swapped in, writers back. Real PostgreSQL (only the tests' own uuid-named databases), real pg_dump and
psql, the Kubernetes sandbox over HTTP through the production client; every fault is real: a damaged
file, a full-disk-like backup directory, a sandbox that refuses to scale, a dump psql rejects, a proxy
that cuts the load or the whole server away, a name taken at the moment of the swap, pods that crash.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from commands.backup import BackupNowOperation, list_targets, run_backup
from commands.backup.manifest import BackupManifest
from commands.backup.operations import BackupNowArgs
from commands.backup.restore.operation import BackupRestoreArgs, BackupRestoreOperation
from commands.clients.kube import KubeClient
from commands.contract import Plan, Progress, Result
from commands.environment import Environment
from commands.registry import default_registry
from sandbox.kube import KubeSandbox
from tests.conftest import PG_ADMIN_URL, DatabasePair
from tests.integration.backup_peers import (
    PASSWORD,
    SAFE_TABLE,
    database_oid,
    databases_named_after,
    flip_a_byte,
    make_env,
    rewrite_dump,
    rows_of,
    run,
    with_password,
    without_first_row,
)
from tests.integration.conftest import NAMESPACE, dbname_of
from tests.integration.cutting_proxy import CuttingProxy

pytestmark = pytest.mark.slow  # each restore: a backup, a safety backup, loads, rollouts

LOCKS = (
    "backup",
    "deployments/litemaas",
    "deployment/litellm-backend",
    "deployment/litellm",
    "database/litemaas",
    "database/litellm",
    "keystore",
    "catalogue",
    "litemaas/users",
)


@pytest.fixture
def sb() -> Iterator[KubeSandbox]:
    """The sandbox with rollouts moving by themselves; LiteLLM runs 2 replicas, the backend 1."""
    sandbox = KubeSandbox(namespace=NAMESPACE, seed=True, auto_progress=0.02).start()
    try:
        sandbox.settle()
        yield sandbox
    finally:
        sandbox.stop()


@pytest.fixture
def env(sb: KubeSandbox, kube: KubeClient, tmp_path: Path, seeded: DatabasePair) -> Environment:
    environment = make_env(kube, tmp_path / "backups", seeded, rollout_timeout=20.0)
    kube.patch_scale("litellm", 2)
    from commands.clients.rollout import watch_rollout

    assert watch_rollout(kube, "litellm", 20.0).done
    sb.clear_requests()
    return environment


def replicas(sb: KubeSandbox) -> dict[str, int]:
    return {
        name: int(sb.get("deployments", name)["spec"]["replicas"]) for name in ("litellm-backend", "litellm")
    }


def scale_writes(sb: KubeSandbox) -> list[tuple[str, int]]:
    return [
        (r.path.split("/")[-2], int(json.loads(r.body)["spec"]["replicas"]))
        for r in sb.writes()
        if r.path.endswith("/scale")
    ]


def live_names(pair: DatabasePair) -> list[str]:
    return sorted({dbname_of(pair.litemaas_url), dbname_of(pair.litellm_url)})


def change_live_data(pair: DatabasePair) -> None:
    """What happens after the backup: rows deleted in LiteMaaS, models removed in LiteLLM."""
    with psycopg.connect(pair.litemaas_url, autocommit=True) as conn:
        conn.execute("DELETE FROM api_key_models")
    with psycopg.connect(pair.litellm_url, autocommit=True) as conn:
        conn.execute('DELETE FROM "LiteLLM_ProxyModelTable"')


def restore(
    env: Environment, backup_id: str, on_progress: Callable[[Progress], None] | None = None, **extra: Any
) -> tuple[Plan, list[Progress], Result]:
    op = BackupRestoreOperation()
    args = BackupRestoreArgs(backup_id=backup_id, **extra)
    plan = op.plan(env, args)
    progress, result = run(op.execute(env, args, plan), on_progress)
    return plan, progress, result


def backed_rows(manifest: BackupManifest) -> dict[str, int]:
    rows: dict[str, int] = {}
    for file in manifest.files:
        assert file.tables is not None
        rows.update({t.name: t.rows for t in file.tables})
    return rows


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


# -- failures before the swap: the live database untouched, the replicas as they were -----------------


def assert_untouched(
    sb: KubeSandbox, seeded: DatabasePair, before: dict[str, Any], result: Result, step: str
) -> None:
    assert not result.ok
    assert result.summary.startswith("Restore of backup ") and f"stopped at step “{step}”" in result.summary
    assert "The live database was not changed" in result.summary
    for name, (oid, rows) in before.items():
        assert database_oid(name) == oid
        assert rows_of(f"{PG_ADMIN_URL.rpartition('/')[0]}/{name}") == rows
        assert databases_named_after(name) == []  # no new database left, none kept
    assert replicas(sb) == {"litellm-backend": 1, "litellm": 2}
    steps = next(s for s in result.sections if s.title == "Steps").lines
    assert any(line.startswith(f"✗ {step}: ") for line in steps)
    assert PASSWORD not in json.dumps(result.to_json())


def live_state(seeded: DatabasePair) -> dict[str, Any]:
    return {
        name: (database_oid(name), rows_of(f"{PG_ADMIN_URL.rpartition('/')[0]}/{name}"))
        for name in live_names(seeded)
    }


def test_a_damaged_dump_stops_the_restore_before_anything_changes(
    sb: KubeSandbox, env: Environment, seeded: DatabasePair
) -> None:
    manifest = run_backup(env)
    change_live_data(seeded)
    before = live_state(seeded)
    op = BackupRestoreOperation()
    args = BackupRestoreArgs(backup_id=manifest.id)
    plan = op.plan(env, args)
    flip_a_byte(manifest.files[0].path)
    sb.clear_requests()

    _progress, result = run(op.execute(env, args, plan))

    assert_untouched(sb, seeded, before, result, "check the backup")
    assert "changed after it was written" in result.summary
    assert sb.writes() == []


def test_a_safety_backup_that_cannot_be_written_stops_the_restore(
    sb: KubeSandbox, env: Environment, seeded: DatabasePair, tmp_path: Path
) -> None:
    manifest = run_backup(env)
    target = tmp_path / "kept"
    target.mkdir()
    env.backup_targets = (f"dir://{target}",)
    from commands.backup.targets import DirectoryTarget

    DirectoryTarget(target).store(manifest)
    env.backup_dir = tmp_path / "a-file"
    env.backup_dir.write_text("not a directory")  # the staging directory cannot be made
    before = live_state(seeded)
    sb.clear_requests()

    _plan, _progress, result = restore(env, manifest.id)

    assert_untouched(sb, seeded, before, result, "safety backup")
    assert "cannot create a backup directory" in result.summary
    assert sb.writes() == []


def test_a_sandbox_that_refuses_to_scale_leaves_the_writers_as_they_were(
    sb: KubeSandbox, env: Environment, seeded: DatabasePair
) -> None:
    manifest = run_backup(env)
    before = live_state(seeded)
    sb.inject_error("PATCH", r"/deployments/litellm/scale$", 403, 'deployments.apps "litellm" is forbidden')
    sb.clear_requests()

    _plan, _progress, result = restore(env, manifest.id)

    assert_untouched(sb, seeded, before, result, "stop the writers")
    assert "forbidden" in result.summary and "the writers are back (backend at 1)" in result.summary
    assert scale_writes(sb) == [("litellm-backend", 0), ("litellm", 0), ("litellm-backend", 1)]


def test_a_dump_psql_rejects_stops_the_restore_and_drops_the_new_database(
    sb: KubeSandbox, env: Environment, seeded: DatabasePair
) -> None:
    manifest = run_backup(env)
    rewrite_dump(
        manifest.path, "litemaas", lambda text: text.replace("COPY public.users (", "COPY public.nosuch (", 1)
    )
    before = live_state(seeded)

    _plan, _progress, result = restore(env, manifest.id)

    assert_untouched(sb, seeded, before, result, "restore into new databases")
    assert 'relation "public.nosuch" does not exist' in result.summary


def test_rows_missing_from_the_dump_stop_the_restore_at_its_verify(
    sb: KubeSandbox, env: Environment, seeded: DatabasePair
) -> None:
    manifest = run_backup(env)
    rewrite_dump(manifest.path, "litemaas", without_first_row(SAFE_TABLE))
    before = live_state(seeded)

    _plan, _progress, result = restore(env, manifest.id)

    assert_untouched(sb, seeded, before, result, "verify against the manifest")
    assert f"litemaas: {SAFE_TABLE}: " in result.summary


def through_proxy(url: str, proxy: CuttingProxy) -> str:
    port = proxy.url.rsplit(":", 1)[1]
    return url.replace("@127.0.0.1:5432/", f"@127.0.0.1:{port}/")


@pytest.fixture
def pg_proxy() -> Iterator[CuttingProxy]:
    proxy = CuttingProxy(("127.0.0.1", 5432))
    yield proxy
    proxy.close()


@pytest.mark.parametrize(
    "fault",
    [
        pytest.param(lambda proxy: proxy.cut_streams_over(64 * 1024), id="the load cut"),  # queries are small
        pytest.param(lambda proxy: proxy.sever(), id="the server gone"),
    ],
)
def test_postgresql_failing_during_the_load_stops_the_restore(
    sb: KubeSandbox,
    env: Environment,
    seeded: DatabasePair,
    pg_proxy: CuttingProxy,
    fault: Callable[[CuttingProxy], None],
) -> None:
    env.litemaas_database_url = with_password(through_proxy(seeded.litemaas_url, pg_proxy))
    env.litellm_database_url = with_password(through_proxy(seeded.litellm_url, pg_proxy))
    manifest = run_backup(env)
    before = live_state(seeded)

    def at_the_load(event: Progress) -> None:
        if event.text.startswith("Step 4/8"):
            fault(pg_proxy)

    _plan, _progress, result = restore(env, manifest.id, on_progress=at_the_load)

    assert_untouched(sb, seeded, before, result, "restore into new databases")


def test_a_name_taken_at_the_swap_rolls_the_swap_back(
    sb: KubeSandbox, env: Environment, seeded: DatabasePair
) -> None:
    manifest = run_backup(env)
    before = live_state(seeded)
    taken = f"{live_names(seeded)[0]}_before_{manifest.id.lower()}"

    def take_the_name(event: Progress) -> None:
        if event.text.startswith("Step 6/8"):
            with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(taken)))

    _plan, _progress, result = restore(env, manifest.id, on_progress=take_the_name)

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:  # ours: not the restore's to drop
        conn.execute(sql.SQL("DROP DATABASE {}").format(sql.Identifier(taken)))
    assert_untouched(sb, seeded, before, result, "swap")
    assert "already exists" in result.summary


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
