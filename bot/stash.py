"""Secret arguments (e.g. a model's `api_key`) of a request waiting for approval, kept out of PostgreSQL.

The operation row stores arguments with secrets masked; the secret values wait in Redis, with the
approval's lifetime as TTL, until the approved run takes them. Lost (expired, Redis flushed) means
the request must be made again: a run never proceeds with a masked value.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

import redis
from pydantic import BaseModel, SecretStr

from bot.locks import LocksUnavailable


def secret_fields(args: BaseModel) -> dict[str, str]:
    """The plain values of the `SecretStr` fields of an argument model."""
    return {
        name: value.get_secret_value()
        for name in type(args).model_fields
        if isinstance(value := getattr(args, name), SecretStr)
    }


class ArgumentStash:
    """Redis-backed, TTL-bound store of secret arguments, one entry per operation id."""

    def __init__(self, client: redis.Redis, prefix: str) -> None:
        self._redis = client
        self._prefix = prefix + "secret-args:"

    def put(self, operation_id: str, values: dict[str, str], ttl_seconds: int) -> None:
        try:
            self._redis.set(self._prefix + operation_id, json.dumps(values), ex=max(1, ttl_seconds))
        except redis.RedisError as exc:
            raise LocksUnavailable(f"Redis unreachable ({type(exc).__name__})") from None

    def get(self, operation_id: str) -> dict[str, Any] | None:
        try:
            raw = self._redis.get(self._prefix + operation_id)
        except redis.RedisError as exc:
            raise LocksUnavailable(f"Redis unreachable ({type(exc).__name__})") from None
        if raw is None:
            return None
        value = json.loads(raw)
        return value if isinstance(value, dict) else None

    def drop(self, operation_id: str) -> None:
        with contextlib.suppress(redis.RedisError):  # it expires by itself anyway
            self._redis.delete(self._prefix + operation_id)
