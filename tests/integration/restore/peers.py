"""What the restore tests look at and do: replicas, scale requests, the live databases, a restore run."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import psycopg

from commands.backup.manifest import BackupManifest
from commands.backup.restore.operation import BackupRestoreArgs, BackupRestoreOperation
from commands.contract import Plan, Progress, Result
from commands.environment import Environment
from sandbox.kube import KubeSandbox
from tests.conftest import PG_ADMIN_URL, DatabasePair
from tests.integration.backup_peers import (
    PASSWORD,
    database_oid,
    databases_named_after,
    rows_of,
    run,
)
from tests.integration.conftest import dbname_of
from tests.integration.cutting_proxy import CuttingProxy

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


def through_proxy(url: str, proxy: CuttingProxy) -> str:
    port = proxy.url.rsplit(":", 1)[1]
    return url.replace("@127.0.0.1:5432/", f"@127.0.0.1:{port}/")
