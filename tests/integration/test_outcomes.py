"""Kept outcomes (`bot.outcomes`) against the real local Redis: redacted at rest, with a long TTL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from bot.locks import LocksUnavailable, redis_client
from bot.outcomes import OutcomeBook
from bot.redaction import Redactor

SECRET = "sk-litellm-master-0123456789abcdef"


@pytest.fixture
def client(redis_url: str) -> Iterator[redis.Redis]:
    connection = redis_client(redis_url)
    yield connection
    connection.close()


def test_an_outcome_is_kept_redacted_with_a_ttl_far_beyond_the_reaper(
    client: redis.Redis, redis_prefix: str
) -> None:
    book = OutcomeBook(client, redis_prefix, Redactor([SECRET]))
    result = {"ok": True, "summary": f"done with {SECRET}", "sections": [{"title": "t", "lines": [SECRET]}]}

    kept = book.put("op-1", "succeeded", result, 1234)

    raw = client.get(f"{redis_prefix}outcome:op-1")
    assert raw is not None and SECRET.encode() not in raw
    assert kept is not None and SECRET not in kept.summary
    assert client.pttl(f"{redis_prefix}outcome:op-1") > 24 * 3600 * 1000
    again = book.get("op-1")
    assert again is not None and (again.state, again.duration_ms) == ("succeeded", 1234)
    assert again.summary == "done with ***"
    book.forget("op-1")
    assert book.get("op-1") is None


def test_an_unreadable_outcome_is_ignored_and_redis_down_is_said(
    client: redis.Redis, redis_prefix: str
) -> None:
    book = OutcomeBook(client, redis_prefix, Redactor())
    client.set(f"{redis_prefix}outcome:op-2", "{not json")
    assert book.get("op-2") is None
    with pytest.raises(ValueError):
        book.put("op-2", "running", {}, 0)

    dead = OutcomeBook(redis_client("redis://127.0.0.1:1/0", timeout_seconds=0.5), redis_prefix, Redactor())
    assert dead.put("op-3", "failed", {"summary": "x"}, 0) is None
    dead.forget("op-3")  # never raises
    with pytest.raises(LocksUnavailable):
        dead.get("op-3")
