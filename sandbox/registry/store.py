"""The images the sandbox registry holds: repositories of tags, each an OCI image index over two
platform manifests (linux/amd64, linux/arm64), with their config and layer blobs.

Content is generated deterministically from the repository and tag, so digests are stable across runs
and real sha256 digests of the bytes served. `has_image` is what the sandbox kubelet asks before it
starts a container: an image reference is pullable when its repository has that tag (or digest).
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass

from sandbox.registry.references import split_reference

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
PLATFORMS = (("linux", "amd64"), ("linux", "arm64"))


def _canonical(document: dict[str, object]) -> bytes:
    return json.dumps(document, separators=(",", ":"), sort_keys=True).encode()


def digest_of(data: bytes) -> str:
    return f"sha256:{hashlib.sha256(data).hexdigest()}"


@dataclass(frozen=True)
class Served:
    """A manifest as served: bytes, media type, digest."""

    body: bytes
    media_type: str
    digest: str


class ImageStore:
    """Thread-safe repositories → tags → index digest, plus every manifest and blob by digest."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tags: dict[str, dict[str, str]] = {}
        self._manifests: dict[str, Served] = {}
        self._blobs: dict[str, bytes] = {}
        self._platform_manifests: dict[str, str] = {}  # index digest -> amd64 manifest digest

    # -- content -------------------------------------------------------------------------------

    def push(self, image: str) -> str:
        """Add `repository:tag` (an index over PLATFORMS); returns the index digest."""
        repository, tag = split_reference(image)
        entries = []
        with self._lock:
            for os_name, arch in PLATFORMS:
                config = _canonical({"architecture": arch, "os": os_name, "config": {"Labels": {"tag": tag}}})
                layer = f"{repository}:{tag}:{arch}".encode()
                self._blobs[digest_of(config)] = config
                self._blobs[digest_of(layer)] = layer
                manifest = _canonical(
                    {
                        "schemaVersion": 2,
                        "mediaType": OCI_MANIFEST,
                        "config": {"mediaType": OCI_CONFIG, "digest": digest_of(config), "size": len(config)},
                        "layers": [{"mediaType": OCI_LAYER, "digest": digest_of(layer), "size": len(layer)}],
                    }
                )
                served = Served(manifest, OCI_MANIFEST, digest_of(manifest))
                self._manifests[served.digest] = served
                entries.append(
                    {
                        "mediaType": OCI_MANIFEST,
                        "digest": served.digest,
                        "size": len(manifest),
                        "platform": {"architecture": arch, "os": os_name},
                    }
                )
            index = _canonical({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries})
            served = Served(index, OCI_INDEX, digest_of(index))
            self._manifests[served.digest] = served
            self._platform_manifests[served.digest] = str(entries[0]["digest"])
            self._tags.setdefault(repository, {})[tag] = served.digest
        return served.digest

    def remove(self, image: str) -> None:
        """Delete a tag (its manifests stay reachable by digest, as in a real registry)."""
        repository, tag = split_reference(image)
        with self._lock:
            self._tags.get(repository, {}).pop(tag, None)

    # -- reads ---------------------------------------------------------------------------------

    def has_image(self, image: str) -> bool:
        """Whether the kubelet could pull `image` (tag or digest present in its repository)."""
        repository, reference = split_reference(image)
        with self._lock:
            tags = self._tags.get(repository)
            if tags is None:
                return False
            if reference.startswith("sha256:"):
                return reference in tags.values() or any(
                    self._platform_manifests.get(d) == reference for d in tags.values()
                )
            return reference in tags

    def repositories(self) -> list[str]:
        with self._lock:
            return sorted(self._tags)

    def tags(self, repository: str) -> list[str] | None:
        """Tags in lexical order (as distribution lists them), or None for an unknown repository."""
        with self._lock:
            tags = self._tags.get(repository)
            return None if tags is None else sorted(tags)

    def manifest(self, repository: str, reference: str, accepts_index: bool) -> Served | None:
        """The manifest a tag or digest names; without index support, the linux/amd64 manifest."""
        with self._lock:
            tags = self._tags.get(repository)
            if tags is None:
                return None
            digest = tags.get(reference) if not reference.startswith("sha256:") else reference
            served = self._manifests.get(digest or "")
            if served is None or (reference.startswith("sha256:") and digest not in self._known(tags)):
                return None
            if served.media_type == OCI_INDEX and not accepts_index:
                return self._manifests[self._platform_manifests[served.digest]]
            return served

    def _known(self, tags: dict[str, str]) -> set[str]:
        indexes = set(tags.values())
        return indexes | {self._platform_manifests[d] for d in indexes if d in self._platform_manifests}

    def blob(self, digest: str) -> bytes | None:
        with self._lock:
            return self._blobs.get(digest)

    def digest(self, image: str) -> str | None:
        """The index digest a tag names now (what a pre-flight should report)."""
        repository, reference = split_reference(image)
        with self._lock:
            return self._tags.get(repository, {}).get(reference)
