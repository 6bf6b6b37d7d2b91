"""`status` and `scale` against the Kubernetes sandbox over HTTP, through the real `kubernetes` client.

Redis health is a real PING of the local Redis (up) or of a closed port (down). Rollouts advance by
`sb.step()` from a helper thread while `execute` watches.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pydantic
import pytest

import sandbox.kube as sandbox_kube
from commands.clients.kube import KubeClient
from commands.clients.kube_errors import KubeError
from commands.clients.rollout import RolloutStatus, watch_rollout
from commands.cluster.scale import ScaleArgs, ScaleOperation
from commands.cluster.status import StatusArgs, StatusOperation
from commands.contract import Event, OperationError, Progress, Result
from commands.environment import DEFAULT_COMPONENTS, Component, Environment
from tests.integration.conftest import NAMESPACE, make_env, only_result, redis_ping

DEAD_URL_PORT = 1  # nothing listens there: "Redis is down" without stopping the shared server
STEP_INTERVAL = 0.02


@pytest.fixture
def sb() -> Iterator[Any]:
    """Plain Kubernetes (no Routes): status shows exactly the component sections here."""
    sandbox = sandbox_kube.KubeSandbox(namespace=NAMESPACE, seed=True, openshift=False).start()
    try:
        sandbox.settle()
        yield sandbox
    finally:
        sandbox.stop()


@pytest.fixture
def redis_up(redis_url: str) -> Callable[[], bool]:
    ping = redis_ping(redis_url)
    assert ping(), "the local Redis must answer for these tests"
    return ping


@pytest.fixture
def redis_down() -> Callable[[], bool]:
    ping = redis_ping(f"redis://127.0.0.1:{DEAD_URL_PORT}/0")
    assert not ping()
    return ping


class Stepper:
    """Steps the sandbox's rollouts from a thread until stopped (bounded by a deadline)."""

    def __init__(self, sb: Any, action: Callable[[], Any] | None = None, deadline: float = 20.0) -> None:
        self._action = action or sb.step
        self._stop = threading.Event()
        self._deadline = time.monotonic() + deadline
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set() and time.monotonic() < self._deadline:
            self._action()
            self._stop.wait(STEP_INTERVAL)

    def __enter__(self) -> Stepper:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


# -- status ----------------------------------------------------------------------------------------


def test_status_reports_every_component_with_image_tags(
    kube: KubeClient, redis_up: Callable[[], bool]
) -> None:
    [result] = list(StatusOperation().execute(make_env(kube, redis_up), StatusArgs(), None))

    assert isinstance(result, Result) and result.ok
    assert result.warnings == ()
    by_title = {s.title.split(" ")[0]: s for s in result.sections}
    assert set(by_title) == {"litellm", "backend", "frontend", "redis"}

    backend = by_title["backend"].fields
    assert backend["replicas"] == "1/1"
    assert backend["rollout"] == 'deployment "litellm-backend" successfully rolled out'
    assert backend["image (backend)"] == "0.4.0"
    assert backend["image (run-migrations)"] == "0.4.0"
    assert "image (wait-for-database)" in backend

    frontend = by_title["frontend"].fields
    assert frontend["replicas"] == "3/3"
    assert frontend["image (frontend)"] == "0.4.0"
    assert frontend["image (copy-custom-logos)"] == "0.4.0"
    assert by_title["litellm"].fields["image (litellm)"] == "main-v1.81.0-stable-custom"
    assert "4 of 4" in result.summary


def test_status_warns_when_only_the_frontend_image_changed(
    sb: Any, kube: KubeClient, redis_up: Callable[[], bool]
) -> None:
    current = kube.get_deployment("litellm-frontend")
    image = current["spec"]["template"]["spec"]["containers"][0]["image"]
    new_image = image.rsplit(":", 1)[0] + ":0.5.0"
    order = [{"name": c["name"]} for c in current["spec"]["template"]["spec"]["containers"]]
    kube.patch_deployment(
        "litellm-frontend",
        {
            "spec": {
                "template": {
                    "spec": {
                        "$setElementOrder/containers": order,
                        "containers": [{"name": "frontend", "image": new_image}],
                    }
                }
            }
        },
        "application/strategic-merge-patch+json",
    )

    [result] = list(StatusOperation().execute(make_env(kube, redis_up), StatusArgs(), None))

    assert isinstance(result, Result) and result.ok
    assert result.warnings == (
        "frontend: init container copy-custom-logos runs 0.4.0 but frontend runs 0.5.0"
        " — the old UI bundle is served",
    )
    frontend = next(s for s in result.sections if s.title.startswith("frontend"))
    assert frontend.fields["image (frontend)"] == "0.5.0"
    assert frontend.fields["rollout"] != 'deployment "litellm-frontend" successfully rolled out'


def test_status_warns_about_backend_and_litellm_replicas(
    sb: Any, kube: KubeClient, redis_down: Callable[[], bool]
) -> None:
    kube.patch_scale("litellm-backend", 2)
    kube.patch_scale("litellm", 2)

    [result] = list(StatusOperation().execute(make_env(kube, redis_down), StatusArgs(), None))

    assert isinstance(result, Result) and result.ok
    assert any(
        "OAuth state is in-memory: login breaks with more than one backend replica" in w
        for w in result.warnings
    )
    assert any(
        w.startswith("LiteLLM runs 2 replicas but litellm-redis does not answer") for w in result.warnings
    )


def test_status_reports_a_missing_deployment(kube: KubeClient, redis_up: Callable[[], bool]) -> None:
    components = dict(DEFAULT_COMPONENTS)
    components["mcp"] = Component("mcp", "litellm-mcp", "mcp")

    [result] = list(
        StatusOperation().execute(make_env(kube, redis_up, components=components), StatusArgs(), None)
    )

    assert isinstance(result, Result) and result.ok
    assert "mcp: Deployment litellm-mcp not found in litellm-rhpds" in result.warnings
    assert len(result.sections) == 4
    assert "1 missing" in result.summary


def test_status_when_the_api_server_fails(sb: Any, kube: KubeClient, redis_up: Callable[[], bool]) -> None:
    sb.inject_error("GET", r"/deployments$", 500, "etcdserver: request timed out")

    [result] = list(StatusOperation().execute(make_env(kube, redis_up), StatusArgs(), None))

    assert isinstance(result, Result) and not result.ok
    assert "etcdserver: request timed out" in result.summary


def test_status_when_the_api_server_is_unreachable(tmp_path: Path, redis_up: Callable[[], bool]) -> None:
    path = tmp_path / "kubeconfig"
    path.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: x\n"
        f"clusters: [{{name: c, cluster: {{server: 'http://127.0.0.1:{DEAD_URL_PORT}'}}}}]\n"
        "users: [{name: u, user: {token: xoxb-not-a-real-token}}]\n"
        "contexts: [{name: x, context: {cluster: c, user: u}}]\n"
    )
    kube = KubeClient.from_kubeconfig(path, NAMESPACE)
    try:
        [result] = list(StatusOperation().execute(make_env(kube, redis_up), StatusArgs(), None))
    finally:
        kube.close()

    assert isinstance(result, Result) and not result.ok
    assert "Unreachable" in result.summary
    assert "xoxb" not in result.summary


# -- scale: arguments ------------------------------------------------------------------------------


@pytest.mark.parametrize("replicas", ["abc", "-1", "2.5", ""])
def test_scale_rejects_bad_replica_counts(replicas: str) -> None:
    with pytest.raises(pydantic.ValidationError):
        ScaleArgs.model_validate({"component": "litellm", "replicas": replicas})


def test_scale_rejects_unknown_components_listing_valid_ones() -> None:
    with pytest.raises(pydantic.ValidationError) as caught:
        ScaleArgs.model_validate(
            {"component": "postgres", "replicas": "2"}, context={"components": list(DEFAULT_COMPONENTS)}
        )
    assert "choose one of: litellm, backend, frontend, redis" in str(caught.value)
    args = ScaleArgs.model_validate(
        {"component": "LiteLLM", "replicas": "2"}, context={"components": list(DEFAULT_COMPONENTS)}
    )
    assert (args.component, args.replicas) == ("litellm", 2)


# -- scale: plans and refusals ---------------------------------------------------------------------


def test_scale_plan_describes_the_change(kube: KubeClient, redis_up: Callable[[], bool]) -> None:
    env = make_env(kube, redis_up)
    args = ScaleArgs(component="litellm", replicas=3)

    plan = ScaleOperation().plan(env, args)

    assert not plan.noop
    assert plan.target == "deployment/litellm"
    assert [vars(c) for c in plan.changes] == [
        {"target": "deployment/litellm", "field": "replicas", "before": "1", "after": "3"}
    ]
    assert plan.observed["deployment"] == "litellm" and plan.observed["replicas"] == 1
    assert plan.risks == ()


def test_scale_to_the_current_count_is_a_noop(kube: KubeClient, redis_up: Callable[[], bool]) -> None:
    plan = ScaleOperation().plan(make_env(kube, redis_up), ScaleArgs(component="frontend", replicas=3))
    assert plan.noop
    assert "already at 3 replicas" in plan.summary
    assert plan.changes == ()


REFUSALS: list[tuple[str, int, bool, str, str]] = [
    (
        "litellm",
        3,
        False,
        "down",
        "LiteLLM needs Redis for more than one replica: litellm-redis does not answer",
    ),
    ("backend", 2, False, "up", "OAuth state is in-memory"),
    ("litellm", 11, False, "up", "between 0 and 10"),
    ("redis", 2, True, "up", "between 0 and 1"),
]


@pytest.mark.parametrize(("component", "replicas", "force", "redis_state", "reason"), REFUSALS)
def test_scale_refusals_change_nothing(
    sb: Any,
    kube: KubeClient,
    redis_url: str,
    component: str,
    replicas: int,
    force: bool,
    redis_state: str,
    reason: str,
) -> None:
    ping = redis_ping(redis_url if redis_state == "up" else f"redis://127.0.0.1:{DEAD_URL_PORT}/0")
    env = make_env(kube, ping)
    deployment = env.component(component).deployment
    before = sb.get("deployments", deployment)

    with pytest.raises(OperationError) as caught:
        ScaleOperation().plan(env, ScaleArgs(component=component, replicas=replicas, force=force))

    assert reason in str(caught.value)
    if component == "backend":
        assert "--force" in str(caught.value)
    assert sb.get("deployments", deployment)["spec"] == before["spec"]
    assert sb.writes() == []


def test_backend_above_one_with_force_is_planned_with_the_risk(
    kube: KubeClient, redis_up: Callable[[], bool]
) -> None:
    plan = ScaleOperation().plan(
        make_env(kube, redis_up), ScaleArgs(component="backend", replicas=2, force=True)
    )
    assert plan.changes[0].after == "2"
    assert any("OAuth state is in-memory" in r for r in plan.risks)


# -- scale: execution ------------------------------------------------------------------------------


def run_scale(env: Environment, args: ScaleArgs) -> list[Event]:
    op = ScaleOperation()
    return list(op.execute(env, args, op.plan(env, args)))


def test_scale_litellm_to_three_follows_the_rollout(
    sb: Any, kube: KubeClient, redis_up: Callable[[], bool]
) -> None:
    env = make_env(kube, redis_up, rollout_timeout=20.0)

    with Stepper(sb):
        events = run_scale(env, ScaleArgs(component="litellm", replicas=3))

    result = only_result(events)
    assert result.ok, result
    assert result.summary == "litellm scaled from 1 to 3 replicas; rollout complete"
    assert sb.get("deployments", "litellm")["spec"]["replicas"] == 3
    assert sb.get("deployments", "litellm")["status"]["availableReplicas"] == 3

    counted = [e for e in events if isinstance(e, Progress) and e.total is not None]
    assert counted, events
    assert all(e.total == 3 for e in counted)
    done = [e.done or 0 for e in counted]
    assert done == sorted(done) and max(done) <= 3
    assert all(e.text.startswith("Waiting for deployment") for e in counted)

    scale_patches = [r for r in sb.writes() if r.path.endswith("/deployments/litellm/scale")]
    assert len(scale_patches) == 1 and scale_patches[0].method == "PATCH"
    assert len(sb.writes()) == 1


def test_scale_reports_a_rollout_that_exceeds_its_deadline(
    sb: Any, kube: KubeClient, redis_up: Callable[[], bool]
) -> None:
    env = make_env(kube, redis_up, rollout_timeout=20.0)
    failed = threading.Event()

    def fail_then_step() -> None:
        if not failed.is_set() and sb.get("deployments", "litellm")["spec"]["replicas"] == 2:
            sb.fail_rollout("litellm")
            failed.set()
        if failed.is_set():
            sb.step()

    with Stepper(sb, action=fail_then_step):
        events = run_scale(env, ScaleArgs(component="litellm", replicas=2))

    result = only_result(events)
    assert not result.ok
    assert 'deployment "litellm" exceeded its progress deadline' in result.summary


def test_scale_times_out_when_the_rollout_does_not_move(
    sb: Any, kube: KubeClient, redis_up: Callable[[], bool]
) -> None:
    env = make_env(kube, redis_up, rollout_timeout=1.0)
    started = time.monotonic()

    events = run_scale(env, ScaleArgs(component="frontend", replicas=4))

    result = only_result(events)
    assert not result.ok
    assert "timed out after 1s waiting for" in result.summary
    assert time.monotonic() - started < 5
    assert sb.get("deployments", "litellm-frontend")["spec"]["replicas"] == 4


def test_scale_reports_an_api_failure_on_patch(
    sb: Any, kube: KubeClient, redis_up: Callable[[], bool]
) -> None:
    sb.inject_error("PATCH", r"/deployments/litellm/scale$", 500, "etcdserver: leader changed")
    env = make_env(kube, redis_up, rollout_timeout=5.0)

    events = run_scale(env, ScaleArgs(component="litellm", replicas=3))

    result = only_result(events)
    assert not result.ok
    assert "etcdserver: leader changed" in result.summary
    assert sb.get("deployments", "litellm")["spec"]["replicas"] == 1


# -- the client itself -----------------------------------------------------------------------------


def test_kube_errors_carry_the_served_status(kube: KubeClient) -> None:
    with pytest.raises(KubeError) as caught:
        kube.get_deployment("nope")
    assert caught.value.status == 404
    assert caught.value.reason == "NotFound"
    assert str(caught.value).startswith("Kubernetes API: NotFound: ")


def test_watch_rollout_follows_each_step_from_the_first_read(sb: Any, kube: KubeClient) -> None:
    kube.patch_scale("litellm", 2)
    seen: list[str] = []
    stepper = Stepper(sb)

    def on_status(status: RolloutStatus) -> None:
        seen.append(status.message)
        if len(seen) == 1:  # the rollout only moves once the watcher has read the first state
            stepper.__enter__()

    try:
        final = watch_rollout(kube, "litellm", 10.0, on_status=on_status)
    finally:
        stepper.__exit__()
    assert final.done
    assert seen[0] == "Waiting for deployment spec update to be observed..."
    assert seen[-1] == 'deployment "litellm" successfully rolled out'
    assert all(a != b for a, b in itertools.pairwise(seen)), seen
    watches = [r for r in sb.requests if r.query.get("watch") in {"true", "1", "True"}]
    assert watches and all(r.query.get("fieldSelector") == "metadata.name=litellm" for r in watches)


def test_a_watch_from_an_expired_version_is_a_410_kube_error(sb: Any, kube: KubeClient) -> None:
    old = kube.get_deployment("litellm")["metadata"]["resourceVersion"]
    kube.patch_scale("litellm", 2)
    sb.compact_history()

    with pytest.raises(KubeError) as caught:
        list(kube.watch_deployment("litellm", old, 2))

    assert caught.value.status == 410
    assert caught.value.reason == "Expired"
