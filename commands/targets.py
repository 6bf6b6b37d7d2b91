"""The names of what mutating operations lock: one name per thing that must not change twice at once.

A plan's `target` is one of these; the bot takes that lock for the run. Operations sharing a name
never interleave (every catalogue change, every key-store change).
"""

from __future__ import annotations

CATALOGUE = "catalogue"  # the LiteMaaS model catalogue and LiteLLM's models: models add/remove/sync
KEYSTORE = "keystore"  # LiteLLM keys and their LiteMaaS rows: keys cleanup, keys orphans --fix
USERS = "litemaas/users"  # LiteMaaS users' roles: admin promote/demote
LITELLM_REDIS = "litellm-redis"  # LiteLLM's Redis cache: cache flush
BACKUP = "backup"  # backup now
ALL_DEPLOYMENTS = "deployments/litemaas"  # upgrade all, restart all


def deployment(name: str) -> str:
    """The lock of one Deployment (scale, upgrade, rollback, restart, autosync)."""
    return f"deployment/{name}"


def every_deployment(deployments: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """The lock set of an operation on all of LiteMaaS (`upgrade all`, `restart all`): the whole, then
    each Deployment, so it excludes, and is excluded by, any operation on a single component."""
    return (ALL_DEPLOYMENTS, *sorted({deployment(name) for name in deployments}))


def database(name: str) -> str:
    """The lock of one operated database (`litemaas`, `litellm`): backup restore."""
    return f"database/{name}"


def schedule(name: str) -> str:
    """The lock of one schedule (its runs, pause, resume)."""
    return f"schedule/{name}"
