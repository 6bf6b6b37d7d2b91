"""The Kubernetes adapter: the official `kubernetes` client, returning plain JSON dicts as served.

Each `KubeClient` owns its `ApiClient` and `Configuration` (never the process-wide default), so two
environments never share credentials. Every failure is a `KubeError`; nothing from urllib3 or the
generated client escapes.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.config.config_exception import ConfigException

from commands.clients.kube_errors import KubeError, guarded
from commands.clients.kube_stream import list_lines, parse_event

STRATEGIC_MERGE = "application/strategic-merge-patch+json"  # what `kubectl set image|env` sends
REQUEST_TIMEOUT = (10.0, 10.0)  # (connect, read) seconds for ordinary calls
WATCH_READ_SLACK = 10.0  # a watch may stay silent for timeoutSeconds; allow this much more

PATCH_TYPES = (
    "application/merge-patch+json",
    STRATEGIC_MERGE,
    "application/json-patch+json",
)

T = TypeVar("T")


@dataclass(frozen=True)
class LeaseSpec:
    """The fields of a coordination.k8s.io/v1 Lease's spec that leader election writes."""

    holder_identity: str  # "" once released
    lease_duration_seconds: int
    acquire_time: datetime
    renew_time: datetime
    lease_transitions: int


def _micro_time(moment: datetime) -> datetime:
    """`moment` in UTC, never on a whole second.

    The generated client sends datetimes with `isoformat()`, which drops the fraction when it is zero,
    and the API server's MicroTime wants exactly six digits: a whole second would be a 400.
    """
    moment = moment.astimezone(UTC)
    return moment.replace(microsecond=1) if moment.microsecond == 0 else moment


def _lease_body(name: str, spec: LeaseSpec, resource_version: str | None) -> k8s.V1Lease:
    return k8s.V1Lease(
        api_version="coordination.k8s.io/v1",
        kind="Lease",
        metadata=k8s.V1ObjectMeta(name=name, resource_version=resource_version),
        spec=k8s.V1LeaseSpec(
            holder_identity=spec.holder_identity,
            lease_duration_seconds=spec.lease_duration_seconds,
            acquire_time=_micro_time(spec.acquire_time),
            renew_time=_micro_time(spec.renew_time),
            lease_transitions=spec.lease_transitions,
        ),
    )


def _read_json(response: Any) -> Any:
    """Read a raw (not preloaded) urllib3 response as JSON and release its connection."""
    try:
        data = response.data
    finally:
        response.release_conn()
    try:
        return json.loads(data)
    except ValueError:
        raise KubeError(0, "BadResponse", "the API server did not answer with JSON") from None


class KubeClient:
    """Typed-API calls scoped to one namespace; results are the JSON objects the server sent."""

    def __init__(self, api_client: k8s.ApiClient, namespace: str) -> None:
        self._api_client = api_client
        self.namespace = namespace
        self._apps = k8s.AppsV1Api(api_client)
        self._core = k8s.CoreV1Api(api_client)
        self._coordination = k8s.CoordinationV1Api(api_client)

    @classmethod
    def from_kubeconfig(cls, path: Path | None, namespace: str, context: str | None = None) -> KubeClient:
        """Client from a kubeconfig file (its `context`, default the current one), or from the pod's
        service account when `path` is None."""
        configuration = k8s.Configuration()
        try:
            if path is None:
                k8s_config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
            else:
                k8s_config.load_kube_config(  # type: ignore[no-untyped-call]
                    config_file=str(path),
                    context=context,
                    client_configuration=configuration,
                    persist_config=False,
                )
        except (ConfigException, OSError, ValueError, TypeError, KeyError) as exc:
            where = "in-cluster service account" if path is None else f"kubeconfig {path}"
            detail = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
            raise KubeError(0, "ConfigError", f"cannot load the {where}: {detail}") from None
        configuration.retries = False  # fail fast; callers decide about retrying
        return cls(k8s.ApiClient(configuration), namespace)

    # -- deployments -------------------------------------------------------------------------------

    def get_deployment(self, name: str) -> dict[str, Any]:
        """The Deployment `name` as served."""
        raw: Any = guarded(
            lambda: self._apps.read_namespaced_deployment(
                name, self.namespace, _preload_content=False, _request_timeout=REQUEST_TIMEOUT
            )
        )
        return dict(guarded(lambda: _read_json(raw)))

    def list_deployments(self) -> list[dict[str, Any]]:
        """All Deployments of the namespace."""
        raw: Any = guarded(
            lambda: self._apps.list_namespaced_deployment(
                self.namespace, _preload_content=False, _request_timeout=REQUEST_TIMEOUT
            )
        )
        served = guarded(lambda: _read_json(raw))
        return list(served.get("items") or [])

    def patch_scale(self, name: str, replicas: int) -> dict[str, Any]:
        """Set `spec.replicas` through the scale subresource with a merge patch, as `kubectl scale`."""
        body = {"spec": {"replicas": int(replicas)}}
        raw: Any = guarded(
            lambda: self._apps.patch_namespaced_deployment_scale(
                name,
                self.namespace,
                body,
                _content_type="application/merge-patch+json",
                _preload_content=False,
                _request_timeout=REQUEST_TIMEOUT,
            )
        )
        return dict(guarded(lambda: _read_json(raw)))

    def patch_deployment(
        self, name: str, patch: dict[str, Any] | list[dict[str, Any]], content_type: str
    ) -> dict[str, Any]:
        """PATCH the Deployment with a merge, strategic-merge (dict) or JSON (list) patch."""
        if content_type not in PATCH_TYPES:
            raise KubeError(0, "BadRequest", f"unsupported patch type {content_type!r}")
        if (content_type == "application/json-patch+json") != isinstance(patch, list):
            raise KubeError(
                0, "BadRequest", "a JSON patch is a list of operations; other patches are objects"
            )
        raw: Any = guarded(
            lambda: self._apps.patch_namespaced_deployment(
                name,
                self.namespace,
                patch,
                _content_type=content_type,
                _preload_content=False,
                _request_timeout=REQUEST_TIMEOUT,
            )
        )
        return dict(guarded(lambda: _read_json(raw)))

    def watch_deployment(
        self, name: str, resource_version: str, timeout_seconds: int
    ) -> Iterator[dict[str, Any]]:
        """Deployment objects of watch events after `resource_version`, until the server ends the watch.

        An `ERROR` event (e.g. 410 Expired) raises KubeError. Closing the generator closes the stream.
        """
        return self._watch(
            self._apps.list_namespaced_deployment,
            resource_version,
            timeout_seconds,
            field_selector=f"metadata.name={name}",
        )

    def _watch(
        self, lister: Callable[..., Any], resource_version: str, timeout_seconds: int, **selectors: str
    ) -> Iterator[dict[str, Any]]:
        timeout_seconds = max(1, int(timeout_seconds))
        raw: Any = guarded(
            lambda: lister(
                self.namespace,
                resource_version=resource_version,
                timeout_seconds=timeout_seconds,
                allow_watch_bookmarks=False,
                watch=True,
                _preload_content=False,
                _request_timeout=(REQUEST_TIMEOUT[0], timeout_seconds + WATCH_READ_SLACK),
                **selectors,
            )
        )
        return _watched_objects(raw)

    # -- pods --------------------------------------------------------------------------------------

    def list_pods(self, label_selector: str) -> list[dict[str, Any]]:
        """Pods of the namespace matching `label_selector` (e.g. "app=litellm")."""
        return self.list_pods_versioned(label_selector)[0]

    def list_pods_versioned(self, label_selector: str) -> tuple[list[dict[str, Any]], str]:
        """Pods matching `label_selector` and the list's resourceVersion (to watch from)."""
        raw: Any = guarded(
            lambda: self._core.list_namespaced_pod(
                self.namespace,
                label_selector=label_selector,
                _preload_content=False,
                _request_timeout=REQUEST_TIMEOUT,
            )
        )
        served = guarded(lambda: _read_json(raw))
        version = str((served.get("metadata") or {}).get("resourceVersion") or "")
        return list(served.get("items") or []), version

    def watch_pods(
        self, label_selector: str, resource_version: str, timeout_seconds: int
    ) -> Iterator[dict[str, Any]]:
        """Pod objects of watch events after `resource_version` (as `watch_deployment`)."""
        return self._watch(
            self._core.list_namespaced_pod, resource_version, timeout_seconds, label_selector=label_selector
        )

    def read_pod_log(
        self, pod: str, container: str, tail_lines: int | None = None, previous: bool = False
    ) -> str:
        """The log text of one container of one pod (optionally its last lines, or the previous run)."""
        raw: Any = guarded(
            lambda: self._core.read_namespaced_pod_log(
                pod,
                self.namespace,
                container=container,
                tail_lines=tail_lines,
                previous=previous or None,
                _preload_content=False,
                _request_timeout=REQUEST_TIMEOUT,
            )
        )

        def read() -> str:
            try:
                return bytes(raw.data).decode("utf-8", "replace")
            finally:
                raw.release_conn()

        return guarded(read)

    # -- replica sets, secrets, routes -----------------------------------------------------------

    def list_replicasets(self, label_selector: str) -> list[dict[str, Any]]:
        """ReplicaSets of the namespace matching `label_selector` (rollback reads their templates)."""
        raw: Any = guarded(
            lambda: self._apps.list_namespaced_replica_set(
                self.namespace,
                label_selector=label_selector,
                _preload_content=False,
                _request_timeout=REQUEST_TIMEOUT,
            )
        )
        served = guarded(lambda: _read_json(raw))
        return list(served.get("items") or [])

    def read_secret(self, name: str) -> dict[str, str]:
        """The decoded data of Secret `name`. Callers must never show these values."""
        raw: Any = guarded(
            lambda: self._core.read_namespaced_secret(
                name, self.namespace, _preload_content=False, _request_timeout=REQUEST_TIMEOUT
            )
        )
        served = guarded(lambda: _read_json(raw))
        data = served.get("data") or {}
        try:
            return {str(k): base64.b64decode(str(v)).decode("utf-8") for k, v in data.items()}
        except (ValueError, UnicodeDecodeError):
            raise KubeError(0, "BadResponse", f"Secret {name} holds data that is not base64 text") from None

    def list_routes(self) -> list[dict[str, Any]] | None:
        """OpenShift Routes of the namespace, or None when `route.openshift.io` is not served."""
        custom = k8s.CustomObjectsApi(self._api_client)
        try:
            raw: Any = guarded(
                lambda: custom.list_namespaced_custom_object(
                    "route.openshift.io",
                    "v1",
                    self.namespace,
                    "routes",
                    _preload_content=False,
                    _request_timeout=REQUEST_TIMEOUT,
                )
            )
        except KubeError as exc:
            if exc.status == 404:
                return None
            raise
        served = guarded(lambda: _read_json(raw))
        return list(served.get("items") or [])

    # -- leases (leader election) -----------------------------------------------------------------

    def get_lease(self, name: str, timeout: float = REQUEST_TIMEOUT[1]) -> dict[str, Any]:
        """The Lease `name` as served; KubeError 404 when it does not exist."""
        raw: Any = guarded(
            lambda: self._coordination.read_namespaced_lease(
                name, self.namespace, _preload_content=False, _request_timeout=(timeout, timeout)
            )
        )
        return dict(guarded(lambda: _read_json(raw)))

    def create_lease(self, name: str, spec: LeaseSpec, timeout: float = REQUEST_TIMEOUT[1]) -> dict[str, Any]:
        """Create Lease `name`; KubeError 409 when another replica created it first."""
        body = _lease_body(name, spec, None)
        raw: Any = guarded(
            lambda: self._coordination.create_namespaced_lease(
                self.namespace, body, _preload_content=False, _request_timeout=(timeout, timeout)
            )
        )
        return dict(guarded(lambda: _read_json(raw)))

    def replace_lease(
        self, name: str, spec: LeaseSpec, resource_version: str, timeout: float = REQUEST_TIMEOUT[1]
    ) -> dict[str, Any]:
        """Replace Lease `name` if it is still at `resource_version`; KubeError 409 when it is not."""
        body = _lease_body(name, spec, resource_version)
        raw: Any = guarded(
            lambda: self._coordination.replace_namespaced_lease(
                name, self.namespace, body, _preload_content=False, _request_timeout=(timeout, timeout)
            )
        )
        return dict(guarded(lambda: _read_json(raw)))

    def close(self) -> None:
        """Release the connection pool."""
        self._api_client.close()  # type: ignore[no-untyped-call]


def _watched_objects(raw: Any) -> Iterator[dict[str, Any]]:
    """The objects of a watch stream's ADDED/MODIFIED/DELETED events; an ERROR event raises KubeError."""
    lines = list_lines(raw)
    try:
        while (line := guarded(lambda: next(lines, None))) is not None:
            try:
                event = parse_event(line)
            except ValueError:
                raise KubeError(0, "BadResponse", "the watch stream sent a line that is not JSON") from None
            if event is None:
                continue
            kind, obj = event
            if kind == "ERROR":
                code = int(obj.get("code") or 0)
                raise KubeError(code, str(obj.get("reason") or "Error"), str(obj.get("message") or ""))
            if kind in ("ADDED", "MODIFIED", "DELETED"):
                yield obj
    finally:
        # The server may still be streaming: close the connection rather than hand it back to the
        # pool, where the next request would read the rest of this watch as its response.
        raw.close()
        raw.release_conn()
