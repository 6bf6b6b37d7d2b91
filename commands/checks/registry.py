"""The watchers' checks by name (the names `bot/automation.py` configures), built from their settings."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta

from commands.backup import last_verification, newest_backup_time
from commands.checks.backups import LastVerification, NewestBackup, backups_check
from commands.checks.deployments import deployments_check
from commands.checks.drift import drift_check
from commands.checks.finding import Check
from commands.checks.images import images_check
from commands.checks.litellm_redis import redis_check
from commands.checks.pods import pods_check
from commands.checks.readiness import readiness_check

DEFAULT_BACKUP_MAX_AGE = timedelta(days=32)  # the default backup schedule is monthly, plus a day


@dataclass(frozen=True)
class CheckSettings:
    """What the configurable checks need: drift thresholds by kind, the backup age allowed and where
    the newest backup's time and the last verify come from."""

    drift_thresholds: Mapping[str, int] = field(default_factory=lambda: {"default": 0})
    backup_max_age: timedelta = DEFAULT_BACKUP_MAX_AGE
    newest_backup: NewestBackup = newest_backup_time
    last_verification: LastVerification = last_verification


CheckFactory = Callable[[CheckSettings], Check]

CHECKS: dict[str, CheckFactory] = {
    "deployments": lambda _settings: deployments_check,
    "pods": lambda _settings: pods_check,
    "readiness": lambda _settings: readiness_check,
    "redis": lambda _settings: redis_check,
    "images": lambda _settings: images_check,
    "drift": lambda settings: drift_check(settings.drift_thresholds),
    "backups": lambda settings: backups_check(
        settings.backup_max_age, settings.newest_backup, settings.last_verification
    ),
}


def build_checks(settings: CheckSettings | None = None) -> dict[str, Check]:
    """Every check by name, configured by `settings` (the defaults when None)."""
    chosen = settings or CheckSettings()
    return {name: make(chosen) for name, make in CHECKS.items()}
