"""The API semantics behind the HTTP paths: CRUD with resourceVersion preconditions, patches, scale,
logs and watches, applied to the object store and fed to the deployment controller.

Transport-free: `server.py` maps HTTP onto these methods; the sandbox facade reads state through them.
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Iterator
from typing import Any

from sandbox.kube import lease_spec, secret_data
from sandbox.kube.controller import PROGRESS_DEADLINE_STEPS, DeploymentController
from sandbox.kube.errors import ApiError, success_status
from sandbox.kube.kubelet import ImageSource
from sandbox.kube.logs import LogBook
from sandbox.kube.objects import is_owned_by, new_uid, now, safe_suffix
from sandbox.kube.patching import apply_patch
from sandbox.kube.resources import ResourceType
from sandbox.kube.selectors import field_matcher, label_matcher, selector_string
from sandbox.kube.store import ObjectStore

Events = Iterator[dict[str, Any]]
Objects = list[dict[str, Any]]

WATCH_TIMEOUT_CAP = 30.0
_TRUE = {"1", "t", "T", "TRUE", "true", "True"}
_FALSE = {"0", "f", "F", "FALSE", "false", "False"}


def parse_bool(value: str | None, name: str) -> bool:
    """Go's strconv.ParseBool spellings; anything else is a 400."""
    if value is None or value == "":
        return False
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ApiError(400, f'invalid boolean value for {name}: "{value}"')


def _parse_int(value: str | None, name: str) -> int | None:
    if value is None or value == "":
        return None
    try:
        number = int(value)
    except ValueError:
        raise ApiError(400, f'invalid value for {name}: "{value}" is not an integer') from None
    if number < 0:
        raise ApiError(400, f"{name}: must be greater than or equal to 0")
    return number


class Cluster:
    """One emulated cluster: objects, controller and logs behind one lock.

    `openshift`: whether OpenShift's API groups (`route.openshift.io`) are served at all.
    """

    def __init__(
        self,
        openshift: bool = True,
        images: ImageSource | None = None,
        progress_deadline_steps: int = PROGRESS_DEADLINE_STEPS,
    ) -> None:
        self.openshift = openshift
        self.store = ObjectStore()
        self.logs = LogBook()
        self.controller = DeploymentController(self.store, self.logs, images, progress_deadline_steps)

    # -- errors --------------------------------------------------------------------------------

    @staticmethod
    def not_found(rt: ResourceType, name: str) -> ApiError:
        return ApiError(404, f'{rt.qualified} "{name}" not found', name=name, group=rt.group, kind=rt.plural)

    @staticmethod
    def conflict(rt: ResourceType, name: str) -> ApiError:
        message = (
            f'Operation cannot be fulfilled on {rt.qualified} "{name}": the object has been modified; '
            "please apply your changes to the latest version and try again"
        )
        return ApiError(409, message, name=name, group=rt.group, kind=rt.plural)

    @staticmethod
    def invalid(rt: ResourceType, name: str, detail: str) -> ApiError:
        return ApiError(
            422,
            f'{rt.kind}.{rt.group or "core"} "{name}" is invalid: {detail}'.replace(".core", ""),
            name=name,
            group=rt.group,
            kind=rt.kind,
        )

    # -- reads ---------------------------------------------------------------------------------

    def get(self, rt: ResourceType, namespace: str, name: str) -> dict[str, Any]:
        with self.store.cond:
            obj = self.store.get(rt.plural, namespace, name)
            if obj is None:
                raise self.not_found(rt, name)
            return copy.deepcopy(obj)

    def list(
        self,
        rt: ResourceType,
        namespace: str | None,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> dict[str, Any]:
        """A `<Kind>List` with the current resourceVersion; one page, `limit` is ignored."""
        match_labels = label_matcher(label_selector)
        match_fields = field_matcher(field_selector, rt.plural)
        with self.store.cond:
            items = [
                copy.deepcopy(o)
                for o in self.store.list(rt.plural, namespace)
                if match_labels(o) and match_fields(o)
            ]
            rv = self.store.resource_version
        return {
            "apiVersion": rt.api_version,
            "kind": f"{rt.kind}List",
            "metadata": {"resourceVersion": str(rv)},
            "items": items,
        }

    # -- writes --------------------------------------------------------------------------------

    @staticmethod
    def _body_object(rt: ResourceType, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise ApiError(400, "the request body must be a JSON object")
        if body.get("kind") not in (None, rt.kind):
            raise ApiError(400, f"the kind of the body ({body.get('kind')}) is not {rt.kind}")
        meta = body.setdefault("metadata", {})
        if not isinstance(meta, dict):
            raise ApiError(400, "metadata must be an object")
        return body

    def create(self, rt: ResourceType, namespace: str, body: Any, *, dry_run: bool = False) -> dict[str, Any]:
        """POST: 201 with the stored object; 409 AlreadyExists on a duplicate name."""
        obj = self._body_object(rt, copy.deepcopy(body))
        meta = obj["metadata"]
        if meta.get("namespace") not in (None, "", namespace):
            raise ApiError(
                400, "the namespace of the provided object does not match the namespace sent on the request"
            )
        if not meta.get("name"):
            if not meta.get("generateName"):
                raise self.invalid(rt, "", "metadata.name: Required value: name or generateName is required")
            meta["name"] = f"{meta['generateName']}{safe_suffix(new_uid(), 5)}"
        name = meta["name"]
        obj["apiVersion"], obj["kind"] = rt.api_version, rt.kind
        meta.update(namespace=namespace, uid=new_uid(), creationTimestamp=now())
        meta.pop("resourceVersion", None)
        if rt.has_generation:
            meta["generation"] = 1
        if rt.plural == "deployments":
            self._default_deployment(obj)
        self._normalize(rt, obj)
        self._validate(rt, obj)
        with self.store.cond:
            if self.store.get(rt.plural, namespace, name) is not None:
                message = f'{rt.qualified} "{name}" already exists'
                raise ApiError(409, message, "AlreadyExists", name=name, group=rt.group, kind=rt.plural)
            if dry_run:
                return obj
            stored = self.store.put(rt.plural, obj)
            if rt.plural == "deployments":
                self.controller.spec_changed(namespace, name)
            return copy.deepcopy(stored)

    def replace(
        self,
        rt: ResourceType,
        namespace: str,
        name: str,
        body: Any,
        *,
        status_only: bool = False,
        dry_run: bool = False,
    ) -> dict[str, Any]:
        """PUT: a set `metadata.resourceVersion` must match the stored one, else 409 Conflict."""
        return self.put(rt, namespace, name, body, status_only=status_only, dry_run=dry_run)[0]

    def put(
        self,
        rt: ResourceType,
        namespace: str,
        name: str,
        body: Any,
        *,
        status_only: bool = False,
        dry_run: bool = False,
    ) -> tuple[dict[str, Any], bool]:
        """PUT as the registry does it: (object, created). A type that allows create-on-update (Lease)
        is created when absent; one that refuses unconditional updates (Lease) needs a resourceVersion."""
        obj = self._body_object(rt, copy.deepcopy(body))
        if obj["metadata"].get("name") not in (None, name):
            raise ApiError(
                400,
                f"the name of the object ({obj['metadata'].get('name')}) does not match the "
                f"name on the URL ({name})",
            )
        with self.store.cond:
            current = self.store.get(rt.plural, namespace, name)
            if current is None:
                if not rt.create_on_update or status_only:
                    raise self.not_found(rt, name)
                obj["metadata"]["name"] = name
                return self.create(rt, namespace, obj, dry_run=dry_run), True
            rv = obj["metadata"].get("resourceVersion")
            if rv in (None, ""):
                if not rt.unconditional_update:
                    raise ApiError(
                        422,
                        f'{rt.qualified} "{name}" is invalid: metadata.resourceVersion: Invalid value: '
                        "0x0: must be specified for an update",
                        name=name,
                        group=rt.group,
                        kind=rt.plural,
                    )
            elif rv != current["metadata"]["resourceVersion"]:
                raise self.conflict(rt, name)
            return self._write(rt, current, obj, status_only=status_only, dry_run=dry_run), False

    def patch(
        self,
        rt: ResourceType,
        namespace: str,
        name: str,
        content_type: str,
        body: bytes,
        *,
        status_only: bool = False,
        dry_run: bool = False,
    ) -> dict[str, Any]:
        """PATCH (JSON, merge or strategic merge); a resourceVersion in the result is a precondition."""
        with self.store.cond:
            current = self.store.get(rt.plural, namespace, name)
            if current is None:
                raise self.not_found(rt, name)
            patched = apply_patch(copy.deepcopy(current), content_type, body)
            meta = patched.get("metadata")
            if not isinstance(meta, dict):
                raise ApiError(422, "metadata must be an object")
            if meta.get("name") != name:
                raise ApiError(
                    400,
                    f"the name of the object ({meta.get('name')}) does not match the name on the "
                    f"URL ({name})",
                )
            rv = meta.get("resourceVersion")
            if rv not in (None, "") and rv != current["metadata"]["resourceVersion"]:
                raise self.conflict(rt, name)
            return self._write(rt, current, patched, status_only=status_only, dry_run=dry_run)

    def _write(
        self,
        rt: ResourceType,
        current: dict[str, Any],
        new: dict[str, Any],
        *,
        status_only: bool,
        dry_run: bool,
    ) -> dict[str, Any]:
        ns, name = current["metadata"]["namespace"], current["metadata"]["name"]
        if status_only:
            result = copy.deepcopy(current)
            result["status"] = new.get("status", {})
        else:
            result = new
            if rt.has_status:
                result["status"] = copy.deepcopy(current.get("status", {}))
            meta = result["metadata"]
            for key in ("name", "namespace", "uid", "creationTimestamp", "generation"):
                if key in current["metadata"]:
                    meta[key] = current["metadata"][key]
        result["apiVersion"], result["kind"] = rt.api_version, rt.kind
        spec_changed = result.get("spec") != current.get("spec")
        if rt.has_generation and spec_changed:
            result["metadata"]["generation"] = current["metadata"].get("generation", 1) + 1
        self._normalize(rt, result)
        self._validate(rt, result)
        if dry_run:
            return result
        stored = self.store.put(rt.plural, result)
        if rt.plural == "deployments" and spec_changed:
            self.controller.spec_changed(ns, name)
        return copy.deepcopy(stored)

    def delete(self, rt: ResourceType, namespace: str, name: str, *, dry_run: bool = False) -> dict[str, Any]:
        """DELETE: answers a Success `Status`; Deployments take their ReplicaSets and Pods with them."""
        with self.store.cond:
            obj = self.store.get(rt.plural, namespace, name)
            if obj is None:
                raise self.not_found(rt, name)
            uid = obj["metadata"]["uid"]
            if not dry_run:
                self._delete_tree(rt.plural, obj)
                if rt.plural == "deployments":
                    self.controller.forget(namespace, name)
                if rt.plural == "pods":
                    self._pod_deleted(obj)
        return success_status(name, rt.group, rt.plural, uid)

    def _delete_tree(self, plural: str, obj: dict[str, Any]) -> None:
        ns, uid = obj["metadata"]["namespace"], obj["metadata"]["uid"]
        self.store.delete(plural, ns, obj["metadata"]["name"])
        children = {"deployments": "replicasets", "replicasets": "pods", "statefulsets": "pods"}.get(plural)
        if children:
            for child in self.store.list(children, ns):
                if is_owned_by(child, uid):
                    self._delete_tree(children, child)

    def _pod_deleted(self, pod: dict[str, Any]) -> None:
        ns = pod["metadata"]["namespace"]
        for rs in self.store.list("replicasets", ns):
            if is_owned_by(pod, rs["metadata"]["uid"]):
                for deployment in self.store.list("deployments", ns):
                    if is_owned_by(rs, deployment["metadata"]["uid"]):
                        self.controller.pods_changed(ns, deployment["metadata"]["name"])

    # -- defaults and validation ---------------------------------------------------------------

    @staticmethod
    def _default_deployment(obj: dict[str, Any]) -> None:
        spec = obj.setdefault("spec", {})
        if not isinstance(spec, dict):
            return
        spec.setdefault("replicas", 1)
        spec.setdefault("revisionHistoryLimit", 10)
        spec.setdefault("progressDeadlineSeconds", 600)
        spec.setdefault(
            "strategy",
            {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}},
        )
        obj["status"] = {}

    def _normalize(self, rt: ResourceType, obj: dict[str, Any]) -> None:
        """Server-side conversions: a Secret's `stringData` becomes base64 `data` (422 when malformed);
        a Lease's times are decoded as MicroTime and served in UTC with six digits (400/422 when bad)."""
        if rt.plural == "secrets":
            problem = secret_data.normalize(obj)
            if problem is not None:
                raise self.invalid(rt, obj["metadata"].get("name", ""), problem)
        elif rt.plural == "leases":
            lease_spec.normalize(obj)

    def _validate(self, rt: ResourceType, obj: dict[str, Any]) -> None:
        if rt.plural not in ("deployments", "replicasets", "statefulsets"):
            return
        name = obj["metadata"].get("name", "")
        spec = obj.get("spec")
        if not isinstance(spec, dict):
            raise self.invalid(rt, name, "spec: Required value")
        replicas = spec.get("replicas", 1)
        if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
            raise self.invalid(
                rt,
                name,
                f"spec.replicas: Invalid value: {json.dumps(replicas)}: must be greater than or equal to 0",
            )
        template = spec.get("template")
        if not isinstance(template, dict) or not isinstance(template.get("spec"), dict):
            raise self.invalid(rt, name, "spec.template.spec: Required value")
        containers = template["spec"].get("containers")
        if not isinstance(containers, list) or not containers:
            raise self.invalid(rt, name, "spec.template.spec.containers: Required value")
        for kind in ("containers", "initContainers"):
            for c in template["spec"].get(kind) or []:
                if (
                    not isinstance(c, dict)
                    or not c.get("name")
                    or not isinstance(c.get("image"), str)
                    or not c["image"]
                ):
                    raise self.invalid(
                        rt, name, f"spec.template.spec.{kind}: every container needs a name and an image"
                    )
        selector = (spec.get("selector") or {}).get("matchLabels")
        labels = (template.get("metadata") or {}).get("labels") or {}
        if not isinstance(selector, dict) or not selector:
            raise self.invalid(rt, name, "spec.selector: Required value")
        if any(labels.get(k) != v for k, v in selector.items()):
            raise self.invalid(
                rt,
                name,
                "spec.template.metadata.labels: Invalid value: `selector` does not match template `labels`",
            )

    # -- scale subresource ---------------------------------------------------------------------

    def get_scale(self, rt: ResourceType, namespace: str, name: str) -> dict[str, Any]:
        """The `autoscaling/v1 Scale` view of a Deployment, ReplicaSet or StatefulSet."""
        obj = self.get(rt, namespace, name)
        meta = obj["metadata"]
        return {
            "kind": "Scale",
            "apiVersion": "autoscaling/v1",
            "metadata": {
                k: meta[k] for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
            },
            "spec": {"replicas": obj["spec"].get("replicas", 1)},
            "status": {
                "replicas": obj.get("status", {}).get("replicas", 0),
                "selector": selector_string((obj["spec"].get("selector") or {}).get("matchLabels") or {}),
            },
        }

    def write_scale(
        self,
        rt: ResourceType,
        namespace: str,
        name: str,
        *,
        body: Any = None,
        content_type: str | None = None,
        raw: bytes = b"",
        dry_run: bool = False,
    ) -> dict[str, Any]:
        """PUT (body) or PATCH (content_type + raw) of the scale subresource; writes `spec.replicas`."""
        with self.store.cond:
            scale = self.get_scale(rt, namespace, name)
            if content_type is not None:
                new_scale = apply_patch(scale, content_type, raw)
            elif isinstance(body, dict):
                new_scale = body
            else:
                raise ApiError(400, "the request body must be a JSON object")
            rv = (new_scale.get("metadata") or {}).get("resourceVersion")
            if rv not in (None, "") and rv != scale["metadata"]["resourceVersion"]:
                raise self.conflict(rt, name)
            replicas = (new_scale.get("spec") or {}).get("replicas")
            if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
                raise ApiError(
                    422,
                    f'Scale.autoscaling "{name}" is invalid: spec.replicas: Invalid value: '
                    f"{json.dumps(replicas)}: must be greater than or equal to 0",
                    name=name,
                    group="autoscaling",
                    kind="Scale",
                )
            current = self.store.get(rt.plural, namespace, name)
            assert current is not None
            updated = copy.deepcopy(current)
            updated["spec"]["replicas"] = replicas
            self._write(rt, current, updated, status_only=False, dry_run=dry_run)
            result = self.get_scale(rt, namespace, name)
            result["spec"]["replicas"] = replicas
            return result

    # -- logs ----------------------------------------------------------------------------------

    def read_log(self, rt: ResourceType, namespace: str, name: str, query: dict[str, str]) -> str:
        """`GET .../pods/{p}/log` as text; honours container, previous, tailLines, timestamps, limitBytes."""
        pod = self.get(rt, namespace, name)
        mains = [c["name"] for c in pod["spec"].get("containers") or []]
        inits = [c["name"] for c in pod["spec"].get("initContainers") or []]
        container = query.get("container")
        if not container:
            if len(mains) != 1:
                message = (
                    f"a container name must be specified for pod {name}, choose one of: [{' '.join(mains)}]"
                )
                if inits:
                    message += f" or one of the init containers: [{' '.join(inits)}]"
                raise ApiError(400, message)
            container = mains[0]
        if container not in mains + inits:
            raise ApiError(400, f"container {container} is not valid for pod {name}")
        previous = parse_bool(query.get("previous"), "previous")
        lines = self.logs.read(name, container, previous)
        if lines is None:
            raise ApiError(400, f'previous terminated container "{container}" in pod "{name}" not found')
        tail = _parse_int(query.get("tailLines"), "tailLines")
        if tail is not None:
            lines = lines[-tail:] if tail else []
        if parse_bool(query.get("timestamps"), "timestamps"):
            stamp = pod["status"].get("startTime", now()).replace("Z", ".000000000Z")
            lines = [f"{stamp} {line}" for line in lines]
        text = "".join(f"{line}\n" for line in lines)
        limit = _parse_int(query.get("limitBytes"), "limitBytes")
        return text[:limit] if limit is not None else text

    # -- watch ---------------------------------------------------------------------------------

    def watch(
        self, rt: ResourceType, namespace: str | None, query: dict[str, str]
    ) -> Iterator[dict[str, Any]]:
        """Watch events as dicts `{"type", "object"}`; RV 0 or none replays current objects as ADDED.

        Bad parameters raise `ApiError` here, before any event; an expired RV yields one ERROR event.
        """
        match_labels = label_matcher(query.get("labelSelector"))
        match_fields = field_matcher(query.get("fieldSelector"), rt.plural)
        timeout = _parse_int(query.get("timeoutSeconds"), "timeoutSeconds")
        deadline = time.monotonic() + min(float(timeout) if timeout else WATCH_TIMEOUT_CAP, WATCH_TIMEOUT_CAP)
        raw_rv = query.get("resourceVersion", "")
        initial: list[dict[str, Any]] = []
        with self.store.cond:
            if raw_rv in ("", "0"):
                cursor = self.store.resource_version
                initial = [
                    {"type": "ADDED", "object": copy.deepcopy(o)}
                    for o in self.store.list(rt.plural, namespace)
                    if match_labels(o) and match_fields(o)
                ]
            else:
                try:
                    cursor = int(raw_rv)
                except ValueError:
                    raise ApiError(400, f'invalid resource version "{raw_rv}"') from None
        return self._follow(rt, namespace, initial, cursor, deadline, match_labels, match_fields)

    def _follow(
        self,
        rt: ResourceType,
        namespace: str | None,
        initial: Objects,
        cursor: int,
        deadline: float,
        match_labels: Any,
        match_fields: Any,
    ) -> Iterator[dict[str, Any]]:
        yield from initial
        while True:
            with self.store.cond:
                events = self.store.events_after(cursor)
                if events is None:
                    expired = ApiError(
                        410, f"too old resource version: {cursor} ({self.store.resource_version})", "Expired"
                    )
                    yield {"type": "ERROR", "object": expired.status()}
                    return
                if not events:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0 or self.store.closed:
                        return
                    self.store.cond.wait(min(remaining, 1.0))
                    continue
                cursor = events[-1].rv
            for e in events:
                if e.plural != rt.plural or (namespace is not None and e.namespace != namespace):
                    continue
                if match_labels(e.obj) and match_fields(e.obj):
                    yield {"type": e.type, "object": e.obj}
