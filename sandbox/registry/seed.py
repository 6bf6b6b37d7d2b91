"""What the sandbox registry holds at start: the images of litemaas-facts.md §4.1 and the RHDP role
(LiteLLM, backend, frontend, Redis, PostgreSQL, busybox, the key-cleanup CronJob's Python), plus newer
LiteMaaS releases to rehearse upgrades with and a pre-release to show `versions --pre`."""

from __future__ import annotations

from sandbox.registry.store import ImageStore

QUAY = "quay.io/rh-aiservices-bu"
LITEMAAS_RELEASES = ("0.2.0", "0.3.0", "0.3.2", "0.4.0", "0.4.1", "0.5.0", "0.5.1", "0.5.2", "0.6.0-rc.1")
LITELLM_TAGS = (
    "main-v1.80.0-stable-custom",
    "main-v1.81.0-stable-custom",
    "main-v1.82.0-stable-custom",
    "main-v1.82.0-stable",
    "main-latest",
)
OTHER_IMAGES = (
    "registry.redhat.io/rhel9/redis-7:latest",
    "registry.redhat.io/rhel9/redis-7:1-190",
    "quay.io/sclorg/redis-7-c9s:latest",
    "docker.io/library/postgres:16-alpine",
    "docker.io/library/postgres:16",
    "docker.io/library/busybox:1.36",
    "docker.io/library/busybox:latest",
    "registry.access.redhat.com/ubi9/python-311:latest",
)


def seeded_images() -> list[str]:
    """Every image reference the seeded registry holds."""
    images = [
        f"{QUAY}/litemaas-{part}:{tag}" for part in ("backend", "frontend") for tag in LITEMAAS_RELEASES
    ]
    images += [f"{QUAY}/litellm-non-root:{tag}" for tag in LITELLM_TAGS]
    return images + list(OTHER_IMAGES)


def seeded_store() -> ImageStore:
    store = ImageStore()
    for image in seeded_images():
        store.push(image)
    return store
