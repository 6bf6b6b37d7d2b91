"""The full `status`: pods in trouble, LiteLLM and backend health, backend version, Redis and
PostgreSQL reachability, OpenShift Routes, warnings, and an answer within ~5 s whatever hangs.

Peers are real: the Kubernetes sandbox (through the official client), the LiteLLM and backend
sandboxes over HTTP, the local PostgreSQL (`pg_url`) and Redis. "Down" is 127.0.0.1:1; "hanging" is
a sandbox with latency, or a listening socket nobody answers on (PostgreSQL, Redis).
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import sandbox.kube as sandbox_kube
from commands.clients.kube import KubeClient
from commands.clients.litellm import litellm_client
from commands.cluster.status import StatusArgs, StatusOperation
from commands.contract import Result, Section
from commands.environment import Environment
from sandbox.litellm import LiteLLMSandbox
from tests.integration.conftest import NAMESPACE, make_env, redis_ping

DOWN = "http://127.0.0.1:1"


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts TCP connections (the kernel's backlog) but never answers a byte."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    try:
        yield int(listener.getsockname()[1])
    finally:
        listener.close()


def status(env: Environment) -> Result:
    [result] = list(StatusOperation().execute(env, StatusArgs(), None))
    assert isinstance(result, Result)
    for section in result.sections:
        assert len(section.fields) <= 10, section  # Slack: at most 10 fields per section
    return result


def section(result: Result, component: str) -> Section:
    return next(s for s in result.sections if s.title.split(" ")[0] == component)


def healthy_env(kube: KubeClient, litellm: Any, backend: Any, pg_url: str, redis_url: str) -> Environment:
    return make_env(
        kube,
        redis_ping(redis_url),
        litellm_url=litellm.url,
        backend_url=backend.url,
        litemaas_database_url=pg_url,
    )


# -- healthy ---------------------------------------------------------------------------------------


def test_a_healthy_deployment_shows_health_version_routes_and_no_warning(
    kube: KubeClient, litellm: Any, backend: Any, pg_url: str, redis_url: str
) -> None:
    result = status(healthy_env(kube, litellm, backend, pg_url, redis_url))

    assert result.ok, result
    assert result.warnings == ()
    llm = section(result, "litellm")
    assert llm.fields["pods"] == "1, all ready"
    assert llm.fields["readiness"] == "healthy (db connected)"
    assert llm.fields["liveliness"] == "alive"
    api = section(result, "backend")
    assert api.fields["readiness"] == "ready"
    assert api.fields["version"] == "0.4.0"
    assert api.fields["database"].startswith("reachable (PostgreSQL ")
    assert section(result, "frontend").fields["pods"] == "3, all ready"
    assert section(result, "redis").fields["PING"] == "answers PING"
    routes = section(result, "routes")
    assert routes.lines == (
        "litellm-rhpds.apps.sandbox.example → litellm:4000 (TLS edge, insecure: Redirect)",
        "litellm-admin-rhpds.apps.sandbox.example/api → litellm-backend:8080 (TLS edge, insecure: Redirect)",
        "litellm-frontend-rhpds.apps.sandbox.example → litellm-frontend:8080 (TLS edge, insecure: Redirect)",
    )


def test_the_backend_version_comes_from_its_config(
    kube: KubeClient, litellm: Any, backend: Any, pg_url: str, redis_url: str
) -> None:
    backend.set_version("0.5.1")

    result = status(healthy_env(kube, litellm, backend, pg_url, redis_url))

    assert section(result, "backend").fields["version"] == "0.5.1"


def test_routes_are_left_out_quietly_on_plain_kubernetes(tmp_path: Path, redis_url: str) -> None:
    with sandbox_kube.KubeSandbox(namespace=NAMESPACE, openshift=False) as plain:
        plain.settle()
        kube = KubeClient.from_kubeconfig(plain.write_kubeconfig(tmp_path / "kc"), NAMESPACE)
        try:
            result = status(make_env(kube, redis_ping(redis_url)))
        finally:
            kube.close()

    assert result.ok
    assert [s.title.split(" ")[0] for s in result.sections] == ["litellm", "backend", "frontend", "redis"]


def test_unreadable_routes_are_a_line_not_a_failure(sb: Any, kube: KubeClient, redis_url: str) -> None:
    sb.inject_error("GET", r"/routes$", 403, 'routes.route.openshift.io is forbidden: User "bot"')

    result = status(make_env(kube, redis_ping(redis_url)))

    assert result.ok
    [line] = section(result, "routes").lines
    assert line.startswith("cannot read the Routes: ") and "forbidden" in line


# -- not ready, down, hanging ----------------------------------------------------------------------


def test_not_ready_litellm_and_backend_are_shown_and_warned(
    kube: KubeClient, litellm: Any, backend: Any, pg_url: str, redis_url: str
) -> None:
    litellm.set_ready(False)
    backend.set_ready(False)

    result = status(healthy_env(kube, litellm, backend, pg_url, redis_url))

    assert result.ok
    assert section(result, "litellm").fields["readiness"] == "503 database not connected"
    assert section(result, "backend").fields["readiness"] == "503 not ready"
    assert result.warnings == (
        "LiteLLM is not ready: 503 database not connected",
        "the backend is not ready: 503 not ready",
    )
    assert section(result, "litellm").fields["liveliness"] == "alive"


def test_a_dead_litellm_is_not_alive(
    kube: KubeClient, litellm: Any, backend: Any, pg_url: str, redis_url: str
) -> None:
    litellm.set_alive(False)

    result = status(healthy_env(kube, litellm, backend, pg_url, redis_url))

    assert section(result, "litellm").fields["liveliness"] == "503 LiteLLM proxy is not alive"
    assert section(result, "litellm").fields["readiness"] == "healthy (db connected)"


def test_unreachable_endpoints_are_lines_and_no_secret_shows(kube: KubeClient) -> None:
    password = "hunter2-not-shown"
    env = make_env(
        kube,
        redis_ping("redis://127.0.0.1:1/0"),
        litellm_url=DOWN,
        backend_url=DOWN,
        litemaas_database_url=f"postgresql://litemaas:{password}@127.0.0.1:1/litemaas_db",
    )

    result = status(env)

    assert result.ok
    llm, api = section(result, "litellm"), section(result, "backend")
    assert llm.fields["readiness"] == "unreachable (connection refused)"
    assert llm.fields["liveliness"] == "unreachable (connection refused)"
    assert api.fields["readiness"] == "unreachable (connection refused)"
    assert api.fields["version"] == "unreachable (connection refused)"
    assert api.fields["database"].startswith("unreachable (")
    assert "refused" in api.fields["database"]
    assert section(result, "redis").fields["PING"] == "does not answer PING"
    text = json.dumps(result.to_json())
    assert password not in text and "postgresql://" not in text


def test_the_database_is_unknown_without_a_url(
    kube: KubeClient, litellm: Any, backend: Any, redis_url: str
) -> None:
    env = make_env(kube, redis_ping(redis_url), litellm_url=litellm.url, backend_url=backend.url)

    result = status(env)

    assert section(result, "backend").fields["database"] == "unknown (set LITEMAAS_DATABASE_URL)"
    assert result.warnings == ()


@pytest.mark.slow
def test_status_answers_within_five_seconds_when_everything_hangs(
    kube: KubeClient, litellm: Any, backend: Any, silent_port: int
) -> None:
    litellm.set_latency(30)
    backend.set_latency(30)
    env = make_env(
        kube,
        redis_ping(f"redis://127.0.0.1:{silent_port}/0", timeout=30),
        litellm_url=litellm.url,
        backend_url=backend.url,
        litemaas_database_url=f"postgresql://postgres@127.0.0.1:{silent_port}/postgres",
    )
    started = time.monotonic()

    result = status(env)

    elapsed = time.monotonic() - started
    assert elapsed < 5.5, elapsed
    assert result.ok
    llm, api = section(result, "litellm"), section(result, "backend")
    for value in (llm.fields["readiness"], llm.fields["liveliness"], api.fields["readiness"]):
        assert value.startswith("no answer within"), value
    assert api.fields["database"].startswith(("unreachable (", "no answer within")), api.fields["database"]
    assert section(result, "redis").fields["PING"] in {"does not answer PING", "no answer within 4 s"}


def test_statuses_share_the_environment_s_clients_through_a_restart_of_litellm(
    kube: KubeClient, litellm: Any, backend: Any, pg_url: str, redis_url: str
) -> None:
    """The long-lived client of a service is the same for every status and command of the environment;
    a command closing its LiteLLM client leaves it open, and a restarted LiteLLM (its kept-alive
    connections gone) is seen healthy again, not as a dead connection."""
    env = healthy_env(kube, litellm, backend, pg_url, redis_url)
    try:
        assert section(status(env), "litellm").fields["readiness"] == "healthy (db connected)"
        shared = env.services.http(litellm.url)
        with litellm_client(env) as command_client:
            command_client.readiness()
        assert env.services.http(litellm.url + "/") is shared and not shared.is_closed

        port = int(litellm.url.rsplit(":", 1)[1])
        litellm.stop()
        assert section(status(env), "litellm").fields["readiness"] == "unreachable (connection refused)"
        restarted = LiteLLMSandbox().start(port=port)
        try:
            llm = section(status(env), "litellm")
        finally:
            restarted.stop()
        assert (llm.fields["readiness"], llm.fields["liveliness"]) == ("healthy (db connected)", "alive")
    finally:
        env.close()
    assert shared.is_closed


# -- pods ------------------------------------------------------------------------------------------


def test_crash_looping_and_oom_killed_pods_are_counted_named_and_warned(
    sb: Any, kube: KubeClient, redis_url: str
) -> None:
    [llm_pod] = [p["metadata"]["name"] for p in sb.pods_of("litellm")]
    sb.set_pod_state(
        llm_pod, "litellm", waiting_reason="CrashLoopBackOff", terminated_reason="OOMKilled", restart_count=5
    )
    front_pod = sorted(p["metadata"]["name"] for p in sb.pods_of("litellm-frontend"))[0]
    sb.oom_kill(front_pod, "frontend")

    result = status(make_env(kube, redis_ping(redis_url)))

    assert result.ok
    llm = section(result, "litellm")
    assert llm.fields["pods"] == "1: 1 not ready, 1 restarting, 1 CrashLoopBackOff, 1 OOMKilled"
    assert llm.lines == (
        f"{llm_pod}/litellm: CrashLoopBackOff, 5 restarts, last terminated: OOMKilled (exit 137)",
    )
    front = section(result, "frontend")
    assert front.fields["pods"] == "3: 1 restarting, 1 OOMKilled"
    assert front.lines == (
        f"{front_pod}/frontend: running, 1 restart, last terminated: OOMKilled (exit 137)",
    )
    assert (
        f"litellm: 1 pod in CrashLoopBackOff ({llm_pod}/litellm, last terminated: OOMKilled)"
        in result.warnings
    )
    assert (
        f"litellm: 1 pod OOMKilled ({llm_pod}/litellm, 5 restarts): the container hit its memory limit"
        in result.warnings
    )
    assert (
        f"frontend: 1 pod OOMKilled ({front_pod}/frontend, 1 restart): the container hit its memory limit"
        in result.warnings
    )


def test_pods_of_a_failing_rollout_show_their_waiting_reason(
    sb: Any, kube: KubeClient, redis_url: str
) -> None:
    sb.fail_new_pods("litellm-backend", "ImagePullBackOff")
    kube.patch_deployment(
        "litellm-backend",
        {"spec": {"template": {"metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": "now"}}}}},
        "application/strategic-merge-patch+json",
    )
    for _ in range(5):
        sb.step()

    result = status(make_env(kube, redis_ping(redis_url)))

    api = section(result, "backend")
    assert "not ready" in api.fields["pods"]
    assert any("ImagePullBackOff" in line for line in api.lines), api.lines
    assert api.fields["rollout"] != 'deployment "litellm-backend" successfully rolled out'
