"""The sandbox registry through the bot's own registry client (the token challenge, tags, digests,
indexes, 404s, private repositories), and the sandbox kubelet's image pulls as real kubectl sees them."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator

import pytest

from commands.clients.oci.auth import Credentials, dockerconfig_credentials
from commands.clients.oci.client import RegistryClient, RegistryError
from commands.clients.oci.reference import parse_reference
from sandbox.console_images import registry_command
from sandbox.kube import KubeSandbox
from sandbox.registry import RegistrySandbox, seeded_store
from tests.sandbox.conftest import KubectlRunner

BACKEND = "quay.io/rh-aiservices-bu/litemaas-backend"


@pytest.fixture
def registry() -> Iterator[RegistrySandbox]:
    server = RegistrySandbox(seeded_store(), users={"puller": "pw"}, private={"quay.io/acme/private"}).start()
    server.store.push("quay.io/acme/private:1.0")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def client(registry: RegistrySandbox) -> Iterator[RegistryClient]:
    made = RegistryClient(registry.mirrors())
    yield made
    made.close()


def test_a_tag_resolves_to_the_index_digest_through_the_token_challenge(
    registry: RegistrySandbox, client: RegistryClient
) -> None:
    manifest = client.manifest(parse_reference(f"{BACKEND}:0.5.1"))

    assert manifest.digest == registry.store.digest(f"{BACKEND}:0.5.1")
    assert manifest.is_list and manifest.platforms == ("linux/amd64", "linux/arm64")
    paths = [path for _, path in registry.requests]
    assert paths[0] == "/v2/quay.io/rh-aiservices-bu/litemaas-backend/manifests/0.5.1"  # 401 first
    assert "/v2/auth" in paths  # then the token, then the same request again


def test_docker_hub_names_map_as_the_runtimes_do(registry: RegistrySandbox, client: RegistryClient) -> None:
    ref = parse_reference("busybox:1.36")
    assert (ref.registry, ref.repository, ref.api_host) == (
        "docker.io",
        "library/busybox",
        "registry-1.docker.io",
    )
    assert client.manifest(ref).digest == registry.store.digest("docker.io/library/busybox:1.36")
    assert "1.36" in client.tags(ref.registry, ref.repository)


def test_tags_follow_link_pagination(
    registry: RegistrySandbox, client: RegistryClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("commands.clients.oci.client.PAGE_SIZE", 3)
    tags = client.tags("quay.io", "rh-aiservices-bu/litemaas-backend")

    assert tags == sorted(registry.store.tags(f"{BACKEND}") or [])
    assert len([p for _, p in registry.requests if p.endswith("/tags/list")]) >= 3


def test_missing_tags_and_repositories_are_not_found(client: RegistryClient) -> None:
    with pytest.raises(RegistryError) as missing_tag:
        client.manifest(parse_reference(f"{BACKEND}:does-not-exist-0"))
    assert missing_tag.value.kind == "not_found"  # a HEAD answer has no error body
    with pytest.raises(RegistryError) as missing_repo:
        client.tags("quay.io", "rh-aiservices-bu/nothing-here")
    assert missing_repo.value.kind == "not_found" and "NAME_UNKNOWN" in missing_repo.value.message


def test_a_private_repository_needs_the_pull_secrets_credentials(client: RegistryClient) -> None:
    ref = parse_reference("quay.io/acme/private:1.0")
    with pytest.raises(RegistryError) as anonymous:
        client.manifest(ref)
    assert anonymous.value.kind == "unauthorized"
    secret = {
        ".dockerconfigjson": json.dumps(
            {"auths": {"quay.io": {"auth": base64.b64encode(b"puller:pw").decode()}}}
        )
    }
    credentials = dockerconfig_credentials(secret, "quay.io")
    assert credentials == Credentials("puller", "pw") and "pw" not in repr(credentials)
    assert client.manifest(ref, credentials).digest.startswith("sha256:")
    with pytest.raises(RegistryError) as wrong:
        client.manifest(ref, Credentials("puller", "wrong"))
    assert wrong.value.kind == "unauthorized"


def test_an_outage_is_unreachable_not_missing(registry: RegistrySandbox, client: RegistryClient) -> None:
    registry.set_unavailable()
    with pytest.raises(RegistryError) as outage:
        client.manifest(parse_reference(f"{BACKEND}:0.5.0"))
    assert outage.value.kind == "unreachable"
    registry.stop()
    with pytest.raises(RegistryError) as gone:
        client.manifest(parse_reference(f"{BACKEND}:0.5.0"))
    assert gone.value.kind == "unreachable"


# -- the kubelet -------------------------------------------------------------------------------------


def _pod_reasons(kube_sandbox: KubeSandbox, deployment: str, container: str) -> list[str]:
    reasons = []
    for pod in kube_sandbox.pods_of(deployment):
        for status in pod["status"].get("containerStatuses", []):
            waiting = status.get("state", {}).get("waiting") or {}
            if status["name"] == container and waiting:
                reasons.append(str(waiting.get("reason")))
    return reasons


@pytest.mark.kubectl
def test_kubectl_set_image_to_a_missing_tag_gives_failing_pods_until_the_image_is_pushed(
    kube_sandbox: KubeSandbox, kubectl: KubectlRunner
) -> None:
    kube_sandbox.settle()
    bad = "quay.io/rh-aiservices-bu/litellm-non-root:does-not-exist-0"
    assert kubectl("set", "image", "deploy/litellm", f"litellm={bad}").returncode == 0

    kube_sandbox.step()  # the new ReplicaSet
    kube_sandbox.step()  # its first pod: the pull fails
    first = kubectl("get", "pods", "-l", "app=litellm", "-o", "json")
    statuses = [
        s
        for p in json.loads(first.stdout)["items"]
        for s in p["status"].get("containerStatuses", [])
        if s["image"] == bad
    ]
    assert [s["state"]["waiting"]["reason"] for s in statuses] == ["ErrImagePull"]
    assert (
        "reading manifest does-not-exist-0 in quay.io/rh-aiservices-bu/litellm-non-root: manifest unknown"
        in (statuses[0]["state"]["waiting"]["message"])
    )
    kube_sandbox.step()
    phases = [p["status"]["phase"] for p in kube_sandbox.pods_of("litellm")]
    assert sorted(phases) == ["Pending", "Running"]  # the old pod keeps serving
    assert _pod_reasons(kube_sandbox, "litellm", "litellm") == ["ImagePullBackOff"]

    kube_sandbox.images.push(bad)
    for _ in range(4):
        kube_sandbox.step()
    assert _pod_reasons(kube_sandbox, "litellm", "litellm") == []
    kube_sandbox.settle()
    done = kubectl("rollout", "status", "deploy/litellm", "--timeout=5s")
    assert done.returncode == 0, done.stderr
    assert "successfully rolled out" in done.stdout


@pytest.mark.kubectl
def test_a_missing_init_container_image_keeps_the_pod_initializing(
    kube_sandbox: KubeSandbox, kubectl: KubectlRunner
) -> None:
    kube_sandbox.settle()
    bad = "quay.io/rh-aiservices-bu/litemaas-frontend:9.9.9"
    assert kubectl("set", "image", "deploy/litellm-frontend", f"copy-custom-logos={bad}").returncode == 0
    for _ in range(3):
        kube_sandbox.step()

    pod = next(p for p in kube_sandbox.pods_of("litellm-frontend") if p["status"]["phase"] == "Pending")
    init = {s["name"]: s for s in pod["status"]["initContainerStatuses"]}
    assert init["copy-custom-logos"]["state"]["waiting"]["reason"] == "ImagePullBackOff"
    assert {s["state"]["waiting"]["reason"] for s in pod["status"]["containerStatuses"]} == {
        "PodInitializing"
    }


def test_the_consoles_registry_commands(kube_sandbox: KubeSandbox, registry: RegistrySandbox) -> None:
    image = "quay.io/rh-aiservices-bu/litemaas-frontend:0.5.2"
    assert "untagged" in registry_command(kube_sandbox, registry, "untag", [image])
    assert not kube_sandbox.images.has_image(image)
    assert registry_command(kube_sandbox, registry, "untag", [image]).startswith("! ")
    assert "pushed (sha256:" in registry_command(kube_sandbox, registry, "push", [image])
    assert kube_sandbox.images.has_image(image)
    assert "503" in registry_command(kube_sandbox, registry, "registry", ["down"])
    assert registry.state.unavailable
    registry_command(kube_sandbox, registry, "registry", ["up"])
    assert not registry.state.unavailable
    assert registry_command(kube_sandbox, registry, "registry", ["sideways"]).startswith("! usage")
    assert registry_command(kube_sandbox, registry, "push", ["no-tag"]).startswith("! usage")
