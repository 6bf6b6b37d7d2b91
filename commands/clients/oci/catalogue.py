"""The bot's view of the image registries: live checks for a pre-flight, cached answers for
`versions` and `status` (one tag-list call per repository per `cache_seconds`, failures remembered
for a shorter time so an unreachable registry is not asked on every `status`)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from commands.clients.oci.auth import Credentials
from commands.clients.oci.client import Manifest, RegistryClient, RegistryError
from commands.clients.oci.reference import ImageReference

CheckMode = Literal["require", "warn", "off"]
CHECK_MODES: tuple[CheckMode, ...] = ("require", "warn", "off")
FAILURE_CACHE_SECONDS = 300.0


@dataclass
class ImageRegistry:
    """A registry client plus the pre-flight policy (`check`) and the tag cache."""

    client: RegistryClient
    check: CheckMode = "warn"
    cache_seconds: float = 3600.0
    clock: Callable[[], float] = time.monotonic
    _tags: dict[str, tuple[float, list[str] | RegistryError]] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _fetching: dict[str, threading.Lock] = field(default_factory=dict, repr=False)

    def manifest(self, ref: ImageReference, credentials: Credentials | None = None) -> Manifest:
        """Live: the manifest `ref` names now. Raises RegistryError."""
        return self.client.manifest(ref, credentials)

    def tags(self, ref: ImageReference, credentials: Credentials | None = None) -> list[str]:
        """Live: every tag of `ref`'s repository (the answer also refreshes the cache)."""
        try:
            found = self.client.tags(ref.registry, ref.repository, credentials)
        except RegistryError as exc:
            self._store(ref.name, exc, FAILURE_CACHE_SECONDS)
            raise
        self._store(ref.name, found, self.cache_seconds)
        return found

    def cached_tags(self, ref: ImageReference, credentials: Credentials | None = None) -> list[str]:
        """The repository's tags, asked at most once per `cache_seconds` (concurrent askers wait for
        one call); a remembered failure is raised again until it expires."""
        with self._lock:
            gate = self._fetching.setdefault(ref.name, threading.Lock())
        with gate:
            with self._lock:
                entry = self._tags.get(ref.name)
            if entry is None or entry[0] <= self.clock():
                return self.tags(ref, credentials)
            answer = entry[1]
        if isinstance(answer, RegistryError):
            raise answer
        return list(answer)

    def _store(self, name: str, answer: list[str] | RegistryError, seconds: float) -> None:
        with self._lock:
            self._tags[name] = (self.clock() + min(seconds, self.cache_seconds), answer)
