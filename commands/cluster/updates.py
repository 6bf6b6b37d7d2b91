"""What is newer on the registry than what runs: per component, the running image's tag against the
repository's tags in semantic-version order (`commands.clients.oci.versions`), from the tag cache (one
tag-list call per repository per `ImageRegistry.cache_seconds`). Shared by `versions` and `status`."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

from commands.clients.oci.client import RegistryError
from commands.clients.oci.pull_secrets import pull_credentials
from commands.clients.oci.reference import parse_reference
from commands.clients.oci.versions import newer_tags
from commands.cluster.images import container_images
from commands.environment import Component, Environment

STATUS_DEADLINE_SECONDS = 3.0  # `status` never waits longer than this for the registries


@dataclass(frozen=True)
class ComponentVersions:
    """The running image of a component and the newer tags (None when the registry did not answer)."""

    component: str
    image: str
    repository: str
    tag: str
    newer: tuple[str, ...] | None
    problem: str | None = None


def component_versions(
    env: Environment, component: Component, deployment: dict[str, Any], *, prereleases: bool = False
) -> ComponentVersions | None:
    """The component's main image against its repository's tags; None without an image or a registry."""
    image = container_images(deployment, init=False).get(component.container)
    if not image or env.image_registry is None:
        return None
    try:
        ref = parse_reference(image)
    except ValueError as exc:
        return ComponentVersions(component.name, image, image, "?", None, str(exc))
    tag = ref.tag or ref.reference
    found = pull_credentials(env.kube, deployment, ref.registry)
    try:
        tags = env.image_registry.cached_tags(ref, found.credentials)
    except RegistryError as exc:
        return ComponentVersions(component.name, image, ref.name, tag, None, exc.message)
    return ComponentVersions(
        component.name, image, ref.name, tag, tuple(newer_tags(tag, tags, prereleases=prereleases))
    )


def updates_available(
    env: Environment, deployments: dict[str, dict[str, Any]], timeout: float = STATUS_DEADLINE_SECONDS
) -> dict[str, str]:
    """Component → newest newer tag, for the components whose registry answered within `timeout`."""
    if env.image_registry is None:
        return {}
    wanted = [(c, deployments[c.deployment]) for c in env.components.values() if c.deployment in deployments]
    pool = ThreadPoolExecutor(max_workers=max(1, len(wanted)), thread_name_prefix="updates")
    try:
        futures = [pool.submit(component_versions, env, c, d) for c, d in wanted]
        wait(futures, timeout=timeout)
        answers = [f.result() for f in futures if f.done() and f.exception() is None]
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    return {a.component: a.newer[0] for a in answers if a is not None and a.newer}
