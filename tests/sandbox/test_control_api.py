"""The sandbox's control API over HTTP (what game days, the demo console and the benchmarks break the
sandbox with), and two sandboxes on one machine sharing nothing: no database, no Redis key, and
LiteLLM's Redis never the bot's own."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from sandbox.redis_server import redis_server_binary
from sandbox.world import SandboxWorld

pytestmark = pytest.mark.skipif(redis_server_binary() is None, reason="redis-server is not installed")


@pytest.fixture
def world(tmp_path: Path) -> Iterator[SandboxWorld]:
    started = SandboxWorld(state_dir=tmp_path / "sandbox", auto_progress=None).start()
    try:
        yield started
    finally:
        started.stop()
        started.drop_databases()


@pytest.fixture(scope="module")
def shared_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxWorld]:
    """One world for the requests that must change nothing."""
    started = SandboxWorld(state_dir=tmp_path_factory.mktemp("shared"), auto_progress=None).start()
    try:
        yield started
    finally:
        started.stop()
        started.drop_databases()


def post(world: SandboxWorld, path: str, body: Any = None) -> httpx.Response:
    assert world.control is not None
    return httpx.post(f"{world.control.url}{path}", json=body, timeout=10)


def waiting_reasons(world: SandboxWorld, deployment: str) -> set[str]:
    assert world.kube is not None
    return {
        str((s.get("state") or {}).get("waiting", {}).get("reason", ""))
        for pod in world.kube.pods_of(deployment)
        for s in (pod.get("status") or {}).get("containerStatuses") or []
    } - {""}


def test_the_env_file_names_the_control_api_which_lists_its_endpoints(
    world: SandboxWorld, tmp_path: Path
) -> None:
    env = world.write_env(tmp_path / "sandbox.env").read_text()
    assert world.control is not None and f"SANDBOX_CONTROL_URL={world.control.url}" in env
    listing = httpx.get(world.control.url, timeout=5).json()
    assert any("/deployments/<name>/break/<fault>" in e for e in listing["endpoints"])


def test_break_and_heal_a_deployment(world: SandboxWorld) -> None:
    assert world.kube is not None
    answer = post(world, "/deployments/litellm/break/crashloop").json()
    assert answer["ok"] and "crash-loop" in answer["said"]
    assert waiting_reasons(world, "litellm") == {"CrashLoopBackOff"}

    assert post(world, "/deployments/litellm/heal").json()["ok"]
    world.kube.settle()
    assert waiting_reasons(world, "litellm") == set()

    assert post(world, "/deployments/litellm/break/image-pull").json()["ok"]
    for _ in range(5):
        world.kube.step()
    assert waiting_reasons(world, "litellm") & {"ErrImagePull", "ImagePullBackOff"}
    assert post(world, "/deployments/litellm/heal").json()["ok"]
    world.kube.settle()
    assert waiting_reasons(world, "litellm") == set()


def test_litellm_redis_goes_down_and_up_and_services_slow_down_and_fail(world: SandboxWorld) -> None:
    client = redis.Redis.from_url(world.litellm_redis_url, socket_connect_timeout=0.5)
    assert client.ping()
    assert post(world, "/litellm-redis/down").json()["ok"]
    with pytest.raises(redis.ConnectionError):
        client.ping()
    assert post(world, "/litellm-redis/up").json()["ok"]
    assert client.ping()
    client.close()

    assert world.litellm is not None
    assert post(world, "/services/litellm", {"latency_seconds": 0.3, "failing": True}).json()["ok"]
    started = time.monotonic()
    response = httpx.get(f"{world.litellm.url}/health/readiness", timeout=5)
    assert response.status_code == 503 and time.monotonic() - started >= 0.3
    assert post(world, "/services/litellm", {"latency_seconds": 0, "failing": False}).json()["ok"]
    assert httpx.get(f"{world.litellm.url}/health/readiness", timeout=5).status_code == 200


@pytest.mark.parametrize(
    ("path", "body", "status", "said"),
    [
        ("/deployments/nothing/break/crashloop", None, 400, "no deployment 'nothing'"),
        ("/deployments/litellm/break/meteor", None, 400, "unknown fault 'meteor'"),
        ("/services/litellm", {"latency_seconds": "slow"}, 400, "latency_seconds must be a number"),
        ("/services/frontend", {"failing": True}, 400, "unknown service"),
        ("/backups/age", {"days": 40}, 400, "no backup yet"),
        ("/backups/age", {"days": -1}, 400, "days must be"),
        ("/no/such/thing", None, 404, "no such endpoint"),
    ],
)
def test_bad_requests_are_refused_plainly_and_change_nothing(
    shared_world: SandboxWorld, path: str, body: Any, status: int, said: str
) -> None:
    world = shared_world
    assert world.kube is not None
    before = world.kube.get("deployments", "litellm")["metadata"]["resourceVersion"]
    response = post(world, path, body)
    assert response.status_code == status and said in response.json()["error"]
    assert world.kube.get("deployments", "litellm")["metadata"]["resourceVersion"] == before


def test_two_sandboxes_on_one_machine_share_no_state(tmp_path: Path) -> None:
    first = SandboxWorld(state_dir=tmp_path / "one", auto_progress=None).start()
    second = SandboxWorld(state_dir=tmp_path / "two", auto_progress=None).start()
    try:
        a, b = first.settings(), second.settings()
        for key in ("REDIS_PREFIX", "BOT_DATABASE_URL", "LITEMAAS_DATABASE_URL", "LITELLM_DATABASE_URL"):
            assert a[key] != b[key], key
        for settings in (a, b):
            assert settings["LITELLM_REDIS_URL"] != settings["REDIS_URL"], (
                "cache flush must not empty the bot"
            )
        assert a["LITELLM_REDIS_URL"] != b["LITELLM_REDIS_URL"]
        writer = redis.Redis.from_url(a["LITELLM_REDIS_URL"])
        reader = redis.Redis.from_url(b["LITELLM_REDIS_URL"])
        writer.set("litellm:cache:one", "1")
        assert reader.get("litellm:cache:one") is None
        writer.close()
        reader.close()
    finally:
        for world in (first, second):
            world.stop()
            world.drop_databases()
