"""deploy/overlays/two-namespaces: one bot operating two LiteMaaS namespaces of one cluster. Both get
the same least-privilege Role, each bound to the bot's ServiceAccount, and the Role proof (every
request the Kubernetes client sends is allowed) holds in the second namespace too."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.environments import load_environments
from commands.clients.kube import KubeClient
from commands.clients.oci.pull_secrets import PULL_SECRET
from sandbox.kube import KubeSandbox
from tests.deploy.manifests import DEPLOY, KubectlMissing, by_kind, render, schema_errors
from tests.deploy.rbac import RequestAttributes, allowed, request_attributes, role_rules
from tests.deploy.test_role_covers_client import CALLS

OVERLAY = DEPLOY / "overlays" / "two-namespaces"
HOME, SECOND = "litellm-rhpds", "litellm-dev"


@pytest.fixture(scope="module")
def rendered() -> list[dict[str, Any]]:
    try:
        return render(OVERLAY)
    except KubectlMissing:
        pytest.skip("kubectl (kustomize) is not on PATH")


@pytest.mark.kubectl
def test_every_object_is_valid(rendered: list[dict[str, Any]]) -> None:
    problems = {f"{o['kind']}/{o['metadata']['name']}": schema_errors(o) for o in rendered}
    assert {k: v for k, v in problems.items() if v} == {}


@pytest.mark.kubectl
def test_each_namespace_binds_the_bot_to_the_same_role(rendered: list[dict[str, Any]]) -> None:
    roles = {r["metadata"]["namespace"]: r for r in by_kind(rendered, "Role")}
    assert set(roles) == {HOME, SECOND}
    assert roles[HOME]["rules"] == roles[SECOND]["rules"]
    bindings = {b["metadata"]["namespace"]: b for b in by_kind(rendered, "RoleBinding")}
    assert set(bindings) == {HOME, SECOND}
    for binding in bindings.values():
        assert binding["roleRef"] == {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "Role",
            "name": roles[HOME]["metadata"]["name"],
        }
        assert binding["subjects"] == [
            {"kind": "ServiceAccount", "name": "litemaas-chatops", "namespace": HOME}
        ]
    assert {o["metadata"].get("namespace") for o in rendered if o["kind"] == "Deployment"} == {HOME}


@pytest.mark.kubectl
def test_the_bot_reads_an_environments_file_naming_both(
    rendered: list[dict[str, Any]], tmp_path: Path
) -> None:
    (config,) = [c for c in by_kind(rendered, "ConfigMap") if c["metadata"]["name"].endswith("environments")]
    path = tmp_path / "environments.yaml"
    path.write_text(config["data"]["environments.yaml"])
    environments = load_environments(path).environments
    assert {e.namespace for e in environments.values()} == {HOME, SECOND}
    assert [n for n, e in environments.items() if e.production] == ["prod"]
    bot = next(d for d in by_kind(rendered, "Deployment") if d["metadata"]["name"] == "litemaas-chatops")
    spec = bot["spec"]["template"]["spec"]
    env = {e["name"]: e.get("value") for e in spec["containers"][0]["env"]}
    mounts = {m["name"]: m["mountPath"] for m in spec["containers"][0]["volumeMounts"]}
    assert env["ENVIRONMENTS_CONFIG"] == f"{mounts['environments']}/environments.yaml"
    volumes = {v["name"]: v for v in spec["volumes"]}
    assert volumes["environments"]["configMap"]["name"] == config["metadata"]["name"]


@pytest.fixture
def second(tmp_path: Path) -> Iterator[tuple[KubeSandbox, KubeClient]]:
    sandbox = KubeSandbox(namespace=SECOND, seed=True).start()
    client = KubeClient.from_kubeconfig(sandbox.write_kubeconfig(tmp_path / "kubeconfig"), SECOND)
    try:
        sandbox.settle()
        sandbox.set_secret(PULL_SECRET, {".dockerconfigjson": '{"auths": {}}'})
        yield sandbox, client
    finally:
        client.close()
        sandbox.stop()


@pytest.mark.kubectl
def test_the_role_allows_every_request_in_the_second_namespace(
    rendered: list[dict[str, Any]], second: tuple[KubeSandbox, KubeClient]
) -> None:
    (role,) = [r for r in by_kind(rendered, "Role") if r["metadata"]["namespace"] == SECOND]
    rules = role_rules(role)
    sandbox, client = second
    sandbox.clear_requests()
    for call in dict.fromkeys(CALLS.values()):
        call(client)
    sent: list[RequestAttributes] = [
        attrs
        for request in sandbox.requests
        if (attrs := request_attributes(request.method, request.path, request.query)) is not None
    ]
    assert sent and {a.namespace for a in sent} == {SECOND}
    assert sorted({str(a) for a in sent if not allowed(rules, a)}) == []
