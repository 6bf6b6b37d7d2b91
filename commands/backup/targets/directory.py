"""A directory target (`dir:///path`): `<root>/<id>/<database>.sql.gz` and `<root>/<id>/manifest.json`.

A copy goes to a hidden `.<id>.incoming` directory first, is renamed to `<id>` and gets its manifest
last (temp file + rename): an interrupted or failed copy never shows up as a backup, and is removed.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import replace
from pathlib import Path

from commands.backup.manifest import (
    MANIFEST_NAME,
    BackupManifest,
    Verification,
    read_manifest,
    scan_backups,
    text_of,
    write_text_atomically,
)
from commands.backup.targets.base import BackupNotFound, StoredBackup, TargetListing
from commands.contract import OperationError

COPY_CHUNK = 1024 * 1024


def _copy(source: Path, destination: Path) -> None:
    """Copy one file to a new name, synced to disk before returning."""
    with source.open("rb") as reader, destination.open("xb") as writer:
        shutil.copyfileobj(reader, writer, COPY_CHUNK)
        writer.flush()
        os.fsync(writer.fileno())


def _sync_directory(directory: Path) -> None:
    """Make renames inside `directory` durable."""
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def plain_id(backup_id: str) -> str:
    """`backup_id` when it is a plain folder name; OperationError otherwise (nothing outside the target)."""
    if not backup_id or backup_id in {".", ".."} or "/" in backup_id or "\\" in backup_id:
        raise OperationError(f"{backup_id!r} is not a backup id")
    return backup_id


class DirectoryTarget:
    """Backups kept in a local or mounted directory.

    `create`: make the directory when it is missing (the local backup directory); a configured target
    must exist already, so that an unmounted volume is reported instead of silently filled.
    """

    def __init__(self, root: Path, *, create: bool = False) -> None:
        self.root = root
        self.create = create

    @property
    def name(self) -> str:
        return f"dir://{self.root.absolute()}"

    def is_home_of(self, manifest: BackupManifest) -> bool:
        """True when the backup of `manifest` already lives in this directory (nothing to copy)."""
        try:
            return manifest.directory.parent.resolve() == self.root.resolve()
        except OSError:
            return False

    def _check_root(self) -> bool:
        """True when the root exists (a missing one is made when `create`); OperationError when unusable."""
        if self.root.is_dir():
            return True
        if self.root.exists():
            raise OperationError(f"{self.name} is not a directory")
        if not self.create:
            raise OperationError(f"{self.name} does not exist (create it or mount its volume)")
        return False

    def store(self, manifest: BackupManifest) -> None:
        """Copy the backup's files, then its manifest; on failure remove whatever was copied."""
        if self.is_home_of(manifest):
            return
        backup_id = plain_id(manifest.directory.name)
        final = self.root / backup_id
        incoming = self.root / f".{backup_id}.incoming"
        claimed = False
        try:
            if not self._check_root():
                self.root.mkdir(parents=True, exist_ok=True)
            if (final / MANIFEST_NAME).exists():
                raise OperationError(f"backup {backup_id} already exists in {self.name}")
            shutil.rmtree(final, ignore_errors=True)  # no manifest: the leftover of an interrupted copy
            shutil.rmtree(incoming, ignore_errors=True)
            incoming.mkdir()
            for file in manifest.files:
                _copy(file.path, incoming / file.path.name)
            incoming.rename(final)
            claimed = True
            temporary = final / f".{MANIFEST_NAME}.tmp"
            _copy(manifest.path, temporary)
            temporary.replace(final / MANIFEST_NAME)
            _sync_directory(final)
            _sync_directory(self.root)
        except OSError as exc:
            self._discard(incoming, final if claimed else None)
            raise OperationError(
                f"copying backup {backup_id} to {self.name} failed: {exc.strerror or exc}"
            ) from None
        except BaseException:
            self._discard(incoming, final if claimed else None)
            raise

    @staticmethod
    def _discard(incoming: Path, final: Path | None) -> None:
        shutil.rmtree(incoming, ignore_errors=True)
        if final is not None:
            (final / MANIFEST_NAME).unlink(missing_ok=True)
            shutil.rmtree(final, ignore_errors=True)

    def list(self) -> TargetListing:
        """Complete backups (folders with a readable manifest), newest first."""
        try:
            if not self._check_root():
                return TargetListing(backups=())
            manifests, skipped = scan_backups(self.root)
        except OSError as exc:
            raise OperationError(f"cannot read {self.name}: {exc.strerror or exc}") from None
        return TargetListing(tuple(StoredBackup.of(m.directory.name, m) for m in manifests), skipped)

    def delete(self, backup_id: str) -> None:
        """Remove the manifest (the backup stops being complete), then the folder."""
        directory = self.root / plain_id(backup_id)
        try:
            (directory / MANIFEST_NAME).unlink(missing_ok=True)
            shutil.rmtree(directory)
        except FileNotFoundError:
            return
        except OSError as exc:
            raise OperationError(
                f"deleting backup {backup_id} from {self.name} failed: {exc.strerror or exc}"
            ) from None

    def manifest(self, backup_id: str) -> BackupManifest:
        """The manifest of `<root>/<id>`; BackupNotFound without one, OperationError when unreadable."""
        path = self.root / plain_id(backup_id) / MANIFEST_NAME
        if not path.is_file():
            raise BackupNotFound(f"no backup {backup_id} in {self.name}")
        try:
            return read_manifest(path)
        except OSError as exc:
            raise OperationError(
                f"cannot read the manifest of backup {backup_id} in {self.name}: {exc.strerror or exc}"
            ) from None
        except ValueError as exc:
            raise OperationError(
                f"the manifest of backup {backup_id} in {self.name} is malformed: {exc}"
            ) from None

    def fetch(self, backup_id: str, into: Path) -> BackupManifest:
        """The backup in place: its files are already readable here (`into` is not used)."""
        return self.manifest(backup_id)

    def record_verification(self, backup_id: str, verification: Verification) -> None:
        """Rewrite the manifest (temp file + rename) with `verification` as the last verify."""
        current = self.manifest(backup_id)
        try:
            write_text_atomically(current.path, text_of(replace(current, verification=verification)))
        except OSError as exc:
            raise OperationError(
                f"recording the verify of backup {backup_id} in {self.name} failed: {exc.strerror or exc}"
            ) from None
