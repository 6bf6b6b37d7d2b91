"""The LiteLLM and LiteMaaS backend emulators over real HTTP (httpx): health, config and the controls.

Shapes follow litellm-facts.md §2 and litemaas-facts.md §2.4; what the bot's `status` reads must be
there, with the documented field names and status codes.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from sandbox.backend import BackendSandbox
from sandbox.litellm import LiteLLMSandbox


@pytest.fixture
def litellm() -> Iterator[LiteLLMSandbox]:
    with LiteLLMSandbox() as sb:
        yield sb


@pytest.fixture
def backend() -> Iterator[BackendSandbox]:
    with BackendSandbox() as sb:
        yield sb


# -- LiteLLM ---------------------------------------------------------------------------------------


def test_litellm_readiness_reports_version_db_and_cache(litellm: LiteLLMSandbox) -> None:
    reply = httpx.get(f"{litellm.url}/health/readiness", timeout=5)

    assert reply.status_code == 200
    body = reply.json()
    assert (body["status"], body["db"], body["cache"], body["litellm_version"]) == (
        "healthy",
        "connected",
        "redis",
        "1.81.0",
    )


def test_litellm_not_ready_answers_503_with_the_reason_and_recovers(litellm: LiteLLMSandbox) -> None:
    litellm.set_ready(False)
    down = httpx.get(f"{litellm.url}/health/readiness", timeout=5)
    litellm.set_ready(False, reason="prisma client not generated")
    other = httpx.get(f"{litellm.url}/health/readiness", timeout=5)
    litellm.set_ready(True)
    up = httpx.get(f"{litellm.url}/health/readiness", timeout=5)

    assert down.status_code == 503
    assert (down.json()["status"], down.json()["error"]) == ("unhealthy", "database not connected")
    assert other.json()["error"] == "prisma client not generated"
    assert up.status_code == 200 and up.json()["status"] == "healthy"
    assert httpx.get(f"{litellm.url}/health/liveliness", timeout=5).status_code == 200  # readiness only


def test_litellm_liveness_paths_and_the_one_that_does_not_exist(litellm: LiteLLMSandbox) -> None:
    with httpx.Client(base_url=litellm.url, timeout=5) as http:
        liveliness = http.get("/health/liveliness")
        liveness = http.get("/health/liveness")
        livenessz = http.get("/health/livenessz")
        post = http.post("/health/readiness")
        litellm.set_alive(False)
        dead = http.get("/health/liveliness")

    assert (liveliness.status_code, liveliness.json()) == (200, "I'm alive!")
    assert (liveness.status_code, liveness.json()) == (200, "I'm alive!")
    assert (livenessz.status_code, livenessz.json()) == (404, {"detail": "Not Found"})
    assert post.status_code == 405
    assert dead.status_code == 503


def test_litellm_records_requests_and_honours_latency(litellm: LiteLLMSandbox) -> None:
    httpx.get(f"{litellm.url}/health/readiness", params={"x": "1"}, headers={"X-Probe": "bot"}, timeout=5)
    litellm.set_latency(0.5)
    with pytest.raises(httpx.ReadTimeout):
        httpx.get(f"{litellm.url}/health/liveliness", timeout=0.1)
    litellm.set_latency(0)
    assert httpx.get(f"{litellm.url}/health/liveliness", timeout=2).status_code == 200

    first = litellm.requests[0]
    assert (first.method, first.path, first.query, first.headers["x-probe"]) == (
        "GET",
        "/health/readiness",
        {"x": "1"},
        "bot",
    )
    assert [r.path for r in litellm.requests] == [
        "/health/readiness",
        "/health/liveliness",
        "/health/liveliness",
    ]
    with pytest.raises(ValueError):
        litellm.set_latency(-1)
    with pytest.raises(ValueError):
        LiteLLMSandbox(master_key="not-an-sk-key")


def test_stop_is_prompt_with_a_delayed_reply_in_flight_and_safe_twice() -> None:
    sb = LiteLLMSandbox().start()
    sb.set_latency(30)
    url = sb.url
    with httpx.Client(timeout=5) as http:
        errors: list[BaseException] = []

        def call() -> None:
            try:
                http.get(f"{url}/health/readiness")
            except httpx.HTTPError as exc:
                errors.append(exc)

        caller = threading.Thread(target=call)
        caller.start()
        time.sleep(0.2)
        started = time.monotonic()
        sb.stop()
        sb.stop()
        caller.join(timeout=5)
    assert time.monotonic() - started < 3
    assert errors and not caller.is_alive()


# -- LiteMaaS backend ------------------------------------------------------------------------------


def test_backend_health_probes_and_config_have_the_documented_shapes(backend: BackendSandbox) -> None:
    with httpx.Client(base_url=backend.url, timeout=5) as http:
        health = http.get("/api/v1/health")
        ready = http.get("/api/v1/health/ready")
        live = http.get("/api/v1/health/live")
        cfg = http.get("/api/v1/config")

    assert health.status_code == 200
    body = health.json()
    assert set(body) == {"status", "timestamp", "version", "checks", "details"}
    assert body["status"] == "healthy" and body["version"] == "workspace"  # not the release: facts §2.4
    assert body["checks"] == {"database": "healthy", "litellm": "healthy", "auth": "healthy"}
    assert {"uptime", "memoryUsage", "environment", "litellmMetrics"} <= set(body["details"])
    assert (ready.status_code, ready.json()) == (200, {"ready": True})
    assert (live.status_code, live.json()) == (200, {"alive": True})
    assert cfg.status_code == 200
    assert cfg.json()["version"] == "0.4.0"
    assert {
        "version",
        "usageCacheTtlMinutes",
        "environment",
        "currency",
        "litellmApiUrl",
        "authMode",
        "authProvider",
    } == set(cfg.json())


def test_backend_not_ready_and_a_new_version(backend: BackendSandbox) -> None:
    backend.set_ready(False)
    backend.set_version("0.5.0")
    with httpx.Client(base_url=backend.url, timeout=5) as http:
        ready = http.get("/api/v1/health/ready")
        health = http.get("/api/v1/health")
        version = http.get("/api/v1/config").json()["version"]
        missing = http.get("/api/v1/nosuch")

    assert (ready.status_code, ready.json()) == (503, {"ready": False})
    assert health.status_code == 503
    assert (health.json()["status"], health.json()["checks"]["database"]) == ("unhealthy", "unhealthy")
    assert version == "0.5.0"
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "NOT_FOUND"
    assert BackendSandbox(version="0.6.1").state.health().version == "0.6.1"
    with pytest.raises(ValueError):
        backend.set_version("bad version!")


def test_backend_latency_and_recorded_requests(backend: BackendSandbox) -> None:
    backend.set_latency(0.5)
    with pytest.raises(httpx.ReadTimeout):
        httpx.get(f"{backend.url}/api/v1/health/ready", timeout=0.1)
    backend.set_latency(0.0)

    assert httpx.get(f"{backend.url}/api/v1/config", timeout=2).status_code == 200
    assert [(r.method, r.path) for r in backend.requests] == [
        ("GET", "/api/v1/health/ready"),
        ("GET", "/api/v1/config"),
    ]
    with pytest.raises(ValueError):
        backend.set_latency(float("nan"))
