"""Reading container images out of Deployment dicts: tags, and same-image init container mismatches."""

from __future__ import annotations

from typing import Any

from commands.environment import Component


def image_tag(image: str) -> str:
    """The tag of an image reference ("quay.io/x/backend:0.4.0" → "0.4.0"); a digest is shortened.

    A reference without tag or digest is "latest", as the container runtime reads it.
    """
    if "@" in image:
        digest = image.split("@", 1)[1]
        algorithm, _, value = digest.partition(":")
        return f"{algorithm}:{value[:12]}" if value else digest
    last = image.rsplit("/", 1)[-1]
    if ":" in last:
        return last.rsplit(":", 1)[1]
    return "latest"


def pod_spec(deployment: dict[str, Any]) -> dict[str, Any]:
    """`spec.template.spec` of a Deployment, or {} when absent."""
    spec = (deployment.get("spec") or {}).get("template") or {}
    return dict(spec.get("spec") or {})


def container_images(deployment: dict[str, Any], *, init: bool) -> dict[str, str]:
    """Container name → image, for the main (init=False) or init (init=True) containers, in order."""
    key = "initContainers" if init else "containers"
    images: dict[str, str] = {}
    for container in pod_spec(deployment).get(key) or []:
        if isinstance(container, dict) and container.get("name"):
            images[str(container["name"])] = str(container.get("image") or "")
    return images


def same_image_mismatches(component: Component, deployment: dict[str, Any]) -> list[str]:
    """Warnings for the component's same-image init containers that run another image than the main one."""
    main = container_images(deployment, init=False).get(component.container)
    if not main:
        return []
    inits = container_images(deployment, init=True)
    warnings: list[str] = []
    for name in component.init_containers:
        image = inits.get(name)
        if image is None or image == main:
            continue
        mine, theirs = image_tag(image), image_tag(main)
        if mine == theirs:  # same tag, different repository: show the full references
            mine, theirs = image, main
        consequence = (
            "the old UI bundle is served"
            if component.name == "frontend"
            else "the old code's migrations run first"
            if component.name == "backend"
            else "set the image on both containers"
        )
        warnings.append(
            f"{component.name}: init container {name} runs {mine} but {component.container} runs {theirs}"
            f" — {consequence}"
        )
    return warnings


def image_repository(image: str) -> str:
    """The reference without tag or digest: "quay.io:443/x/backend:0.4.0" → "quay.io:443/x/backend".

    A registry port ("host:5000/x") is not a tag: only a colon in the last path segment starts one.
    """
    name = image.split("@", 1)[0]
    head, slash, last = name.rpartition("/")
    if ":" in last:
        last = last.rsplit(":", 1)[0]
    return f"{head}{slash}{last}"


def with_tag(image: str, tag: str) -> str:
    """The same repository at `tag` (a digest, if any, is dropped: the tag decides the image)."""
    return f"{image_repository(image)}:{tag}"
