"""Reading every target at once: `backup list` and the alerts watcher's questions (the newest backup,
the last verify)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from commands.backup.manifest import Verification
from commands.backup.targets import TargetListing, configured_targets
from commands.contract import OperationError
from commands.environment import Environment


@dataclass(frozen=True)
class TargetContents:
    """One target's complete backups, or why it could not be read."""

    target: str
    listing: TargetListing | None
    error: str | None = None


def list_targets(env: Environment) -> list[TargetContents]:
    """Each configured target with its backups (newest first) or its error; one failing spares the others.

    Raises OperationError only when the target configuration itself is invalid.
    """
    contents: list[TargetContents] = []
    for target in configured_targets(env):
        try:
            contents.append(TargetContents(target.name, target.list()))
        except OperationError as exc:
            contents.append(TargetContents(target.name, None, str(exc)))
    return contents


def last_verification(env: Environment) -> tuple[str, Verification] | None:
    """(backup id, its verify) of the most recent verify of any backup in any readable target; None
    when no backup was ever verified. OperationError only when the target configuration is invalid."""
    found: tuple[str, Verification] | None = None
    for contents in list_targets(env):
        for backup in contents.listing.backups if contents.listing else ():
            verification = backup.verification
            if verification is not None and (found is None or verification.at > found[1].at):
                found = (backup.id, verification)
    return found


def newest_backup_time(env: Environment) -> datetime | None:
    """When the newest complete backup in any target was made; None when the targets hold none.

    Unreadable targets are passed over (their backups are not known to exist); OperationError when
    no target can be read at all, or the target configuration is invalid.
    """
    contents = list_targets(env)
    readable = [c.listing for c in contents if c.listing is not None]
    if not readable:
        raise OperationError("; ".join(c.error or c.target for c in contents))
    return max((listing.backups[0].created_at for listing in readable if listing.backups), default=None)
