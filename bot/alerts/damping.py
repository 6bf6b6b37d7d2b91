"""Flap damping for the watchers: a finding alerts once it has held for its pending duration, and a
firing alert resolves once it has been clear for its clear duration (Prometheus' `for:` and
`keep_firing_for:`).

State lives in Redis (one hash per watcher, shared by replicas, so a new leader keeps counting): per
fingerprint since when it is pending, since when it is clear, and the operation it followed. While an
operation holds a finding's target, its pending time restarts: the bot's own change owns it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import redis

from bot.alerts.holding import Holder
from bot.alerts.model import Alert

_STATE_TTL = 7 * 24 * 3600  # a watcher disabled for a week starts afresh


@dataclass(frozen=True)
class Candidate:
    """A finding as an alert, how long it must hold, and the operation holding its target (if any)."""

    alert: Alert
    pending_seconds: float
    holder: Holder | None = None  # the operation holding its target now


@dataclass(frozen=True)
class Sifted:
    """What a pass reports: alerts to fire, and firing fingerprints absent now but not clear for long."""

    fire: list[Alert] = field(default_factory=list)
    keep: set[str] = field(default_factory=set)
    held: list[Candidate] = field(default_factory=list)  # pending under an operation: its message says so


@dataclass
class _Seen:
    since: float
    clear_since: float | None = None
    after: str | None = None  # the operation that held its target
    held: bool = False  # held at the last pass: its pending time starts when the operation ends

    @classmethod
    def load(cls, raw: bytes | str) -> _Seen:
        data = json.loads(raw)
        return cls(float(data["since"]), data.get("clear_since"), data.get("after"), bool(data.get("held")))

    def dump(self) -> str:
        return json.dumps(self.__dict__)


class Damper:
    """Decides, pass by pass, which findings alert and which firing alerts may resolve."""

    def __init__(self, client: redis.Redis, prefix: str, clock: Callable[[], float]) -> None:
        self.redis = client
        self.prefix = prefix
        self.clock = clock

    def sift(
        self, source: str, candidates: Sequence[Candidate], *, firing: set[str], clear_seconds: float
    ) -> Sifted:
        """One pass of `source`: its current candidates against what is pending and firing."""
        key = f"{self.prefix}alert-pending:{source}"
        now = self.clock()
        seen = {_str(fp): _Seen.load(raw) for fp, raw in self.redis.hgetall(key).items()}
        result = Sifted()
        state: dict[str, _Seen] = {}
        for candidate in candidates:
            fp = candidate.alert.fingerprint
            entry = seen.get(fp) or _Seen(since=now)
            entry.clear_since = None
            if candidate.holder is not None and fp not in firing:
                entry.since, entry.after, entry.held = now, candidate.holder.named, True
                result.held.append(candidate)
                state[fp] = entry
                continue
            if entry.held:
                entry.since, entry.held = now, False
            if fp in firing or now - entry.since >= candidate.pending_seconds:
                result.fire.append(_after(candidate.alert, entry.after))
            state[fp] = entry
        for fp in firing - state.keys():  # gone: pending ones start afresh next time, firing ones wait
            entry = seen.get(fp) or _Seen(since=now)
            entry.clear_since = entry.clear_since if entry.clear_since is not None else now
            if now - entry.clear_since < clear_seconds:
                result.keep.add(fp)
                state[fp] = entry
        pipe = self.redis.pipeline()
        pipe.delete(key)
        if state:
            pipe.hset(key, mapping={fp: entry.dump() for fp, entry in state.items()})
            pipe.expire(key, _STATE_TTL)
        pipe.execute()
        return result


def _after(alert: Alert, operation: str | None) -> Alert:
    """The alert naming the operation it followed, when a finding outlived one."""
    if operation is None:
        return alert
    return replace(alert, notes=(f"after {operation}", *alert.notes))


def _str(raw: bytes | str) -> str:
    return raw.decode() if isinstance(raw, bytes) else str(raw)
