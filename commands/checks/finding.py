"""What a check returns: `Finding`s (one problem each, with a stable key) and the `Check` type."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from commands.contract import FollowUp
from commands.environment import Environment

Severity = Literal["critical", "warning", "info"]


@dataclass(frozen=True)
class Finding:
    """One problem seen by a check: what, where, how bad, and the fixes to offer as buttons."""

    key: str  # stable identity within its check, e.g. "deployment/litellm"
    severity: Severity
    component: str  # litellm | backend | frontend | redis | postgresql | backup | drift | schedule …
    title: str  # one line, no secrets: shown as the alert's headline
    details: tuple[str, ...] = ()  # further lines (pod names, reasons, counts)
    actions: tuple[FollowUp, ...] = field(default=())  # e.g. Rollback, Logs; run as the clicker
    failed: bool = False  # Kubernetes calls it failed (deadline exceeded, image unpullable): alert sooner


Check = Callable[[Environment], list[Finding]]
"""A check: reads the environment, returns current findings; raises OperationError/KubeError when it
cannot look (the watcher reports that as its own finding)."""
