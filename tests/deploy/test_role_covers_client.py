"""The rendered Role against what the bot's Kubernetes client really sends.

Every public `KubeClient` method is driven against the sandbox API server; the requests it records
are turned into RBAC attributes, and each must be allowed by deploy/'s Role. The other way round,
every grant of the Role must be used by some method: no rule that nothing needs.
"""

from __future__ import annotations

import inspect
import itertools
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.settings import Settings
from commands.clients.databases import SECRET_NAME as DATABASES_SECRET
from commands.clients.kube import STRATEGIC_MERGE, KubeClient, LeaseSpec
from commands.clients.kube_errors import KubeError
from commands.clients.oci.pull_secrets import PULL_SECRET
from sandbox.kube import KubeSandbox
from tests.deploy.manifests import OPENSHIFT_OVERLAY, KubectlMissing, by_kind, render
from tests.deploy.rbac import RequestAttributes, allowed, grants, request_attributes, role_rules

NAMESPACE = "litellm-rhpds"
LEASE = str(Settings.model_fields["leader_lease_name"].default)
SECRETS = ("litellm-secret", "backend-secret", DATABASES_SECRET, PULL_SECRET)  # credentials, databases, oci


def _lease_spec(holder: str) -> LeaseSpec:
    now = datetime.now(UTC)
    return LeaseSpec(holder, 15, now, now, 0)


def _watch_one(kube: KubeClient) -> None:
    version = kube.get_deployment("litellm")["metadata"]["resourceVersion"]
    kube.patch_deployment("litellm", {"metadata": {"annotations": {"probe": "watch"}}}, STRATEGIC_MERGE)
    events = kube.watch_deployment("litellm", version, timeout_seconds=2)
    try:
        assert list(itertools.islice(events, 1)), "the change made before the watch is delivered"
    finally:
        events.close()  # type: ignore[attr-defined]


def _watch_pods(kube: KubeClient) -> None:
    pods, version = kube.list_pods_versioned("app=litellm")
    assert pods and version
    kube.patch_deployment(
        "litellm", {"spec": {"template": {"metadata": {"labels": {"probe": "w"}}}}}, STRATEGIC_MERGE
    )
    events = kube.watch_pods("app=litellm", version, timeout_seconds=1)
    try:
        list(itertools.islice(events, 1))
    finally:
        events.close()  # type: ignore[attr-defined]


def _read_a_log(kube: KubeClient) -> None:
    pod = kube.list_pods("app=litellm")[0]
    kube.read_pod_log(pod["metadata"]["name"], pod["spec"]["containers"][0]["name"], tail_lines=5)


def _lease_round(kube: KubeClient) -> None:
    with pytest.raises(KubeError) as absent:
        kube.get_lease(LEASE)
    assert absent.value.status == 404
    created = kube.create_lease(LEASE, _lease_spec("pod-a"))
    kube.replace_lease(LEASE, _lease_spec("pod-a"), created["metadata"]["resourceVersion"])


# Each public KubeClient method → a call that exercises it (and sometimes its neighbours).
CALLS: dict[str, Callable[[KubeClient], object]] = {
    "get_deployment": lambda kube: kube.get_deployment("litellm"),
    "list_deployments": lambda kube: kube.list_deployments(),
    "patch_scale": lambda kube: kube.patch_scale("litellm", 2),
    "patch_deployment": lambda kube: kube.patch_deployment(
        "litellm", {"spec": {"template": {"metadata": {"annotations": {"probe": "1"}}}}}, STRATEGIC_MERGE
    ),
    "watch_deployment": _watch_one,
    "list_pods": lambda kube: kube.list_pods("app=litellm"),
    "list_pods_versioned": _watch_pods,
    "watch_pods": _watch_pods,
    "read_pod_log": _read_a_log,
    "list_replicasets": lambda kube: kube.list_replicasets("app=litellm"),
    "read_secret": lambda kube: [kube.read_secret(name) for name in SECRETS],
    "list_routes": lambda kube: kube.list_routes(),
    "get_lease": _lease_round,
    "create_lease": _lease_round,
    "replace_lease": _lease_round,
}
NOT_API_CALLS = {"close", "from_kubeconfig"}


@pytest.fixture
def kube(tmp_path: Path) -> Iterator[tuple[KubeSandbox, KubeClient]]:
    sandbox = KubeSandbox(namespace=NAMESPACE, seed=True).start()
    client = KubeClient.from_kubeconfig(sandbox.write_kubeconfig(tmp_path / "kubeconfig"), NAMESPACE)
    try:
        sandbox.settle()
        sandbox.set_secret(PULL_SECRET, {".dockerconfigjson": '{"auths": {}}'})
        yield sandbox, client
    finally:
        client.close()
        sandbox.stop()


def test_every_kube_client_method_is_exercised_here() -> None:
    public = {
        name
        for name, _ in inspect.getmembers(KubeClient, callable)
        if not name.startswith("_") and name not in NOT_API_CALLS
    }
    assert public - set(CALLS) == set(), "a new KubeClient method: add it to CALLS (and the Role if needed)"
    assert set(CALLS) - public == set(), "CALLS names a method KubeClient no longer has"


@pytest.mark.kubectl
def test_the_role_allows_every_request_and_has_no_unused_grant(
    kube: tuple[KubeSandbox, KubeClient],
) -> None:
    try:
        (role,) = by_kind(render(OPENSHIFT_OVERLAY), "Role")
    except KubectlMissing:
        pytest.skip("kubectl (kustomize) is not on PATH")
    rules = role_rules(role)
    sandbox, client = kube
    sandbox.clear_requests()
    for call in dict.fromkeys(CALLS.values()):  # each distinct call once
        call(client)

    sent: list[RequestAttributes] = []
    for request in sandbox.requests:
        attrs = request_attributes(request.method, request.path, request.query)
        if attrs is not None:
            sent.append(attrs)
    assert {a.namespace for a in sent} == {NAMESPACE}
    refused = sorted({str(a) for a in sent if not allowed(rules, a)})
    assert refused == [], "the Role must allow these requests"

    used = {
        (group, resource, verb, name)
        for (group, resource, verb, name) in grants(rules)
        if any(
            a.api_group == group
            and a.resource_path == resource
            and a.verb == verb
            and (not name or a.name == name)
            for a in sent
        )
    }
    assert grants(rules) - used == set(), "grants no client call needs"
