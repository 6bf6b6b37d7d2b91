"""What `upgrade`, `rollback` and `restart` share: component arguments, plain-language Kubernetes
failures, following a rollout as `Progress` events, and scrubbing secrets out of log lines.

Every operation that changes a pod template ends the same way: it follows the rollout through the watch
API (`commands.clients.rollout.iter_rollout`, kubectl's rules) and reports each new state as a
`Progress` whose text is kubectl's ("Waiting for deployment "x" rollout to finish: 2 of 3 updated replicas are
available...") prefixed by the component.
"""

from __future__ import annotations

import re
from collections.abc import Generator
from typing import Any

from commands.clients.following import follow_rollout_failing_fast
from commands.clients.kube_errors import KubeError
from commands.clients.rollout import RolloutStatus
from commands.contract import OperationError, Progress, Section
from commands.environment import Component, Environment

SHOWN_INPUT_LIMIT = 40  # characters of a bad argument echoed back


def kube_problem(exc: KubeError) -> str:
    """A KubeError in plain language: who refused and why, and what the user can do about it."""
    detail = exc.message or exc.reason
    status = exc.status
    if status == 0:
        return f"the Kubernetes API could not be reached ({exc.reason}: {detail})"
    if status == 401:
        return f"Kubernetes refused the bot's credentials (unauthorized): {detail}"
    if status == 403:
        return f"Kubernetes refused: forbidden — {detail}. The bot's service account lacks this permission"
    if status == 404:
        return f"Kubernetes says it does not exist (not found): {detail}"
    if status == 409:
        return f"Kubernetes reported a conflict (changed by someone else meanwhile): {detail}. Try again"
    if status == 422:
        return f"Kubernetes rejected the change as invalid: {detail}"
    if status == 429:
        return f"Kubernetes is throttling requests (too many requests): {detail}. Try again later"
    if status == 504 or exc.reason == "Timeout":
        return f"the Kubernetes API timed out: {detail}. Try again later"
    if status >= 500:
        return f"the Kubernetes API server failed (HTTP {status}): {detail}. Try again later"
    return f"Kubernetes answered HTTP {status} ({exc.reason}): {detail}"


def read_deployment(env: Environment, name: str) -> dict[str, Any]:
    """The Deployment `name`, or an OperationError saying plainly why it cannot be read."""
    try:
        return env.kube.get_deployment(name)
    except KubeError as exc:
        raise OperationError(f"cannot read deployment/{name}: {kube_problem(exc)}") from None


def generation(deployment: dict[str, Any]) -> int:
    try:
        return int((deployment.get("metadata") or {}).get("generation") or 0)
    except (TypeError, ValueError):
        return 0


def is_paused(deployment: dict[str, Any]) -> bool:
    return bool((deployment.get("spec") or {}).get("paused"))


def follow_rollout(env: Environment, component: Component) -> Generator[Progress, None, RolloutStatus]:
    """Follow the component's rollout until done, failed (also: a new pod failed for good, see
    `env.fail_fast`) or `env.rollout_timeout`; yields a Progress per new state and returns the final
    status. Raises KubeError when the Deployment cannot be watched."""
    final: RolloutStatus | None = None
    for status in follow_rollout_failing_fast(
        env.kube, component.deployment, env.rollout_timeout, env.fail_fast
    ):
        final = status
        if not (status.done or status.failed):
            yield Progress(f"{component.name}: {status.message}", done=status.available, total=status.desired)
    assert final is not None  # iter_rollout always yields at least once
    return final


def rollout_failure(component: Component, status: RolloutStatus) -> str:
    """Why a rollout did not finish, for a user who did not watch it."""
    if status.failure is not None:
        return f"{scrub(status.failure.describe())}; the previous pods keep serving"
    if "exceeded its progress deadline" in status.message:
        return (
            f"{status.message}: the new pods of {component.name} did not become available "
            f"({status.available} of {status.desired} available); the previous pods keep serving"
        )
    return status.message


def failure_section(env: Environment, status: RolloutStatus) -> Section | None:
    """The failing pod of an early-ended rollout: reason, pod, container, the kubelet's message and
    the last lines of the failing container's log (secrets scrubbed); None when no pod failed."""
    failure = status.failure
    if failure is None:
        return None
    fields = {
        "reason": failure.reason,
        "pod": failure.pod,
        ("init container" if failure.init else "container"): failure.container,
    }
    if failure.message:
        fields["message"] = scrub(failure.message)
    if not failure.has_log:
        return Section(title=f"Failing pod {failure.pod}", fields=fields)
    try:
        text = env.kube.read_pod_log(
            failure.pod, failure.container, tail_lines=env.fail_fast.log_lines, previous=failure.previous_log
        )
        lines = tuple(scrub(line) for line in text.splitlines()[-env.fail_fast.log_lines :]) or (
            "(empty log)",
        )
    except KubeError as exc:
        lines = (f"the log could not be read: {kube_problem(exc)}",)
    run = "previous run" if failure.previous_log else "log"
    return Section(
        title=f"Failing pod {failure.pod} ({failure.container}, {run})", fields=fields, lines=lines
    )


_URL_PASSWORD = re.compile(r"(://[^/\s:@]*:)[^/\s@]+@")
_SK_KEY = re.compile(r"\bsk-[A-Za-z0-9_\-]{4,}")
_ASSIGNED_SECRET = re.compile(
    r"((?:password|passwd|secret|token|api[_-]?key|master[_-]?key)[\"']?\s*[:=]\s*[\"']?)[^\s\"',}]+",
    re.IGNORECASE,
)


def scrub(line: str) -> str:
    """A log line without the secrets a start-up log may print (URL passwords, `sk-` keys, key=value)."""
    line = _URL_PASSWORD.sub(r"\1***@", line)
    line = _SK_KEY.sub("sk-***", line)
    return _ASSIGNED_SECRET.sub(r"\1***", line)
