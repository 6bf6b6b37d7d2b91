"""`KubeSandbox`: the Kubernetes API emulator seeded with LiteMaaS, served over HTTP on 127.0.0.1.

Tests drive rollouts explicitly with `step()`/`settle()`; the demo passes `auto_progress` seconds.
Both the official `kubernetes` client and the real `kubectl` talk to it through a kubeconfig.

Besides the workloads it seeds the LiteMaaS Secrets (random values, overridable), OpenShift Routes
(unless `openshift=False`) and LiteLLM's Prisma start-up log; tests script pod failures with
`fail_new_pods()` / `oom_kill()` and start-up logs with `set_startup_logs()`.
"""

from __future__ import annotations

import copy
import json
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from sandbox.kube import resources, secret_data, seed
from sandbox.kube.cluster import Cluster
from sandbox.kube.controller import PROGRESS_DEADLINE_STEPS
from sandbox.kube.errors import ApiError
from sandbox.kube.logs import litellm_startup_lines
from sandbox.kube.objects import template_hash
from sandbox.kube.pods import record_oom_kill, set_container_state
from sandbox.kube.recording import RecordedRequest, RequestLog
from sandbox.kube.server import SandboxHTTPServer
from sandbox.registry import ImageStore, seeded_store

Names = list[str]

SANDBOX_TOKEN = "sandbox-token-not-a-secret"


class KubeSandbox:
    """An emulated cluster with the LiteMaaS Deployments, their ReplicaSets, Pods, Secrets, Routes and logs.

    `secrets` overrides or extends the seeded Secrets' plain data by Secret name (a new name creates
    an Opaque Secret); `openshift=False` plays plain Kubernetes: `route.openshift.io` is not served.
    `images` is the registry content the kubelet pulls from (default: the seeded sandbox registry's): a
    pod whose image is not there waits in ErrImagePull / ImagePullBackOff (`sandbox.kube.kubelet`).
    `progress_deadline_steps`: steps a rollout whose new pods never become ready gets before
    ProgressDeadlineExceeded (each step stands for ten seconds; 60 ≈ Kubernetes' default 600 s).
    """

    def __init__(
        self,
        namespace: str = "litellm-rhpds",
        seed: bool = True,
        auto_progress: float | None = None,
        *,
        secrets: Mapping[str, Mapping[str, str]] | None = None,
        openshift: bool = True,
        images: ImageStore | None = None,
        progress_deadline_steps: int = PROGRESS_DEADLINE_STEPS,
    ) -> None:
        if auto_progress is not None and auto_progress <= 0:
            raise ValueError(
                f"auto_progress must be a positive number of seconds or None, got {auto_progress}"
            )
        self.namespace = namespace
        self.openshift = openshift
        self.images = images if images is not None else seeded_store()
        self.cluster = Cluster(openshift, self.images, progress_deadline_steps)
        self._requests = RequestLog()
        self._auto_progress = auto_progress
        self._server: SandboxHTTPServer | None = None
        self._threads: list[threading.Thread] = []
        self._stopping = threading.Event()
        if seed:
            self._seed()
        for name, data in (secrets or {}).items():
            self.set_secret(name, data)

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self, host: str = "127.0.0.1", port: int = 0) -> KubeSandbox:
        """Serve in background threads (and auto-progress rollouts if asked); returns self."""
        if self._server is not None:
            raise RuntimeError("the kube sandbox is already started")
        self._server = SandboxHTTPServer((host, port), self.cluster, self._requests)
        serve = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="kube-sandbox-http", daemon=True
        )
        serve.start()
        self._threads.append(serve)
        if self._auto_progress is not None:
            ticker = threading.Thread(target=self._auto_step, name="kube-sandbox-controller", daemon=True)
            ticker.start()
            self._threads.append(ticker)
        return self

    def stop(self) -> None:
        """Stop serving; open watches end at once. Safe to call twice."""
        self._stopping.set()
        self.cluster.store.close()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        for thread in self._threads:
            thread.join(timeout=5)
        self._threads.clear()

    def __enter__(self) -> KubeSandbox:
        return self.start() if self._server is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """`http://127.0.0.1:PORT` once started."""
        if self._server is None:
            raise RuntimeError("the kube sandbox is not started; call start() first")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def write_kubeconfig(self, path: Path, namespace: str | None = None) -> Path:
        """A plain-http kubeconfig with a token user, its current context in `namespace` (default ours)."""
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "sandbox", "cluster": {"server": self.url}}],
            "users": [{"name": "sandbox", "user": {"token": SANDBOX_TOKEN}}],
            "contexts": [
                {
                    "name": "sandbox",
                    "context": {
                        "cluster": "sandbox",
                        "user": "sandbox",
                        "namespace": namespace or self.namespace,
                    },
                }
            ],
            "current-context": "sandbox",
            "preferences": {},
        }
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        return path

    # -- the controller ------------------------------------------------------------------------

    def step(self, name: str | None = None) -> bool:
        """Advance in-progress rollouts (all, or Deployment `name`) by one stage; True if anything changed."""
        if name is not None:
            self._deployment(name)
        return self.cluster.controller.step(self.namespace, name)

    def settle(self, max_steps: int = 50) -> None:
        """Step until no rollout can progress; RuntimeError if still moving after `max_steps`."""
        for _ in range(max_steps):
            if not self.step():
                return
        raise RuntimeError(f"rollouts still progressing after {max_steps} steps: {self.in_progress()}")

    def in_progress(self) -> list[str]:
        """Names of the Deployments whose rollout is not finished (stuck and failed ones excluded)."""
        return [n for ns, n in self.cluster.controller.in_progress() if ns == self.namespace]

    def fail_rollout(self, name: str) -> None:
        """The current/next rollout of `name` ends with Progressing=False, ProgressDeadlineExceeded."""
        self._deployment(name)
        self.cluster.controller.fail(self.namespace, name)

    def fail_new_pods(self, deployment: str, reason: str = "CrashLoopBackOff") -> None:
        """The pods of the NEXT new ReplicaSet of `deployment` never become ready.

        `reason`: CrashLoopBackOff (restartCount grows each step), ImagePullBackOff or ErrImagePull.
        The old pods keep serving; after a few steps (controller.PROGRESS_DEADLINE_STEPS) the rollout
        gets Progressing=False/ProgressDeadlineExceeded. Rolling back to an earlier template is healthy;
        rolling forward to the failing template again fails again until `clear_failures()`.
        """
        self._deployment(deployment)
        self.cluster.controller.fail_new_pods(self.namespace, deployment, reason)

    def patch_deployment(self, name: str, patch: dict[str, Any]) -> dict[str, Any]:
        """A strategic-merge PATCH of Deployment `name`, as `kubectl patch` sends it (a change made
        outside the bot): a changed template starts a rollout."""
        self._deployment(name)
        body = json.dumps(patch).encode()
        return self.cluster.patch(
            resources.BY_PLURAL["deployments"],
            self.namespace,
            name,
            "application/strategic-merge-patch+json",
            body,
        )

    def clear_failures(self, deployment: str) -> None:
        """Forget `deployment`'s scripted failures; stuck pods start, its rollout resumes on step()."""
        self._deployment(deployment)
        self.cluster.controller.clear_failures(self.namespace, deployment)

    # -- scripting pods ------------------------------------------------------------------------

    def set_logs(self, pod: str, container: str, lines: list[str], previous: bool = False) -> None:
        """Script what the log endpoint returns for one container of one existing pod."""
        obj = self._get("pods", pod)
        names = [c["name"] for c in obj["spec"].get("containers", []) + obj["spec"].get("initContainers", [])]
        if container not in names:
            raise KeyError(f"pod {pod} has no container {container!r} (has: {', '.join(names)})")
        self.cluster.logs.set(pod, container, lines, previous)

    def set_startup_logs(self, deployment: str, container: str, lines: list[str]) -> None:
        """Every pod created for `deployment` from now on logs `lines` for `container` (main or init).

        `sandbox.kube.litellm_startup_lines(failed_migration=...)` builds LiteLLM's, also failing ones.
        """
        obj = self._deployment(deployment)
        spec = obj["spec"]["template"]["spec"]
        names = [c["name"] for c in spec.get("containers", []) + spec.get("initContainers", [])]
        if container not in names:
            raise KeyError(
                f"deployment {deployment} has no container {container!r} (has: {', '.join(names)})"
            )
        self.cluster.controller.set_startup_logs(self.namespace, deployment, container, lines)

    def oom_kill(self, pod: str, container: str | None = None) -> None:
        """`container` (default: the pod's first) was OOMKilled and restarted: lastState terminated
        OOMKilled exit 137, restartCount + 1, still running. `--previous` logs show the killed run."""
        store = self.cluster.store
        with store.cond:
            obj = store.get("pods", self.namespace, pod)
            if obj is None:
                raise KeyError(f"no pod {pod!r} in {self.namespace}; pods: {', '.join(self._names('pods'))}")
            name = container or obj["spec"]["containers"][0]["name"]
            record_oom_kill(obj, name)
            logs = self.cluster.logs
            if logs.read(pod, name, previous=True) is None:
                logs.set(pod, name, logs.read(pod, name, previous=False) or [], previous=True)
            store.put("pods", obj)
            owner = self.cluster.controller.owning_deployment(obj)
            if owner is not None:
                self.cluster.controller.refresh(self.namespace, owner)

    def set_pod_state(
        self,
        pod: str,
        container: str,
        *,
        waiting_reason: str | None = None,
        terminated_reason: str | None = None,
        restart_count: int | None = None,
        ready: bool | None = None,
    ) -> None:
        """Script a container state (e.g. waiting CrashLoopBackOff after terminated OOMKilled)."""
        store = self.cluster.store
        with store.cond:
            obj = store.get("pods", self.namespace, pod)
            if obj is None:
                raise KeyError(f"no pod {pod!r} in {self.namespace}; pods: {', '.join(self._names('pods'))}")
            set_container_state(
                obj,
                container,
                waiting_reason=waiting_reason,
                terminated_reason=terminated_reason,
                restart_count=restart_count,
                ready=ready,
            )
            store.put("pods", obj)
            owner = self.cluster.controller.owning_deployment(obj)
            if owner is not None:
                self.cluster.controller.refresh(self.namespace, owner)

    def pods_of(self, deployment: str) -> list[dict[str, Any]]:
        """The pods currently owned (through its ReplicaSets) by Deployment `deployment`."""
        self._deployment(deployment)
        owner = self.cluster.controller.owning_deployment
        return [p for p in self.list("pods") if owner(p) == deployment]

    # -- requests and errors -------------------------------------------------------------------

    def inject_error(self, method: str, path_regex: str, status: int, message: str, times: int = 1) -> None:
        """The next `times` requests whose method matches ("*" = any) and whose path matches
        `path_regex` (re.search, path without query) answer a Status error with `message`."""
        self._requests.inject(method, path_regex, status, message, times)

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received so far, oldest first (a copy)."""
        return self._requests.snapshot()

    def writes(self) -> list[RecordedRequest]:
        """The requests that could change something (PATCH, PUT, POST, DELETE), oldest first."""
        return [r for r in self.requests if r.method.upper() in {"PATCH", "PUT", "POST", "DELETE"}]

    def clear_requests(self) -> None:
        self._requests.clear()

    def compact_history(self) -> None:
        """Forget the watch history: resuming a watch from an older resourceVersion then gets 410 Expired."""
        self.cluster.store.compact()

    # -- secrets -------------------------------------------------------------------------------

    def set_secret(self, name: str, data: Mapping[str, str], *, replace: bool = False) -> None:
        """Set plain values in Secret `name` (created when absent): the given keys are written, the
        others kept, or with `replace=True` the data becomes exactly `data`. Served base64-encoded."""
        rt = resources.BY_PLURAL["secrets"]
        with self.cluster.store.cond:
            current = self.cluster.store.get("secrets", self.namespace, name)
            if current is None:
                self.cluster.create(rt, self.namespace, secret_data.secret(name, data))
                return
            updated = copy.deepcopy(current)
            if replace:
                updated["data"] = {}
            updated.setdefault("data", {}).update(secret_data.encode(data))
            self.cluster.replace(rt, self.namespace, name, updated)

    def secret_data(self, name: str) -> dict[str, str]:
        """The plain (decoded) data of Secret `name`; KeyError when absent."""
        return secret_data.decode(self._get("secrets", name).get("data") or {})

    # -- direct state --------------------------------------------------------------------------

    def get(self, resource: str, name: str) -> dict[str, Any]:
        """One object as served (a copy); `resource`: plural, singular or short name. KeyError if absent."""
        return self._get(resource, name)

    def list(self, resource: str) -> list[dict[str, Any]]:
        """All objects of a resource in the sandbox namespace, ordered by name (copies)."""
        rt = resources.resolve_name(resource)
        return list(self.cluster.list(rt, self.namespace)["items"])

    # -- internals -----------------------------------------------------------------------------

    def _get(self, resource: str, name: str) -> dict[str, Any]:
        rt = resources.resolve_name(resource)
        try:
            return self.cluster.get(rt, self.namespace, name)
        except ApiError as err:
            raise KeyError(f"{err.message} in namespace {self.namespace}") from None

    def _deployment(self, name: str) -> dict[str, Any]:
        return self._get("deployments", name)

    def _names(self, resource: str) -> Names:
        return [o["metadata"]["name"] for o in self.list(resource)]

    def _auto_step(self) -> None:
        assert self._auto_progress is not None
        while not self._stopping.wait(self._auto_progress):
            self.step()

    def _seed(self) -> None:
        c, ns = self.cluster, self.namespace
        for name, data in secret_data.litemaas_secret_data().items():
            c.create(
                resources.BY_PLURAL["secrets"],
                ns,
                secret_data.secret(name, data, secret_data.SECRET_LABELS.get(name)),
            )
        for svc in seed.services():
            c.create(resources.BY_PLURAL["services"], ns, svc)
        if self.openshift:
            for route in seed.routes():
                c.create(resources.BY_PLURAL["routes"], ns, route)  # status as admitted
        c.controller.set_startup_logs(ns, "litellm", "litellm", litellm_startup_lines())
        for deployment in seed.deployments():
            c.create(resources.BY_PLURAL["deployments"], ns, deployment)
            c.controller.settle(ns, deployment["metadata"]["name"])
        sts = c.create(resources.BY_PLURAL["statefulsets"], ns, seed.postgres_statefulset())
        revision = f"litellm-postgres-{template_hash(sts['spec']['template'])}"
        owner_view = copy.deepcopy(sts)
        owner_view["spec"]["template"]["metadata"]["labels"].update(
            {"statefulset.kubernetes.io/pod-name": "litellm-postgres-0", "controller-revision-hash": revision}
        )
        c.controller.create_pod(owner_view, ready=True, name="litellm-postgres-0")
        with c.store.cond:
            stored = c.store.get("statefulsets", ns, "litellm-postgres")
            assert stored is not None
            stored["status"] = {
                "observedGeneration": 1,
                "replicas": 1,
                "readyReplicas": 1,
                "currentReplicas": 1,
                "updatedReplicas": 1,
                "availableReplicas": 1,
                "currentRevision": revision,
                "updateRevision": revision,
                "collisionCount": 0,
            }
            c.store.put("statefulsets", stored)
