"""What an alert is, whatever raised it (a watcher, a schedule, Alertmanager)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Literal

from commands.contract import FollowUp

Severity = Literal["critical", "warning", "info"]


@dataclass(frozen=True)
class Alert:
    """One firing alert. `fingerprint` is its identity: same fingerprint → same Slack message, edited.

    `actions` become buttons; a button carries only an id, and a click runs `command` as the clicker,
    through the same permission and approval checks as a typed command.
    """

    fingerprint: str  # e.g. "watch:pods:deployment/litellm", "alertmanager:<groupKey digest>"
    severity: Severity
    component: str
    title: str
    details: tuple[str, ...] = ()
    actions: tuple[FollowUp, ...] = field(default=())
    source: str = "watcher"  # watcher name, "schedule" or "alertmanager": shown, and used by `report`
    environment: str | None = None  # the environment it concerns (None: the only one, or none)
    route: str | None = None  # the environment's own alert channel, before the automation file's routes

    def digest(self) -> str:
        """Changes whenever what the message shows changes (so the message is edited only then)."""
        body = json.dumps(asdict(self), sort_keys=True, default=str)
        return hashlib.sha256(body.encode()).hexdigest()[:16]
