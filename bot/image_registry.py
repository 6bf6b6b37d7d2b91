"""The settings of the image checks, turned into what operations use: the registry client (with its
mirrors and tag cache, or None when checks are off) and the fast-failure thresholds."""

from __future__ import annotations

from bot.settings import Settings
from commands.clients.oci.catalogue import ImageRegistry
from commands.clients.oci.client import RegistryClient
from commands.environment import FailFast


def image_registry(settings: Settings) -> ImageRegistry:
    """The registry client the pre-flight, `versions` and `status` share (one tag cache per process)."""
    return ImageRegistry(
        RegistryClient(settings.registry_mirrors),
        check=settings.registry_check,
        cache_seconds=settings.registry_cache_seconds,
    )


def fail_fast(settings: Settings) -> FailFast:
    return FailFast(
        enabled=settings.rollout_fail_fast,
        restarts=settings.rollout_fail_restarts,
        pull_errors=settings.rollout_fail_pull_errors,
        log_lines=settings.rollout_fail_log_lines,
    )
