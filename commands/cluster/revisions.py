"""A Deployment's revision history, read as `kubectl rollout undo` reads it (kube-api-surface.md §3.2).

ReplicaSets are listed by the Deployment's selector and kept only when they carry a controller
ownerReference to the Deployment's uid; their `deployment.kubernetes.io/revision` annotation numbers
them. Templates compare as the API's semantic equality does: `pod-template-hash` ignored, empty and
missing fields equal.
"""

from __future__ import annotations

import copy
from typing import Any

from commands.clients.kube import KubeClient
from commands.clients.selectors import selector_string

HASH_LABEL = "pod-template-hash"
REVISION = "deployment.kubernetes.io/revision"

# Annotations kubectl keeps from the Deployment rather than copying from the ReplicaSet (rollback.go).
ANNOTATIONS_TO_SKIP = frozenset(
    {
        "kubectl.kubernetes.io/last-applied-configuration",
        REVISION,
        "deployment.kubernetes.io/revision-history",
        "deployment.kubernetes.io/desired-replicas",
        "deployment.kubernetes.io/max-replicas",
        "deprecated.deployment.rollback.to",
    }
)


def revision_of(obj: dict[str, Any]) -> int | None:
    """The revision annotation as a number, None when absent or not a number."""
    value = ((obj.get("metadata") or {}).get("annotations") or {}).get(REVISION)
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def owned_replicasets(kube: KubeClient, deployment: dict[str, Any]) -> dict[int, dict[str, Any]]:
    """Revision → ReplicaSet, for the ReplicaSets the Deployment controls. Raises KubeError."""
    metadata = deployment.get("metadata") or {}
    uid = metadata.get("uid")
    selector = selector_string((deployment.get("spec") or {}).get("selector") or {})
    by_revision: dict[int, dict[str, Any]] = {}
    for rs in kube.list_replicasets(selector):
        refs = (rs.get("metadata") or {}).get("ownerReferences") or []
        if not any(r.get("controller") and r.get("uid") == uid for r in refs):
            continue
        revision = revision_of(rs)
        if revision is not None:
            by_revision[revision] = rs
    return by_revision


def _prune_empty(value: Any) -> Any:
    if isinstance(value, dict):
        pruned = {k: _prune_empty(v) for k, v in value.items()}
        return {k: v for k, v in pruned.items() if v not in (None, {}, [], "")}
    if isinstance(value, list):
        return [_prune_empty(v) for v in value]
    return value


def template_without_hash(template: dict[str, Any]) -> dict[str, Any]:
    """A copy of a pod template without the `pod-template-hash` label (what rollback patches back)."""
    clean = copy.deepcopy(template)
    labels = (clean.get("metadata") or {}).get("labels")
    if isinstance(labels, dict):
        labels.pop(HASH_LABEL, None)
    return clean


def same_template(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Equal pod templates, ignoring `pod-template-hash` and empty fields (kubectl's equalIgnoreHash)."""
    return bool(_prune_empty(template_without_hash(a)) == _prune_empty(template_without_hash(b)))


def current_replicaset(kube: KubeClient, deployment: dict[str, Any]) -> dict[str, Any] | None:
    """The ReplicaSet running the Deployment's current template (the "new" one), if it exists yet."""
    template = (deployment.get("spec") or {}).get("template") or {}
    for rs in owned_replicasets(kube, deployment).values():
        if same_template((rs.get("spec") or {}).get("template") or {}, template):
            return rs
    return None


def rollback_annotations(deployment: dict[str, Any], replicaset: dict[str, Any]) -> dict[str, str]:
    """The Deployment annotations kubectl sends with a rollback: the skipped keys as the Deployment has
    them, everything else from the ReplicaSet."""
    current = (deployment.get("metadata") or {}).get("annotations") or {}
    annotations = {k: str(current[k]) for k in ANNOTATIONS_TO_SKIP if k in current}
    for key, value in ((replicaset.get("metadata") or {}).get("annotations") or {}).items():
        if key not in ANNOTATIONS_TO_SKIP:
            annotations[str(key)] = str(value)
    return annotations
