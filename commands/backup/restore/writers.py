"""The writers of the operated databases — the LiteMaaS backend and LiteLLM — stopped and started again.

Stopping: the scale subresource to 0 (as `kubectl scale`), the rollout followed with kubectl's rules,
then the pods waited for until gone (a terminating pod still holds its database connections). Starting:
each back to the replicas it had, waiting for its rollout. The backend stops first and starts last:
it reads LiteLLM's tables and calls LiteLLM at start-up.
"""

from __future__ import annotations

import time
from collections.abc import Generator
from dataclasses import dataclass
from typing import Any

from commands.clients.kube_errors import KubeError
from commands.clients.rolling import follow_rollout, kube_problem, read_deployment, rollout_failure
from commands.contract import OperationError, Progress
from commands.environment import Component, Environment

WRITER_COMPONENTS = ("backend", "litellm")  # stop order; started in the reverse order
POD_POLL_SECONDS = 1.0


@dataclass(frozen=True)
class Writer:
    """A Deployment that writes into the databases, with the replicas it runs now and its pods' labels."""

    component: Component
    replicas: int
    selector: str

    @property
    def target(self) -> str:
        return f"deployment/{self.component.deployment}"


def _selector(deployment: dict[str, Any]) -> str:
    labels = ((deployment.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
    return ",".join(f"{key}={value}" for key, value in sorted(labels.items()))


def current_writers(env: Environment) -> list[Writer]:
    """The writers this environment has, in stop order, with their current replicas; OperationError."""
    writers: list[Writer] = []
    for name in WRITER_COMPONENTS:
        component = env.components.get(name)
        if component is None:
            continue
        deployment = read_deployment(env, component.deployment)
        replicas = (deployment.get("spec") or {}).get("replicas")
        writers.append(Writer(component, int(replicas if replicas is not None else 1), _selector(deployment)))
    return writers


def _scale(env: Environment, writer: Writer, replicas: int) -> None:
    try:
        env.kube.patch_scale(writer.component.deployment, replicas)
    except KubeError as exc:
        raise OperationError(f"scaling {writer.target} to {replicas} failed: {kube_problem(exc)}") from None


def _wait_pods_gone(env: Environment, writer: Writer) -> Generator[Progress, None, None]:
    deadline = time.monotonic() + env.rollout_timeout
    while True:
        try:
            pods = env.kube.list_pods(writer.selector) if writer.selector else []
        except KubeError as exc:
            raise OperationError(f"cannot list the pods of {writer.target}: {kube_problem(exc)}") from None
        if not pods:
            return
        if time.monotonic() >= deadline:
            raise OperationError(
                f"{len(pods)} pod(s) of {writer.target} still exist after {env.rollout_timeout:g} s"
            )
        yield Progress(f"{writer.component.name}: waiting for {len(pods)} pod(s) to terminate")
        time.sleep(POD_POLL_SECONDS)


def stop_writers(
    env: Environment, writers: list[Writer], stopped: list[Writer]
) -> Generator[Progress, None, None]:
    """Scale each writer to 0 and wait until its pods are gone; each one scaled is appended to `stopped`
    at once (so a failure later knows what to start again). Raises OperationError."""
    for writer in writers:
        if writer.replicas == 0:
            continue
        yield Progress(
            f"Stopping {writer.component.name}: {writer.target} from {writer.replicas} to 0 replicas"
        )
        _scale(env, writer, 0)
        stopped.append(writer)
        try:
            final = yield from follow_rollout(env, writer.component)
        except KubeError as exc:
            raise OperationError(f"following {writer.target} failed: {kube_problem(exc)}") from None
        if not final.done:
            raise OperationError(
                f"{writer.component.name} did not stop: {rollout_failure(writer.component, final)}"
            )
        yield from _wait_pods_gone(env, writer)


def start_writers(env: Environment, writers: list[Writer]) -> Generator[Progress, None, list[str]]:
    """Scale each writer back to its replicas (reverse order) and follow its rollout; every writer is
    tried even when one fails. Returns the problems (empty: all back)."""
    problems: list[str] = []
    for writer in reversed(writers):
        yield Progress(
            f"Starting {writer.component.name}: {writer.target} back to {writer.replicas} replicas"
        )
        try:
            _scale(env, writer, writer.replicas)
            final = yield from follow_rollout(env, writer.component)
        except OperationError as exc:
            problems.append(str(exc))
            continue
        except KubeError as exc:
            problems.append(f"following {writer.target} failed: {kube_problem(exc)}")
            continue
        if not final.done:
            problems.append(f"{writer.component.name}: {rollout_failure(writer.component, final)}")
    return problems


def scale_back_now(env: Environment, writers: list[Writer]) -> list[str]:
    """Scale the writers back without waiting (an interrupted run on its way out); the problems."""
    problems: list[str] = []
    for writer in reversed(writers):
        try:
            _scale(env, writer, writer.replicas)
        except OperationError as exc:
            problems.append(str(exc))
    return problems
