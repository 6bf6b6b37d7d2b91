"""Credentials for a Deployment's images: the dockerconfigjson pull secrets its pod spec names.

Only Secrets named in `spec.template.spec.imagePullSecrets` are read. deploy/'s Role grants `get` on
`PULL_SECRET` only (the name to give the LiteMaaS pull secret; grant yours instead if it differs). A
Secret that cannot be read leaves the call anonymous and says why.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from commands.clients.kube import KubeClient
from commands.clients.kube_errors import KubeError
from commands.clients.oci.auth import Credentials, dockerconfig_credentials

PULL_SECRET = "litemaas-pull-secret"


@dataclass(frozen=True)
class PullCredentials:
    """The credentials found for one registry (None: anonymous) and what went wrong finding them."""

    credentials: Credentials | None
    notes: tuple[str, ...] = ()


def pull_secret_names(deployment: dict[str, Any]) -> list[str]:
    """The names in the pod template's `imagePullSecrets`, in order."""
    pod_spec = ((deployment.get("spec") or {}).get("template") or {}).get("spec") or {}
    return [
        str(s["name"])
        for s in pod_spec.get("imagePullSecrets") or []
        if isinstance(s, dict) and s.get("name")
    ]


def pull_credentials(kube: KubeClient, deployment: dict[str, Any], registry: str) -> PullCredentials:
    """The first named pull secret holding credentials for `registry`, else anonymous."""
    notes: list[str] = []
    for name in pull_secret_names(deployment):
        try:
            data = kube.read_secret(name)
        except KubeError as exc:
            notes.append(
                f"pull secret {name} could not be read (HTTP {exc.status} {exc.reason}); asked anonymously"
            )
            continue
        found = dockerconfig_credentials(data, registry)
        if found is not None:
            return PullCredentials(found, tuple(notes))
    return PullCredentials(None, tuple(notes))
