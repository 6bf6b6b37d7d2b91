"""The safety backup a restore takes before it changes anything: `backup now` without retention.

It is stored in every target like any backup, but retention is left to the next `backup now`: deleting
the oldest backup now could delete the very backup being restored. A target that fails keeps the local
copy (and says so); only a failed dump fails the step.
"""

from __future__ import annotations

from collections.abc import Generator

from commands.backup.distribute import already_there, discard_local_copy, ids_in
from commands.backup.manifest import BackupManifest
from commands.backup.run import iter_backup
from commands.backup.targets import configured_targets
from commands.contract import OperationError, Progress
from commands.environment import Environment


def safety_backup(env: Environment) -> Generator[Progress, None, tuple[BackupManifest, list[str], list[str]]]:
    """Back up every database and copy it to each target; (manifest, places stored in, problems).

    Raises OperationError when the backup itself fails (nothing of it is left then).
    """
    targets = configured_targets(env)
    manifest = yield from iter_backup(env, taken=ids_in(targets))
    stored: list[str] = []
    problems: list[str] = []
    for target in targets:
        if not already_there(target, manifest):
            yield Progress(f"Copying the safety backup {manifest.id} to {target.name}")
        try:
            target.store(manifest)
        except OperationError as exc:
            problems.append(str(exc))
            continue
        stored.append(target.name)
    local = any(already_there(t, manifest) for t in targets)
    if not local and not problems:
        discard_local_copy(manifest)
    elif not local:
        stored.append(str(manifest.directory))
        problems.append(f"the safety backup is kept in {manifest.directory} since a target failed")
    return manifest, stored, problems
