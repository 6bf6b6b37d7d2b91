"""Lease fidelity: what a real API server does with coordination.k8s.io/v1 Leases, seen through the
official client, our KubeClient and the real kubectl.

The API server decodes `acquireTime`/`renewTime` as MicroTime (exactly six fractional digits, served
back in UTC), refuses a PUT without resourceVersion (Lease's strategy forbids unconditional updates),
creates a Lease on a PUT to an absent name, and validates the integer fields.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from commands.clients.kube import KubeClient, LeaseSpec
from commands.clients.kube_errors import KubeError
from sandbox.kube import KubeSandbox

NS = "litellm-rhpds"
KubectlRunner = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def coordination(kubeconfig: Path) -> Iterator[client.CoordinationV1Api]:
    configuration = client.Configuration()
    config.load_kube_config(  # type: ignore[no-untyped-call]
        config_file=str(kubeconfig), client_configuration=configuration
    )
    with client.ApiClient(configuration) as api:
        yield client.CoordinationV1Api(api)


@pytest.fixture
def kube(kubeconfig: Path) -> Iterator[KubeClient]:
    kube_client = KubeClient.from_kubeconfig(kubeconfig, NS)
    yield kube_client
    kube_client.close()


def status_of(exc: ApiException) -> tuple[int, str, str]:
    body = json.loads(exc.body or "{}")
    return int(body["code"]), str(body["reason"]), str(body["message"])


def put(
    coordination: client.CoordinationV1Api, name: str, body: dict[str, object]
) -> tuple[int, dict[str, object]]:
    """PUT a raw JSON body (no model coercion): (HTTP status, served object or Status)."""
    try:
        raw = coordination.api_client.call_api(
            *coordination.api_client.param_serialize(
                method="PUT",
                resource_path=f"/apis/coordination.k8s.io/v1/namespaces/{NS}/leases/{name}",
                header_params={"Content-Type": "application/json"},
                body=body,
            )
        )
        raw.read()
        return raw.status, json.loads(raw.data)
    except ApiException as exc:
        return int(exc.status or 0), json.loads(exc.body or "{}")


def test_micro_times_are_served_in_utc_with_six_digits(
    coordination: client.CoordinationV1Api, kube_sandbox: KubeSandbox
) -> None:
    plus_two = timezone(timedelta(hours=2))
    body = client.V1Lease(
        metadata=client.V1ObjectMeta(name="leader"),
        spec=client.V1LeaseSpec(
            holder_identity="pod-a",
            lease_duration_seconds=15,
            acquire_time=datetime(2026, 3, 1, 12, 0, 0, 250000, tzinfo=plus_two),
            renew_time=datetime(2026, 3, 1, 12, 0, 5, 123456, tzinfo=UTC),
        ),
    )

    coordination.create_namespaced_lease(NS, body)

    served = kube_sandbox.get("leases", "leader")["spec"]
    assert served["acquireTime"] == "2026-03-01T10:00:00.250000Z"
    assert served["renewTime"] == "2026-03-01T12:00:05.123456Z"
    read = coordination.read_namespaced_lease("leader", NS)
    assert read.spec is not None and read.spec.renew_time == datetime(
        2026, 3, 1, 12, 0, 5, 123456, tzinfo=UTC
    )


def test_a_whole_second_time_from_the_official_client_is_a_400_as_on_a_real_server(
    coordination: client.CoordinationV1Api, kube_sandbox: KubeSandbox
) -> None:
    # The generated client sends datetimes with isoformat(), which drops a zero fraction: a real
    # API server cannot decode "…:05+00:00" as a MicroTime.
    body = client.V1Lease(
        metadata=client.V1ObjectMeta(name="leader"),
        spec=client.V1LeaseSpec(
            holder_identity="pod-a", renew_time=datetime(2026, 3, 1, 12, 0, 5, tzinfo=UTC)
        ),
    )

    with pytest.raises(ApiException) as caught:
        coordination.create_namespaced_lease(NS, body)

    code, reason, message = status_of(caught.value)
    assert (code, reason) == (400, "BadRequest")
    assert message.startswith(
        'Lease in version "v1" cannot be handled as a Lease: parsing time "2026-03-01T12:00:05+00:00"'
    )
    assert kube_sandbox.list("leases") == []


def test_kube_client_writes_whole_second_times_that_the_server_accepts(
    kube: KubeClient, kube_sandbox: KubeSandbox
) -> None:
    whole = datetime(2026, 3, 1, 12, 0, 5, tzinfo=UTC)
    created = kube.create_lease("leader", LeaseSpec("pod-a", 15, whole, whole, 0))
    renewed = kube.replace_lease(
        "leader",
        LeaseSpec("pod-a", 15, whole, whole + timedelta(seconds=5), 0),
        created["metadata"]["resourceVersion"],
    )

    assert renewed["spec"]["renewTime"] == "2026-03-01T12:00:10.000001Z"
    assert kube_sandbox.get("leases", "leader")["spec"]["acquireTime"] == "2026-03-01T12:00:05.000001Z"
    with pytest.raises(KubeError) as caught:  # the first resourceVersion is stale now
        kube.replace_lease(
            "leader", LeaseSpec("pod-b", 15, whole, whole, 1), created["metadata"]["resourceVersion"]
        )
    assert (caught.value.status, caught.value.reason) == (409, "Conflict")
    with pytest.raises(KubeError) as absent:
        kube.get_lease("other")
    assert (absent.value.status, absent.value.reason) == (404, "NotFound")


def test_put_needs_a_resource_version_and_creates_an_absent_lease(
    coordination: client.CoordinationV1Api, kube_sandbox: KubeSandbox
) -> None:
    spec = {"holderIdentity": "pod-a", "leaseDurationSeconds": 15, "renewTime": "2026-03-01T12:00:05.000000Z"}

    code, created = put(coordination, "leader", {"metadata": {"name": "leader"}, "spec": spec})
    assert code == 201 and created["metadata"]["resourceVersion"]  # type: ignore[index]

    code, refused = put(
        coordination, "leader", {"metadata": {"name": "leader"}, "spec": {**spec, "holderIdentity": "pod-b"}}
    )
    assert (code, refused["reason"]) == (422, "Invalid")
    assert refused["message"] == (
        'leases.coordination.k8s.io "leader" is invalid: metadata.resourceVersion: Invalid value: 0x0: '
        "must be specified for an update"
    )
    assert kube_sandbox.get("leases", "leader")["spec"]["holderIdentity"] == "pod-a"


@pytest.mark.parametrize(
    ("field", "value", "code", "detail"),
    [
        (
            "leaseDurationSeconds",
            0,
            422,
            "spec.leaseDurationSeconds: Invalid value: 0: must be greater than 0",
        ),
        (
            "leaseTransitions",
            -1,
            422,
            "spec.leaseTransitions: Invalid value: -1: must be greater than or equal to 0",
        ),
        ("leaseDurationSeconds", "15", 400, "cannot unmarshal string into Go struct field"),
        ("renewTime", "2026-03-01T12:00:05.123456789Z", 400, "parsing time"),
        ("renewTime", 1772366405, 400, "cannot unmarshal number"),
    ],
)
def test_malformed_lease_specs_are_refused_and_change_nothing(
    coordination: client.CoordinationV1Api,
    kube_sandbox: KubeSandbox,
    field: str,
    value: object,
    code: int,
    detail: str,
) -> None:
    body = {"metadata": {"name": "leader"}, "spec": {"holderIdentity": "pod-a", field: value}}

    status, answer = put(coordination, "leader", body)

    assert status == code and detail in str(answer["message"])
    assert kube_sandbox.list("leases") == []


@pytest.mark.kubectl
def test_kubectl_applies_and_shows_a_lease(
    kubectl: KubectlRunner, kube_sandbox: KubeSandbox, tmp_path: Path
) -> None:
    manifest = tmp_path / "lease.json"
    lease = {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {"name": "leader"},
        "spec": {
            "holderIdentity": "pod-a",
            "leaseDurationSeconds": 15,
            "acquireTime": "2026-03-01T12:00:00.000000+01:00",
            "renewTime": "2026-03-01T11:00:05.500000Z",
            "leaseTransitions": 3,
        },
    }
    manifest.write_text(json.dumps(lease))

    applied = kubectl("apply", "--validate=false", "-f", str(manifest))
    assert applied.returncode == 0, applied.stderr
    shown = kubectl("get", "lease", "leader", "-o", "json")
    assert shown.returncode == 0, shown.stderr
    spec = json.loads(shown.stdout)["spec"]
    assert spec == {
        "holderIdentity": "pod-a",
        "leaseDurationSeconds": 15,
        "acquireTime": "2026-03-01T11:00:00.000000Z",
        "renewTime": "2026-03-01T11:00:05.500000Z",
        "leaseTransitions": 3,
    }

    lease["spec"]["renewTime"] = "2026-03-01T11:00:09Z"  # type: ignore[index]
    manifest.write_text(json.dumps(lease))
    refused = kubectl("apply", "--validate=false", "-f", str(manifest))
    assert refused.returncode != 0
    assert "Error from server (BadRequest)" in refused.stderr and "parsing time" in refused.stderr
    assert kube_sandbox.get("leases", "leader")["spec"]["renewTime"] == "2026-03-01T11:00:05.500000Z"


def test_a_stopped_sandbox_drops_pooled_connections(kube: KubeClient, kube_sandbox: KubeSandbox) -> None:
    now = datetime.now(UTC)
    kube.create_lease("leader", LeaseSpec("pod-a", 15, now, now, 0))
    assert kube.get_lease("leader")["spec"]["holderIdentity"] == "pod-a"  # a pooled keep-alive connection

    kube_sandbox.stop()

    with pytest.raises(KubeError) as caught:
        kube.get_lease("leader", timeout=2)
    assert (caught.value.status, caught.value.reason) == (0, "Unreachable")
