"""The resource types the sandbox serves, and the discovery documents kubectl reads to find them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

VERSION_INFO: dict[str, str] = {
    "major": "1",
    "minor": "32",
    "gitVersion": "v1.32.4",
    "gitCommit": "59526cd4867447956156ae3a602fcbac10a2c335",
    "gitTreeState": "clean",
    "buildDate": "2025-04-22T16:02:27Z",
    "goVersion": "go1.23.6",
    "compiler": "gc",
    "platform": "linux/amd64",
}

ROUTE_GROUP = "route.openshift.io"
ALL_VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
SUB_VERBS = ["get", "patch", "update"]


@dataclass(frozen=True)
class ResourceType:
    """One served resource: where it lives (group/version/plural) and what it is called."""

    group: str  # "" for the core group
    version: str
    plural: str
    singular: str
    kind: str
    short_names: tuple[str, ...] = ()
    subresources: tuple[str, ...] = ()
    has_generation: bool = False
    has_status: bool = False
    namespaced: bool = True
    verbs: tuple[str, ...] = tuple(ALL_VERBS)
    categories: tuple[str, ...] = ("all",)
    openshift: bool = False  # served only when the sandbox plays OpenShift
    # the registry strategy's AllowCreateOnUpdate / AllowUnconditionalUpdate (Lease: True / False)
    create_on_update: bool = False
    unconditional_update: bool = True

    def allows(self, verb: str) -> bool:
        """Whether discovery lists `verb` for this resource (the router answers 405 otherwise)."""
        return verb in self.verbs

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def qualified(self) -> str:
        """`deployments.apps` as in error messages, `pods` for the core group."""
        return f"{self.plural}.{self.group}" if self.group else self.plural


RESOURCES: tuple[ResourceType, ...] = (
    ResourceType("", "v1", "pods", "pod", "Pod", ("po",), ("log", "status"), has_status=True),
    ResourceType("", "v1", "services", "service", "Service", ("svc",), ("status",), has_status=True),
    ResourceType(
        "apps", "v1", "deployments", "deployment", "Deployment", ("deploy",), ("scale", "status"), True, True
    ),
    ResourceType(
        "apps", "v1", "replicasets", "replicaset", "ReplicaSet", ("rs",), ("scale", "status"), True, True
    ),
    ResourceType(
        "apps", "v1", "statefulsets", "statefulset", "StatefulSet", ("sts",), ("scale", "status"), True, True
    ),
    ResourceType("", "v1", "secrets", "secret", "Secret", categories=()),
    ResourceType(
        "coordination.k8s.io",
        "v1",
        "leases",
        "lease",
        "Lease",
        categories=(),
        create_on_update=True,
        unconditional_update=False,
    ),
    ResourceType(
        ROUTE_GROUP,
        "v1",
        "routes",
        "route",
        "Route",
        has_status=True,
        verbs=("get", "list", "watch"),
        categories=("all",),
        openshift=True,
    ),
)

BY_PLURAL: dict[str, ResourceType] = {r.plural: r for r in RESOURCES}


def served(openshift: bool) -> tuple[ResourceType, ...]:
    """The resource types a sandbox serves: OpenShift's only when it plays OpenShift."""
    return tuple(rt for rt in RESOURCES if openshift or not rt.openshift)


def find(group: str, version: str, plural: str, openshift: bool = True) -> ResourceType | None:
    """The resource type served at that group/version/plural, if any."""
    rt = BY_PLURAL.get(plural)
    if rt is None or rt.group != group or rt.version != version or (rt.openshift and not openshift):
        return None
    return rt


def resolve_name(name: str) -> ResourceType:
    """Plural, singular or short name (`deploy`, `po`) → resource type; KeyError when unknown."""
    for rt in RESOURCES:
        if name in (rt.plural, rt.singular, *rt.short_names):
            return rt
    raise KeyError(f"unknown resource {name!r}; known: {', '.join(BY_PLURAL)}")


def group_versions(openshift: bool = True) -> list[tuple[str, str]]:
    """The (group, version) pairs served, core first, in a stable order."""
    seen: list[tuple[str, str]] = []
    for rt in served(openshift):
        if (rt.group, rt.version) not in seen:
            seen.append((rt.group, rt.version))
    return seen


def api_versions(server_address: str) -> dict[str, Any]:
    """`GET /api`: the legacy core `APIVersions`."""
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}],
    }


def _group(name: str, version: str) -> dict[str, Any]:
    gv = {"groupVersion": f"{name}/{version}", "version": version}
    return {"name": name, "versions": [gv], "preferredVersion": gv}


def api_group_list(openshift: bool = True) -> dict[str, Any]:
    """`GET /apis`: the named groups as an `APIGroupList`."""
    groups = [_group(g, v) for g, v in group_versions(openshift) if g]
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def api_group(name: str, openshift: bool = True) -> dict[str, Any] | None:
    """`GET /apis/{group}`, or None when the group is not served."""
    for g, v in group_versions(openshift):
        if g == name:
            return {"kind": "APIGroup", "apiVersion": "v1", **_group(g, v)}
    return None


def resource_list(group: str, version: str, openshift: bool = True) -> dict[str, Any] | None:
    """`GET /api/v1` or `/apis/{g}/{v}`: an `APIResourceList` with subresources, or None."""
    here = [rt for rt in served(openshift) if rt.group == group and rt.version == version]
    if not here:
        return None
    entries: list[dict[str, Any]] = []
    for rt in here:
        entries.append(
            {
                "name": rt.plural,
                "singularName": rt.singular,
                "namespaced": rt.namespaced,
                "kind": rt.kind,
                "verbs": list(rt.verbs),
                "shortNames": list(rt.short_names),
                "categories": list(rt.categories),
            }
        )
        for sub in rt.subresources:
            entry: dict[str, Any] = {"name": f"{rt.plural}/{sub}", "singularName": "", "namespaced": True}
            if sub == "scale":
                entry.update(group="autoscaling", version="v1", kind="Scale", verbs=SUB_VERBS)
            elif sub == "log":
                entry.update(kind="Pod", verbs=["get"])
            else:
                entry.update(kind=rt.kind, verbs=SUB_VERBS)
            entries.append(entry)
    gv = f"{group}/{version}" if group else version
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": entries}
