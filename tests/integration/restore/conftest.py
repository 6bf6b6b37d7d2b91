"""The peers of the restore tests: the sandbox with rollouts moving by themselves (LiteLLM at 2
replicas, the backend at 1), the environment on the seeded databases, a TCP proxy in front of PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from commands.clients.kube import KubeClient
from commands.clients.rollout import watch_rollout
from commands.environment import Environment
from sandbox.kube import KubeSandbox
from tests.conftest import DatabasePair
from tests.integration.backup_peers import make_env
from tests.integration.conftest import NAMESPACE
from tests.integration.cutting_proxy import CuttingProxy


@pytest.fixture
def sb() -> Iterator[KubeSandbox]:
    """The sandbox with rollouts moving by themselves; LiteLLM runs 2 replicas, the backend 1."""
    sandbox = KubeSandbox(namespace=NAMESPACE, seed=True, auto_progress=0.02).start()
    try:
        sandbox.settle()
        yield sandbox
    finally:
        sandbox.stop()


@pytest.fixture
def env(sb: KubeSandbox, kube: KubeClient, tmp_path: Path, seeded: DatabasePair) -> Environment:
    environment = make_env(kube, tmp_path / "backups", seeded, rollout_timeout=20.0)
    kube.patch_scale("litellm", 2)
    assert watch_rollout(kube, "litellm", 20.0).done
    sb.clear_requests()
    return environment


@pytest.fixture
def pg_proxy() -> Iterator[CuttingProxy]:
    proxy = CuttingProxy(("127.0.0.1", 5432))
    yield proxy
    proxy.close()
