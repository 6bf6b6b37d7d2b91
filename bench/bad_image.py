"""A bad image that got past the pre-flight: from approval to the "failed: ErrImagePull" result.

    .venv/bin/python bench/bad_image.py [--runs 3] [--step 2.0] [--baseline-deadline 600]

`upgrade backend <tag the registry lacks>` with REGISTRY_CHECK=off (the pre-flight skipped), executed as
after an approval, against a Kubernetes sandbox that advances by itself every `--step` seconds (its
deployment controller and kubelet: the new ReplicaSet, its pod's failed pull, ImagePullBackOff) and whose
progress deadline is `--baseline-deadline` seconds, as Kubernetes' default `progressDeadlineSeconds`.
Measured: seconds from the start of `execute` to its final Result (the bot edits the Slack message from
that event), with the production fast-failure settings (FailFast defaults), then once with fast failure
off: what the bot did before, waiting for the progress deadline. Prints the ratio. Needs only the sandbox.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from commands.clients.kube import KubeClient
from commands.cluster.upgrade import UpgradeArgs, UpgradeOperation
from commands.contract import Result
from commands.environment import Environment, FailFast
from sandbox.kube import KubeSandbox

NAMESPACE = "litellm-rhpds"
PRODUCTION_TIMEOUT = 600.0  # ROLLOUT_TIMEOUT_SECONDS' default


def one_upgrade(step: float, deadline: float, fail_fast: FailFast, directory: Path) -> tuple[float, str]:
    """Seconds from approval to the Result, and its summary."""
    steps = max(1, round(deadline / step))
    with KubeSandbox(namespace=NAMESPACE, auto_progress=step, progress_deadline_steps=steps) as sb:
        sb.settle()
        kube = KubeClient.from_kubeconfig(sb.write_kubeconfig(directory / "kubeconfig"), NAMESPACE)
        env = Environment(
            name="bench",
            namespace=NAMESPACE,
            kube=kube,
            litellm_redis_ping=lambda: True,
            rollout_timeout=PRODUCTION_TIMEOUT,
            fail_fast=fail_fast,
        )
        try:
            op, args = UpgradeOperation(), UpgradeArgs(component="backend", tag="0.5.1-typo")
            plan = op.plan(env, args)  # no registry: the pre-flight is off, as REGISTRY_CHECK=off
            started = time.monotonic()
            result = list(op.execute(env, args, plan))[-1]
            elapsed = time.monotonic() - started
        finally:
            kube.close()
    assert isinstance(result, Result) and not result.ok, result
    return elapsed, result.summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--step", type=float, default=2.0, help="seconds between controller/kubelet steps")
    parser.add_argument("--baseline-deadline", type=float, default=600.0, help="progress deadline (s)")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        fast = [
            one_upgrade(options.step, options.baseline_deadline, FailFast(), directory)
            for _ in range(options.runs)
        ]
        print(f"fast failure (production settings), {options.runs} runs:")
        for seconds, summary in fast:
            print(f"  {seconds:6.1f} s  {summary[:150]}")
        baseline, summary = one_upgrade(
            options.step, options.baseline_deadline, FailFast(enabled=False), directory
        )
        print(
            f"baseline (fast failure off, the progress deadline decides): {baseline:6.1f} s  {summary[:120]}"
        )
    median = statistics.median(s for s, _ in fast)
    print(f"median {median:.1f} s vs {baseline:.1f} s: {baseline / median:.0f}x faster (target <= 30 s)")


if __name__ == "__main__":
    main()
