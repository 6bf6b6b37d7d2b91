"""One mutating operation per target at a time: Redis locks with owner, reason, since and TTL renewal.

A lock is a key `{prefix}lock:{target}` holding JSON {owner, reason, since, token, operation}, set with
a TTL in milliseconds. An operation takes the whole *set* of targets it touches in one Lua script:
all of them or none (the refusal names every holder). The holder renews the TTLs from a daemon thread
every ttl/3; a crashed holder stops renewing and the locks free themselves after the TTL. Renew and
release only touch keys still holding the holder's own value (compare-and-set in Lua); a renewal that
finds one of them gone or taken marks the lock `lost` (the run stops before its next step).
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

import redis
from redis.backoff import ConstantBackoff
from redis.retry import Retry

log = logging.getLogger(__name__)

# All or nothing: if any key is held, return {index, value, ...} of the holders and set nothing.
_ACQUIRE = """
local held = {}
for i, key in ipairs(KEYS) do
    local value = redis.call('get', key)
    if value then
        table.insert(held, i)
        table.insert(held, value)
    end
end
if #held > 0 then
    return held
end
for _, key in ipairs(KEYS) do
    redis.call('set', key, ARGV[1], 'PX', ARGV[2])
end
return {}
"""
# Renew the keys still ours; the number renewed (fewer than #KEYS: the lock was lost).
_RENEW = """
local renewed = 0
for _, key in ipairs(KEYS) do
    if redis.call('get', key) == ARGV[1] then
        redis.call('pexpire', key, ARGV[2])
        renewed = renewed + 1
    end
end
return renewed
"""
_RELEASE = """
local deleted = 0
for _, key in ipairs(KEYS) do
    if redis.call('get', key) == ARGV[1] then
        deleted = deleted + redis.call('del', key)
    end
end
return deleted
"""


class LocksUnavailable(Exception):
    """Redis (locks, dedupe) cannot be reached; the message is short and free of secrets."""


class LockBusy(Exception):
    """A target is locked by someone else: who, why, and since when (every holder in `holders`)."""

    def __init__(
        self,
        holder: str,
        reason: str,
        since: datetime,
        target: str = "",
        holders: tuple[LockInfo, ...] = (),
    ) -> None:
        self.holder = holder
        self.reason = reason
        self.since = since
        self.target = target
        self.holders = holders or (LockInfo(target, holder, reason, since),)
        super().__init__("; ".join(describe(info) for info in self.holders))

    @classmethod
    def of(cls, holders: list[LockInfo]) -> LockBusy:
        """The refusal naming each of `holders` (at least one)."""
        first = holders[0]
        return cls(first.owner, first.reason, first.since, first.target, tuple(holders))


def describe(info: LockInfo) -> str:
    """`deployment/litellm is locked by U0BOB since … UTC (scale litellm 3)`: plain text."""
    what = info.target or "the target"
    return f"{what} is locked by {info.owner} since {info.since:%Y-%m-%d %H:%M:%S} UTC ({info.reason})"


@dataclass(frozen=True)
class LockInfo:
    """A held lock as shown by `/maas locks`; `operation` is the id of the operation holding it."""

    target: str
    owner: str
    reason: str
    since: datetime
    operation: str | None = None


def unavailable(exc: redis.RedisError) -> LocksUnavailable:
    """A `LocksUnavailable` for a Redis error, with a short message (no URL, no password)."""
    detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if "@" in detail:  # a URL with credentials: keep only the kind of error
        detail = type(exc).__name__
    return LocksUnavailable(f"Redis is unreachable: {detail[:200]}")


def redis_client(url: str, timeout_seconds: float = 3) -> redis.Redis:
    """A Redis client that fails fast (short timeouts, one quick retry) so "Redis down" is reported at once.

    redis-py's default retries with exponential back-off would hold a Slack command for seconds.
    """
    return redis.Redis.from_url(
        url,
        socket_connect_timeout=timeout_seconds,
        socket_timeout=timeout_seconds,
        retry=Retry(ConstantBackoff(0.05), 1),
        health_check_interval=30,
    )


def _text(raw: Any) -> str:
    return raw.decode() if isinstance(raw, bytes) else str(raw)


def _parse(target: str, raw: Any) -> LockInfo:
    try:
        data = json.loads(_text(raw))
        since = datetime.fromisoformat(data["since"])
        operation = data.get("operation")
        return LockInfo(
            target,
            str(data["owner"]),
            str(data.get("reason", "")),
            since,
            str(operation) if operation else None,
        )
    except (ValueError, KeyError, TypeError):
        return LockInfo(target, "unknown", "unreadable lock value", datetime.now(UTC))


class HeldLock:
    """A set of locks this process holds together; renews them until `release()` (or a `with` block ends)."""

    def __init__(self, locks: TargetLocks, targets: tuple[str, ...], info: LockInfo, value: str) -> None:
        self.targets = targets
        self.target = info.target
        self.owner = info.owner
        self.reason = info.reason
        self.since = info.since
        self._locks = locks
        self._keys = [locks.key(t) for t in targets]
        self._value = value
        self._stop = threading.Event()
        self._lost = threading.Event()
        self._thread = threading.Thread(
            target=self._renew_loop, name=f"lock-renew:{self.target}", daemon=True
        )
        self._thread.start()

    @property
    def lost(self) -> bool:
        """True when a renewal found one of the locks gone or taken over (Redis down past the TTL)."""
        return self._lost.is_set()

    def _renew_loop(self) -> None:
        interval = self._locks.ttl_seconds / 3
        ttl_ms = int(self._locks.ttl_seconds * 1000)
        while not self._stop.wait(interval):
            try:
                renewed = self._locks.redis.eval(_RENEW, len(self._keys), *self._keys, self._value, ttl_ms)
            except redis.RedisError as exc:
                log.warning("could not renew the lock on %s (%s)", self.target, type(exc).__name__)
                continue
            if int(renewed) < len(self._keys):
                log.warning("the lock on %s was lost before it was released", self.target)
                self._lost.set()
                return

    def release(self) -> bool:
        """Stop renewing and delete the locks still ours; True when all were deleted.

        Never raises: if Redis is unreachable the locks free themselves after their TTL.
        """
        self._stop.set()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
        try:
            deleted = self._locks.redis.eval(_RELEASE, len(self._keys), *self._keys, self._value)
        except redis.RedisError as exc:
            log.warning("could not release the lock on %s (%s); it expires by itself", self.target, exc)
            return False
        return int(deleted) == len(self._keys)

    def __enter__(self) -> HeldLock:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()


class TargetLocks:
    """Per-target mutual exclusion shared by every replica of the bot."""

    def __init__(self, redis: redis.Redis, prefix: str, ttl_seconds: float = 30) -> None:
        if ttl_seconds <= 0:
            raise ValueError("ttl_seconds must be positive")
        self.redis = redis
        self.prefix = prefix
        self.ttl_seconds = ttl_seconds

    def key(self, target: str) -> str:
        """The Redis key of a target's lock."""
        return f"{self.prefix}lock:{target}"

    def acquire(self, target: str, owner: str, reason: str, operation: str | None = None) -> HeldLock:
        """Take the lock on `target`, or raise `LockBusy` naming its holder (`LocksUnavailable`: no Redis)."""
        return self.acquire_all((target,), owner, reason, operation)

    def acquire_all(
        self, targets: tuple[str, ...], owner: str, reason: str, operation: str | None = None
    ) -> HeldLock:
        """Take every lock of `targets` at once (one Lua script: all or none), or raise `LockBusy`
        naming each holder (`LocksUnavailable`: no Redis). The first target names the set.

        `operation` (the holder's operation id) lets any replica tell a live run from a dead one.
        """
        if not targets:
            raise ValueError("a lock needs at least one target")
        wanted = tuple(dict.fromkeys(targets))  # order kept, duplicates dropped
        since = datetime.now(UTC).replace(microsecond=0)
        value = json.dumps(
            {
                "owner": owner,
                "reason": reason,
                "since": since.isoformat(),
                "token": uuid.uuid4().hex,
                "operation": operation,
            }
        )
        keys = [self.key(t) for t in wanted]
        try:
            held = self.redis.eval(_ACQUIRE, len(keys), *keys, value, int(self.ttl_seconds * 1000))
        except redis.RedisError as exc:
            raise unavailable(exc) from None
        if held:
            pairs = zip(held[0::2], held[1::2], strict=True)
            raise LockBusy.of([_parse(wanted[int(index) - 1], raw) for index, raw in pairs])
        info = LockInfo(wanted[0], owner, reason, since, operation)
        return HeldLock(self, wanted, info, value)

    def ping(self) -> None:
        """Raise `LocksUnavailable` when Redis does not answer."""
        try:
            self.redis.ping()
        except redis.RedisError as exc:
            raise unavailable(exc) from None

    def holder(self, target: str) -> LockInfo | None:
        """Who holds the lock on `target`, or None (`LocksUnavailable`: no Redis). One GET."""
        try:
            raw = self.redis.get(self.key(target))
        except redis.RedisError as exc:
            raise unavailable(exc) from None
        return None if raw is None else _parse(target, raw)

    def holders_of(self, targets: tuple[str, ...]) -> list[LockInfo]:
        """Who holds any of `targets` (one MGET), in the order given (`LocksUnavailable`: no Redis)."""
        if not targets:
            return []
        try:
            values = self.redis.mget([self.key(t) for t in targets])
        except redis.RedisError as exc:
            raise unavailable(exc) from None
        return [_parse(t, raw) for t, raw in zip(targets, values, strict=True) if raw is not None]

    def holders(self) -> list[LockInfo]:
        """Every held lock, sorted by target."""
        start = self.key("")
        pattern = _glob_escape(start) + "*"
        try:
            keys = list(self.redis.scan_iter(match=pattern, count=500))
            values = self.redis.mget(keys) if keys else []
        except redis.RedisError as exc:
            raise unavailable(exc) from None
        found = [
            _parse(_text(key)[len(start) :], raw)
            for key, raw in zip(keys, values, strict=True)
            if raw is not None
        ]
        return sorted(found, key=lambda info: info.target)


def _glob_escape(text: str) -> str:
    return "".join("\\" + ch if ch in "*?[]\\" else ch for ch in text)
