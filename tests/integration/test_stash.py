"""The secret arguments of a pending request rest encrypted in Redis (real Redis)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from bot.stash import ArgumentStash

KEY = "sk-upstream-&,;) secret with spaces"


@pytest.fixture
def client(redis_url: str) -> Iterator[redis.Redis]:
    rds = redis.Redis.from_url(redis_url)
    yield rds
    rds.close()


def test_the_value_in_redis_is_ciphertext_and_comes_back_whole(
    client: redis.Redis, redis_prefix: str
) -> None:
    stash = ArgumentStash(client, redis_prefix, "the-signing-secret")
    stash.put("op-1", {"api_key": KEY}, ttl_seconds=60)
    [name] = list(client.scan_iter(match=redis_prefix + "*"))
    raw = client.get(name)
    assert isinstance(raw, bytes)
    assert b"sk-upstream" not in raw and b"api_key" not in raw and b"secret" not in raw
    assert 0 < client.ttl(name) <= 60
    assert ArgumentStash(client, redis_prefix, "the-signing-secret").get("op-1") == {"api_key": KEY}


def test_another_secret_or_a_tampered_value_reads_as_lost(client: redis.Redis, redis_prefix: str) -> None:
    ArgumentStash(client, redis_prefix, "the-signing-secret").put("op-2", {"api_key": KEY}, ttl_seconds=60)
    assert ArgumentStash(client, redis_prefix, "a-rotated-secret").get("op-2") is None
    [name] = list(client.scan_iter(match=redis_prefix + "*"))
    raw = client.get(name)
    assert isinstance(raw, bytes)
    client.set(name, raw[:-4] + b"AAAA")
    assert ArgumentStash(client, redis_prefix, "the-signing-secret").get("op-2") is None
    client.set(name, b'{"api_key": "plain"}')  # what an older bot left: not accepted as is
    assert ArgumentStash(client, redis_prefix, "the-signing-secret").get("op-2") is None
