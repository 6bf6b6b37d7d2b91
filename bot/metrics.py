"""The bot's Prometheus metrics, on a registry of its own (never the process-wide default one).

One `BotMetrics` per bot holds every metric; the parts that count things (the command service, the
messenger, the alert pipeline, Slack's retry handlers) get it passed in. `/metrics` serves `exposition()`.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)
from slack_sdk.http_retry.handler import RetryHandler

log = logging.getLogger(__name__)

PREFIX = "litemaas_chatops_"
_DURATION_BUCKETS = (0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800)
_DECISION_BUCKETS = (5, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200)
_RETRY_REASONS: tuple[tuple[type[RetryHandler], str], ...] = (
    (RateLimitErrorRetryHandler, "rate_limited"),
    (ConnectionErrorRetryHandler, "connection_error"),
    (ServerErrorRetryHandler, "server_error"),
)


class BotMetrics:
    """Every metric of one bot; a fresh instance is a harmless stand-in where nobody scrapes."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self._outcomes = Counter(
            f"{PREFIX}command_outcomes",
            "Command outcomes by command and audit outcome (an approved change passes through "
            "requested, approved and succeeded; read-only commands end as read or failed).",
            ["command", "outcome"],
            registry=self.registry,
        )
        self._duration = Histogram(
            f"{PREFIX}operation_duration_seconds",
            "Run time of executed operations, by command.",
            ["command"],
            buckets=_DURATION_BUCKETS,
            registry=self.registry,
        )
        self._decision = Histogram(
            f"{PREFIX}approval_decision_latency_seconds",
            "Time from an approval request to its decision, by decision (approved or denied).",
            ["decision"],
            buckets=_DECISION_BUCKETS,
            registry=self.registry,
        )
        self._alerts = Counter(
            f"{PREFIX}alerts_sent",
            "Alert messages Slack accepted, by severity and kind (posted, updated, resolved, reminded).",
            ["severity", "kind"],
            registry=self.registry,
        )
        self._slack_errors = Counter(
            f"{PREFIX}slack_api_errors",
            "Slack Web API calls that failed after retries, by method and error.",
            ["method", "error"],
            registry=self.registry,
        )
        self._slack_retries = Counter(
            f"{PREFIX}slack_retries",
            "Slack Web API calls retried by the client, by reason.",
            ["reason"],
            registry=self.registry,
        )

    def command(self, name: str, outcome: str) -> None:
        """Count one outcome of a command (the same outcomes the audit log records)."""
        self._outcomes.labels(command=name, outcome=outcome).inc()

    def operation_duration(self, name: str, seconds: float) -> None:
        self._duration.labels(command=name).observe(max(0.0, seconds))

    def approval_decided(self, decision: str, seconds: float) -> None:
        self._decision.labels(decision=decision).observe(max(0.0, seconds))

    def alert(self, severity: str, kind: str) -> None:
        self._alerts.labels(severity=severity, kind=kind).inc()

    def slack_error(self, method: str, error: str) -> None:
        self._slack_errors.labels(method=method, error=error).inc()

    def slack_retry(self, reason: str) -> None:
        self._slack_retries.labels(reason=reason).inc()

    def watch_pending_approvals(self, count: Callable[[], int]) -> None:
        """Report `count()` as the pending approvals gauge at each scrape (NaN when it fails)."""
        self.registry.register(_PendingApprovals(count))

    def counting_retries(self, handlers: Iterable[RetryHandler]) -> list[RetryHandler]:
        """Slack retry handlers that behave as `handlers` and count each retry they make."""
        return [_CountingRetryHandler(handler, _retry_reason(handler), self) for handler in handlers]

    def exposition(self) -> tuple[bytes, str]:
        """The current values in Prometheus text format, and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


class _PendingApprovals(Collector):
    """Counts pending approval requests at scrape time; a store outage yields NaN, not a failed scrape."""

    def __init__(self, count: Callable[[], int]) -> None:
        self._count = count

    def collect(self) -> Iterator[GaugeMetricFamily]:
        try:
            value = float(self._count())
        except Exception as exc:  # PostgreSQL down (or anything else): the scrape still answers
            log.debug("pending approvals not counted: %s", type(exc).__name__)
            value = math.nan
        yield GaugeMetricFamily(
            f"{PREFIX}approvals_pending",
            "Approval requests waiting for a decision (NaN when the operation store is unreachable).",
            value=value,
        )

    def describe(self) -> list[GaugeMetricFamily]:
        return []  # nothing to check at registration: never query the store then


class _CountingRetryHandler(RetryHandler):
    """Delegates every decision to `inner` and counts the retries it prepares."""

    def __init__(self, inner: RetryHandler, reason: str, metrics: BotMetrics) -> None:
        super().__init__(max_retry_count=inner.max_retry_count, interval_calculator=inner.interval_calculator)
        self.inner = inner
        self.reason = reason
        self.metrics = metrics

    def can_retry(self, **kwargs: Any) -> bool:
        return bool(self.inner.can_retry(**kwargs))

    def prepare_for_next_attempt(self, **kwargs: Any) -> None:
        self.metrics.slack_retry(self.reason)
        self.inner.prepare_for_next_attempt(**kwargs)


def _retry_reason(handler: RetryHandler) -> str:
    for cls, reason in _RETRY_REASONS:
        if isinstance(handler, cls):
            return reason
    return type(handler).__name__
