"""The bot's registry client against the real CNCF distribution registry (Debian's `docker-registry`,
installed by .ci/services), with images pushed through its API: tags and their pagination, digests of
image manifests and OCI indexes, 404s, and the basic-auth challenge of an htpasswd registry."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from commands.clients.oci.auth import Credentials
from commands.clients.oci.client import RegistryClient, RegistryError
from commands.clients.oci.reference import parse_reference
from commands.clients.oci.versions import newer_tags
from tests.registry_peer import DOCKER_MANIFEST, RegistryProcess, bcrypt_hash, registry_binary

pytestmark = pytest.mark.skipif(
    registry_binary() is None, reason="docker-registry is not installed (.ci/services)"
)

REPO = "rh-aiservices-bu/litemaas-backend"


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[RegistryProcess]:
    process = RegistryProcess(tmp_path).start()
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture
def client(registry: RegistryProcess) -> Iterator[RegistryClient]:
    made = RegistryClient({"quay.io": registry.url})
    yield made
    made.close()


def test_digests_of_an_image_manifest_and_an_index_are_the_registrys(
    registry: RegistryProcess, client: RegistryClient
) -> None:
    image = registry.push_image(REPO, "0.4.0", media_type=DOCKER_MANIFEST)
    index = registry.push_index(REPO, "0.5.0")

    plain = client.manifest(parse_reference(f"quay.io/{REPO}:0.4.0"))
    listed = client.manifest(parse_reference(f"quay.io/{REPO}:0.5.0"))

    assert (plain.digest, plain.media_type, plain.is_list) == (image, DOCKER_MANIFEST, False)
    assert (listed.digest, listed.is_list) == (index, True)
    assert listed.platforms == ("linux/amd64", "linux/arm64")
    assert client.manifest(parse_reference(f"quay.io/{REPO}@{index}")).digest == index


def test_tags_are_listed_whole_and_ordered_by_version_by_the_bot(
    registry: RegistryProcess, client: RegistryClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Debian's distribution 2.8 ignores `n` and answers in storage order with no `Link` (the sandbox
    registry's test covers `Link` pagination); the client takes what it gets, the bot orders it."""
    for tag in ("0.3.0", "0.4.0", "0.4.1", "0.5.0", "0.5.1"):
        registry.push_image(REPO, tag)
    monkeypatch.setattr("commands.clients.oci.client.PAGE_SIZE", 2)

    tags = client.tags("quay.io", REPO)
    assert sorted(tags) == ["0.3.0", "0.4.0", "0.4.1", "0.5.0", "0.5.1"]
    assert newer_tags("0.4.0", tags) == ["0.5.1", "0.5.0", "0.4.1"]


def test_a_missing_tag_and_a_missing_repository_are_not_found(
    registry: RegistryProcess, client: RegistryClient
) -> None:
    registry.push_image(REPO, "0.4.0")
    with pytest.raises(RegistryError) as tag:
        client.manifest(parse_reference(f"quay.io/{REPO}:0.5.1-typo"))
    assert tag.value.kind == "not_found"
    with pytest.raises(RegistryError) as repository:
        client.tags("quay.io", "rh-aiservices-bu/nothing")
    assert repository.value.kind == "not_found" and "NAME_UNKNOWN" in repository.value.message


@pytest.mark.skipif(bcrypt_hash("x") is None, reason="crypt(3) cannot make bcrypt hashes here")
def test_an_htpasswd_registry_challenges_and_accepts_the_pull_secrets_credentials(tmp_path: Path) -> None:
    registry = RegistryProcess(tmp_path, users={"puller": "s3cret"}).start()
    client = RegistryClient({"quay.io": registry.url})
    try:
        digest = registry.push_image(REPO, "0.4.0")
        ref = parse_reference(f"quay.io/{REPO}:0.4.0")
        with pytest.raises(RegistryError) as anonymous:
            client.manifest(ref)
        assert anonymous.value.kind == "unauthorized" and "anonymous" in anonymous.value.message
        assert client.manifest(ref, Credentials("puller", "s3cret")).digest == digest
        with pytest.raises(RegistryError) as wrong:
            client.tags("quay.io", REPO, Credentials("puller", "nope"))
        assert wrong.value.kind == "unauthorized"
    finally:
        client.close()
        registry.stop()
