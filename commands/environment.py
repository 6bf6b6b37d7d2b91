"""The target of operations: one LiteMaaS deployment (namespace, clients, component names).

Operations get everything from an `Environment` handed to them, never from module-level settings,
so several environments (dev / stage / prod) can be served by one bot later. What its commands share
instead of building per command (HTTP clients, the probes' threads) is the environment's
`ServiceClients`, closed with it.
"""

from __future__ import annotations

import difflib
import ssl
import threading
from collections.abc import Callable, Collection
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import httpx
from pydantic import AfterValidator, ValidationInfo

from commands.contract import OperationError
from commands.text import shown

if TYPE_CHECKING:
    from commands.bot_state import AlertBook, BotState, ScheduleBook
    from commands.clients.kube import KubeClient
    from commands.clients.oci.catalogue import ImageRegistry


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

ALL = "all"  # `upgrade all`, `restart all`: every component the command covers, in its order


def known_components(context: Any) -> list[str] | None:
    """The component names a validation context carries (`{"components": [...]}`), or None."""
    if isinstance(context, dict) and context.get("components") is not None:
        return [str(c) for c in context["components"]]
    return None


def _component_name(value: str, info: ValidationInfo, *, allow_all: bool) -> str:
    value = value.strip().lower()
    known = known_components(info.context)
    if known is not None:
        choices = [*known, ALL] if allow_all else known
        if value not in choices:
            close = difflib.get_close_matches(value, choices, n=1)
            hint = f"; did you mean `{close[0]}`?" if close else ""
            raise ValueError(
                f"unknown component `{shown(value)}` (choose one of: {', '.join(choices)}){hint}"
            )
    return value


def _one(value: str, info: ValidationInfo) -> str:
    return _component_name(value, info, allow_all=False)


def _one_or_all(value: str, info: ValidationInfo) -> str:
    return _component_name(value, info, allow_all=True)


ComponentName = Annotated[str, AfterValidator(_one)]
"""An argument naming one component of the environment (validated against the context's names)."""
ComponentOrAll = Annotated[str, AfterValidator(_one_or_all)]
"""An argument naming one component, or `all`."""

DEFAULT_SCALE_BOUNDS: dict[str, tuple[int, int]] = {
    "litellm": (0, 10),
    "backend": (0, 3),
    "frontend": (0, 6),
    "redis": (0, 1),
}


@dataclass(frozen=True)
class FailFast:
    """When following a rollout stops before the progress deadline, on what new pods show."""

    enabled: bool = True
    restarts: int = 3  # CrashLoopBackOff once a container restarted this many times
    # 1: at the first ErrImagePull; 2: at ImagePullBackOff (the kubelet retried), or at an ErrImagePull
    # that says the image does not exist ("manifest unknown")
    pull_errors: int = 2
    log_lines: int = 20  # last lines of the failing container's log shown


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
    backup_verify_database_url: str | None = None  # scratch databases' server; None: each database's own
    litellm_master_key: str | None = None  # None: read from the `litellm-secret` Secret when needed
    backend_admin_key: str | None = None  # None: read from the `backend-secret` Secret when needed
    litellm_redis_url: str | None = None  # LiteLLM's own Redis (cache flush); None: not configured
    schedules: ScheduleBook | None = None  # the bot's schedules (the `schedules` commands); None: none
    bot: BotState | None = None  # the bot's own state (help, whoami, audit, approvals, locks); None: none
    alerts: AlertBook | None = None  # the bot's alerts and silences (the `alerts` commands); None: none
    image_registry: ImageRegistry | None = None  # pre-flight, `versions`, updates in `status`; None: off
    fail_fast: FailFast = field(default_factory=FailFast)
    production: bool = False  # shown unmistakably on cards and results
    lock_prefix: str = ""  # locks of this environment are named <prefix><target>: never shared with another
    alert_channel: str | None = None  # where this environment's alerts go; None: the automation file's
    schedule_names: tuple[str, ...] | None = None  # the schedules that run here; None: all of them
    services: ServiceClients = field(default_factory=ServiceClients, repr=False, compare=False)

    def component(self, name: str) -> Component:
        """The named component, or an OperationError listing the known ones."""
        try:
            return self.components[name]
        except KeyError:
            known = ", ".join(self.components)
            raise OperationError(f"unknown component `{shown(name)}`; choose one of: {known}") from None

    def components_in_order(self, order: Collection[str]) -> list[Component]:
        """The named components that this environment has, in the given order."""
        return [self.components[name] for name in order if name in self.components]

    def close(self) -> None:
        """Release what the environment's commands share (HTTP clients, probe threads)."""
        self.services.close()
