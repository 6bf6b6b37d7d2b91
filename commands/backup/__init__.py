"""`backup now` / `backup list`: pg_dump of the LiteMaaS and LiteLLM databases through gzip, with a manifest,
copied to each backup target (`dir:///path`, `s3://bucket/prefix`) with retention.

Public API for other parts: `run_backup(env, on_progress)` (local backup directory only, used by
`upgrade litellm`), `list_backups(env)` (the local directory), `newest_backup_time(env)` and
`last_verification(env)` (across the targets, for the alerts watcher), `database_urls(env)`,
`BackupManifest`, `BackupFile`. Operations: `backup now|list|verify|restore`.
"""

from commands.backup.listing import last_verification, list_targets, newest_backup_time
from commands.backup.manifest import BackupFile, BackupManifest
from commands.backup.operations import BackupListOperation, BackupNowOperation
from commands.backup.run import iter_backup, list_backups, run_backup
from commands.clients.databases import database_urls

__all__ = [
    "BackupFile",
    "BackupListOperation",
    "BackupManifest",
    "BackupNowOperation",
    "database_urls",
    "iter_backup",
    "last_verification",
    "list_backups",
    "list_targets",
    "newest_backup_time",
    "run_backup",
]
