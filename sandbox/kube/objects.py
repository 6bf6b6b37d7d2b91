"""Helpers to build and compare API objects: metadata, timestamps, template hashes, conditions."""

from __future__ import annotations

import copy
import hashlib
import json
import uuid
from datetime import UTC, datetime
from typing import Any

HASH_LABEL = "pod-template-hash"
REVISION = "deployment.kubernetes.io/revision"
_SAFE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


def now() -> str:
    """The current time in the API's RFC 3339 form (seconds, UTC)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def new_uid() -> str:
    return str(uuid.uuid4())


def safe_suffix(seed: str, length: int) -> str:
    """A deterministic lowercase suffix from `seed`, in the alphabet Kubernetes uses for names."""
    digest = hashlib.sha256(seed.encode()).digest()
    return "".join(_SAFE_ALPHABET[b % len(_SAFE_ALPHABET)] for b in digest[:length])


def prune_empty(value: Any) -> Any:
    """Drop `null`, `{}` and `[]` recursively: what Go's omitempty and `creationTimestamp: null` add."""
    if isinstance(value, dict):
        pruned = {k: prune_empty(v) for k, v in value.items()}
        return {k: v for k, v in pruned.items() if v not in (None, {}, [])}
    if isinstance(value, list):
        return [prune_empty(v) for v in value]
    return value


def normalized_template(template: dict[str, Any]) -> dict[str, Any]:
    """A pod template without `pod-template-hash` and empty fields, for equality checks."""
    clean = copy.deepcopy(template)
    labels = clean.get("metadata", {}).get("labels")
    if isinstance(labels, dict):
        labels.pop(HASH_LABEL, None)
    result = prune_empty(clean)
    return result if isinstance(result, dict) else {}


def template_hash(template: dict[str, Any]) -> str:
    """The `pod-template-hash` of a template (stable across equal templates)."""
    blob = json.dumps(normalized_template(template), sort_keys=True)
    return safe_suffix(blob, 10)


def set_condition(
    status: dict[str, Any],
    ctype: str,
    value: str,
    reason: str,
    message: str,
    *,
    with_update_time: bool = True,
) -> None:
    """Set one condition in `status.conditions`, keeping `lastTransitionTime` while the value holds."""
    conditions: list[dict[str, Any]] = status.setdefault("conditions", [])
    stamp = now()
    existing = next((c for c in conditions if c.get("type") == ctype), None)
    if existing is None:
        existing = {"type": ctype, "lastTransitionTime": stamp}
        conditions.append(existing)
    elif existing.get("status") != value:
        existing["lastTransitionTime"] = stamp
    changed = (existing.get("reason"), existing.get("status"), existing.get("message")) != (
        reason,
        value,
        message,
    )
    if changed and with_update_time:
        existing["lastUpdateTime"] = stamp
    existing.update(status=value, reason=reason, message=message)


def owner_reference(owner: dict[str, Any]) -> dict[str, Any]:
    """A controller ownerReference pointing at `owner`."""
    return {
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": owner["metadata"]["name"],
        "uid": owner["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def is_owned_by(obj: dict[str, Any], owner_uid: str) -> bool:
    """Whether `obj` has a controller ownerReference to `owner_uid`."""
    refs = obj.get("metadata", {}).get("ownerReferences") or []
    return any(r.get("uid") == owner_uid and r.get("controller") for r in refs)
