"""A toy deployment controller that walks rollouts one visible stage per `step()`.

Template change: observe (new ReplicaSet, updatedReplicas 0) → one new, not-yet-ready pod per step
while the old pods still run → old pods removed → new pods ready = complete. Scale-only change:
observe → one ready pod added or removed per step → complete. A failed rollout (`fail`) gets
Progressing=False/ProgressDeadlineExceeded and stays stuck until the next spec change.

Scripted pod failures (`fail_new_pods`): the next new ReplicaSet's pods never become ready (one surge
pod crash-loops or cannot pull its image; the old pods keep serving); after PROGRESS_DEADLINE_STEPS
steps the rollout exceeds its deadline. Start-up logs (`set_startup_logs`) are given to every pod
created for a Deployment from then on.
"""

from __future__ import annotations

import copy
import itertools
from dataclasses import dataclass
from typing import Any

from sandbox.kube.kubelet import ERR_IMAGE_PULL, ImageSource, Kubelet
from sandbox.kube.logs import LogBook
from sandbox.kube.objects import (
    HASH_LABEL,
    REVISION,
    is_owned_by,
    new_uid,
    normalized_template,
    now,
    owner_reference,
    safe_suffix,
    set_condition,
    template_hash,
)
from sandbox.kube.pods import (
    CRASH_LOOP,
    FAILURE_REASONS,
    build_pod,
    can_become_ready,
    crash_again,
    make_failing,
    mark_ready,
    pod_ready,
    recover,
)
from sandbox.kube.store import Key, ObjectStore

PROGRESS_DEADLINE_STEPS = 3  # steps a failing ReplicaSet gets before ProgressDeadlineExceeded


@dataclass
class _Failing:
    """A ReplicaSet whose pods are scripted never to become ready, and how long it has tried."""

    reason: str
    steps: int = 0
    pulling: bool = False  # the kubelet's own image-pull failure (the registry lacks an image), not scripted


class DeploymentController:
    """Reconciles Deployments into ReplicaSets and Pods, advancing only when stepped."""

    def __init__(
        self,
        store: ObjectStore,
        logs: LogBook | None = None,
        images: ImageSource | None = None,
        progress_deadline_steps: int = PROGRESS_DEADLINE_STEPS,
    ) -> None:
        self.store = store
        self.logs = logs if logs is not None else LogBook()
        self.kubelet = Kubelet(images)
        self.progress_deadline_steps = progress_deadline_steps
        self._in_progress: set[Key] = set()
        self._fail_next: set[Key] = set()
        self._failed: set[Key] = set()
        self._fail_pods_next: dict[Key, str] = {}
        self._failing: dict[str, _Failing] = {}  # by ReplicaSet uid
        self._startup: dict[Key, dict[str, list[str]]] = {}
        self._counter = itertools.count(1)

    # -- notifications -------------------------------------------------------------------------

    def spec_changed(self, namespace: str, name: str) -> None:
        """A Deployment's spec changed (generation bumped): a new rollout starts."""
        with self.store.cond:
            self._in_progress.add((namespace, name))
            self._failed.discard((namespace, name))

    def pods_changed(self, namespace: str, name: str) -> None:
        """Pods of a Deployment went away: the controller has work again, without a new rollout."""
        with self.store.cond:
            if (namespace, name) not in self._failed:
                self._in_progress.add((namespace, name))

    def forget(self, namespace: str, name: str) -> None:
        with self.store.cond:
            for s in (self._in_progress, self._fail_next, self._failed):
                s.discard((namespace, name))
            self._fail_pods_next.pop((namespace, name), None)
            self._startup.pop((namespace, name), None)

    # -- scripted failures and logs ------------------------------------------------------------

    def fail_new_pods(self, namespace: str, name: str, reason: str) -> None:
        """The pods of the next ReplicaSet this Deployment rolls to never become ready (`reason`)."""
        if reason not in FAILURE_REASONS:
            raise ValueError(f"unknown failure reason {reason!r}; use one of {', '.join(FAILURE_REASONS)}")
        with self.store.cond:
            self._fail_pods_next[(namespace, name)] = reason

    def clear_failures(self, namespace: str, name: str) -> None:
        """Forget every scripted failure of the Deployment; stuck pods start and its rollout resumes."""
        key = (namespace, name)
        with self.store.cond:
            self._fail_pods_next.pop(key, None)
            self._fail_next.discard(key)
            deployment = self.store.get("deployments", namespace, name)
            if deployment is None:
                return
            for rs in self._replicasets(deployment):
                if self._failing.pop(rs["metadata"]["uid"], None) is None:
                    continue
                for pod in self._pods_of(rs):
                    recover(pod)
                    self.store.put("pods", pod)
            if key in self._failed:
                self._failed.discard(key)
                current = self._new_replicaset(deployment)
                if current is not None:
                    self._set_progressing(deployment, current, done=False)
                    self.store.put("deployments", deployment)
            self._in_progress.add(key)

    def set_startup_logs(self, namespace: str, name: str, container: str, lines: list[str]) -> None:
        """Pods created for Deployment `name` from now on log `lines` for `container`."""
        with self.store.cond:
            self._startup.setdefault((namespace, name), {})[container] = list(lines)

    def fail(self, namespace: str, name: str) -> None:
        """Rollout of `name` ends with ProgressDeadlineExceeded: now if it is in progress and observed,
        else at the first step after its next spec change is observed."""
        key = (namespace, name)
        with self.store.cond:
            self._fail_next.add(key)
            deployment = self.store.get("deployments", namespace, name)
            if deployment is None or key not in self._in_progress:
                return
            status = deployment.get("status", {})
            if status.get("observedGeneration", 0) >= deployment["metadata"].get("generation", 1):
                self._step_one(key)

    def in_progress(self) -> list[Key]:
        with self.store.cond:
            return sorted(self._in_progress)

    # -- stepping ------------------------------------------------------------------------------

    def step(self, namespace: str | None = None, name: str | None = None) -> bool:
        """Advance every in-progress rollout (or just `name`) by one stage; True if anything changed."""
        changed = False
        with self.store.cond:
            for key in sorted(self._in_progress):
                if (namespace is None or key[0] == namespace) and (name is None or key[1] == name):
                    changed |= self._step_one(key)
        return changed

    def _step_one(self, key: Key) -> bool:
        deployment = self.store.get("deployments", *key)
        if deployment is None:
            self.forget(*key)
            return False
        before = copy.deepcopy(deployment)
        status = deployment.setdefault("status", {})
        rs = self._new_replicaset(deployment)
        if status.get("observedGeneration", 0) < deployment["metadata"].get("generation", 1) or rs is None:
            rs = self._observe(deployment)
            self._refresh_status(deployment, rs)
            self._set_progressing(deployment, rs, done=False)
            self.store.put("deployments", deployment)
            return True
        acted = False
        if key in self._fail_next:
            self._fail_next.discard(key)
            self._failed.add(key)
            self._in_progress.discard(key)
            set_condition(
                status,
                "Progressing",
                "False",
                "ProgressDeadlineExceeded",
                f'ReplicaSet "{rs["metadata"]["name"]}" has timed out progressing.',
            )
            acted = True
        elif rs["metadata"]["uid"] in self._failing and deployment["spec"].get("replicas", 1) > 0:
            acted = self._advance_failing(key, deployment, rs)
            self._sync_replicasets(deployment, rs)
        else:
            acted = self._advance_pods(deployment, rs)
            self._sync_replicasets(deployment, rs)
        done = self._refresh_status(deployment, rs)
        if done and key not in self._failed:
            self._in_progress.discard(key)
            self._set_progressing(deployment, rs, done=True)
        if deployment != before:
            self.store.put("deployments", deployment)
            return True
        return acted

    def settle(self, namespace: str, name: str, max_steps: int = 100) -> None:
        """Step one Deployment until it has nothing left to do (used for seeding)."""
        for _ in range(max_steps):
            if not self.step(namespace, name):
                return

    # -- stages --------------------------------------------------------------------------------

    def _owned(self, plural: str, deployment: dict[str, Any]) -> list[dict[str, Any]]:
        ns, uid = deployment["metadata"]["namespace"], deployment["metadata"]["uid"]
        return [o for o in self.store.list(plural, ns) if is_owned_by(o, uid)]

    def _replicasets(self, deployment: dict[str, Any]) -> list[dict[str, Any]]:
        return self._owned("replicasets", deployment)

    def _new_replicaset(self, deployment: dict[str, Any]) -> dict[str, Any] | None:
        want = normalized_template(deployment["spec"]["template"])
        for rs in self._replicasets(deployment):
            if normalized_template(rs["spec"]["template"]) == want:
                return rs
        return None

    @staticmethod
    def _revision(obj: dict[str, Any]) -> int:
        try:
            return int((obj["metadata"].get("annotations") or {}).get(REVISION, "0"))
        except ValueError:
            return 0

    def _observe(self, deployment: dict[str, Any]) -> dict[str, Any]:
        """Find or create the ReplicaSet for the current template, renumber it, mark the spec observed."""
        meta = deployment["metadata"]
        all_rs = self._replicasets(deployment)
        top = max((self._revision(r) for r in all_rs), default=0)
        previous = max(all_rs, key=self._revision, default=None)
        rs = self._new_replicaset(deployment)
        if rs is None:
            rs = self._create_replicaset(deployment, top + 1)
        elif self._revision(rs) < top:
            rs["metadata"].setdefault("annotations", {})[REVISION] = str(top + 1)
        key = (meta["namespace"], meta["name"])
        if key in self._fail_pods_next and (
            previous is None or previous["metadata"]["uid"] != rs["metadata"]["uid"]
        ):
            self._failing[rs["metadata"]["uid"]] = _Failing(self._fail_pods_next.pop(key))
        elif rs["metadata"]["uid"] not in self._failing and self.kubelet.missing(
            rs["spec"]["template"]["spec"]
        ):
            self._failing[rs["metadata"]["uid"]] = _Failing(ERR_IMAGE_PULL, pulling=True)
        rs["spec"]["replicas"] = deployment["spec"].get("replicas", 1)
        rs["metadata"]["annotations"]["deployment.kubernetes.io/desired-replicas"] = str(
            rs["spec"]["replicas"]
        )
        self.store.put("replicasets", rs)
        self._prune_history(deployment, rs)
        meta.setdefault("annotations", {})[REVISION] = rs["metadata"]["annotations"][REVISION]
        deployment["status"]["observedGeneration"] = meta.get("generation", 1)
        return rs

    def _create_replicaset(self, deployment: dict[str, Any], revision: int) -> dict[str, Any]:
        meta = deployment["metadata"]
        template = copy.deepcopy(deployment["spec"]["template"])
        h = template_hash(template)
        template.setdefault("metadata", {}).setdefault("labels", {})[HASH_LABEL] = h
        selector = copy.deepcopy(deployment["spec"].get("selector") or {})
        selector.setdefault("matchLabels", {})[HASH_LABEL] = h
        replicas = deployment["spec"].get("replicas", 1)
        return {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {
                "name": f"{meta['name']}-{h}",
                "namespace": meta["namespace"],
                "uid": new_uid(),
                "creationTimestamp": now(),
                "generation": 1,
                "labels": dict(template["metadata"]["labels"]),
                "annotations": {
                    "deployment.kubernetes.io/desired-replicas": str(replicas),
                    "deployment.kubernetes.io/max-replicas": str(replicas + max(1, replicas // 4)),
                    REVISION: str(revision),
                },
                "ownerReferences": [owner_reference(deployment)],
            },
            "spec": {"replicas": replicas, "selector": selector, "template": template},
            "status": {"replicas": 0, "observedGeneration": 1},
        }

    def _prune_history(self, deployment: dict[str, Any], current: dict[str, Any]) -> None:
        limit = deployment["spec"].get("revisionHistoryLimit", 10)
        old = [
            r
            for r in self._replicasets(deployment)
            if r["metadata"]["uid"] != current["metadata"]["uid"] and not self._pods_of(r)
        ]
        old.sort(key=self._revision)
        for rs in old[: max(0, len(old) - limit)]:
            self.store.delete("replicasets", rs["metadata"]["namespace"], rs["metadata"]["name"])

    def _pods_of(self, owner: dict[str, Any]) -> list[dict[str, Any]]:
        ns, uid = owner["metadata"]["namespace"], owner["metadata"]["uid"]
        pods = [p for p in self.store.list("pods", ns) if is_owned_by(p, uid)]
        return sorted(pods, key=lambda p: (p["metadata"]["creationTimestamp"], p["metadata"]["name"]))

    def _advance_pods(self, deployment: dict[str, Any], rs: dict[str, Any]) -> bool:
        """Do one unit of pod work; False when there is nothing to do."""
        desired = deployment["spec"].get("replicas", 1)
        new_pods = self._pods_of(rs)
        old_pods = [
            p
            for r in self._replicasets(deployment)
            if r["metadata"]["uid"] != rs["metadata"]["uid"]
            for p in self._pods_of(r)
        ]
        ns = rs["metadata"]["namespace"]
        if len(new_pods) < desired:
            self.create_pod(rs, ready=not old_pods)
            return True
        if len(new_pods) > desired:
            self.store.delete("pods", ns, new_pods[-1]["metadata"]["name"])
            return True
        if old_pods:
            for pod in old_pods:
                self.store.delete("pods", ns, pod["metadata"]["name"])
            return True
        waiting = [p for p in new_pods if not pod_ready(p) and can_become_ready(p)]
        for pod in waiting:
            mark_ready(pod)
            self.store.put("pods", pod)
        return bool(waiting)

    def _advance_failing(self, key: Key, deployment: dict[str, Any], rs: dict[str, Any]) -> bool:
        """A rollout whose new pods never become ready: one surge pod, crashes, then the deadline."""
        failing = self._failing[rs["metadata"]["uid"]]
        new_pods = self._pods_of(rs)
        if not new_pods:
            self.create_pod(rs, ready=False)
            return True
        if failing.pulling:
            pulled = [self.kubelet.step(pod) for pod in new_pods]
            for pod in new_pods:
                self.store.put("pods", pod)
            if all(pulled):  # the images appeared: the rollout goes on as usual
                del self._failing[rs["metadata"]["uid"]]
                return True
        for pod in new_pods:
            if crash_again(pod):
                self.store.put("pods", pod)
        failing.steps += 1
        if failing.steps >= self.progress_deadline_steps:
            self._failed.add(key)
            self._in_progress.discard(key)
            set_condition(
                deployment["status"],
                "Progressing",
                "False",
                "ProgressDeadlineExceeded",
                f'ReplicaSet "{rs["metadata"]["name"]}" has timed out progressing.',
            )
        return True

    def create_pod(self, owner: dict[str, Any], *, ready: bool, name: str | None = None) -> dict[str, Any]:
        """Create a pod from `owner`'s template (a ReplicaSet or StatefulSet), with its scripted
        start-up logs and, for a failing ReplicaSet, its scripted failure."""
        index = next(self._counter)
        owner_name = owner["metadata"]["name"]
        pod_name = name or f"{owner_name}-{safe_suffix(f'{owner_name}/{index}/{new_uid()}', 5)}"
        ns = owner["metadata"]["namespace"]
        pod = build_pod(pod_name, ns, owner["spec"]["template"], owner, ready=ready, ip_index=index)
        deployment = next(
            (
                r["name"]
                for r in owner["metadata"].get("ownerReferences") or []
                if r.get("kind") == "Deployment"
            ),
            None,
        )
        containers = {
            c["name"] for kind in ("containers", "initContainers") for c in pod["spec"].get(kind) or []
        }
        for container, lines in self._startup.get((ns, deployment or ""), {}).items():
            if container in containers:
                self.logs.set(pod_name, container, lines)
        failing = self._failing.get(owner["metadata"]["uid"])
        self.kubelet.record_digests(pod)
        if failing is not None and failing.pulling:
            self.kubelet.start_pod(pod)
        elif failing is not None:
            make_failing(pod, failing.reason)
            if failing.reason == CRASH_LOOP:
                for c in pod["spec"].get("containers") or []:
                    lines = self.logs.read(pod_name, c["name"], False) or []
                    self.logs.set(pod_name, c["name"], lines, previous=True)
        return self.store.put("pods", pod)

    def _sync_replicasets(self, deployment: dict[str, Any], new_rs: dict[str, Any]) -> None:
        for rs in self._replicasets(deployment):
            pods = self._pods_of(rs)
            before = copy.deepcopy(rs)
            if rs["metadata"]["uid"] != new_rs["metadata"]["uid"]:
                rs["spec"]["replicas"] = len(pods)
            ready = sum(1 for p in pods if pod_ready(p))
            rs["status"] = {
                k: v
                for k, v in {
                    "replicas": len(pods),
                    "fullyLabeledReplicas": len(pods),
                    "readyReplicas": ready,
                    "availableReplicas": ready,
                    "observedGeneration": rs["metadata"].get("generation", 1),
                }.items()
                if v or k == "replicas"
            }
            if rs != before:
                self.store.put("replicasets", rs)

    def _refresh_status(self, deployment: dict[str, Any], rs: dict[str, Any]) -> bool:
        """Recompute replica counts and Available; True when the rollout has nothing left to do."""
        spec, status = deployment["spec"], deployment["status"]
        desired = spec.get("replicas", 1)
        new_pods = self._pods_of(rs)
        all_pods = [p for r in self._replicasets(deployment) for p in self._pods_of(r)]
        available = sum(1 for p in all_pods if pod_ready(p))
        counts = {
            "replicas": len(all_pods),
            "updatedReplicas": len(new_pods),
            "readyReplicas": available,
            "availableReplicas": available,
            "unavailableReplicas": max(0, desired - available),
        }
        for k, v in counts.items():
            if v:
                status[k] = v
            else:
                status.pop(k, None)
        if available >= desired - self._max_unavailable(spec, desired):
            set_condition(
                status,
                "Available",
                "True",
                "MinimumReplicasAvailable",
                "Deployment has minimum availability.",
            )
        else:
            set_condition(
                status,
                "Available",
                "False",
                "MinimumReplicasUnavailable",
                "Deployment does not have minimum availability.",
            )
        self._order_conditions(status)
        done: bool = len(new_pods) == desired and len(all_pods) == desired and available >= desired
        return done

    @staticmethod
    def _max_unavailable(spec: dict[str, Any], desired: int) -> int:
        raw = ((spec.get("strategy") or {}).get("rollingUpdate") or {}).get("maxUnavailable", "25%")
        if isinstance(raw, int):
            return raw
        try:
            return int(desired * int(str(raw).rstrip("%")) / 100) if str(raw).endswith("%") else int(raw)
        except ValueError:
            return 0

    def _set_progressing(self, deployment: dict[str, Any], rs: dict[str, Any], *, done: bool) -> None:
        status, rs_name = deployment["status"], rs["metadata"]["name"]
        if done:
            message = f'ReplicaSet "{rs_name}" has successfully progressed.'
            set_condition(status, "Progressing", "True", "NewReplicaSetAvailable", message)
        else:
            set_condition(
                status, "Progressing", "True", "ReplicaSetUpdated", f'ReplicaSet "{rs_name}" is progressing.'
            )
        self._order_conditions(status)

    @staticmethod
    def _order_conditions(status: dict[str, Any]) -> None:
        order = {"Available": 0, "Progressing": 1}
        status.get("conditions", []).sort(key=lambda c: order.get(c.get("type", ""), 2))

    def refresh(self, namespace: str, name: str) -> None:
        """Recompute a Deployment's counts after pod states changed outside a rollout step."""
        with self.store.cond:
            deployment = self.store.get("deployments", namespace, name)
            if deployment is None:
                return
            rs = self._new_replicaset(deployment)
            if rs is None:
                return
            before = copy.deepcopy(deployment)
            deployment.setdefault("status", {})
            self._sync_replicasets(deployment, rs)
            self._refresh_status(deployment, rs)
            if deployment != before:
                self.store.put("deployments", deployment)

    def owning_deployment(self, pod: dict[str, Any]) -> str | None:
        """Name of the Deployment whose ReplicaSet owns `pod`, if any."""
        ns = pod["metadata"]["namespace"]
        with self.store.cond:
            for rs in self.store.list("replicasets", ns):
                if is_owned_by(pod, rs["metadata"]["uid"]):
                    for d in self.store.list("deployments", ns):
                        if is_owned_by(rs, d["metadata"]["uid"]):
                            return str(d["metadata"]["name"])
        return None
