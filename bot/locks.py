"""One mutating operation per target at a time: Redis locks with owner, reason, since and TTL renewal.

A lock is a key `{prefix}lock:{target}` holding JSON {owner, reason, since, token}, set with NX and a
TTL in milliseconds. The holder renews the TTL from a daemon thread every ttl/3; a crashed holder stops
renewing and the lock frees itself after the TTL. Renew and release only touch the key while it still
holds the holder's own value (compare-and-set in Lua).
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

_RENEW = """
if redis.call('get', KEYS[1]) == ARGV[1] then
    return redis.call('pexpire', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then
    return redis.call('del', KEYS[1])
end
return 0
"""


class LocksUnavailable(Exception):
    """Redis (locks, dedupe) cannot be reached; the message is short and free of secrets."""


class LockBusy(Exception):
    """The target is locked by someone else: who, why, and since when."""

    def __init__(self, holder: str, reason: str, since: datetime, target: str = "") -> None:
        self.holder = holder
        self.reason = reason
        self.since = since
        self.target = target
        what = target or "the target"
        super().__init__(f"{what} is locked by {holder} since {since:%Y-%m-%d %H:%M:%S} UTC ({reason})")


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
    """A lock this process holds; renews itself until `release()` (or the end of a `with` block)."""

    def __init__(self, locks: TargetLocks, target: str, info: LockInfo, value: str) -> None:
        self.target = target
        self.owner = info.owner
        self.reason = info.reason
        self.since = info.since
        self._locks = locks
        self._value = value
        self._stop = threading.Event()
        self._lost = threading.Event()
        self._thread = threading.Thread(target=self._renew_loop, name=f"lock-renew:{target}", daemon=True)
        self._thread.start()

    @property
    def lost(self) -> bool:
        """True when a renewal found the lock gone or taken over (e.g. Redis was down past the TTL)."""
        return self._lost.is_set()

    def _renew_loop(self) -> None:
        interval = self._locks.ttl_seconds / 3
        ttl_ms = int(self._locks.ttl_seconds * 1000)
        while not self._stop.wait(interval):
            try:
                renewed = self._locks.redis.eval(_RENEW, 1, self._locks.key(self.target), self._value, ttl_ms)
            except redis.RedisError as exc:
                log.warning("could not renew the lock on %s (%s)", self.target, type(exc).__name__)
                continue
            if not renewed:
                log.warning("the lock on %s was lost before it was released", self.target)
                self._lost.set()
                return

    def release(self) -> bool:
        """Stop renewing and delete the lock if it is still ours; True when it was deleted.

        Never raises: if Redis is unreachable the lock frees itself after its TTL.
        """
        self._stop.set()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
        try:
            deleted = self._locks.redis.eval(_RELEASE, 1, self._locks.key(self.target), self._value)
        except redis.RedisError as exc:
            log.warning("could not release the lock on %s (%s); it expires by itself", self.target, exc)
            return False
        return bool(deleted)

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
        """Take the lock on `target`, or raise `LockBusy` naming its holder (`LocksUnavailable`: no Redis).

        `operation` (the holder's operation id) lets any replica tell a live run from a dead one.
        """
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
        key = self.key(target)
        for _ in range(3):  # the holder may release between our SET and GET: try again
            try:
                if self.redis.set(key, value, nx=True, px=int(self.ttl_seconds * 1000)):
                    return HeldLock(self, target, LockInfo(target, owner, reason, since, operation), value)
                current = self.redis.get(key)
            except redis.RedisError as exc:
                raise unavailable(exc) from None
            if current is not None:
                info = _parse(target, current)
                raise LockBusy(info.owner, info.reason, info.since, target=target)
        raise LockBusy("unknown", "the lock changes hands too fast", since, target=target)

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
