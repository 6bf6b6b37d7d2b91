"""The kube sandbox at the HTTP level (httpx): the parts of kube-api-surface.md §4 that neither
kubectl nor the typed client exercise on their own — ParseBool watches, content types, Status
errors, strategic-merge directives, preconditions, selectors, logs and the controller's bookkeeping."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from sandbox.kube import KubeSandbox

NS = "litellm-rhpds"
APPS = f"/apis/apps/v1/namespaces/{NS}"
CORE = f"/api/v1/namespaces/{NS}"
SMP = "application/strategic-merge-patch+json"


@pytest.fixture
def http(kube_sandbox: KubeSandbox) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=kube_sandbox.url, timeout=10, headers={"Authorization": "Bearer t"}) as c:
        yield c


def status(resp: httpx.Response) -> tuple[int, str, str]:
    body = resp.json()
    assert body["kind"] == "Status" and body["code"] == resp.status_code
    return resp.status_code, body["reason"], body["message"]


def watch_lines(http: httpx.Client, path: str, params: dict[str, str]) -> list[dict[str, Any]]:
    with http.stream("GET", path, params=params) as resp:
        assert resp.status_code == 200
        assert resp.headers["content-type"] == "application/json"
        assert resp.headers["transfer-encoding"] == "chunked"
        return [json.loads(line) for line in resp.iter_lines() if line]


def test_version_and_discovery_name_the_resources_kubectl_resolves(http: httpx.Client) -> None:
    assert http.get("/version").json()["minor"] == "32"
    groups = {g["name"] for g in http.get("/apis").json()["groups"]}
    apps = {r["name"]: r for r in http.get("/apis/apps/v1").json()["resources"]}

    assert groups == {"apps", "coordination.k8s.io", "route.openshift.io"}
    assert apps["deployments"]["shortNames"] == ["deploy"]
    assert (apps["deployments/scale"]["group"], apps["deployments/scale"]["kind"]) == ("autoscaling", "Scale")
    core = {r["name"] for r in http.get("/api/v1").json()["resources"]}
    assert {"pods", "pods/log", "services"} <= core


@pytest.mark.parametrize("spelling", ["True", "true", "1", "t"])
def test_watch_accepts_go_parsebool_spellings(http: httpx.Client, spelling: str) -> None:
    events = watch_lines(http, f"{APPS}/deployments", {"watch": spelling, "timeoutSeconds": "1"})

    assert sorted(e["object"]["metadata"]["name"] for e in events) == [
        "litellm",
        "litellm-backend",
        "litellm-frontend",
        "litellm-redis",
    ]
    assert {(e["type"], e["object"]["kind"], e["object"]["apiVersion"]) for e in events} == {
        ("ADDED", "Deployment", "apps/v1")
    }


def test_watch_false_is_a_list_and_nonsense_is_a_bad_request(http: httpx.Client) -> None:
    assert http.get(f"{APPS}/deployments", params={"watch": "False"}).json()["kind"] == "DeploymentList"
    assert status(http.get(f"{APPS}/deployments", params={"watch": "yes"}))[:2] == (400, "BadRequest")


def test_watch_resumes_after_a_resource_version_with_only_newer_events(
    kube_sandbox: KubeSandbox, http: httpx.Client
) -> None:
    rv = http.get(f"{APPS}/deployments").json()["metadata"]["resourceVersion"]
    http.patch(
        f"{APPS}/deployments/litellm-redis/scale",
        json={"spec": {"replicas": 2}},
        headers={"Content-Type": "application/merge-patch+json"},
    )
    kube_sandbox.settle()

    events = watch_lines(
        http,
        f"{APPS}/deployments",
        {
            "watch": "true",
            "resourceVersion": rv,
            "timeoutSeconds": "1",
            "fieldSelector": "metadata.name=litellm-redis",
        },
    )

    assert {e["object"]["metadata"]["name"] for e in events} == {"litellm-redis"}
    assert [e["object"]["status"].get("readyReplicas") for e in events] == [1, 1, 2]
    assert all(int(e["object"]["metadata"]["resourceVersion"]) > int(rv) for e in events)


def test_unknown_paths_and_objects_are_status_404(http: httpx.Client) -> None:
    assert status(http.get("/apis/batch/v1/jobs")) == (
        404,
        "NotFound",
        "the server could not find the requested resource",
    )
    assert status(http.get(f"{APPS}/deployments/nope")) == (
        404,
        "NotFound",
        'deployments.apps "nope" not found',
    )
    assert status(http.get(f"{CORE}/pods/nope")) == (404, "NotFound", 'pods "nope" not found')


def test_server_side_apply_and_protobuf_bodies_are_415(http: httpx.Client) -> None:
    ssa = http.patch(
        f"{APPS}/deployments/litellm",
        content=b"spec: {}",
        headers={"Content-Type": "application/apply-patch+yaml"},
    )
    proto = http.post(
        f"{APPS}/deployments",
        content=b"k8s\x00",
        headers={"Content-Type": "application/vnd.kubernetes.protobuf"},
    )

    assert status(ssa)[:2] == (415, "UnsupportedMediaType")
    assert status(proto)[:2] == (415, "UnsupportedMediaType")


def test_malformed_bodies_are_bad_requests_not_crashes(http: httpx.Client) -> None:
    bad_json = http.patch(f"{APPS}/deployments/litellm", content=b"{nope", headers={"Content-Type": SMP})
    bad_ops = http.patch(
        f"{APPS}/deployments/litellm",
        json=[{"op": "replace", "path": "/spec/nope/x", "value": 1}],
        headers={"Content-Type": "application/json-patch+json"},
    )
    not_object = http.put(f"{APPS}/deployments/litellm", content=b"[1]")

    assert status(bad_json)[:2] == (400, "BadRequest")
    assert status(bad_ops)[0] == 422
    assert status(not_object)[:2] == (400, "BadRequest")
    assert http.get(f"{APPS}/deployments/litellm").status_code == 200


def test_strategic_merge_honours_merge_keys_and_directives(
    kube_sandbox: KubeSandbox, http: httpx.Client
) -> None:
    patch = {
        "spec": {
            "template": {
                "spec": {
                    "$setElementOrder/containers": [{"name": "sidecar"}, {"name": "litellm"}],
                    "containers": [
                        {
                            "name": "litellm",
                            "env": [
                                {"name": "REDIS_PORT", "$patch": "delete"},
                                {"name": "NEW", "value": "1"},
                            ],
                        },
                        {"name": "sidecar", "image": "busybox:1.36"},
                    ],
                }
            }
        }
    }

    resp = http.patch(f"{APPS}/deployments/litellm", json=patch, headers={"Content-Type": SMP})

    assert resp.status_code == 200
    containers = kube_sandbox.get("deployments", "litellm")["spec"]["template"]["spec"]["containers"]
    assert [c["name"] for c in containers] == ["sidecar", "litellm"]
    assert [e["name"] for e in containers[1]["env"]] == ["STORE_MODEL_IN_DB", "REDIS_HOST", "NEW"]
    assert containers[1]["image"].startswith("quay.io/rh-aiservices-bu/litellm-non-root")


def test_metadata_only_changes_do_not_start_a_rollout(kube_sandbox: KubeSandbox, http: httpx.Client) -> None:
    before = kube_sandbox.get("deployments", "litellm")

    http.patch(
        f"{APPS}/deployments/litellm",
        json={"metadata": {"labels": {"team": "maas"}}},
        headers={"Content-Type": "application/merge-patch+json"},
    )

    after = kube_sandbox.get("deployments", "litellm")
    assert after["metadata"]["labels"]["team"] == "maas"
    assert after["metadata"]["generation"] == before["metadata"]["generation"]
    assert kube_sandbox.in_progress() == []


def test_scale_put_without_content_type_checks_the_resource_version(http: httpx.Client) -> None:
    scale = http.get(f"{APPS}/deployments/litellm/scale").json()
    assert (scale["status"]["selector"], scale["spec"]["replicas"]) == ("app=litellm", 1)
    scale["spec"]["replicas"] = 2
    body = json.dumps(scale).encode()

    first = http.put(f"{APPS}/deployments/litellm/scale", content=body)
    second = http.put(f"{APPS}/deployments/litellm/scale", content=body)

    assert first.status_code == 200 and first.json()["spec"]["replicas"] == 2
    assert status(second)[:2] == (409, "Conflict")


def test_field_selector_rejects_unsupported_labels(http: httpx.Client) -> None:
    assert status(http.get(f"{APPS}/deployments", params={"fieldSelector": "spec.replicas=1"}))[0] == 400
    running = http.get(
        f"{CORE}/pods", params={"fieldSelector": "status.phase=Running,metadata.name!=litellm-postgres-0"}
    )
    assert len(running.json()["items"]) == 6


def test_log_needs_a_container_name_when_the_pod_has_several(
    kube_sandbox: KubeSandbox, http: httpx.Client
) -> None:
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "debug"},
        "spec": {"containers": [{"name": "a", "image": "busybox"}, {"name": "b", "image": "busybox"}]},
    }
    assert http.post(f"{CORE}/pods", json=pod).status_code == 201

    resp = http.get(f"{CORE}/pods/debug/log")

    assert status(resp) == (
        400,
        "BadRequest",
        "a container name must be specified for pod debug, choose one of: [a b]",
    )
    assert http.get(f"{CORE}/pods/debug/log", params={"container": "zz"}).status_code == 400
    followed = http.get(f"{CORE}/pods/debug/log", params={"container": "a", "follow": "true"})
    assert (followed.headers["content-type"], followed.text) == ("text/plain", "a started\n")


def test_a_created_deployment_is_rolled_out_and_deleting_it_removes_its_pods(
    kube_sandbox: KubeSandbox, http: httpx.Client
) -> None:
    body = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "worker"},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "worker"}},
            "template": {
                "metadata": {"labels": {"app": "worker"}},
                "spec": {"containers": [{"name": "w", "image": "busybox:1.36"}]},
            },
        },
    }
    assert http.post(f"{APPS}/deployments", json=body).status_code == 201
    assert status(http.post(f"{APPS}/deployments", json=body))[:2] == (409, "AlreadyExists")

    kube_sandbox.settle()
    assert len(http.get(f"{CORE}/pods", params={"labelSelector": "app=worker"}).json()["items"]) == 2

    assert http.delete(f"{APPS}/deployments/worker").json()["status"] == "Success"
    assert http.get(f"{CORE}/pods", params={"labelSelector": "app=worker"}).json()["items"] == []
    assert http.get(f"{APPS}/replicasets", params={"labelSelector": "app=worker"}).json()["items"] == []


def test_a_deployment_whose_selector_misses_its_labels_is_invalid(http: httpx.Client) -> None:
    body = {
        "metadata": {"name": "bad"},
        "spec": {
            "selector": {"matchLabels": {"app": "x"}},
            "template": {
                "metadata": {"labels": {"app": "y"}},
                "spec": {"containers": [{"name": "c", "image": "i"}]},
            },
        },
    }

    assert status(http.post(f"{APPS}/deployments", json=body))[:2] == (422, "Invalid")


def test_a_deleted_pod_is_replaced_by_the_controller(kube_sandbox: KubeSandbox, http: httpx.Client) -> None:
    (pod,) = kube_sandbox.pods_of("litellm-backend")

    http.delete(f"{CORE}/pods/{pod['metadata']['name']}")
    kube_sandbox.settle()

    (replacement,) = kube_sandbox.pods_of("litellm-backend")
    assert replacement["metadata"]["name"] != pod["metadata"]["name"]
    assert kube_sandbox.get("deployments", "litellm-backend")["status"]["availableReplicas"] == 1


def test_requests_are_recorded_without_the_bearer_token(
    kube_sandbox: KubeSandbox, http: httpx.Client
) -> None:
    http.patch(
        f"{APPS}/deployments/litellm/scale",
        json={"spec": {"replicas": 2}},
        headers={"Content-Type": "application/merge-patch+json"},
    )

    last = kube_sandbox.requests[-1]
    assert (last.method, last.path, last.content_type) == (
        "PATCH",
        f"{APPS}/deployments/litellm/scale",
        "application/merge-patch+json",
    )
    assert json.loads(last.body) == {"spec": {"replicas": 2}}
    assert "Bearer" not in repr(kube_sandbox.requests)


def test_bad_scripting_calls_fail_with_clear_errors(kube_sandbox: KubeSandbox) -> None:
    with pytest.raises(KeyError, match="nope"):
        kube_sandbox.fail_rollout("nope")
    with pytest.raises(KeyError, match="no container 'zz'"):
        kube_sandbox.set_pod_state("litellm-postgres-0", "zz", ready=False)
    with pytest.raises(ValueError, match="path_regex"):
        kube_sandbox.inject_error("GET", "(", 500, "x")
    with pytest.raises(KeyError, match="unknown resource"):
        kube_sandbox.list("gadgets")


def test_auto_progress_completes_rollouts_on_its_own() -> None:
    sb = KubeSandbox(auto_progress=0.02).start()
    try:
        with httpx.Client(base_url=sb.url, timeout=10) as http:
            http.patch(
                f"{APPS}/deployments/litellm/scale",
                json={"spec": {"replicas": 3}},
                headers={"Content-Type": "application/merge-patch+json"},
            )
            deadline = time.monotonic() + 5
            while sb.get("deployments", "litellm")["status"].get("availableReplicas") != 3:
                assert time.monotonic() < deadline, sb.get("deployments", "litellm")["status"]
                time.sleep(0.02)
        assert sb.in_progress() == []
    finally:
        sb.stop()
