"""A run's outcome kept in Redis until its row records it, so a PostgreSQL outage cannot turn it into
"interrupted": the runner writes it before the final state change (while it still holds the run's
locks) and any replica's reaper applies it to a `running` row whose holder is gone.

One key `{prefix}outcome:{operation_id}` holding JSON {state, result, duration_ms}, the result redacted
(no secret at rest), with a TTL far beyond the reaper's period (a long outage still ends true).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import redis

from bot.locks import unavailable
from bot.redaction import Redactor

log = logging.getLogger(__name__)

OUTCOME_TTL = timedelta(days=7)
FINAL_STATES = frozenset({"succeeded", "failed", "interrupted"})


@dataclass(frozen=True)
class Outcome:
    """How a run ended: its final state, its result as stored (redacted) and how long it took."""

    state: str
    result: dict[str, Any]
    duration_ms: int

    @property
    def summary(self) -> str:
        return str(self.result.get("summary", ""))


class OutcomeBook:
    """Outcomes of runs whose final state change may not have landed in PostgreSQL yet."""

    def __init__(
        self, client: redis.Redis, prefix: str, redactor: Redactor, ttl: timedelta = OUTCOME_TTL
    ) -> None:
        self.redis = client
        self.prefix = prefix
        self.redactor = redactor
        self.ttl_ms = int(ttl.total_seconds() * 1000)

    def key(self, operation_id: str) -> str:
        return f"{self.prefix}outcome:{operation_id}"

    def put(self, operation_id: str, state: str, result: dict[str, Any], duration_ms: int) -> Outcome | None:
        """Keep the outcome (its result redacted here); None when Redis cannot take it. Never raises."""
        if state not in FINAL_STATES:
            raise ValueError(f"not a final state: {state}")
        outcome = Outcome(state, self.redactor.redact_obj(result), duration_ms)
        value = json.dumps({"state": state, "result": outcome.result, "duration_ms": duration_ms})
        try:
            self.redis.set(self.key(operation_id), value, px=self.ttl_ms)
        except redis.RedisError as exc:
            log.warning("could not keep the outcome of %s in Redis (%s)", operation_id, type(exc).__name__)
            return None
        return outcome

    def get(self, operation_id: str) -> Outcome | None:
        """The kept outcome, or None (none kept, or unreadable). `LocksUnavailable` when Redis is down."""
        try:
            raw = self.redis.get(self.key(operation_id))
        except redis.RedisError as exc:
            raise unavailable(exc) from None
        if raw is None:
            return None
        try:
            data = json.loads(raw)
            state, result = str(data["state"]), dict(data["result"])
            duration_ms = int(data.get("duration_ms") or 0)
        except (ValueError, KeyError, TypeError):
            log.warning("the kept outcome of %s is unreadable; ignored", operation_id)
            return None
        return Outcome(state, result, duration_ms) if state in FINAL_STATES else None

    def forget(self, operation_id: str) -> None:
        """Drop the kept outcome once its row records it. Never raises (it expires by itself)."""
        try:
            self.redis.delete(self.key(operation_id))
        except redis.RedisError as exc:
            log.warning("could not drop the kept outcome of %s (%s)", operation_id, type(exc).__name__)
