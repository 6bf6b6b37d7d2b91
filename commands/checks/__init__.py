"""Checks of the operated system's health, for the bot's watchers (they know nothing about Slack).

A check reads state and returns the problems it sees right now as `Finding`s; an empty list means
healthy. The watcher turns findings into alerts: a finding present on one pass and absent on the next
is resolved. Findings are grouped by what an operator acts on (20 crashing pods of one Deployment are
one finding), and their `key` is stable across passes so the alert is edited, not re-posted.
"""

from commands.checks.backups import backup_age_check
from commands.checks.deployments import deployments_check
from commands.checks.drift import drift_check
from commands.checks.finding import Check, Finding, Severity
from commands.checks.images import images_check
from commands.checks.litellm_redis import redis_check
from commands.checks.pods import pods_check
from commands.checks.readiness import readiness_check

__all__ = [
    "Check",
    "Finding",
    "Severity",
    "backup_age_check",
    "deployments_check",
    "drift_check",
    "images_check",
    "pods_check",
    "readiness_check",
    "redis_check",
]
