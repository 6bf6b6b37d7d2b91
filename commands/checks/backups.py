"""The "backups" check: the newest successful backup is older than allowed, or there is none; and the
last `backup verify` failed (a scheduled verify that fails also alerts as a failed job)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from commands.backup import last_verification, newest_backup_time
from commands.backup.manifest import Verification
from commands.backup.report import duration_text
from commands.checks.finding import Check, Finding
from commands.contract import FollowUp, OperationError
from commands.environment import Environment

NewestBackup = Callable[[Environment], datetime | None]
LastVerification = Callable[[Environment], tuple[str, Verification] | None]
BACK_UP_NOW = FollowUp("Back up now", "backup now")


def backup_age_check(
    max_age: timedelta,
    newest: NewestBackup = newest_backup_time,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> Check:
    """A check warning when the newest successful backup (`newest(env)`) is older than `max_age`."""
    if max_age <= timedelta(0):
        raise ValueError("the maximum backup age must be positive")

    def check(env: Environment) -> list[Finding]:
        try:
            created = newest(env)
        except OSError as exc:
            raise OperationError(f"cannot read the backups: {exc.strerror or type(exc).__name__}") from None
        if created is None:
            title, details = (
                "No successful backup found",
                (f"expected one at least every {duration_text(max_age)}",),
            )
        else:
            created = created if created.tzinfo is not None else created.replace(tzinfo=UTC)
            age = now() - created
            if age <= max_age:
                return []
            title = f"The newest backup is {duration_text(age)} old (allowed: {duration_text(max_age)})"
            details = (f"newest backup: {created.astimezone(UTC):%Y-%m-%d %H:%M} UTC",)
        return [
            Finding(
                key="backups/age",
                severity="warning",
                component="backup",
                title=title,
                details=details,
                actions=(BACK_UP_NOW,),
            )
        ]

    return check


def backup_verify_check(last: LastVerification = last_verification) -> Check:
    """A check warning while the most recent verify of any backup failed; a later good verify (of that
    backup or a newer one) resolves it."""

    def check(env: Environment) -> list[Finding]:
        found = last(env)
        if found is None or found[1].ok:
            return []
        backup_id, verification = found
        reason = verification.summary.split(" failed verify: ", 1)[-1]
        return [
            Finding(
                key="backups/verify",
                severity="warning",
                component="backup",
                title=f"Backup {backup_id} failed its verify: {reason}",
                details=(
                    f"verified {verification.at.astimezone(UTC):%Y-%m-%d %H:%M} UTC",
                    *verification.databases,
                ),
                actions=(FollowUp("Verify again", f"backup verify {backup_id}"), BACK_UP_NOW),
            )
        ]

    return check


def backups_check(max_age: timedelta, newest: NewestBackup, last: LastVerification) -> Check:
    """The age check and the verify check as one watcher."""
    age, verify = backup_age_check(max_age, newest), backup_verify_check(last)

    def check(env: Environment) -> list[Finding]:
        return age(env) + verify(env)

    return check
