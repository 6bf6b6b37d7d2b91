"""`backup now` (dump the databases to the backup directory) and `backup list` (what is there)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from commands.backup.databases import database_targets
from commands.backup.dump import pg_dump_path
from commands.backup.manifest import BackupManifest, human_size, scan_backups
from commands.backup.run import iter_backup
from commands.contract import Args, Change, Event, Operation, OperationError, Plan, Result, Section
from commands.environment import Environment

LOCK_TARGET = "backup"
LIST_LIMIT = 20  # sections shown by `backup list`; older backups are counted


class BackupNowArgs(Args):
    """`backup now` takes no arguments."""


class BackupListArgs(Args):
    """`backup list` takes no arguments."""


def _when(manifest: BackupManifest) -> str:
    return manifest.created_at.strftime("%Y-%m-%d %H:%M:%S UTC")


class BackupNowOperation(Operation[BackupNowArgs]):
    """Dump the LiteMaaS and LiteLLM databases (pg_dump through gzip) into the backup directory."""

    name = "backup now"
    args_model = BackupNowArgs
    usage = "backup now [--dry-run]"
    mutating = True
    default_role = "operator"
    default_approval = False

    def lock_target(self, env: Environment, args: BackupNowArgs) -> str | None:
        """One backup at a time."""
        return LOCK_TARGET

    def plan(self, env: Environment, args: BackupNowArgs) -> Plan:
        """Which databases go where; refuses when a URL is missing or pg_dump is not installed."""
        targets = database_targets(env)
        pg_dump_path()
        directory = Path(env.backup_dir)
        names = " and ".join(f"{t.name} ({t.where})" for t in targets)
        return Plan(
            summary=f"Dump {names} to {directory}/<new backup>/",
            target=LOCK_TARGET,
            changes=tuple(
                Change(f"database/{t.name}", "backup", "—", f"{directory}/<new backup>/{t.name}.sql.gz")
                for t in targets
            ),
            observed={"directory": str(directory), "databases": {t.name: t.where for t in targets}},
        )

    def execute(self, env: Environment, args: BackupNowArgs, plan: Plan | None) -> Iterator[Event]:
        """Yield Progress per database, then a Result with one section per dumped file."""
        steps = iter_backup(env)
        try:
            while True:
                try:
                    yield next(steps)
                except StopIteration as done:
                    manifest: BackupManifest = done.value
                    break
        except OperationError as exc:
            yield Result(ok=False, summary=f"Backup failed: {exc}")
            return
        finally:
            steps.close()  # when the run is abandoned, the backup's directory is removed at once
        sections = tuple(
            Section(
                title=f.database,
                fields={
                    "size": human_size(f.size),
                    "sha256": f.sha256[:16],
                    "server version": f.server_version,
                    "path": str(f.path),
                },
            )
            for f in manifest.files
        )
        databases = " and ".join(f.database for f in manifest.files)
        yield Result(
            ok=True,
            summary=f"Backup {manifest.id} done: {databases}, {human_size(manifest.total_size)} "
            f"in {manifest.directory}",
            sections=sections,
        )


class BackupListOperation(Operation[BackupListArgs]):
    """List the backups in the backup directory, newest first, with their files and sizes."""

    name = "backup list"
    args_model = BackupListArgs
    usage = "backup list"
    mutating = False
    default_role = "viewer"
    default_approval = False

    def execute(self, env: Environment, args: BackupListArgs, plan: Plan | None = None) -> Iterator[Event]:
        """One Result: a section per backup (time, files, total size); unreadable manifests as a warning."""
        directory = Path(env.backup_dir)
        try:
            manifests, skipped = scan_backups(directory)
        except OSError as exc:
            yield Result(
                ok=False, summary=f"Cannot read the backup directory {directory}: {exc.strerror or exc}"
            )
            return
        warnings = (
            (f"{skipped} unreadable backup manifest{'s' if skipped != 1 else ''} skipped",) if skipped else ()
        )
        if not manifests:
            yield Result(ok=True, summary=f"No backups in {directory} yet", warnings=warnings)
            return
        shown = manifests[:LIST_LIMIT]
        sections = tuple(
            Section(
                title=m.id,
                fields={
                    "time": _when(m),
                    "files": ", ".join(f"{f.database} ({human_size(f.size)})" for f in m.files) or "none",
                    "total size": human_size(m.total_size),
                },
            )
            for m in shown
        )
        count = len(manifests)
        summary = f"{count} backup{'s' if count != 1 else ''} in {directory}, newest first"
        if count > len(shown):
            summary += f" (showing the newest {len(shown)})"
        yield Result(ok=True, summary=summary, sections=sections, warnings=warnings)
