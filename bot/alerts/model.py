"""What an alert is, whatever raised it (a watcher, a schedule, Alertmanager)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

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
    notes: tuple[str, ...] = ()  # the bot's own lines, e.g. the operation it followed (mentions allowed)
    labels: tuple[tuple[str, str], ...] = ()  # Alertmanager's group labels: what a silence there matches

    @property
    def alert_id(self) -> str:
        """The short id people type (`alerts ack 1a2b3c4d`)."""
        return alert_id(self.fingerprint)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Alert:
        """The alert as stored by `to_dict` (in the pipeline's Redis state)."""
        return cls(
            **{
                **data,
                "details": tuple(data.get("details") or ()),
                "actions": tuple(FollowUp(**a) for a in data.get("actions") or ()),
                "notes": tuple(data.get("notes") or ()),
                "labels": tuple((str(k), str(v)) for k, v in data.get("labels") or ()),
            }
        )

    def digest(self) -> str:
        """Changes whenever what the message shows changes (so the message is edited only then)."""
        body = json.dumps(asdict(self), sort_keys=True, default=str)
        return hashlib.sha256(body.encode()).hexdigest()[:16]


def alert_id(fingerprint: str) -> str:
    """An alert's short id: 8 hex digits of its fingerprint's hash."""
    return hashlib.sha256(fingerprint.encode()).hexdigest()[:8]
