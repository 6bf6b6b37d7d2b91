"""The kube sandbox through the official `kubernetes` client (37.x, pydantic-validated models)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException

from sandbox.kube import KubeSandbox

NS = "litellm-rhpds"


@pytest.fixture
def api_client(kubeconfig: Path) -> Iterator[client.ApiClient]:
    configuration = client.Configuration()
    config.load_kube_config(config_file=str(kubeconfig), client_configuration=configuration)
    with client.ApiClient(configuration) as api:
        yield api


@pytest.fixture
def apps(api_client: client.ApiClient) -> client.AppsV1Api:
    return client.AppsV1Api(api_client)


@pytest.fixture
def core(api_client: client.ApiClient) -> client.CoreV1Api:
    return client.CoreV1Api(api_client)


@pytest.fixture
def coordination(api_client: client.ApiClient) -> client.CoordinationV1Api:
    return client.CoordinationV1Api(api_client)


def status_of(exc: ApiException) -> tuple[int, str, str]:
    """(code, reason, message) of the Status body the server answered."""
    body = json.loads(exc.body)
    return int(body["code"]), str(body["reason"]), str(body["message"])


def lease(name: str, holder: str, resource_version: str | None = None) -> client.V1Lease:
    return client.V1Lease(
        metadata=client.V1ObjectMeta(name=name, resource_version=resource_version),
        spec=client.V1LeaseSpec(holder_identity=holder, lease_duration_seconds=15),
    )


def test_read_deployment_with_images_and_labels(apps: client.AppsV1Api) -> None:
    d = apps.read_namespaced_deployment("litellm-backend", NS)

    assert d.metadata.labels == {"app": "litellm-backend", "component": "api"}
    assert [(c.name, c.image) for c in d.spec.template.spec.containers] == [
        ("backend", "quay.io/rh-aiservices-bu/litemaas-backend:0.4.0")
    ]
    assert [c.name for c in d.spec.template.spec.init_containers] == ["wait-for-database", "run-migrations"]
    assert d.status.available_replicas == 1 and d.status.observed_generation == d.metadata.generation


def test_list_pods_by_label_selector_validates_every_container_status(core: client.CoreV1Api) -> None:
    pods = core.list_namespaced_pod(NS, label_selector="app=litellm-frontend,component in (web)").items

    assert len(pods) == 3
    for pod in pods:
        assert pod.status.phase == "Running"
        assert [s.name for s in pod.status.container_statuses] == ["frontend"]
        assert all(s.ready and s.image_id for s in pod.status.container_statuses)
        assert [s.state.terminated.reason for s in pod.status.init_container_statuses] == [
            "Completed",
            "Completed",
        ]
    others = core.list_namespaced_pod(NS, label_selector="app notin (litellm-frontend),!job-name").items
    assert {p.metadata.labels["app"] for p in others} == {
        "litellm",
        "litellm-backend",
        "litellm-redis",
        "litellm-postgres",
    }


def test_statefulset_and_its_postgres_pod_are_served(apps: client.AppsV1Api, core: client.CoreV1Api) -> None:
    sts = apps.read_namespaced_stateful_set("litellm-postgres", NS)
    pod = core.read_namespaced_pod("litellm-postgres-0", NS)

    assert sts.status.ready_replicas == 1
    assert pod.spec.containers[0].image == "docker.io/library/postgres:16-alpine"
    assert pod.metadata.owner_references[0].uid == sts.metadata.uid


def test_patch_scale_with_a_dict_body_scales_and_the_controller_follows(
    kube_sandbox: KubeSandbox, apps: client.AppsV1Api
) -> None:
    generation = kube_sandbox.get("deployments", "litellm")["metadata"]["generation"]

    scale = apps.patch_namespaced_deployment_scale("litellm", NS, {"spec": {"replicas": 2}})

    assert scale.spec.replicas == 2
    (req,) = [r for r in kube_sandbox.requests if r.method == "PATCH"]
    assert req.content_type == "application/strategic-merge-patch+json"
    assert kube_sandbox.get("deployments", "litellm")["metadata"]["generation"] == generation + 1
    kube_sandbox.settle()
    assert apps.read_namespaced_deployment_scale("litellm", NS).status.replicas == 2
    assert apps.read_namespaced_deployment("litellm", NS).status.available_replicas == 2


def test_negative_replicas_are_rejected_as_invalid(kube_sandbox: KubeSandbox, apps: client.AppsV1Api) -> None:
    with pytest.raises(ApiException) as caught:
        apps.patch_namespaced_deployment_scale("litellm", NS, {"spec": {"replicas": -1}})

    code, reason, message = status_of(caught.value)
    assert (code, reason) == (422, "Invalid")
    assert "must be greater than or equal to 0" in message
    assert kube_sandbox.get("deployments", "litellm")["spec"]["replicas"] == 1


def test_watch_sees_each_rollout_stage_as_an_event(kube_sandbox: KubeSandbox, apps: client.AppsV1Api) -> None:
    rv = apps.list_namespaced_deployment(NS, field_selector="metadata.name=litellm").metadata.resource_version
    apps.patch_namespaced_deployment_scale("litellm", NS, {"spec": {"replicas": 3}})
    kube_sandbox.settle()

    seen: list[tuple[str, int, int]] = []
    w = watch.Watch()
    for event in w.stream(
        apps.list_namespaced_deployment,
        NS,
        field_selector="metadata.name=litellm",
        resource_version=rv,
        timeout_seconds=5,
    ):
        d = event["object"]
        assert d.metadata.name == "litellm"
        seen.append((event["type"], d.status.observed_generation, d.status.ready_replicas or 0))
        if (d.status.ready_replicas or 0) == 3:
            w.stop()

    assert seen[0] == ("MODIFIED", 1, 1)  # generation bumped, not yet observed
    assert [ready for _, _, ready in seen[1:]] == [1, 2, 3]


def test_watch_delivers_events_as_they_happen(kube_sandbox: KubeSandbox, apps: client.AppsV1Api) -> None:
    stepper = threading.Timer(
        0.3, lambda: apps.patch_namespaced_deployment_scale("litellm-redis", NS, {"spec": {"replicas": 0}})
    )
    stepper.start()
    started = time.monotonic()
    w = watch.Watch()
    types = []
    for event in w.stream(
        apps.list_namespaced_deployment, NS, label_selector="app=litellm-redis", timeout_seconds=5
    ):
        types.append(event["type"])
        if event["type"] == "MODIFIED":
            w.stop()
    stepper.join()

    assert types == ["ADDED", "MODIFIED"]
    assert time.monotonic() - started < 4


def test_watch_from_a_compacted_resource_version_is_410_expired(
    kube_sandbox: KubeSandbox, apps: client.AppsV1Api
) -> None:
    rv = apps.list_namespaced_deployment(NS).metadata.resource_version
    apps.patch_namespaced_deployment_scale("litellm", NS, {"spec": {"replicas": 2}})
    kube_sandbox.compact_history()

    with pytest.raises(ApiException) as caught:
        for _ in watch.Watch().stream(
            apps.list_namespaced_deployment, NS, resource_version=rv, timeout_seconds=2
        ):
            pass

    assert caught.value.status == 410


def test_lease_create_duplicate_and_stale_replace_are_409(coordination: client.CoordinationV1Api) -> None:
    created = coordination.create_namespaced_lease(NS, lease("litemaas-chatops", "pod-a"))
    stale_rv = created.metadata.resource_version

    with pytest.raises(ApiException) as duplicate:
        coordination.create_namespaced_lease(NS, lease("litemaas-chatops", "pod-b"))
    renewed = coordination.replace_namespaced_lease(
        "litemaas-chatops", NS, lease("litemaas-chatops", "pod-a", stale_rv)
    )
    with pytest.raises(ApiException) as stale:
        coordination.replace_namespaced_lease(
            "litemaas-chatops", NS, lease("litemaas-chatops", "pod-b", stale_rv)
        )

    assert status_of(duplicate.value) == (
        409,
        "AlreadyExists",
        'leases.coordination.k8s.io "litemaas-chatops" already exists',
    )
    assert int(renewed.metadata.resource_version) > int(stale_rv)
    assert status_of(stale.value)[:2] == (409, "Conflict")
    assert "the object has been modified" in status_of(stale.value)[2]
    assert coordination.read_namespaced_lease("litemaas-chatops", NS).spec.holder_identity == "pod-a"
    coordination.delete_namespaced_lease("litemaas-chatops", NS)
    with pytest.raises(ApiException) as gone:
        coordination.read_namespaced_lease("litemaas-chatops", NS)
    assert gone.value.status == 404


def test_pod_logs_honour_container_and_tail_lines(kube_sandbox: KubeSandbox, core: client.CoreV1Api) -> None:
    (pod,) = kube_sandbox.pods_of("litellm-backend")
    name = pod["metadata"]["name"]
    kube_sandbox.set_logs(name, "backend", ["a", "b", "c"])
    kube_sandbox.set_logs(name, "backend", ["crashed: ECONNREFUSED"], previous=True)

    assert core.read_namespaced_pod_log(name, NS, container="backend", tail_lines=2) == "b\nc\n"
    assert (
        core.read_namespaced_pod_log(name, NS, container="backend", previous=True)
        == "crashed: ECONNREFUSED\n"
    )
    assert "Migrations applied" in core.read_namespaced_pod_log(name, NS, container="run-migrations")
    with pytest.raises(ApiException) as caught:
        core.read_namespaced_pod_log(name, NS, container="run-migrations", previous=True)
    assert status_of(caught.value) == (
        400,
        "BadRequest",
        f'previous terminated container "run-migrations" in pod "{name}" not found',
    )


def test_crashlooping_container_shows_in_pod_status_and_deployment_availability(
    kube_sandbox: KubeSandbox, core: client.CoreV1Api, apps: client.AppsV1Api
) -> None:
    (pod,) = kube_sandbox.pods_of("litellm")
    name = pod["metadata"]["name"]

    kube_sandbox.set_pod_state(
        name, "litellm", waiting_reason="CrashLoopBackOff", terminated_reason="OOMKilled", restart_count=4
    )

    status: Any = core.read_namespaced_pod(name, NS).status.container_statuses[0]
    assert (status.ready, status.restart_count) == (False, 4)
    assert status.state.waiting.reason == "CrashLoopBackOff"
    assert (status.last_state.terminated.reason, status.last_state.terminated.exit_code) == ("OOMKilled", 137)
    d = apps.read_namespaced_deployment("litellm", NS)
    assert not d.status.available_replicas
    assert {c.type: c.status for c in d.status.conditions}["Available"] == "False"


def test_injected_error_reaches_the_client_once(kube_sandbox: KubeSandbox, apps: client.AppsV1Api) -> None:
    kube_sandbox.inject_error("GET", r"/deployments/litellm$", 500, "etcdserver: request timed out")

    with pytest.raises(ApiException) as caught:
        apps.read_namespaced_deployment("litellm", NS)

    assert status_of(caught.value) == (500, "InternalError", "etcdserver: request timed out")
    assert apps.read_namespaced_deployment("litellm", NS).metadata.name == "litellm"
