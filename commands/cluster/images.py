"""Reading container images out of Deployment dicts: tags, and same-image init container mismatches."""

from __future__ import annotations

from dataclasses import dataclass
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


@dataclass(frozen=True)
class ImageMismatch:
    """A same-image init container that runs another image than the component's main container."""

    component: str
    init_container: str
    init_image: str
    main_container: str
    main_image: str

    @property
    def same_repository(self) -> bool:
        """Only the tag differs: setting the main container's tag on both containers fixes it."""
        return image_repository(self.init_image) == image_repository(self.main_image)

    def shown_images(self) -> tuple[str, str]:
        """(init, main) as tags, or as full references when the tags are equal (other repositories)."""
        mine, theirs = image_tag(self.init_image), image_tag(self.main_image)
        if mine == theirs:
            return self.init_image, self.main_image
        return mine, theirs

    def consequence(self) -> str:
        """What goes wrong, in words."""
        if self.component == "frontend":
            return "the old UI bundle is served"
        if self.component == "backend":
            return "the old code's migrations run first"
        return "set the image on both containers"

    def describe(self) -> str:
        """E.g. "frontend: init container copy-custom-logos runs 0.3.0 but frontend runs 0.4.0 — …"."""
        mine, theirs = self.shown_images()
        return (
            f"{self.component}: init container {self.init_container} runs {mine} but {self.main_container}"
            f" runs {theirs} — {self.consequence()}"
        )


def image_mismatches(component: Component, deployment: dict[str, Any]) -> list[ImageMismatch]:
    """The component's same-image init containers that run another image than its main container."""
    main = container_images(deployment, init=False).get(component.container)
    if not main:
        return []
    inits = container_images(deployment, init=True)
    return [
        ImageMismatch(component.name, name, image, component.container, main)
        for name in component.init_containers
        if (image := inits.get(name)) is not None and image != main
    ]


def same_image_mismatches(component: Component, deployment: dict[str, Any]) -> list[str]:
    """Warnings for the component's same-image init containers that run another image than the main one."""
    return [m.describe() for m in image_mismatches(component, deployment)]


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
