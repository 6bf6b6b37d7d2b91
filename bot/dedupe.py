"""Slack delivers some payloads more than once (retries, several Socket Mode connections): run them once.

The key is e.g. an `event_id` or (`action_ts`, user, `action_id`); the first replica to SET it (NX EX)
handles the payload, every other delivery is ignored.
"""

from __future__ import annotations

import redis

from bot.locks import unavailable


class Deduper:
    """`first_time(key)` is True exactly once per key within `ttl_seconds`, across all replicas."""

    def __init__(self, redis: redis.Redis, prefix: str, ttl_seconds: int = 3600) -> None:
        self.redis = redis
        self.prefix = prefix
        self.ttl_seconds = ttl_seconds

    def first_time(self, key: str) -> bool:
        """True the first time `key` is seen; raises `LocksUnavailable` when Redis is unreachable."""
        try:
            return bool(self.redis.set(f"{self.prefix}dedupe:{key}", "1", nx=True, ex=self.ttl_seconds))
        except redis.RedisError as exc:
            raise unavailable(exc) from None
