"""Rollout watching: API requests per upgrade (watch vs a 1 s polling loop) and the reporting delay.

    .venv/bin/python bench/rollout_watch.py [--runs 10] [--auto-progress 2.0]

1. Requests: one `upgrade frontend <tag>` (plan + execute, as after an approval) against a sandbox that
   advances rollouts on its own every `--auto-progress` seconds, counting the requests the API received;
   then the same image change followed by a loop that GETs the Deployment every second until
   `rollout_status` says done (what a polling bot would do), counting again.
2. Delay: from the sandbox step that completes the rollout to the moment the operation reports it (its
   final `Result`; the bot edits the Slack message from that event), over `--runs` upgrades; the same
   for the polling loop. Target (issue 3): under 1 s.
Needs nothing but the sandbox (no PostgreSQL, no Redis).
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

from commands.clients.kube import KubeClient
from commands.clients.rollout import rollout_status
from commands.cluster.upgrade import UpgradeArgs, UpgradeOperation, plan_component
from commands.contract import Result
from commands.environment import Environment
from sandbox.kube import KubeSandbox

NAMESPACE = "litellm-rhpds"
DEPLOYMENT = "litellm-frontend"
POLL_INTERVAL = 1.0


def environment(sb: KubeSandbox, directory: Path) -> tuple[Environment, KubeClient]:
    kube = KubeClient.from_kubeconfig(sb.write_kubeconfig(directory / "kubeconfig"), NAMESPACE)
    env = Environment(
        name="bench", namespace=NAMESPACE, kube=kube, litellm_redis_ping=lambda: True, rollout_timeout=60
    )
    return env, kube


def kind_of(request: object) -> str:
    method = str(getattr(request, "method", "?")).upper()
    query = getattr(request, "query", {}) or {}
    if method == "GET" and str(query.get("watch", "")).lower() in {"true", "1"}:
        return "WATCH"
    return method


def upgrade_with_watch(auto_progress: float, directory: Path) -> tuple[Counter[str], float]:
    """Requests of one `upgrade frontend 0.5.0` that follows the rollout through the watch API."""
    with KubeSandbox(namespace=NAMESPACE, seed=True, auto_progress=auto_progress) as sb:
        sb.settle()
        env, kube = environment(sb, directory)
        try:
            sb.clear_requests()
            started = time.monotonic()
            op, args = UpgradeOperation(), UpgradeArgs(component="frontend", tag="0.5.0")
            *_, result = op.execute(env, args, op.plan(env, args))
            assert isinstance(result, Result) and result.ok, result
            return Counter(kind_of(r) for r in sb.requests), time.monotonic() - started
        finally:
            kube.close()


def upgrade_with_polling(auto_progress: float, directory: Path) -> tuple[Counter[str], float]:
    """Requests of the same change followed by a GET every second until the rollout is done."""
    with KubeSandbox(namespace=NAMESPACE, seed=True, auto_progress=auto_progress) as sb:
        sb.settle()
        env, kube = environment(sb, directory)
        try:
            sb.clear_requests()
            started = time.monotonic()
            component = env.component("frontend")
            patch = plan_component(env, component, "0.5.0").patch()
            kube.patch_deployment(DEPLOYMENT, patch, "application/strategic-merge-patch+json")
            deadline = time.monotonic() + 60
            while not rollout_status(kube.get_deployment(DEPLOYMENT)).done:
                if time.monotonic() > deadline:
                    raise RuntimeError("the polled rollout did not finish within 60 s")
                time.sleep(POLL_INTERVAL)
            return Counter(kind_of(r) for r in sb.requests), time.monotonic() - started
        finally:
            kube.close()


class ManualStepper:
    """Steps the sandbox every `interval` s and remembers when the step that completed the rollout began."""

    def __init__(self, sb: KubeSandbox, interval: float) -> None:
        self.sb = sb
        self.interval = interval
        self.completed_at: float | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        deadline = time.monotonic() + 60
        self._stop.wait(random.uniform(0, POLL_INTERVAL))  # a random phase against the 1 s poll
        while not self._stop.wait(self.interval) and time.monotonic() < deadline:
            before = time.perf_counter()
            stepped = self.sb.step(DEPLOYMENT)
            if stepped and self.completed_at is None and self._done():
                self.completed_at = before

    def _done(self) -> bool:
        return rollout_status(self.sb.get("deployments", DEPLOYMENT)).done

    def __enter__(self) -> ManualStepper:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def delays(runs: int, interval: float, directory: Path, polling: bool) -> list[float]:
    """Seconds from the completing step to the report, one per upgrade."""
    found: list[float] = []
    with KubeSandbox(namespace=NAMESPACE, seed=True) as sb:
        sb.settle()
        env, kube = environment(sb, directory)
        try:
            for run in range(runs):
                tag = f"1.0.{run}"
                with ManualStepper(sb, interval) as stepper:
                    if polling:
                        patch = plan_component(env, env.component("frontend"), tag).patch()
                        kube.patch_deployment(DEPLOYMENT, patch, "application/strategic-merge-patch+json")
                        while not rollout_status(kube.get_deployment(DEPLOYMENT)).done:
                            time.sleep(POLL_INTERVAL)
                    else:
                        op, args = UpgradeOperation(), UpgradeArgs(component="frontend", tag=tag)
                        *_, result = op.execute(env, args, op.plan(env, args))
                        assert isinstance(result, Result) and result.ok, result
                    reported = time.perf_counter()
                assert stepper.completed_at is not None
                found.append(reported - stepper.completed_at)
        finally:
            kube.close()
    return found


def describe(counts: Counter[str]) -> str:
    parts = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
    return f"{sum(counts.values()):3d} requests ({parts})"


def figures(values: list[float]) -> str:
    ms = sorted(v * 1000 for v in values)
    p50 = statistics.median(ms)
    return f"p50 {p50:7.1f} ms   max {ms[-1]:7.1f} ms   (n={len(ms)})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=10, help="upgrades per delay measurement")
    parser.add_argument("--auto-progress", type=float, default=2.0, help="sandbox step period, seconds")
    parser.add_argument("--step-interval", type=float, default=0.1, help="manual step period, seconds")
    options = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        print(f"upgrade frontend 0.5.0, sandbox stepping every {options.auto_progress:g} s (3 replicas)")
        watched, watch_seconds = upgrade_with_watch(options.auto_progress, directory)
        polled, poll_seconds = upgrade_with_polling(options.auto_progress, directory)
        print(f"  watch API        : {describe(watched)} in {watch_seconds:5.1f} s")
        print(f"  1 s polling loop : {describe(polled)} in {poll_seconds:5.1f} s")
        print()
        print(f"delay from the rollout's completing step to its report ({options.runs} upgrades)")
        print(
            f"  watch API        : {figures(delays(options.runs, options.step_interval, directory, False))}"
        )
        print(f"  1 s polling loop : {figures(delays(options.runs, options.step_interval, directory, True))}")
        print("  target           : < 1000 ms")


if __name__ == "__main__":
    main()
