"""`cache flush`: empty LiteLLM's Redis, the runbook's `redis-cli FLUSHALL` (litemaas-facts.md §6.6).

LiteLLM pods cache keys and models in their Redis (`litellm-redis`, dedicated, no password, no
persistence); after a model or key change done behind LiteLLM's back, pods serve stale data until the
cache is flushed or LiteLLM restarts. This flushes the database named by `LITELLM_REDIS_URL` with FLUSHDB:
the same as FLUSHALL on the dedicated server, without touching other databases of a shared one. The key
count before is reported. Nothing here shows the URL's password.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import redis

from commands.contract import Args, Change, Event, Operation, OperationError, Plan, Progress, Result, Section
from commands.environment import Environment
from commands.targets import LITELLM_REDIS

CONNECT_TIMEOUT_SECONDS = 3.0
COMMAND_TIMEOUT_SECONDS = 30.0
RISKS = (
    "LiteLLM reloads keys and models from its database: the first requests after the flush are slower",
    "rate-limit and parallel-request counters kept in Redis start again from zero",
)


class CacheFlushArgs(Args):
    """`cache flush`."""


def _where(url: str) -> str:
    """`host:port db N` of a Redis URL — never its password; OperationError when it is not a Redis URL."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("redis", "rediss", "unix"):
        raise OperationError("LITELLM_REDIS_URL is not a Redis URL (redis://host:port/db)")
    try:
        port = parts.port or 6379
    except ValueError:
        raise OperationError("LITELLM_REDIS_URL has an invalid port") from None
    db = parts.path.strip("/") or "0"
    if parts.scheme == "unix":
        return f"{parts.path} (unix socket)"
    if not db.isdigit():
        raise OperationError("LITELLM_REDIS_URL names an invalid database (redis://host:port/NUMBER)")
    return f"{parts.hostname or 'localhost'}:{port} db {db}"


def _client(env: Environment) -> tuple[redis.Redis, str]:
    if not env.litellm_redis_url:
        raise OperationError("LiteLLM's Redis is not configured: set LITELLM_REDIS_URL")
    where = _where(env.litellm_redis_url)
    try:
        client = redis.Redis.from_url(
            env.litellm_redis_url,
            socket_connect_timeout=CONNECT_TIMEOUT_SECONDS,
            socket_timeout=COMMAND_TIMEOUT_SECONDS,
        )
    except ValueError:
        raise OperationError("LITELLM_REDIS_URL is not a valid Redis URL (redis://host:port/db)") from None
    return client, where


def _problem(exc: redis.RedisError, where: str) -> str:
    if isinstance(exc, redis.AuthenticationError):
        return f"LiteLLM's Redis at {where} refused the credentials of LITELLM_REDIS_URL"
    if isinstance(exc, redis.ConnectionError | redis.TimeoutError):
        return f"LiteLLM's Redis at {where} does not answer ({type(exc).__name__})"
    first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
    return f"LiteLLM's Redis at {where} refused: {first}"


def _key_count(client: redis.Redis) -> int:
    count: Any = client.dbsize()
    return int(count)


class CacheFlushOperation(Operation[CacheFlushArgs]):
    """Flush LiteLLM's Redis cache (FLUSHDB of LITELLM_REDIS_URL) so every pod reloads keys and models."""

    name = "cache flush"
    args_model = CacheFlushArgs
    mutating = True
    default_role = "admin"
    default_approval = True

    def plan(self, env: Environment, args: CacheFlushArgs) -> Plan:
        """Count the keys (the count is shown, not compared at approval: a live cache always changes)."""
        client, where = _client(env)
        try:
            count = _key_count(client)
        except redis.RedisError as exc:
            raise OperationError(_problem(exc, where)) from None
        finally:
            client.close()
        observed = {"redis": where}
        if count == 0:
            return Plan(
                f"LiteLLM's Redis ({where}) is already empty", LITELLM_REDIS, noop=True, observed=observed
            )
        return Plan(
            summary=f"Flush LiteLLM's Redis ({where}): {count:,} keys now",
            target=LITELLM_REDIS,
            changes=(Change(f"redis/{where}", "keys", f"{count:,}", "0"),),
            risks=RISKS,
            observed=observed,
        )

    def execute(self, env: Environment, args: CacheFlushArgs, plan: Plan | None) -> Iterator[Event]:
        try:
            client, where = _client(env)
        except OperationError as exc:
            yield Result(ok=False, summary=str(exc))
            return
        try:
            before = _key_count(client)
            yield Progress(f"flushing {before:,} keys from LiteLLM's Redis ({where})")
            client.flushdb()
            after = _key_count(client)
        except redis.RedisError as exc:
            yield Result(ok=False, summary=f"cache not flushed: {_problem(exc, where)}")
            return
        finally:
            client.close()
        yield Result(
            ok=True,
            summary=f"LiteLLM's Redis flushed: {before:,} keys removed; LiteLLM reloads from its database",
            sections=(
                Section(
                    title=f"redis {where}", fields={"keys before": f"{before:,}", "keys now": str(after)}
                ),
            ),
        )
