"""The sandbox image registry: content (`ImageStore`), its seed and the distribution API server."""

from sandbox.registry.sandbox import MIRRORED_HOSTS, RegistrySandbox
from sandbox.registry.seed import seeded_images, seeded_store
from sandbox.registry.store import ImageStore

__all__ = ["MIRRORED_HOSTS", "ImageStore", "RegistrySandbox", "seeded_images", "seeded_store"]
