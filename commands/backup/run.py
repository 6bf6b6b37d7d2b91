"""A whole backup: every database of the environment dumped into a new directory, then the manifest.

Each database is dumped as of a snapshot exported by a transaction that, once pg_dump is done, counts
every table in that same snapshot: the manifest records what the dump holds. `iter_backup` yields
Progress as it goes and returns the manifest (operations yield the progress);
`run_backup` is the same with a callback, for callers such as `upgrade litellm`: it writes to the local
backup directory only (`backup now` then copies to the configured targets). Each dump is verified
(size, sha256, whole gzip stream) before the manifest is written. A failed backup removes its own
directory: nothing of it remains, under a final name or otherwise.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Collection, Generator
from datetime import UTC, datetime
from pathlib import Path

from commands.backup.census import total_rows
from commands.backup.dump import DEFAULT_DUMP_TIMEOUT, dump_database, pg_dump_path
from commands.backup.manifest import (
    BackupFile,
    BackupManifest,
    human_size,
    new_backup_directory,
    scan_backups,
    write_manifest,
)
from commands.backup.snapshot import exported_snapshot
from commands.backup.verify import verify_file
from commands.clients.databases import database_targets
from commands.contract import OperationError, Progress
from commands.environment import Environment


def iter_backup(
    env: Environment, timeout: float = DEFAULT_DUMP_TIMEOUT, taken: Collection[str] = ()
) -> Generator[Progress, None, BackupManifest]:
    """Dump and verify each database into `<backup_dir>/<id>/`, yielding Progress; returns the manifest.

    `taken`: backup ids already used in the targets, never given to the new backup.

    Raises OperationError on any failure, after removing the backup's directory.
    """
    targets = database_targets(env)
    executable = pg_dump_path()
    created_at = datetime.now(UTC)
    try:
        backup_id, directory = new_backup_directory(env.backup_dir, created_at, taken)
    except OSError as exc:
        raise OperationError(
            f"cannot create a backup directory in {env.backup_dir}: {exc.strerror or exc}"
        ) from None

    total = len(targets)
    files: list[BackupFile] = []
    try:
        for index, target in enumerate(targets):
            yield Progress(f"Dumping the {target.name} database ({target.where})", done=index, total=total)
            started = time.monotonic()
            with exported_snapshot(target) as snapshot:
                outcome = dump_database(
                    target, directory, timeout=timeout, executable=executable, snapshot=snapshot.snapshot
                )
                tables = snapshot.census(timeout - (time.monotonic() - started))
            files.append(
                BackupFile(
                    target.name, outcome.path, outcome.size, outcome.sha256, snapshot.server_version, tables
                )
            )
            yield Progress(
                f"Dumped the {target.name} database: {human_size(outcome.size)}, "
                f"{len(tables)} tables, {total_rows(tables):,} rows",
                done=index + 1,
                total=total,
            )
        for file in files:
            verify_file(file)
        try:
            manifest_path = write_manifest(directory, backup_id, created_at, files)
        except OSError as exc:
            raise OperationError(
                f"writing the backup manifest in {directory} failed: {exc.strerror or exc}"
            ) from None
    except BaseException:
        shutil.rmtree(directory, ignore_errors=True)
        raise
    return BackupManifest(id=backup_id, created_at=created_at, files=tuple(files), path=manifest_path)


def run_backup(
    env: Environment,
    on_progress: Callable[[Progress], None] | None = None,
    timeout: float = DEFAULT_DUMP_TIMEOUT,
) -> BackupManifest:
    """Back up every database of `env` (see `iter_backup`); raises OperationError on any failure."""
    steps = iter_backup(env, timeout)
    while True:
        try:
            progress = next(steps)
        except StopIteration as done:
            manifest: BackupManifest = done.value
            return manifest
        if on_progress is not None:
            on_progress(progress)


def list_backups(env: Environment) -> list[BackupManifest]:
    """Complete backups in `env.backup_dir`, newest first; unreadable manifests are skipped."""
    manifests, _skipped = scan_backups(Path(env.backup_dir))
    return manifests
