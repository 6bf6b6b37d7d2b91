"""The backup target — a directory — and the manifest that makes a backup directory a backup.

Layout: `<backup_dir>/<id>/<database>.sql.gz` plus `<backup_dir>/<id>/manifest.json`, written last
(temp file + rename), so a directory without a manifest is a backup in progress or a failed one and
is never listed. Ids are UTC timestamps (`20260618T020000Z`): sorting them sorts by time.
"""

from __future__ import annotations

import json
import os
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

MANIFEST_NAME = "manifest.json"
MANIFEST_VERSION = 1
ID_FORMAT = "%Y%m%dT%H%M%SZ"


@dataclass(frozen=True)
class BackupFile:
    """One dumped database: the gzip file, its size and sha256 (of the file on disk), server version."""

    database: str
    path: Path
    size: int
    sha256: str
    server_version: str


@dataclass(frozen=True)
class BackupManifest:
    """One complete backup; `path` is its manifest file."""

    id: str
    created_at: datetime
    files: tuple[BackupFile, ...]
    path: Path

    @property
    def directory(self) -> Path:
        return self.path.parent

    @property
    def total_size(self) -> int:
        return sum(f.size for f in self.files)


def human_size(size: int) -> str:
    """1536 → "1.5 KiB"; bytes below 1 KiB as is."""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{size} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def new_backup_directory(backup_dir: Path, now: datetime, taken: Collection[str] = ()) -> tuple[str, Path]:
    """Create and claim `<backup_dir>/<id>` for a backup started at `now` (UTC); suffix on a collision.

    `taken`: ids used elsewhere (in the backup targets), skipped too.
    """
    backup_dir.mkdir(parents=True, exist_ok=True)
    base = now.astimezone(UTC).strftime(ID_FORMAT)
    for attempt in range(100):
        backup_id = base if attempt == 0 else f"{base}-{attempt:02d}"
        if backup_id in taken:
            continue
        directory = backup_dir / backup_id
        try:
            directory.mkdir()
        except FileExistsError:
            continue
        return backup_id, directory
    raise OSError(f"cannot claim a backup directory for {base} in {backup_dir}")


def write_manifest(directory: Path, backup_id: str, created_at: datetime, files: list[BackupFile]) -> Path:
    """Write `manifest.json` atomically (temp file, fsync, rename) and return its path."""
    data = {
        "version": MANIFEST_VERSION,
        "id": backup_id,
        "created_at": created_at.astimezone(UTC).isoformat(),
        "files": [
            {
                "database": f.database,
                "filename": f.path.name,
                "size": f.size,
                "sha256": f.sha256,
                "server_version": f.server_version,
            }
            for f in files
        ],
    }
    final = directory / MANIFEST_NAME
    temporary = directory / f".{MANIFEST_NAME}.tmp"
    with temporary.open("w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=2)
        handle.write("\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, final)
    return final


def _file_entry(directory: Path, entry: Any) -> BackupFile:
    if not isinstance(entry, dict):
        raise ValueError("file entry is not an object")
    filename = str(entry["filename"])
    if not filename or Path(filename).name != filename or filename in {".", ".."}:
        raise ValueError("file name is not a plain name")
    size = entry["size"]
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise ValueError("size is not a count of bytes")
    return BackupFile(
        database=str(entry["database"]),
        path=directory / filename,
        size=size,
        sha256=str(entry["sha256"]),
        server_version=str(entry.get("server_version") or ""),
    )


def read_manifest(path: Path) -> BackupManifest:
    """Parse one manifest. Raises ValueError (or OSError) when it is unreadable or malformed."""
    return parse_manifest(path.read_text(encoding="utf-8"), path)


def parse_manifest(text: str, path: Path) -> BackupManifest:
    """Parse the text of a manifest stored at `path` (its files are beside it). Raises ValueError."""
    data = json.loads(text)
    if not isinstance(data, dict):
        raise ValueError("manifest is not an object")
    try:
        created_at = datetime.fromisoformat(str(data["created_at"]))
        files = tuple(_file_entry(path.parent, e) for e in data["files"])
        backup_id = str(data["id"])
    except (KeyError, TypeError) as exc:
        raise ValueError(f"manifest lacks a field: {exc}") from None
    if created_at.tzinfo is None:
        created_at = created_at.replace(tzinfo=UTC)
    return BackupManifest(id=backup_id, created_at=created_at, files=files, path=path)


def scan_backups(backup_dir: Path) -> tuple[list[BackupManifest], int]:
    """(complete backups newest first, number of manifests skipped because unreadable).

    Directories without a manifest (in progress, or failed) are neither listed nor counted.
    """
    if not backup_dir.is_dir():
        return [], 0
    manifests: list[BackupManifest] = []
    skipped = 0
    for child in backup_dir.iterdir():
        path = child / MANIFEST_NAME
        if not child.is_dir() or not path.exists():
            continue
        try:
            manifests.append(read_manifest(path))
        except (OSError, ValueError):  # json.JSONDecodeError is a ValueError
            skipped += 1
    manifests.sort(key=lambda m: (m.created_at, m.id), reverse=True)
    return manifests, skipped
