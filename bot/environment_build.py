"""The environments a bot serves, built once at start-up: from the environments file, or (without it)
the one environment today's settings describe, exactly as before."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import redis
from pydantic import SecretStr

from bot.environments import EnvironmentEntry, EnvironmentsConfigError, EnvironmentSet, load_environments
from bot.image_registry import fail_fast, image_registry
from bot.locks import redis_client
from bot.settings import Settings
from commands.clients.kube import KubeClient
from commands.clients.kube_errors import KubeError
from commands.environment import DEFAULT_COMPONENTS, DEFAULT_SCALE_BOUNDS, Component, Environment


def redis_ping(client: redis.Redis) -> Callable[[], bool]:
    """A probe that answers False instead of raising when the server is unreachable."""

    def ping() -> bool:
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False

    return ping


def _plain(secret: SecretStr | None) -> str | None:
    return None if secret is None else secret.get_secret_value()


def environment_secrets(settings: Settings) -> list[str]:
    """The secrets of the environments file (for the redactor); none without the file."""
    if settings.environments_config is None:
        return []
    entries = load_environments(settings.environments_config).environments.values()
    return [value for entry in entries for value in entry.secret_values()]


def build_environments(settings: Settings, shared: dict[str, Any], kube: KubeClient) -> EnvironmentSet:
    """Every environment the bot serves. `shared` holds what all of them share (schedules, bot state);
    `kube` is the settings' client (the default environment's; leases live there too).
    Raises `EnvironmentsConfigError` for a bad environments file."""
    common = {
        "rollout_timeout": settings.rollout_timeout_seconds,
        "image_registry": image_registry(settings),
        "fail_fast": fail_fast(settings),
        "backup_verify_database_url": _plain(settings.backup_verify_database_url),
        **shared,
    }
    if settings.environments_config is None:
        litellm_redis = redis_client(settings.litellm_redis_url.get_secret_value(), timeout_seconds=1)
        only = Environment(
            name=settings.environment_name,
            namespace=settings.litemaas_namespace,
            kube=kube,
            litellm_redis_ping=redis_ping(litellm_redis),
            scale_bounds={**DEFAULT_SCALE_BOUNDS, **settings.scale_bounds},
            litellm_url=settings.litellm_url,
            backend_url=settings.backend_url,
            litemaas_database_url=_plain(settings.litemaas_database_url),
            litellm_database_url=_plain(settings.litellm_database_url),
            backup_dir=settings.backup_dir,
            backup_targets=tuple(settings.backup_targets),
            backup_keep=settings.backup_keep,
            litellm_master_key=_plain(settings.litellm_master_key),
            backend_admin_key=_plain(settings.backend_admin_key),
            litellm_redis_url=settings.litellm_redis_url.get_secret_value(),
            **common,
        )
        return EnvironmentSet([only], from_file=False)
    config = load_environments(settings.environments_config)
    built = []
    for name, entry in config.environments.items():
        try:
            built.append(_from_entry(name, entry, settings, common))
        except KubeError as exc:  # a kubeconfig that cannot be used: said at start-up, per environment
            file = settings.environments_config.name
            raise EnvironmentsConfigError(f"{file}: environment {name!r}: {exc}") from None
    return EnvironmentSet(built, from_file=True)


def _from_entry(
    name: str, entry: EnvironmentEntry, settings: Settings, common: dict[str, Any]
) -> Environment:
    ns = entry.namespace
    redis_url = _plain(entry.litellm_redis_url) or f"redis://litellm-redis.{ns}.svc:6379/0"
    return Environment(
        name=name,
        namespace=ns,
        kube=KubeClient.from_kubeconfig(entry.kubeconfig, ns, entry.context),
        litellm_redis_ping=redis_ping(redis_client(redis_url, timeout_seconds=1)),
        components=_components(entry),
        scale_bounds={**DEFAULT_SCALE_BOUNDS, **entry.scale_bounds},
        litellm_url=entry.litellm_url or f"http://litellm.{ns}.svc:4000",
        backend_url=entry.backend_url or f"http://litellm-backend.{ns}.svc:8080",
        litemaas_database_url=_plain(entry.litemaas_database_url),
        litellm_database_url=_plain(entry.litellm_database_url),
        backup_dir=entry.backup_dir or settings.backup_dir / name,
        backup_targets=tuple(entry.backup_targets),
        backup_keep=entry.backup_keep or settings.backup_keep,
        litellm_master_key=_plain(entry.litellm_master_key),
        backend_admin_key=_plain(entry.backend_admin_key),
        litellm_redis_url=redis_url,
        production=entry.production,
        lock_prefix=f"env/{name}/",
        alert_channel=entry.alert_channel,
        schedule_names=None if entry.schedules is None else tuple(entry.schedules),
        **common,
    )


def _components(entry: EnvironmentEntry) -> dict[str, Component]:
    components = dict(DEFAULT_COMPONENTS)
    for name, override in entry.components.items():
        base = components.get(name, Component(name, name, name))
        components[name] = Component(
            name,
            override.deployment or base.deployment,
            override.container or base.container,
            tuple(override.init_containers) if override.init_containers is not None else base.init_containers,
        )
    return components
