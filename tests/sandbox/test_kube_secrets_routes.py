"""Secrets (litemaas-facts §4.2) and OpenShift Routes (§4.1) as the official client and kubectl see them.

Routes are served only when the sandbox plays OpenShift; with `openshift=False` the group does not
exist at all, so the bot's "plain Kubernetes" path can be tested.
"""

from __future__ import annotations

import base64
import json
import re
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from kubernetes import client, config
from kubernetes.client.rest import ApiException

from commands.clients.kube import KubeClient
from sandbox.kube import KubeSandbox

NS = "litellm-rhpds"
ROUTES = f"/apis/route.openshift.io/v1/namespaces/{NS}/routes"
KubectlRunner = Callable[..., subprocess.CompletedProcess[str]]


def api_for(kubeconfig: Path) -> client.ApiClient:
    configuration = client.Configuration()
    config.load_kube_config(config_file=str(kubeconfig), client_configuration=configuration)
    return client.ApiClient(configuration)


@pytest.fixture
def api_client(kubeconfig: Path) -> Iterator[client.ApiClient]:
    with api_for(kubeconfig) as api:
        yield api


@pytest.fixture
def core(api_client: client.ApiClient) -> client.CoreV1Api:
    return client.CoreV1Api(api_client)


@pytest.fixture
def plain_k8s() -> Iterator[KubeSandbox]:
    sb = KubeSandbox(namespace=NS, openshift=False).start()
    try:
        yield sb
    finally:
        sb.stop()


def decoded(secret: client.V1Secret) -> dict[str, str]:
    return {k: base64.b64decode(v).decode() for k, v in (secret.data or {}).items()}


# -- Secrets ---------------------------------------------------------------------------------------


def test_seeded_secrets_have_the_role_keys_with_random_values(core: client.CoreV1Api) -> None:
    db = core.read_namespaced_secret("litemaas-db", NS)
    litellm = decoded(core.read_namespaced_secret("litellm-secret", NS))
    backend = decoded(core.read_namespaced_secret("backend-secret", NS))
    data = decoded(db)

    assert db.metadata.labels == {"app": "litellm-postgres"}
    assert db.type == "Opaque"
    assert set(data) == {"username", "password", "database", "DATABASE_URL", "LITELLM_DATABASE_URL"}
    assert (data["username"], data["database"]) == ("litellm", "litemaas_db")
    assert re.fullmatch(r"[A-Za-z0-9]{32}", data["password"])
    assert data["DATABASE_URL"] == (
        f"postgresql://litellm:{data['password']}@litellm-postgres:5432/litemaas_db?sslmode=disable"
    )
    assert data["LITELLM_DATABASE_URL"].endswith("@litellm-postgres:5432/litellm?sslmode=disable")
    assert re.fullmatch(r"sk-[A-Za-z0-9]{32}", litellm["LITELLM_MASTER_KEY"])
    assert litellm["UI_USERNAME"] == "admin" and len(litellm["UI_PASSWORD"]) == 16
    assert set(backend) == {"JWT_SECRET", "ADMIN_API_KEY", "OAUTH_CLIENT_SECRET"}
    assert not backend["ADMIN_API_KEY"].startswith("ltm_admin_")
    other = KubeSandbox(namespace=NS)
    assert other.secret_data("litellm-secret")["LITELLM_MASTER_KEY"] != litellm["LITELLM_MASTER_KEY"]


def test_constructor_overrides_extend_the_seed_and_set_secret_changes_it_at_run_time(tmp_path: Path) -> None:
    url = "postgresql://postgres@127.0.0.1:5432/litemaas_test"
    with KubeSandbox(namespace=NS, secrets={"litemaas-db": {"DATABASE_URL": url}, "extra": {"k": "v"}}) as sb:
        kube = KubeClient.from_kubeconfig(sb.write_kubeconfig(tmp_path / "kc"), NS)
        try:
            planted = kube.read_secret("litemaas-db")
            assert planted["DATABASE_URL"] == url
            assert planted["username"] == "litellm"  # the rest of the seed is kept
            assert kube.read_secret("extra") == {"k": "v"}

            sb.set_secret("litemaas-db", {"LITELLM_DATABASE_URL": url + "_litellm"})
            assert kube.read_secret("litemaas-db")["LITELLM_DATABASE_URL"] == url + "_litellm"
            assert kube.read_secret("litemaas-db")["DATABASE_URL"] == url

            sb.set_secret("litemaas-db", {"password": "only"}, replace=True)
            assert kube.read_secret("litemaas-db") == {"password": "only"}
        finally:
            kube.close()


def test_secrets_are_created_listed_and_patched_like_a_real_api_server(core: client.CoreV1Api) -> None:
    body = client.V1Secret(metadata=client.V1ObjectMeta(name="made"), string_data={"token": "t0"})
    created = core.create_namespaced_secret(NS, body)
    core.patch_namespaced_secret("made", NS, {"stringData": {"other": "o1"}})

    assert created.type == "Opaque" and created.string_data is None
    assert decoded(core.read_namespaced_secret("made", NS)) == {"token": "t0", "other": "o1"}
    names = [s.metadata.name for s in core.list_namespaced_secret(NS).items]
    assert names == ["backend-secret", "litellm-secret", "litemaas-db", "made"]
    with pytest.raises(ApiException) as bad:
        core.patch_namespaced_secret("made", NS, {"data": {"token": "not base64!"}})
    assert bad.value.status == 422
    assert decoded(core.read_namespaced_secret("made", NS))["token"] == "t0"


@pytest.mark.kubectl
def test_kubectl_reads_secrets_base64_encoded(kube_sandbox: KubeSandbox, kubectl: KubectlRunner) -> None:
    done = kubectl("get", "secret", "litemaas-db", "-o", "json")

    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)["data"]
    assert base64.b64decode(data["username"]) == b"litellm"
    assert base64.b64decode(data["password"]).decode() == kube_sandbox.secret_data("litemaas-db")["password"]


# -- Routes ----------------------------------------------------------------------------------------


def test_discovery_serves_route_openshift_io_with_read_only_routes(kube_sandbox: KubeSandbox) -> None:
    with httpx.Client(base_url=kube_sandbox.url, timeout=5) as http:
        groups = {g["name"] for g in http.get("/apis").json()["groups"]}
        resources = http.get("/apis/route.openshift.io/v1").json()["resources"]
        created = http.post(ROUTES, json={"metadata": {"name": "x"}, "spec": {"host": "x"}})

    assert "route.openshift.io" in groups
    assert [(r["name"], r["kind"], r["namespaced"], sorted(r["verbs"])) for r in resources] == [
        ("routes", "Route", True, ["get", "list", "watch"])
    ]
    assert created.status_code == 405


def test_official_client_lists_the_three_seeded_routes(api_client: client.ApiClient) -> None:
    custom = client.CustomObjectsApi(api_client)
    listed = custom.list_namespaced_custom_object("route.openshift.io", "v1", NS, "routes")
    one = custom.get_namespaced_custom_object("route.openshift.io", "v1", NS, "routes", "litellm-admin")

    by_name = {r["metadata"]["name"]: r for r in listed["items"]}
    assert {n: (r["spec"]["host"], r["spec"]["to"]["name"]) for n, r in by_name.items()} == {
        "litellm": ("litellm-rhpds.apps.sandbox.example", "litellm"),
        "litellm-admin": ("litellm-admin-rhpds.apps.sandbox.example", "litellm-backend"),
        "litellm-frontend": ("litellm-frontend-rhpds.apps.sandbox.example", "litellm-frontend"),
    }
    assert all(r["spec"]["tls"]["termination"] == "edge" for r in listed["items"])
    assert by_name["litellm"]["spec"]["port"]["targetPort"] == 4000
    assert by_name["litellm"]["metadata"]["annotations"] == {"haproxy.router.openshift.io/timeout": "600s"}
    assert one["spec"]["path"] == "/api"
    assert one["status"]["ingress"][0]["conditions"][0]["type"] == "Admitted"


@pytest.mark.kubectl
def test_kubectl_get_routes_as_oc_get_routes_would(kubectl: KubectlRunner) -> None:
    done = kubectl("get", "routes.route.openshift.io", "-o", "json")

    assert done.returncode == 0, done.stderr
    hosts = sorted(r["spec"]["host"] for r in json.loads(done.stdout)["items"])
    assert hosts == [
        "litellm-admin-rhpds.apps.sandbox.example",
        "litellm-frontend-rhpds.apps.sandbox.example",
        "litellm-rhpds.apps.sandbox.example",
    ]


def test_plain_kubernetes_serves_no_route_group(plain_k8s: KubeSandbox, tmp_path: Path) -> None:
    kubeconfig = plain_k8s.write_kubeconfig(tmp_path / "kc")
    with httpx.Client(base_url=plain_k8s.url, timeout=5) as http:
        groups = {g["name"] for g in http.get("/apis").json()["groups"]}
        assert "route.openshift.io" not in groups
        assert http.get("/apis/route.openshift.io/v1").status_code == 404
        assert http.get(ROUTES).status_code == 404
    with api_for(kubeconfig) as api, pytest.raises(ApiException) as missing:
        client.CustomObjectsApi(api).list_namespaced_custom_object("route.openshift.io", "v1", NS, "routes")
    assert missing.value.status == 404
    kube = KubeClient.from_kubeconfig(kubeconfig, NS)
    try:
        assert kube.list_routes() is None
    finally:
        kube.close()


@pytest.mark.kubectl
def test_kubectl_on_plain_kubernetes_has_no_routes_resource(
    plain_k8s: KubeSandbox, tmp_path: Path, kubectl_args: list[str]
) -> None:
    kubeconfig = plain_k8s.write_kubeconfig(tmp_path / "plain-kc")
    args = [kubectl_args[0], f"--kubeconfig={kubeconfig}", f"--cache-dir={tmp_path / 'plain-cache'}"]
    done = subprocess.run(
        [*args, "get", "routes.route.openshift.io"], capture_output=True, text=True, timeout=20, check=False
    )

    assert done.returncode != 0
    assert "doesn't have a resource type" in done.stderr
