"""The component Deployments as served, read once per check pass: what the Kubernetes checks start from."""

from __future__ import annotations

from typing import Any

from commands.environment import Component, Environment


def _name(obj: dict[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("name") or "")


def component_deployments(env: Environment) -> list[tuple[Component, dict[str, Any] | None]]:
    """Each component of `env` with its Deployment (None when absent); raises KubeError when unreadable."""
    served = {_name(d): d for d in env.kube.list_deployments()}
    return [(c, served.get(c.deployment)) for c in env.components.values()]


def plural(n: int, word: str) -> str:
    """A count with its noun: "1 pod", "2 pods"."""
    return f"{n} {word}{'' if n == 1 else 's'}"
