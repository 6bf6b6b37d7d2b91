"""Finding one backup among the places backups are kept, and writing its last verify back there.

The places are the configured targets in their order, then the local backup directory (where the
backup `upgrade litellm` takes before an upgrade stays), each once. A backup is read from the first
place that holds it; its verify outcome is recorded in every place that holds it.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from commands.backup.manifest import BackupManifest, Verification
from commands.backup.targets import BackupTarget, DirectoryTarget, configured_targets
from commands.backup.targets.base import BackupNotFound
from commands.contract import OperationError
from commands.environment import Environment

BACKUP_ID_RE = re.compile(r"^\d{8}T\d{6}Z(-\d{2})?$")
SHOWN_ID_LIMIT = 40


def checked_backup_id(value: str) -> str:
    """`value` when it has the shape of a backup id (`20260618T020000Z`); ValueError otherwise."""
    value = value.strip()
    if not BACKUP_ID_RE.match(value):
        shown = value[:SHOWN_ID_LIMIT]
        raise ValueError(f"{shown!r} is not a backup id (like 20260618T020000Z; `backup list` shows them)")
    return value


@dataclass(frozen=True)
class LocatedBackup:
    """A backup (its id: its folder in the place) and the place it is read from; `manifest` as stored."""

    id: str
    place: BackupTarget
    manifest: BackupManifest


def backup_places(env: Environment) -> list[BackupTarget]:
    """The configured targets, then the local backup directory when it is not one of them."""
    places = configured_targets(env)
    local = DirectoryTarget(Path(env.backup_dir))
    if all(place.name != local.name for place in places):
        places.append(local)
    return places


def _newest_id(places: list[BackupTarget]) -> str:
    newest: tuple[datetime, str] | None = None
    errors: list[str] = []
    for place in places:
        try:
            backups = place.list().backups
        except OperationError as exc:
            errors.append(str(exc))
            continue
        if backups and (newest is None or (backups[0].created_at, backups[0].id) > newest):
            newest = (backups[0].created_at, backups[0].id)
    if newest is None:
        where = ", ".join(p.name for p in places)
        raise OperationError(f"no backup in {where}" + (f" ({'; '.join(errors)})" if errors else ""))
    return newest[1]


def locate_backup(env: Environment, backup_id: str | None) -> LocatedBackup:
    """The backup `backup_id` (None: the newest anywhere) from the first place holding it.

    Raises OperationError saying where it was looked for, and why a place could not be read.
    """
    places = backup_places(env)
    wanted = backup_id or _newest_id(places)
    problems: list[str] = []
    for place in places:
        try:
            return LocatedBackup(wanted, place, place.manifest(wanted))
        except BackupNotFound:
            continue
        except OperationError as exc:
            problems.append(str(exc))
    where = ", ".join(p.name for p in places)
    unreadable = f"; {'; '.join(problems)}" if problems else ""
    raise OperationError(f"no backup {wanted} in {where}{unreadable} (`backup list` shows the backups)")


def record_everywhere(
    env: Environment, backup_id: str, verification: Verification
) -> tuple[list[str], list[str]]:
    """Record `verification` in every place holding the backup: (places recorded in, problems)."""
    recorded: list[str] = []
    problems: list[str] = []
    for place in backup_places(env):
        try:
            place.record_verification(backup_id, verification)
        except BackupNotFound:
            continue
        except OperationError as exc:
            problems.append(str(exc))
            continue
        recorded.append(place.name)
    return recorded, problems


@contextmanager
def local_copy(env: Environment, located: LocatedBackup) -> Iterator[BackupManifest]:
    """The backup with its files readable here: in place for a directory, else downloaded into a
    temporary folder of the local backup directory, removed on the way out. Raises OperationError."""
    if isinstance(located.place, DirectoryTarget):
        yield located.place.fetch(located.id, located.place.root)
        return
    staging = Path(env.backup_dir)
    try:
        staging.mkdir(parents=True, exist_ok=True)
        folder = tempfile.TemporaryDirectory(prefix=".fetch-", dir=staging)
    except OSError as exc:
        raise OperationError(f"cannot make a download folder in {staging}: {exc.strerror or exc}") from None
    with folder as path:
        yield located.place.fetch(located.id, Path(path))
