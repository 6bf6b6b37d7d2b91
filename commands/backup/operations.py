"""`backup now` (dump, copy to each target, apply retention) and `backup list` (every target)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

from commands.backup.distribute import (
    already_there,
    apply_retention,
    discard_local_copy,
    ids_in,
    store_everywhere,
)
from commands.backup.dump import pg_dump_path
from commands.backup.listing import list_targets
from commands.backup.manifest import BackupManifest
from commands.backup.report import (
    backup_summary,
    contents_section,
    file_sections,
    outcome_section,
    plural,
)
from commands.backup.run import iter_backup
from commands.backup.targets import BackupTarget, DirectoryTarget, configured_targets
from commands.clients.databases import database_targets
from commands.contract import Args, Change, Event, Operation, OperationError, Plan, Result
from commands.environment import Environment
from commands.targets import BACKUP


class BackupNowArgs(Args):
    """`backup now` takes no arguments."""


class BackupListArgs(Args):
    """`backup list` takes no arguments."""


def _retention_changes(
    targets: Sequence[BackupTarget], keep: int
) -> tuple[list[Change], list[str], dict[str, int | str], int]:
    """(a change per target, risks, observed backup counts, old backups retention would delete)."""
    changes: list[Change] = []
    risks: list[str] = []
    observed: dict[str, int | str] = {}
    doomed_total = 0
    for target in targets:
        try:
            count = len(target.list().backups)
        except OperationError as exc:
            risks.append(f"{exc}; the copy will be tried anyway")
            changes.append(Change(target.name, "complete backups", "unreadable", "+1 new"))
            observed[target.name] = "unreadable"
            continue
        doomed = max(0, count + 1 - keep)
        doomed_total += doomed
        after = f"{count + 1 - doomed} (+1 new, {doomed} oldest deleted)"
        changes.append(Change(target.name, "complete backups", str(count), after))
        observed[target.name] = count
    return changes, risks, observed, doomed_total


class BackupNowOperation(Operation[BackupNowArgs]):
    """Dump the LiteMaaS and LiteLLM databases (pg_dump through gzip) and store them in each backup target."""

    name = "backup now"
    args_model = BackupNowArgs
    mutating = True
    default_role = "operator"
    default_approval = False

    def plan(self, env: Environment, args: BackupNowArgs) -> Plan:
        """Which databases, which targets, how many old backups retention deletes; refuses a bad setup."""
        databases = database_targets(env)
        pg_dump_path()
        targets = configured_targets(env)
        directory = Path(env.backup_dir)
        changes, risks, counts, doomed = _retention_changes(targets, env.backup_keep)
        names = " and ".join(f"{t.name} ({t.where})" for t in databases)
        summary = (
            f"Dump {names} to {directory}/<new backup>/, store it in {', '.join(t.name for t in targets)}; "
            f"keeping the newest {env.backup_keep} per target deletes {plural(doomed, 'old backup')}"
        )
        return Plan(
            summary=summary,
            target=BACKUP,
            changes=tuple(
                Change(f"database/{t.name}", "backup", "—", f"{directory}/<new backup>/{t.name}.sql.gz")
                for t in databases
            )
            + tuple(changes),
            risks=tuple(risks),
            observed={
                "directory": str(directory),
                "databases": {t.name: t.where for t in databases},
                "targets": counts,
                "keep": env.backup_keep,
            },
        )

    def execute(self, env: Environment, args: BackupNowArgs, plan: Plan | None) -> Iterator[Event]:
        """Yield Progress per database and per copy, then a Result with a section per file and per target."""
        try:
            targets = configured_targets(env)
        except OperationError as exc:
            yield Result(ok=False, summary=f"Backup failed: {exc}")
            return
        steps = iter_backup(env, taken=ids_in(targets))
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
        outcomes = yield from store_everywhere(manifest, targets, env.backup_keep)
        ok, summary = backup_summary(manifest, outcomes)
        local = any(already_there(t, manifest) for t in targets)
        warnings = [
            f"retention in {o.target} stopped: {o.retention_error}" for o in outcomes if o.retention_error
        ]
        if not local and ok:
            discard_local_copy(manifest)
        elif not local:
            warnings.append(f"the backup is kept in {manifest.directory} since a target failed")
        if not local:  # the staging directory keeps pre-upgrade backups and failed copies: the same rule
            staging = DirectoryTarget(Path(env.backup_dir))
            _, problem = apply_retention(staging, env.backup_keep, manifest.directory.name)
            if problem:
                warnings.append(f"retention in {staging.name} stopped: {problem}")
        yield Result(
            ok=ok,
            summary=summary,
            sections=file_sections(manifest, with_paths=local or not ok)
            + tuple(outcome_section(o, env.backup_keep) for o in outcomes),
            warnings=tuple(warnings),
        )


class BackupListOperation(Operation[BackupListArgs]):
    """List the complete backups of every backup target, newest first, with their sizes and databases."""

    name = "backup list"
    args_model = BackupListArgs
    mutating = False
    default_role = "viewer"
    default_approval = False

    def execute(self, env: Environment, args: BackupListArgs, plan: Plan | None = None) -> Iterator[Event]:
        """One Result: a section per target; a target that cannot be read shows its error (ok=False)."""
        try:
            contents = list_targets(env)
        except OperationError as exc:
            yield Result(ok=False, summary=f"Cannot list backups: {exc}")
            return
        total = sum(len(c.listing.backups) for c in contents if c.listing)
        unreadable = [c for c in contents if c.listing is None]
        where = contents[0].target if len(contents) == 1 else plural(len(contents), "target")
        summary = (
            f"{plural(total, 'backup')} in {where}, newest first" if total else f"No backups in {where} yet"
        )
        if unreadable:
            summary += f"; {plural(len(unreadable), 'target')} cannot be read"
        yield Result(
            ok=not unreadable, summary=summary, sections=tuple(contents_section(c) for c in contents)
        )
