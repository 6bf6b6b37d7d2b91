"""The target of operations: one LiteMaaS deployment (namespace, clients, component names).

Operations get everything from an `Environment` handed to them, never from module-level settings,
so several environments (dev / stage / prod) can be served by one bot later. What its commands share
instead of building per command (HTTP clients, the probes' threads) is the environment's
`ServiceClients`, closed with it.
"""

from __future__ import annotations

import ssl
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import httpx

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


PROBE_THREADS = 64  # upper bound; threads start only when every started one is busy (a hanging endpoint)


class ServiceClients:
    """One environment's long-lived HTTP clients, one per operated service URL (keep-alive, one SSL
    context for all), and the thread pool its probes run on. Built lazily, thread-safe; `close()` once
    at shutdown (the bot closes its environments). Requests give their own timeout and headers, so
    every caller (status probes, watchers, LiteLLM and backend clients) can share one client."""

    def __init__(self, *, probe_threads: int = PROBE_THREADS) -> None:
        self._lock = threading.Lock()
        self._clients: dict[str, httpx.Client] = {}
        self._ssl: ssl.SSLContext | None = None
        self._probe_threads = probe_threads
        self._executor: ThreadPoolExecutor | None = None
        self._closed = False

    def http(self, base_url: str) -> httpx.Client:
        """The client of the service at `base_url` (created on first use; the same one afterwards)."""
        key = base_url.rstrip("/")
        client = self._clients.get(key)
        if client is not None:
            return client
        with self._lock:
            if self._closed:
                raise RuntimeError("the environment's clients are closed")
            if key not in self._clients:
                if self._ssl is None:
                    self._ssl = httpx.create_ssl_context()
                self._clients[key] = httpx.Client(
                    base_url=key, verify=self._ssl, timeout=httpx.Timeout(10.0, connect=5.0)
                )
            return self._clients[key]

    @property
    def executor(self) -> ThreadPoolExecutor:
        """The pool health probes run on (commands.clients.health), shared by every status and watcher."""
        with self._lock:
            if self._closed:
                raise RuntimeError("the environment's clients are closed")
            if self._executor is None:
                self._executor = ThreadPoolExecutor(self._probe_threads, thread_name_prefix="probe")
            return self._executor

    def close(self) -> None:
        """Close every client and stop the probe threads (queued probes are cancelled); idempotent."""
        with self._lock:
            self._closed = True
            clients, self._clients = list(self._clients.values()), {}
            executor, self._executor = self._executor, None
        for client in clients:
            client.close()
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)


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
    litellm_master_key: str | None = None  # None: read from the `litellm-secret` Secret when needed
    backend_admin_key: str | None = None  # None: read from the `backend-secret` Secret when needed
    litellm_redis_url: str | None = None  # LiteLLM's own Redis (cache flush); None: not configured
    schedules: ScheduleBook | None = None  # the bot's schedules (the `schedules` commands); None: none
    services: ServiceClients = field(default_factory=ServiceClients, repr=False, compare=False)

    def component(self, name: str) -> Component:
        """The named component; raises KeyError for an unknown one (arguments are validated first)."""
        return self.components[name]

    def close(self) -> None:
        """Release what the environment's commands share (HTTP clients, probe threads)."""
        self.services.close()
