"""Image references as the kubelet's runtime reads them (Docker Hub names normalised): the sandbox's own
small copy, since the sandbox never imports the product."""

from __future__ import annotations

HUB = "docker.io"
HUB_ALIASES = ("docker.io", "index.docker.io", "registry-1.docker.io")


def split_reference(image: str) -> tuple[str, str]:
    """`busybox:1.36` → ("docker.io/library/busybox", "1.36"); a digest is the reference when present."""
    name, _, digest = image.strip().partition("@")
    head, slash, last = name.rpartition("/")
    tag = "latest"
    if ":" in last:
        last, tag = last.rsplit(":", 1)
    path = f"{head}{slash}{last}"
    first, sep, rest = path.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        host, repository = first.lower(), rest
    else:
        host, repository = HUB, path
    if host in HUB_ALIASES:
        host = HUB
        if "/" not in repository:
            repository = f"library/{repository}"
    return f"{host}/{repository}", digest or tag
