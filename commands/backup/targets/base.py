"""What every backup target offers: store a finished local backup, list complete backups, delete one,
read one back (its manifest, its files) and record the outcome of its last verify in its manifest.

A backup is complete in a target only when its manifest is there: targets write the manifest last and
delete it first, so a half-written or half-deleted backup is never listed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol

from commands.backup.manifest import BackupManifest, Verification
from commands.contract import OperationError


class BackupNotFound(OperationError):
    """The target holds no complete backup of that id."""


@dataclass(frozen=True)
class StoredBackup:
    """One complete backup as a target holds it: its id (the target's folder name), time and files."""

    id: str
    created_at: datetime
    files: tuple[tuple[str, int], ...]  # (database, size in bytes), in manifest order
    verification: Verification | None = None  # the last `backup verify`, None: never verified

    @property
    def total_size(self) -> int:
        return sum(size for _database, size in self.files)

    @classmethod
    def of(cls, backup_id: str, manifest: BackupManifest) -> StoredBackup:
        """The summary of `manifest`, stored under `backup_id`."""
        return cls(
            backup_id,
            manifest.created_at,
            tuple((f.database, f.size) for f in manifest.files),
            manifest.verification,
        )


@dataclass(frozen=True)
class TargetListing:
    """The complete backups of a target, newest first, and how many manifests could not be read."""

    backups: tuple[StoredBackup, ...]
    skipped: int = 0


class BackupTarget(Protocol):
    """A place backups are kept. Methods raise OperationError with a plain reason (never a secret)."""

    @property
    def name(self) -> str:
        """How the target is shown: `dir:///path` or `s3://bucket/prefix`."""
        ...

    def store(self, manifest: BackupManifest) -> None:
        """Copy the finished local backup of `manifest`; on failure nothing of it stays in the target."""
        ...

    def list(self) -> TargetListing:
        """The complete backups, newest first."""
        ...

    def delete(self, backup_id: str) -> None:
        """Remove one backup, its manifest first."""
        ...

    def manifest(self, backup_id: str) -> BackupManifest:
        """The manifest of one complete backup; BackupNotFound when the target has none of that id."""
        ...

    def fetch(self, backup_id: str, into: Path) -> BackupManifest:
        """The backup with its files readable on this machine: in place, or downloaded under `into`."""
        ...

    def record_verification(self, backup_id: str, verification: Verification) -> None:
        """Store `verification` as the backup's last verify, in its manifest."""
        ...
