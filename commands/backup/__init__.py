"""`backup now` / `backup list`: pg_dump of the LiteMaaS and LiteLLM databases through gzip, with a manifest.

Public API for other operations (e.g. `upgrade litellm` backs up before changing the image):
`run_backup(env, on_progress)`, `list_backups(env)`, `database_urls(env)`, `BackupManifest`, `BackupFile`.
"""

from commands.backup.databases import database_urls
from commands.backup.manifest import BackupFile, BackupManifest
from commands.backup.operations import BackupListOperation, BackupNowOperation
from commands.backup.run import iter_backup, list_backups, run_backup

__all__ = [
    "BackupFile",
    "BackupListOperation",
    "BackupManifest",
    "BackupNowOperation",
    "database_urls",
    "iter_backup",
    "list_backups",
    "run_backup",
]
