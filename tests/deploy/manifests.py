"""deploy/ as objects: kustomize renders it (the real kustomize inside kubectl, offline) and every
object is validated against the Kubernetes JSON schemas shipped by `kubernetes-validate`.

OpenShift's Route is not a Kubernetes schema; it is checked against `route_v1.schema.json`, a
subset of the Route CRD's schema (route.openshift.io/v1) with unknown fields refused.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate  # type: ignore[import-untyped]
import yaml

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
BASE = DEPLOY / "base"
OPENSHIFT_OVERLAY = DEPLOY / "overlays" / "openshift"
KUBERNETES_VERSION = "1.32"  # OpenShift 4.19's Kubernetes
ROUTE_SCHEMA = Path(__file__).with_name("route_v1.schema.json")

Manifest = dict[str, Any]


class KubectlMissing(Exception):
    """kubectl (which carries kustomize) is not on PATH."""


def render(directory: Path) -> list[Manifest]:
    """`kubectl kustomize DIR`: the objects it renders, in order. Needs no cluster and no network."""
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        raise KubectlMissing("kubectl is not on PATH")
    done = subprocess.run(
        [kubectl, "kustomize", str(directory)], capture_output=True, text=True, timeout=60, check=False
    )
    if done.returncode != 0:
        raise AssertionError(f"kubectl kustomize {directory} failed: {done.stderr.strip()}")
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


def load(path: Path) -> list[Manifest]:
    """The objects of a YAML file as written (no kustomize)."""
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


@cache
def _route_schema() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(ROUTE_SCHEMA.read_text())
    return schema


def schema_errors(obj: Manifest) -> list[str]:
    """Why `obj` is not a valid object of its kind (strict: unknown fields are errors); [] when valid."""
    where = f"{obj.get('kind')}/{(obj.get('metadata') or {}).get('name')}"
    if obj.get("apiVersion") == "route.openshift.io/v1" and obj.get("kind") == "Route":
        validator = jsonschema.Draft202012Validator(_route_schema())
        return [f"{where}: {_path(e.absolute_path)}: {e.message}" for e in validator.iter_errors(obj)]
    try:
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.SchemaNotFoundError as exc:
        return [f"{where}: {exc.message}"]
    except kubernetes_validate.ValidationError as exc:
        return [f"{where}: {_path(exc.path)}: {exc.message}"]
    return []


def _path(path: Any) -> str:
    return ".".join(str(p) for p in path) or "(top level)"


def by_kind(objects: list[Manifest], kind: str) -> list[Manifest]:
    return [o for o in objects if o.get("kind") == kind]


def one(objects: list[Manifest], kind: str, name: str) -> Manifest:
    """The single object of `kind` named `name`; AssertionError when absent."""
    found = [o for o in by_kind(objects, kind) if o["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind}/{name}, found {len(found)}"
    return found[0]
