"""After a local backup is written: a copy in each target, then retention in each target that got one.

A target that fails does not stop the others. Retention runs only where the new backup was stored, keeps
the newest `keep` complete backups and never deletes the one just stored.
"""

from __future__ import annotations

import shutil
from collections.abc import Generator, Sequence
from dataclasses import dataclass

from commands.backup.manifest import BackupManifest
from commands.backup.targets import BackupTarget, DirectoryTarget
from commands.contract import OperationError, Progress


@dataclass(frozen=True)
class TargetOutcome:
    """What happened in one target: stored or why not, and how many old backups retention deleted."""

    target: str
    error: str | None = None  # why the copy failed; None: stored
    deleted: int = 0
    retention_error: str | None = None

    @property
    def stored(self) -> bool:
        return self.error is None


def already_there(target: BackupTarget, manifest: BackupManifest) -> bool:
    """True when the local backup already lives in `target` (the local backup directory)."""
    return isinstance(target, DirectoryTarget) and target.is_home_of(manifest)


def discard_local_copy(manifest: BackupManifest) -> None:
    """Remove the staged backup (manifest first, so it is never listed half-removed)."""
    manifest.path.unlink(missing_ok=True)
    shutil.rmtree(manifest.directory, ignore_errors=True)


def ids_in(targets: Sequence[BackupTarget]) -> set[str]:
    """The backup ids the targets hold (an unreadable target adds none: its copy will fail and say why)."""
    ids: set[str] = set()
    for target in targets:
        try:
            ids.update(b.id for b in target.list().backups)
        except OperationError:
            continue
    return ids


def apply_retention(target: BackupTarget, keep: int, protect: str) -> tuple[int, str | None]:
    """Delete complete backups beyond the newest `keep`, never `protect`; (deleted, error or None)."""
    deleted = 0
    try:
        for backup in target.list().backups[keep:]:
            if backup.id != protect:
                target.delete(backup.id)
                deleted += 1
    except OperationError as exc:
        return deleted, str(exc)
    return deleted, None


def store_everywhere(
    manifest: BackupManifest, targets: Sequence[BackupTarget], keep: int
) -> Generator[Progress, None, list[TargetOutcome]]:
    """Copy the backup to each target in turn (yielding Progress per copy), then apply retention there."""
    outcomes: list[TargetOutcome] = []
    for target in targets:
        if not already_there(target, manifest):
            yield Progress(f"Copying backup {manifest.id} to {target.name}")
        try:
            target.store(manifest)
        except OperationError as exc:
            outcomes.append(TargetOutcome(target.name, error=str(exc)))
            continue
        deleted, problem = apply_retention(target, keep, manifest.directory.name)
        outcomes.append(TargetOutcome(target.name, deleted=deleted, retention_error=problem))
    return outcomes
