"""In-memory object store: one global resourceVersion counter and a bounded history of watch events.

Every write bumps the counter, stamps `metadata.resourceVersion` and records an event; watchers wait
on `cond`. All reads and writes happen under `cond` (a re-entrant lock), so callers may group
several writes into one atomic step by holding it.
"""

from __future__ import annotations

import copy
import threading
from collections import deque
from dataclasses import dataclass
from typing import Any

from sandbox.kube.resources import BY_PLURAL

Key = tuple[str, str]  # (namespace, name)
EventList = list["WatchEvent"]


@dataclass(frozen=True)
class WatchEvent:
    """One recorded change: its resourceVersion, the resource it touched and a snapshot of the object."""

    rv: int
    plural: str
    namespace: str
    type: str  # ADDED | MODIFIED | DELETED
    obj: dict[str, Any]


class ObjectStore:
    """Objects by resource plural and (namespace, name), with the event history watches resume from."""

    def __init__(self, history_limit: int = 10_000) -> None:
        self.cond = threading.Condition(threading.RLock())
        self._objects: dict[str, dict[Key, dict[str, Any]]] = {p: {} for p in BY_PLURAL}
        self._rv = 0
        self._history: deque[WatchEvent] = deque()
        self._history_limit = history_limit
        self._compacted = 0  # events with rv <= this are no longer retained
        self.closed = False

    @property
    def resource_version(self) -> int:
        with self.cond:
            return self._rv

    def get(self, plural: str, namespace: str, name: str) -> dict[str, Any] | None:
        """The stored object itself (not a copy): callers copy before handing it out."""
        with self.cond:
            return self._objects[plural].get((namespace, name))

    def list(self, plural: str, namespace: str | None = None) -> list[dict[str, Any]]:
        """Stored objects of one resource, optionally in one namespace, ordered by namespace and name."""
        with self.cond:
            items = self._objects[plural]
            keys = sorted(k for k in items if namespace is None or k[0] == namespace)
            return [items[k] for k in keys]

    def put(self, plural: str, obj: dict[str, Any]) -> dict[str, Any]:
        """Store `obj` (ADDED when new, else MODIFIED), stamping the next resourceVersion; returns it."""
        meta = obj["metadata"]
        key = (meta.get("namespace", ""), meta["name"])
        with self.cond:
            kind = "MODIFIED" if key in self._objects[plural] else "ADDED"
            self._rv += 1
            meta["resourceVersion"] = str(self._rv)
            self._objects[plural][key] = obj
            self._record(WatchEvent(self._rv, plural, key[0], kind, copy.deepcopy(obj)))
            return obj

    def delete(self, plural: str, namespace: str, name: str) -> dict[str, Any] | None:
        """Remove an object and record DELETED; None when it did not exist."""
        with self.cond:
            obj = self._objects[plural].pop((namespace, name), None)
            if obj is None:
                return None
            self._rv += 1
            obj["metadata"]["resourceVersion"] = str(self._rv)
            self._record(WatchEvent(self._rv, plural, namespace, "DELETED", copy.deepcopy(obj)))
            return obj

    def events_after(self, rv: int) -> EventList | None:
        """Events newer than `rv`, or None when some of them are no longer retained (410 Expired)."""
        with self.cond:
            if rv < self._compacted:
                return None
            return [e for e in self._history if e.rv > rv]

    def compact(self) -> None:
        """Forget all history, so that any watch resuming from an older resourceVersion gets 410."""
        with self.cond:
            self._history.clear()
            self._compacted = self._rv

    def close(self) -> None:
        """Wake every watcher and tell it to finish."""
        with self.cond:
            self.closed = True
            self.cond.notify_all()

    def _record(self, event: WatchEvent) -> None:
        self._history.append(event)
        while len(self._history) > self._history_limit:
            self._compacted = self._history.popleft().rv
        self.cond.notify_all()
