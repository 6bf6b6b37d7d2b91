"""Faults to rehearse incidents with, and their heals: what the control API (`sandbox/control.py`), the
demo console and the benchmarks break the sandbox with. Each fault is what the real system would show:
pods crash-looping or OOMKilled, an image the registry lacks (the kubelet's ErrImagePull), a rollout
stuck past its progress deadline, LiteLLM's Redis process stopped, slow or failing services, planted
drift, an aged backup. Each returns one line saying what it did; bad names raise `FaultError`."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

from sandbox import seed_data
from sandbox.backend import BackendSandbox
from sandbox.kube import KubeSandbox
from sandbox.litellm import LiteLLMSandbox
from sandbox.redis_server import RedisServer

POD_FAULTS = ("crashloop", "oom", "image-pull", "stuck-rollout")


class FaultError(Exception):
    """A fault that cannot be applied as asked (unknown deployment, no such service…)."""


@dataclass
class Faults:
    """Breaks and heals the parts of one sandbox world."""

    kube: KubeSandbox
    litellm: LiteLLMSandbox | None = None
    backend: BackendSandbox | None = None
    litellm_redis: RedisServer | None = None
    backup_dir: Path | None = None
    litellm_database_url: str | None = None
    _images: dict[str, str] = field(default_factory=dict)  # deployment → image before image-pull

    # ------------------------------------------------------------------ pods and rollouts

    def break_deployment(self, deployment: str, fault: str) -> str:
        """`fault` (one of POD_FAULTS) on every pod, or on the next rollout, of `deployment`."""
        container = self._container(deployment)
        pods = [p["metadata"]["name"] for p in self.kube.pods_of(deployment)]
        if fault == "crashloop":
            for pod in pods:
                self.kube.set_pod_state(
                    pod, container, waiting_reason="CrashLoopBackOff", restart_count=6, ready=False
                )
            return f"{len(pods)} pod(s) of {deployment} crash-loop"
        if fault == "oom":
            for pod in pods:
                self.kube.oom_kill(pod, container)
            return f"{len(pods)} pod(s) of {deployment} were OOMKilled"
        if fault == "image-pull":
            image = self._image(deployment, container)
            self._images.setdefault(deployment, image)
            missing = f"{image.rpartition(':')[0] or image}:no-such-tag-{secrets.token_hex(3)}"
            self._set_image(deployment, container, missing)
            return f"{deployment} now runs {missing}, which the registry lacks"
        if fault == "stuck-rollout":
            self.kube.fail_new_pods(deployment, "CrashLoopBackOff")
            self._restart(deployment)
            return f"a rollout of {deployment} started whose new pods never become ready"
        raise FaultError(f"unknown fault {fault!r}; known: {', '.join(POD_FAULTS)}")

    def heal_deployment(self, deployment: str) -> str:
        """Every pod fault of `deployment` undone: its image restored, fresh pods rolled out."""
        container = self._container(deployment)
        self.kube.clear_failures(deployment)
        original = self._images.pop(deployment, None)
        if original is not None:
            self._set_image(deployment, container, original)
        else:
            self._restart(deployment)
        return f"{deployment} heals: fresh pods rolling out"

    # ------------------------------------------------------------------ services

    def redis(self, up: bool) -> str:
        if self.litellm_redis is None:
            raise FaultError("this sandbox has no LiteLLM Redis of its own")
        if up:
            self.litellm_redis.up()
            return "LiteLLM's Redis is up"
        self.litellm_redis.down()
        return "LiteLLM's Redis is down"

    def service(self, name: str, *, latency: float | None = None, failing: bool | None = None) -> str:
        """Latency (seconds before each reply) and readiness failure of `litellm` or `backend`."""
        target = {"litellm": self.litellm, "backend": self.backend}.get(name)
        if target is None:
            raise FaultError(f"unknown service {name!r}; known: litellm, backend")
        said = []
        if latency is not None:
            if not 0 <= latency <= 60:
                raise FaultError("latency must be between 0 and 60 seconds")
            target.set_latency(latency)
            said.append(f"answers after {latency:g} s")
        if failing is not None:
            target.set_ready(not failing)
            said.append("fails its readiness probe" if failing else "is ready")
        return f"{name} " + (" and ".join(said) or "unchanged")

    # ------------------------------------------------------------------ data

    def plant_drift(self) -> str:
        """A LiteLLM key with no LiteMaaS row (drift kind b)."""
        if self.litellm_database_url is None:
            raise FaultError("this sandbox has no LiteLLM database")
        alias = f"planted-{secrets.token_hex(4)}"
        with psycopg.connect(self.litellm_database_url) as conn:
            seed_data.add_litellm_token(conn, key=seed_data.new_key(), alias=alias, expires=None)
        return f"planted a LiteLLM key without a LiteMaaS row ({alias})"

    def age_newest_backup(self, days: float) -> str:
        """Make the newest backup look `days` older (its manifest's `created_at`)."""
        if self.backup_dir is None or not self.backup_dir.is_dir():
            raise FaultError("this sandbox has no backup yet (run /maas backup now)")
        manifests = sorted(self.backup_dir.glob("*/manifest.json"), key=_created_at, reverse=True)
        if not manifests:
            raise FaultError("this sandbox has no backup yet (run /maas backup now)")
        data: dict[str, Any] = json.loads(manifests[0].read_text())
        aged = datetime.fromisoformat(data["created_at"]) - timedelta(days=days)
        data["created_at"] = aged.astimezone(UTC).isoformat()
        manifests[0].write_text(json.dumps(data))
        return f"the newest backup now dates from {aged:%Y-%m-%d %H:%M} UTC"

    # ------------------------------------------------------------------ internals

    def _container(self, deployment: str) -> str:
        try:
            obj = self.kube.get("deployments", deployment)
        except KeyError:
            names = ", ".join(d["metadata"]["name"] for d in self.kube.list("deployments"))
            raise FaultError(f"no deployment {deployment!r}; there are: {names}") from None
        return str(obj["spec"]["template"]["spec"]["containers"][0]["name"])

    def _image(self, deployment: str, container: str) -> str:
        spec = self.kube.get("deployments", deployment)["spec"]["template"]["spec"]
        return str(next(c["image"] for c in spec["containers"] if c["name"] == container))

    def _set_image(self, deployment: str, container: str, image: str) -> None:
        patch = {"spec": {"template": {"spec": {"containers": [{"name": container, "image": image}]}}}}
        self.kube.patch_deployment(deployment, patch)

    def _restart(self, deployment: str) -> None:
        stamp = datetime.now(UTC).isoformat()
        annotations = {"kubectl.kubernetes.io/restartedAt": stamp}
        self.kube.patch_deployment(
            deployment, {"spec": {"template": {"metadata": {"annotations": annotations}}}}
        )


def _created_at(manifest: Path) -> str:
    try:
        return str(json.loads(manifest.read_text()).get("created_at", ""))
    except (OSError, ValueError):
        return ""
