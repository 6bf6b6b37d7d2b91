"""Image references as container runtimes read them: registry host, repository, tag or digest.

Docker Hub names are normalised as the Docker and CRI-O clients do: no registry part means
`docker.io`, a one-segment name lives under `library/`, and the API of `docker.io` (and its
`index.docker.io` alias) is served by `registry-1.docker.io`.
"""

from __future__ import annotations

from dataclasses import dataclass

DOCKER_HUB = "docker.io"
DOCKER_HUB_ALIASES = ("docker.io", "index.docker.io", "registry-1.docker.io")
DOCKER_HUB_API = "registry-1.docker.io"
DEFAULT_TAG = "latest"


@dataclass(frozen=True)
class ImageReference:
    """One image reference, normalised: `registry` is a host[:port], `repository` a path."""

    registry: str
    repository: str
    tag: str | None
    digest: str | None

    @property
    def reference(self) -> str:
        """What the manifest endpoint is asked for: the digest when pinned, else the tag."""
        return self.digest or self.tag or DEFAULT_TAG

    @property
    def name(self) -> str:
        """`registry/repository`, the repository as users name it (`docker.io/library/busybox`)."""
        return f"{self.registry}/{self.repository}"

    @property
    def api_host(self) -> str:
        """The host that serves the distribution API for this registry."""
        return DOCKER_HUB_API if self.registry == DOCKER_HUB else self.registry

    def with_tag(self, tag: str) -> ImageReference:
        return ImageReference(self.registry, self.repository, tag, None)

    def __str__(self) -> str:
        text = self.name
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text


def _is_host(component: str) -> bool:
    """A first path component is a registry host when it has a dot or a port, or is `localhost`."""
    return "." in component or ":" in component or component == "localhost"


def parse_reference(image: str) -> ImageReference:
    """Parse `[host[:port]/]path[:tag][@digest]`; ValueError for an empty or malformed reference."""
    text = image.strip()
    if not text or any(c.isspace() for c in text):
        raise ValueError(f"{image[:80]!r} is not an image reference")
    name, _, digest = text.partition("@")
    if digest and ":" not in digest:
        raise ValueError(f"{image[:80]!r} has a malformed digest")
    head, slash, last = name.rpartition("/")
    tag: str | None = None
    if ":" in last:
        last, tag = last.rsplit(":", 1)
    path = f"{head}{slash}{last}"
    first, sep, rest = path.partition("/")
    if sep and _is_host(first):
        registry, repository = first.lower(), rest
    else:
        registry, repository = DOCKER_HUB, path
    if registry in DOCKER_HUB_ALIASES:
        registry = DOCKER_HUB
        if "/" not in repository:
            repository = f"library/{repository}"
    if not repository or not last:
        raise ValueError(f"{image[:80]!r} names no repository")
    if tag is None and not digest:
        tag = DEFAULT_TAG
    return ImageReference(registry, repository, tag or None, digest or None)
