"""Peers shared by the integration tests: the sandbox Kubernetes API and a client on it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from commands.kube import KubeClient
from sandbox.kube import KubeSandbox

NAMESPACE = "litellm-rhpds"


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
