"""Peers shared by the integration tests: the sandbox Kubernetes API and a client on it, the LiteLLM and
backend sandboxes, a Redis client, and a Slack fake with the alert channels."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
import redis

from commands.clients.kube import KubeClient
from commands.contract import Progress, Result
from commands.environment import Environment
from sandbox.backend import BackendSandbox
from sandbox.kube import KubeSandbox
from sandbox.litellm import LiteLLMSandbox
from sandbox.slack import SlackSandbox

NAMESPACE = "litellm-rhpds"
SLACK_TOKEN = "xoxb-integration-test"
ALERT_CHANNELS = {"C0ALERTS": "ops-alerts", "C0CRIT": "ops-critical", "C0BACKUP": "ops-backups"}


def redis_ping(url: str, timeout: float = 1.0) -> Callable[[], bool]:
    """A real PING of `url` (what the bot wires into the Environment); False on any Redis error."""

    def ping() -> bool:
        client = redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False
        finally:
            client.close()

    return ping


def make_env(kube: KubeClient, ping: Callable[[], bool], **extra: Any) -> Environment:
    """The operations' Environment on the sandbox namespace, with `ping` as LiteLLM's Redis probe."""
    return Environment(name="test", namespace=NAMESPACE, kube=kube, litellm_redis_ping=ping, **extra)


def only_result(events: Sequence[object]) -> Result:
    """The Result that ends an operation's events, after nothing but Progress."""
    assert events and isinstance(events[-1], Result), events
    assert all(isinstance(e, Progress) for e in events[:-1]), events
    return events[-1]


@pytest.fixture
def sb() -> Iterator[KubeSandbox]:
    """A seeded OpenShift-flavoured sandbox with every rollout settled."""
    sandbox = KubeSandbox(namespace=NAMESPACE, seed=True).start()
    try:
        sandbox.settle()
        yield sandbox
    finally:
        sandbox.stop()


@pytest.fixture
def kube(sb: KubeSandbox, tmp_path: Path) -> Iterator[KubeClient]:
    client = KubeClient.from_kubeconfig(sb.write_kubeconfig(tmp_path / "kubeconfig"), NAMESPACE)
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
def litellm() -> Iterator[LiteLLMSandbox]:
    server = LiteLLMSandbox().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def backend() -> Iterator[BackendSandbox]:
    server = BackendSandbox().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def rds(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


@pytest.fixture
def alert_slack() -> Iterator[SlackSandbox]:
    """The Slack fake with the channels the alert tests route to."""
    server = SlackSandbox(bot_token=SLACK_TOKEN, channels=ALERT_CHANNELS).start()
    yield server
    server.stop()
