"""Backup targets: a directory and S3 (a real moto S3 server on loopback), retention, `backup list`.

The databases are real (fresh LiteMaaS and LiteLLM schemas), pg_dump is real, boto3 talks HTTP to
moto's server; the endpoint and credentials reach boto3 only through the standard AWS environment
variables, as in production. Faults are real too: a loopback proxy cuts an upload mid-body, a bucket
does not exist, a directory is not mounted.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import sys
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from commands.backup import BackupListOperation, BackupNowOperation, newest_backup_time, run_backup
from commands.backup.operations import BackupListArgs, BackupNowArgs
from commands.backup.targets import parse_target
from commands.clients.kube import KubeClient
from commands.contract import Event, OperationError, Progress, Result
from commands.environment import Environment
from tests.conftest import DEAD_URL_PORT
from tests.integration.conftest import NAMESPACE, SECRET_KEY
from tests.integration.cutting_proxy import CuttingProxy


@pytest.fixture
def proxy(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch, aws: str) -> Iterator[CuttingProxy]:
    """A proxy in front of moto, recording the requests boto3 sends (and cutting uploads when told to)."""
    host, port = moto_endpoint.removeprefix("http://").split(":")
    cutting = CuttingProxy((host, int(port)))
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", cutting.url)
    try:
        yield cutting
    finally:
        cutting.close()


def make_env(
    kube: KubeClient,
    tmp_path: Path,
    litemaas_db: str,
    litellm_db: str,
    targets: tuple[str, ...],
    keep: int = 12,
) -> Environment:
    return Environment(
        name="test",
        namespace=NAMESPACE,
        kube=kube,
        litellm_redis_ping=lambda: True,
        litemaas_database_url=litemaas_db,
        litellm_database_url=litellm_db,
        backup_dir=tmp_path / "staging",
        backup_targets=targets,
        backup_keep=keep,
    )


def run(events: Iterator[Event]) -> tuple[list[Progress], Result]:
    collected = list(events)
    assert collected and isinstance(collected[-1], Result), collected
    return [e for e in collected[:-1] if isinstance(e, Progress)], collected[-1]


def backup_now(env: Environment) -> Result:
    op = BackupNowOperation()
    _progress, result = run(op.execute(env, BackupNowArgs(), op.plan(env, BackupNowArgs())))
    return result


def keys(s3: Any, bucket: str, prefix: str = "") -> list[str]:
    answer = s3.list_objects_v2(Bucket=bucket, Prefix=prefix)
    return sorted(obj["Key"] for obj in answer.get("Contents", []))


def staged(env: Environment) -> list[Path]:
    return sorted(p for p in env.backup_dir.rglob("*") if p.is_file()) if env.backup_dir.exists() else []


def section(result: Result, title: str) -> dict[str, str]:
    [found] = [s for s in result.sections if s.title == title]
    return found.fields


# -- S3 --------------------------------------------------------------------------------------------


def test_backup_now_uploads_to_s3_manifest_last_and_lists_it(
    kube: KubeClient,
    tmp_path: Path,
    litemaas_db: str,
    litellm_db: str,
    s3: Any,
    bucket: str,
    proxy: CuttingProxy,
) -> None:
    target = f"s3://{bucket}/nightly/prod"
    env = make_env(kube, tmp_path, litemaas_db, litellm_db, (target,))
    op = BackupNowOperation()
    assert newest_backup_time(env) is None

    plan = op.plan(env, BackupNowArgs())
    assert target in plan.summary and "deletes 0 old backups" in plan.summary
    assert (plan.changes[-1].target, plan.changes[-1].before) == (target, "0")
    progress, result = run(op.execute(env, BackupNowArgs(), plan))

    assert result.ok, result.summary
    assert any(p.text.startswith("Copying backup") and target in p.text for p in progress)
    backup_id = result.summary.split()[1]
    assert result.summary == (
        f"Backup {backup_id} done: litemaas and litellm, {result.summary.split(', ')[1]}, stored in {target}"
    )
    assert section(result, target) == {
        "status": "stored",
        "retention": "nothing to delete (keeping the newest 12)",
    }
    folder = f"nightly/prod/{backup_id}/"
    assert keys(s3, bucket) == [folder + n for n in ("litellm.sql.gz", "litemaas.sql.gz", "manifest.json")]
    puts = [path for method, path in proxy.requests if method == "PUT"]
    assert [p.rsplit("/", 1)[1] for p in puts] == ["litemaas.sql.gz", "litellm.sql.gz", "manifest.json"]

    manifest = json.loads(s3.get_object(Bucket=bucket, Key=folder + "manifest.json")["Body"].read())
    for entry in manifest["files"]:
        body = s3.get_object(Bucket=bucket, Key=folder + entry["filename"])["Body"].read()
        assert (len(body), hashlib.sha256(body).hexdigest()) == (entry["size"], entry["sha256"])
        assert b"CREATE TABLE" in gzip.decompress(body)
    assert staged(env) == []  # every target has its copy: the local staging copy is gone
    assert "path" not in section(result, "litemaas")

    [listed] = list(BackupListOperation().execute(env, BackupListArgs(), None))
    assert isinstance(listed, Result) and listed.ok
    assert listed.summary == f"1 backup in {target}, newest first"
    [line] = listed.sections[0].lines
    assert line.startswith(f"{backup_id} · ") and line.endswith(" · litemaas, litellm · never verified")
    assert newest_backup_time(env) == datetime.fromisoformat(manifest["created_at"])
    assert SECRET_KEY not in json.dumps(result.to_json()) + json.dumps(listed.to_json())


def test_retention_keeps_the_newest_two_in_each_target_deleting_the_s3_manifest_first(
    kube: KubeClient,
    tmp_path: Path,
    litemaas_db: str,
    litellm_db: str,
    s3: Any,
    bucket: str,
    proxy: CuttingProxy,
) -> None:
    directory = tmp_path / "nfs"
    directory.mkdir()
    dir_target, s3_target = f"dir://{directory}", f"s3://{bucket}/db"
    env = make_env(kube, tmp_path, litemaas_db, litellm_db, (dir_target, s3_target), keep=2)

    results = [backup_now(env) for _ in range(3)]
    plan = BackupNowOperation().plan(env, BackupNowArgs())
    results.append(backup_now(env))

    assert all(r.ok for r in results), [(r.summary, r.sections) for r in results if not r.ok]
    ids = [r.summary.split()[1] for r in results]
    assert len(set(ids)) == 4
    assert [section(r, s3_target)["retention"] for r in results] == [
        "nothing to delete (keeping the newest 2)",
        "nothing to delete (keeping the newest 2)",
        "deleted 1 old backup (keeping the newest 2)",
        "deleted 1 old backup (keeping the newest 2)",
    ]
    assert section(results[3], dir_target)["retention"] == "deleted 1 old backup (keeping the newest 2)"
    assert "deletes 2 old backups" in plan.summary  # one per target
    assert [(c.before, c.after) for c in plan.changes[-2:]] == [("2", "2 (+1 new, 1 oldest deleted)")] * 2

    assert {k.split("/")[1] for k in keys(s3, bucket)} == set(ids[2:])
    assert len(keys(s3, bucket)) == 6
    assert sorted(p.name for p in directory.iterdir()) == sorted(ids[2:])
    assert all(
        sorted(f.name for f in (directory / i).iterdir())
        == ["litellm.sql.gz", "litemaas.sql.gz", "manifest.json"]
        for i in ids[2:]
    )
    for old in ids[:2]:  # S3: the manifest goes first, the dumps after it
        manifest_delete = proxy.requests.index(("DELETE", f"/{bucket}/db/{old}/manifest.json"))
        dumps_deleted = proxy.requests.index(("POST", f"/{bucket}?delete"), manifest_delete)
        assert all(
            path.endswith("manifest.json") for m, path in proxy.requests[:dumps_deleted] if m == "DELETE"
        )
    [listed] = list(BackupListOperation().execute(env, BackupListArgs(), None))
    assert isinstance(listed, Result)
    assert listed.summary == "4 backups in 2 targets, newest first"
    for listed_section in listed.sections:
        assert [line.split(" · ")[0] for line in listed_section.lines] == [ids[3], ids[2]]


# -- failures --------------------------------------------------------------------------------------


def test_a_cut_upload_leaves_nothing_in_s3_and_the_directory_target_still_gets_its_copy(
    kube: KubeClient,
    tmp_path: Path,
    litemaas_db: str,
    litellm_db: str,
    s3: Any,
    bucket: str,
    proxy: CuttingProxy,
) -> None:
    directory = tmp_path / "nfs"
    directory.mkdir()
    s3_target, dir_target = f"s3://{bucket}/db", f"dir://{directory}"
    env = make_env(kube, tmp_path, litemaas_db, litellm_db, (s3_target, dir_target))
    proxy.cut_uploads_of("/litellm.sql.gz")  # the second dump: the first one is already uploaded

    result = backup_now(env)

    assert proxy.cuts >= 1, "the upload was not cut"
    assert not result.ok
    backup_id = result.summary.split()[1]
    status = section(result, s3_target)["status"]
    assert status.startswith(
        f"failed: uploading litellm.sql.gz of backup {backup_id} to {s3_target} failed: "
    )
    assert "Traceback" not in status and SECRET_KEY not in json.dumps(result.to_json())
    assert f"stored in 1 of 2 targets; failed: {s3_target}: uploading litellm.sql.gz" in result.summary
    assert keys(s3, bucket) == []  # neither the cut file, nor the one uploaded before it, nor a manifest
    assert s3.list_objects_v2(Bucket=bucket, Prefix=f"db/{backup_id}/litellm.sql.gz").get("KeyCount") == 0

    assert section(result, dir_target) == {
        "status": "stored",
        "retention": "nothing to delete (keeping the newest 12)",
    }
    assert sorted(p.name for p in (directory / backup_id).iterdir()) == [
        "litellm.sql.gz",
        "litemaas.sql.gz",
        "manifest.json",
    ]
    assert [p.parent.name for p in staged(env)] == [backup_id] * 3  # kept locally: a target failed
    assert result.warnings == (f"the backup is kept in {env.backup_dir / backup_id} since a target failed",)
    assert section(result, "litellm")["path"] == str(env.backup_dir / backup_id / "litellm.sql.gz")


def test_a_missing_directory_target_fails_while_s3_gets_its_copy(
    kube: KubeClient, tmp_path: Path, litemaas_db: str, litellm_db: str, s3: Any, bucket: str
) -> None:
    missing = tmp_path / "not-mounted"
    dir_target, s3_target = f"dir://{missing}", f"s3://{bucket}"
    env = make_env(kube, tmp_path, litemaas_db, litellm_db, (dir_target, s3_target))

    plan = BackupNowOperation().plan(env, BackupNowArgs())
    assert plan.risks == (
        f"{dir_target} does not exist (create it or mount its volume); the copy will be tried anyway",
    )
    result = backup_now(env)

    assert not result.ok
    assert section(result, dir_target) == {
        "status": f"failed: {dir_target} does not exist (create it or mount its volume)"
    }
    assert section(result, s3_target)["status"] == "stored"
    backup_id = result.summary.split()[1]
    assert keys(s3, bucket) == [
        f"{backup_id}/{n}" for n in ("litellm.sql.gz", "litemaas.sql.gz", "manifest.json")
    ]
    assert not missing.exists()  # a configured directory is never created (an unmounted volume)


def test_backup_list_shows_an_unreadable_target_with_its_error_and_the_others(
    kube: KubeClient, tmp_path: Path, litemaas_db: str, litellm_db: str, aws: str
) -> None:
    directory = tmp_path / "nfs"
    directory.mkdir()
    dir_target = f"dir://{directory}"
    gone = f"s3://no-such-bucket-{uuid.uuid4().hex[:8]}/db"
    stored = backup_now(make_env(kube, tmp_path, litemaas_db, litellm_db, (dir_target,)))
    env = make_env(kube, tmp_path, litemaas_db, litellm_db, (gone, dir_target))

    [listed] = list(BackupListOperation().execute(env, BackupListArgs(), None))

    assert isinstance(listed, Result) and not listed.ok
    assert listed.summary == "1 backup in 2 targets, newest first; 1 target cannot be read"
    assert [s.title for s in listed.sections] == [gone, dir_target]
    assert listed.sections[0].fields == {
        "status": f"cannot be read: cannot read {gone}: NoSuchBucket: The specified bucket does not exist"
    }
    assert listed.sections[1].lines[0].startswith(stored.summary.split()[1] + " · ")
    assert newest_backup_time(env) is not None  # the readable target still answers
    only_gone = make_env(kube, tmp_path, litemaas_db, litellm_db, (gone,))
    with pytest.raises(OperationError, match=f"^cannot read {gone}: NoSuchBucket"):
        newest_backup_time(only_gone)  # nothing readable: unknown, not "no backup"


def test_s3_without_the_extra_says_how_to_install_it(
    kube: KubeClient, tmp_path: Path, litemaas_db: str, litellm_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "boto3", None)  # as on an install without the `s3` extra
    directory = tmp_path / "nfs"
    directory.mkdir()
    env = make_env(kube, tmp_path, litemaas_db, litellm_db, ("s3://some-bucket/db", f"dir://{directory}"))

    result = backup_now(env)

    expected = "S3 backups need the 's3' extra: pip install 'litemaas-chatops[s3]'"
    assert not result.ok
    assert section(result, "s3://some-bucket/db")["status"] == f"failed: {expected}"
    assert section(result, f"dir://{directory}")["status"] == "stored"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("s3://AKIA:hunter2@bucket/db", "backup target #1 has credentials in its URL"),
        ("dir://relative/path", "backup target #1 must name an absolute directory"),
        ("s3://x/db", "backup target #1 names no valid S3 bucket"),
        ("s3://bucket/a/../b", "backup target #1 has an invalid prefix"),
        ("ftp://host/backups", "backup target #1 must be dir:///abs/path or s3://bucket/prefix"),
        ("s3://bucket/db?region=eu", "backup target #1 must not have a query or fragment"),
    ],
)
def test_invalid_targets_refuse_the_backup_without_echoing_the_url(
    kube: KubeClient, tmp_path: Path, url: str, expected: str
) -> None:
    unused = f"postgresql://postgres@127.0.0.1:{DEAD_URL_PORT}/litemaas"  # refused before any dump
    env = make_env(kube, tmp_path, unused, unused, (url,))

    with pytest.raises(OperationError) as caught:
        BackupNowOperation().plan(env, BackupNowArgs())
    _progress, result = run(BackupNowOperation().execute(env, BackupNowArgs(), None))

    assert str(caught.value).startswith(expected)
    assert url not in str(caught.value) and "hunter2" not in str(caught.value)
    assert not result.ok and result.summary == f"Backup failed: {caught.value}"
    assert staged(env) == []  # refused before anything was dumped


def test_target_names_are_normalised() -> None:
    assert parse_target("s3://bucket-1//nightly/").name == "s3://bucket-1/nightly"
    assert parse_target("s3://bucket-1").name == "s3://bucket-1"
    assert parse_target("dir:///srv/backups/").name == "dir:///srv/backups"


def test_pre_upgrade_backups_in_the_staging_directory_follow_the_same_retention(
    kube: KubeClient, tmp_path: Path, litemaas_db: str, litellm_db: str
) -> None:
    directory = tmp_path / "nfs"
    directory.mkdir()
    env = make_env(kube, tmp_path, litemaas_db, litellm_db, (f"dir://{directory}",), keep=2)
    for _ in range(3):  # what `upgrade litellm` leaves in the staging directory before each upgrade
        run_backup(env)
    staging = tmp_path / "staging"
    kept_before = sorted(p.name for p in staging.iterdir() if (p / "manifest.json").exists())
    assert len(kept_before) == 3

    result = backup_now(env)

    assert result.ok, result.summary
    left = sorted(p.name for p in staging.iterdir() if (p / "manifest.json").exists())
    assert left == kept_before[1:], "the newest two stay, the oldest goes"
    assert len(list(directory.iterdir())) == 1
