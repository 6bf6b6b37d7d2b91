"""The environment's backup targets, from `dir:///path` and `s3://bucket/prefix` URLs.

No target configured means the local backup directory, as before targets existed. A URL is never
echoed back when it is refused: it might carry a credential someone pasted into it.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

from commands.backup.targets.base import BackupTarget
from commands.backup.targets.directory import DirectoryTarget
from commands.backup.targets.s3 import S3Target
from commands.contract import OperationError
from commands.environment import Environment

_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


def parse_target(url: str, position: int = 1) -> BackupTarget:
    """The target named by `url`; OperationError naming the target's position when it is not valid."""
    where = f"backup target #{position}"
    parts = urlsplit(url.strip())
    if "@" in parts.netloc:
        raise OperationError(
            f"{where} has credentials in its URL: remove them (S3 credentials come from the AWS chain)"
        )
    if parts.query or parts.fragment:
        raise OperationError(f"{where} must not have a query or fragment")
    if parts.scheme == "dir":
        if parts.netloc or not parts.path.startswith("/"):
            raise OperationError(f"{where} must name an absolute directory: dir:///abs/path")
        return DirectoryTarget(Path(parts.path))
    if parts.scheme == "s3":
        if not _BUCKET_RE.match(parts.netloc):
            raise OperationError(f"{where} names no valid S3 bucket: s3://bucket/prefix")
        prefix = parts.path.strip("/")
        if "//" in prefix or any(segment in {".", ".."} for segment in prefix.split("/")):
            raise OperationError(f"{where} has an invalid prefix (empty, '.' or '..' segments)")
        return S3Target(parts.netloc, prefix)
    raise OperationError(f"{where} must be dir:///abs/path or s3://bucket/prefix")


def configured_targets(env: Environment) -> list[BackupTarget]:
    """The targets of `env` in configured order, each once; the local backup directory when none."""
    if not env.backup_targets:
        return [DirectoryTarget(env.backup_dir, create=True)]
    targets: list[BackupTarget] = []
    for position, url in enumerate(env.backup_targets, start=1):
        target = parse_target(url, position)
        if all(t.name != target.name for t in targets):
            targets.append(target)
    return targets
