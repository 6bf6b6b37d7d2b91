"""Where backups are kept: a directory (`dir:///path`) or S3 (`s3://bucket/prefix`), each with retention."""

from commands.backup.targets.base import BackupTarget, StoredBackup, TargetListing
from commands.backup.targets.config import configured_targets, parse_target
from commands.backup.targets.directory import DirectoryTarget
from commands.backup.targets.s3 import S3Target

__all__ = [
    "BackupTarget",
    "DirectoryTarget",
    "S3Target",
    "StoredBackup",
    "TargetListing",
    "configured_targets",
    "parse_target",
]
