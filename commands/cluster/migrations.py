"""LiteLLM's migration log read honestly: which lines report a failed migration, and whether the log
shows a recovery after the last failure.

LiteLLM runs `prisma migrate deploy` at start-up (litellm-proxy-extras' `ProxyExtrasDBManager`). Its
failure forms: Prisma's `P3009` (failed migrations found in the database), `P3018` (a migration failed
to apply), `P3006`; the manager's own `❌ Migration <name> failed …` and `Migration failed due to …
Migration <name> was NOT applied`; Prisma's "The `<name>` migration started at … failed". A later
"resolved"/"successfully applied" line (the manager resolves idempotent `P3018`s and retries after a
`P3009`) means the failure was recovered from.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MIGRATION_LINE = re.compile(r"migrat|prisma|\bP30\d\d\b", re.IGNORECASE)
FAILURE_LINE = re.compile(
    r"❌\s*Migration\b.*\bfail"  # the manager's own report (any case: "FAILED", "failed")
    r"|\bP30(?:06|09|18)\b"  # Prisma: failed migration found / failed to apply / shadow database
    r"|migration failed due to"
    r"|\bwas NOT applied\b"
    r"|\bmigration\b.*\bstarted at\b.*\bfailed\b"
    r"|\bmigration\b.*\bfailed\b",
    re.IGNORECASE,
)
RECOVERY_LINE = re.compile(
    r"All migrations have been successfully applied|✅ Migration resolved|✅ All migrations resolved"
    r"|No pending migrations to apply",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class MigrationVerdict:
    """The migration lines of one log, those reporting failures, and whether the run ended failed."""

    lines: tuple[str, ...]
    failures: tuple[str, ...]
    recovered: bool

    @property
    def failed(self) -> bool:
        return bool(self.failures) and not self.recovered


def read_migrations(text: str) -> MigrationVerdict:
    """The verdict on a LiteLLM start-up log (lines as printed, unscrubbed: callers scrub)."""
    lines: list[str] = []
    failures: list[str] = []
    recovered = False
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        if FAILURE_LINE.search(line):
            failures.append(line)
            lines.append(line)
            recovered = False
        elif RECOVERY_LINE.search(line):
            recovered = bool(failures)
            lines.append(line)
        elif MIGRATION_LINE.search(line):
            lines.append(line)
    return MigrationVerdict(tuple(lines), tuple(failures), recovered)
