"""What the emulated LiteMaaS backend is and knows: release version, readiness, latency, start time,
and the parts of its env the admin API needs (databases, LiteLLM, `ADMIN_API_KEYS`).

One lock guards the switches; HTTP threads read snapshots, the test thread uses the setters. A second
lock runs one model sync at a time.
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace

from sandbox.backend.sync import SyncConfig, SyncOutcome

BACKEND_VERSION = "0.4.0"
_VERSION = re.compile(r"^[0-9A-Za-z][0-9A-Za-z.+_-]{0,63}$")


@dataclass(frozen=True)
class Health:
    """The switches, as one consistent snapshot."""

    version: str = BACKEND_VERSION
    ready: bool = True
    latency: float = 0.0


class BackendState:
    """Thread-safe state of one emulated backend."""

    def __init__(
        self,
        version: str,
        litellm_url: str,
        sync: SyncConfig | None = None,
        admin_keys: Sequence[str] = (),
    ) -> None:
        self._check_version(version)
        self.litellm_url = litellm_url
        self.sync = sync or SyncConfig(database_url=None, litellm_api_url=None, litellm_api_key=None)
        self.admin_keys = frozenset(admin_keys)
        self.sync_lock = threading.Lock()
        self._syncs: list[SyncOutcome] = []
        self.started = time.monotonic()
        self._lock = threading.Lock()
        self._health = Health(version=version)

    @staticmethod
    def _check_version(version: str) -> None:
        if not _VERSION.match(version):
            raise ValueError(f"not a plausible release version: {version!r}")

    def health(self) -> Health:
        with self._lock:
            return self._health

    def uptime(self) -> float:
        return time.monotonic() - self.started

    def set_ready(self, ready: bool) -> None:
        with self._lock:
            self._health = replace(self._health, ready=ready)

    def set_version(self, version: str) -> None:
        self._check_version(version)
        with self._lock:
            self._health = replace(self._health, version=version)

    def set_latency(self, seconds: float) -> None:
        if not (math.isfinite(seconds) and seconds >= 0):
            raise ValueError(f"latency must be a number of seconds >= 0, got {seconds}")
        with self._lock:
            self._health = replace(self._health, latency=float(seconds))

    def record_sync(self, outcome: SyncOutcome) -> None:
        """Keep a completed sync (with its cascade counts, which the HTTP answer does not carry)."""
        with self._lock:
            self._syncs.append(outcome)

    def syncs(self) -> list[SyncOutcome]:
        with self._lock:
            return list(self._syncs)
