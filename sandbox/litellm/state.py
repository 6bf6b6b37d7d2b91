"""What the emulated LiteLLM proxy is and knows: version, master key, health switches, latency,
scripted failures, and (when given a database) the storage of the admin API.

One lock guards the health switches; the HTTP threads read them through `health()`, the test thread
changes them through the setters. `failures` and `db` are thread-safe themselves.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, replace

from sandbox.litellm.database import LiteLLMDatabase
from sandbox.litellm.failures import FailurePlan

LITELLM_VERSION = "1.81.0"


@dataclass(frozen=True)
class Health:
    """The health switches, as one consistent snapshot."""

    ready: bool = True
    not_ready_reason: str = ""
    alive: bool = True
    latency: float = 0.0


class LiteLLMState:
    """Thread-safe state of one emulated proxy."""

    def __init__(
        self, master_key: str, version: str = LITELLM_VERSION, db: LiteLLMDatabase | None = None
    ) -> None:
        if not master_key.startswith("sk-"):
            raise ValueError("the LiteLLM master key must start with 'sk-'")
        self.master_key = master_key
        self.version = version
        self.db = db  # None: a proxy without a database (key and model routes answer 500, facts §6)
        self.failures = FailurePlan()
        self.hang_seconds = 60.0  # how long an injected timeout holds the reply
        self._lock = threading.Lock()
        self._health = Health()

    def health(self) -> Health:
        with self._lock:
            return self._health

    def set_ready(self, ready: bool, reason: str) -> None:
        with self._lock:
            self._health = replace(self._health, ready=ready, not_ready_reason="" if ready else reason)

    def set_alive(self, alive: bool) -> None:
        with self._lock:
            self._health = replace(self._health, alive=alive)

    def set_latency(self, seconds: float) -> None:
        if not (math.isfinite(seconds) and seconds >= 0):
            raise ValueError(f"latency must be a number of seconds >= 0, got {seconds}")
        with self._lock:
            self._health = replace(self._health, latency=float(seconds))
