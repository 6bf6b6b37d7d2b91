"""`backup restore` under real faults: a damaged file, a backup directory that cannot be made, a sandbox
that refuses to scale, a dump psql rejects, rows missing from a dump, a proxy that cuts the load or the
whole server away, a name taken at the moment of the swap, a run abandoned mid-way. Before the swap,
each leaves the live database and the writers' replicas as they were and says where it stopped.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from commands.backup import run_backup
from commands.backup.restore.operation import BackupRestoreArgs, BackupRestoreOperation
from commands.contract import Progress
from commands.environment import Environment
from sandbox.kube import KubeSandbox
from tests.conftest import PG_ADMIN_URL, DatabasePair
from tests.integration.backup_peers import (
    SAFE_TABLE,
    database_oid,
    databases_named_after,
    flip_a_byte,
    rewrite_dump,
    rows_of,
    run,
    with_password,
    without_first_row,
)
from tests.integration.cutting_proxy import CuttingProxy
from tests.integration.restore.peers import (
    assert_untouched,
    change_live_data,
    live_names,
    live_state,
    replicas,
    restore,
    scale_writes,
    through_proxy,
)

# each restore: a backup, a safety backup, loads, rollouts. The faults run on two databases (the layout
# with more to undo); test_restore.py runs both layouts.
pytestmark = [pytest.mark.slow, pytest.mark.parametrize("seeded", ["separate"], indirect=True)]


# -- failures before the swap: the live database untouched, the replicas as they were -----------------


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


def test_a_run_abandoned_mid_restore_cleans_up_on_its_way_out(
    sb: KubeSandbox, env: Environment, seeded: DatabasePair
) -> None:
    """The bot stops (shutdown, a cancelled job): the generator is closed while it loads a dump."""
    manifest = run_backup(env)
    before = live_state(seeded)
    op = BackupRestoreOperation()
    args = BackupRestoreArgs(backup_id=manifest.id)
    events = op.execute(env, args, op.plan(env, args))
    assert isinstance(events, Generator)
    for event in events:
        if isinstance(event, Progress) and event.text.startswith("Restoring "):
            break
    assert any(
        n.endswith(f"_restore_{manifest.id.lower()}") for name in before for n in databases_named_after(name)
    )

    events.close()

    for name, (oid, rows) in before.items():
        assert (database_oid(name), rows_of(f"{PG_ADMIN_URL.rpartition('/')[0]}/{name}")) == (oid, rows)
        assert databases_named_after(name) == []
    assert replicas(sb) == {"litellm-backend": 1, "litellm": 2}  # scaled back, not waited for
