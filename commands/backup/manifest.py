"""The backup target — a directory — and the manifest that makes a backup directory a backup.

Layout: `<backup_dir>/<id>/<database>.sql.gz` plus `<backup_dir>/<id>/manifest.json`, written last
(temp file + rename), so a directory without a manifest is a backup in progress or a failed one and
is never listed. Ids are UTC timestamps (`20260618T020000Z`): sorting them sorts by time.

Version 2 of the manifest adds, per database, the census taken in the dump's own snapshot (each
table's rows, columns and constraints) and, per backup, the outcome of its last `backup verify`.
Version 1 manifests are still read (no census: a verify then only proves that the dump restores).
"""

from __future__ import annotations

import json
import os
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from commands.backup.census import TableCensus

MANIFEST_NAME = "manifest.json"
MANIFEST_VERSION = 2
ID_FORMAT = "%Y%m%dT%H%M%SZ"


@dataclass(frozen=True)
class BackupFile:
    """One dumped database: the gzip file, its size and sha256 (of the file on disk), server version,
    and the census taken in the dump's snapshot (None: an older backup that has none)."""

    database: str
    path: Path
    size: int
    sha256: str
    server_version: str
    tables: tuple[TableCensus, ...] | None = None


@dataclass(frozen=True)
class Verification:
    """The last `backup verify` of a backup: when, whether it passed, its summary and a line per database."""

    at: datetime
    ok: bool
    summary: str
    databases: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "at": self.at.astimezone(UTC).isoformat(),
            "ok": self.ok,
            "summary": self.summary,
            "databases": list(self.databases),
        }

    @classmethod
    def from_json(cls, data: Any) -> Verification | None:
        """The record, or None when `data` is absent or not one (a bad record never hides a backup)."""
        if not isinstance(data, dict):
            return None
        try:
            at = datetime.fromisoformat(str(data["at"]))
        except (KeyError, ValueError):
            return None
        return cls(
            at=at if at.tzinfo is not None else at.replace(tzinfo=UTC),
            ok=data.get("ok") is True,
            summary=str(data.get("summary") or ""),
            databases=tuple(str(d) for d in data.get("databases") or ()),
        )


@dataclass(frozen=True)
class BackupManifest:
    """One complete backup; `path` is its manifest file."""

    id: str
    created_at: datetime
    files: tuple[BackupFile, ...]
    path: Path
    verification: Verification | None = None

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


def manifest_text(
    backup_id: str,
    created_at: datetime,
    files: Sequence[BackupFile],
    verification: Verification | None = None,
) -> str:
    """The manifest as stored (JSON, version MANIFEST_VERSION)."""
    data: dict[str, Any] = {
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
                **({"tables": [t.to_json() for t in f.tables]} if f.tables is not None else {}),
            }
            for f in files
        ],
    }
    if verification is not None:
        data["verification"] = verification.to_json()
    return json.dumps(data, indent=2) + "\n"


def text_of(manifest: BackupManifest) -> str:
    """The stored text of `manifest` (e.g. after a new verification was recorded in it)."""
    return manifest_text(manifest.id, manifest.created_at, manifest.files, manifest.verification)


def write_text_atomically(path: Path, text: str) -> None:
    """Write `path` through a temp file beside it, fsync and rename: readers see the old or the new."""
    temporary = path.parent / f".{path.name}.tmp"
    with temporary.open("w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


def write_manifest(
    directory: Path, backup_id: str, created_at: datetime, files: Sequence[BackupFile]
) -> Path:
    """Write `manifest.json` atomically (temp file, fsync, rename) and return its path."""
    final = directory / MANIFEST_NAME
    write_text_atomically(final, manifest_text(backup_id, created_at, files))
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
    tables = entry.get("tables")
    if tables is not None and not isinstance(tables, list):
        raise ValueError("tables is not a list")
    return BackupFile(
        database=str(entry["database"]),
        path=directory / filename,
        size=size,
        sha256=str(entry["sha256"]),
        server_version=str(entry.get("server_version") or ""),
        tables=None if tables is None else tuple(TableCensus.from_json(t) for t in tables),
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
    return BackupManifest(
        id=backup_id,
        created_at=created_at,
        files=files,
        path=path,
        verification=Verification.from_json(data.get("verification")),
    )


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
