"""The target of operations: one LiteMaaS deployment (namespace, clients, component names).

Operations get everything from an `Environment` handed to them, never from module-level settings,
so several environments (dev / stage / prod) can be served by one bot later.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from commands.clients.kube import KubeClient


@dataclass(frozen=True)
class ScheduleInfo:
    """One schedule as `schedules` shows it."""

    name: str
    cron: str
    command: str
    channel: str
    paused: bool
    next_run: datetime | None  # None while paused
    last_run: datetime | None
    last_outcome: str | None  # succeeded | failed | refused
    last_summary: str | None
    last_operation_id: str | None
    running: bool


class ScheduleBook(Protocol):
    """The bot's schedules, as operations may see and change them."""

    def schedules(self) -> list[ScheduleInfo]: ...

    def set_paused(self, name: str, paused: bool) -> ScheduleInfo: ...


@dataclass(frozen=True)
class Component:
    """An operated component: its Deployment, main container and same-image init containers."""

    name: str
    deployment: str
    container: str
    init_containers: tuple[str, ...] = ()


DEFAULT_COMPONENTS: dict[str, Component] = {
    c.name: c
    for c in (
        Component("litellm", "litellm", "litellm"),
        Component("backend", "litellm-backend", "backend", ("run-migrations",)),
        Component("frontend", "litellm-frontend", "frontend", ("copy-custom-logos",)),
        Component("redis", "litellm-redis", "redis"),
    )
}

DEFAULT_SCALE_BOUNDS: dict[str, tuple[int, int]] = {
    "litellm": (0, 10),
    "backend": (0, 3),
    "frontend": (0, 6),
    "redis": (0, 1),
}


@dataclass
class Environment:
    """Everything an operation may touch, for one deployment of LiteMaaS."""

    name: str
    namespace: str
    kube: KubeClient
    litellm_redis_ping: Callable[[], bool]  # True when LiteLLM's Redis answers PING
    components: dict[str, Component] = field(default_factory=lambda: dict(DEFAULT_COMPONENTS))
    scale_bounds: dict[str, tuple[int, int]] = field(default_factory=lambda: dict(DEFAULT_SCALE_BOUNDS))
    rollout_timeout: float = 600.0
    litellm_url: str = "http://litellm:4000"
    backend_url: str = "http://litellm-backend:8080"
    litemaas_database_url: str | None = None  # None: read from the `litemaas-db` Secret when needed
    litellm_database_url: str | None = None
    backup_dir: Path = Path("backups")
    backup_targets: tuple[str, ...] = ()  # "dir:///path" | "s3://bucket/prefix"; empty: backup_dir only
    backup_keep: int = 12  # newest N complete backups kept per target
    backup_verify_database_url: str | None = None  # scratch databases' server; None: each database's own
    litellm_master_key: str | None = None  # None: read from the `litellm-secret` Secret when needed
    backend_admin_key: str | None = None  # None: read from the `backend-secret` Secret when needed
    litellm_redis_url: str | None = None  # LiteLLM's own Redis (cache flush); None: not configured
    schedules: ScheduleBook | None = None  # the bot's schedules (the `schedules` commands); None: none

    def component(self, name: str) -> Component:
        """The named component; raises KeyError for an unknown one (arguments are validated first)."""
        return self.components[name]
