"""Secret arguments (e.g. a model's `api_key`) of a request waiting for approval, kept out of PostgreSQL.

The operation row stores arguments with secrets masked; the secret values wait in Redis, encrypted
(Fernet: AES-128-CBC + HMAC-SHA256, from `cryptography`) under a key derived with HKDF from the bot's
own Slack signing secret, with the approval's lifetime as TTL, until the approved run takes them.
Every replica derives the same key; a Redis dump or a `MONITOR` shows only ciphertext. Lost
(expired, Redis flushed, the signing secret rotated) means the request must be made again: a run never
proceeds with a masked value.
"""

from __future__ import annotations

import base64
import contextlib
import json
from typing import Any

import redis
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from bot.locks import LocksUnavailable

_KEY_PURPOSE = b"litemaas-chatops secret arguments v1"  # HKDF info: this key is for nothing else


def stash_key(bot_secret: str) -> bytes:
    """The Fernet key for the stash, derived from the bot's secret (HKDF-SHA256, purpose-bound)."""
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_KEY_PURPOSE).derive(
        bot_secret.encode()
    )
    return base64.urlsafe_b64encode(derived)


class ArgumentStash:
    """Redis-backed, TTL-bound, encrypted store of secret arguments, one entry per operation id."""

    def __init__(self, client: redis.Redis, prefix: str, bot_secret: str) -> None:
        self._redis = client
        self._prefix = prefix + "secret-args:"
        self._fernet = Fernet(stash_key(bot_secret))

    def put(self, operation_id: str, values: dict[str, str], ttl_seconds: int) -> None:
        token = self._fernet.encrypt(json.dumps(values).encode())
        try:
            self._redis.set(self._prefix + operation_id, token, ex=max(1, ttl_seconds))
        except redis.RedisError as exc:
            raise LocksUnavailable(f"Redis unreachable ({type(exc).__name__})") from None

    def get(self, operation_id: str) -> dict[str, Any] | None:
        """The values, or None when gone or unreadable (another key, tampered): request again."""
        try:
            raw = self._redis.get(self._prefix + operation_id)
        except redis.RedisError as exc:
            raise LocksUnavailable(f"Redis unreachable ({type(exc).__name__})") from None
        if not isinstance(raw, bytes | str):
            return None
        try:
            value = json.loads(self._fernet.decrypt(raw))
        except (InvalidToken, ValueError):
            return None
        return value if isinstance(value, dict) else None

    def drop(self, operation_id: str) -> None:
        with contextlib.suppress(redis.RedisError):  # it expires by itself anyway
            self._redis.delete(self._prefix + operation_id)
