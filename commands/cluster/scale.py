"""`scale <component> <replicas>`: set a Deployment's replicas through the scale subresource and wait.

Prechecks carry LiteMaaS facts: LiteLLM above one replica needs its Redis, the backend keeps OAuth state
in memory (more than one replica breaks login, so only `--force` allows it), and bounds come from config.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pydantic import Field

from commands.clients.following import follow_rollout_failing_fast
from commands.clients.kube_errors import KubeError
from commands.clients.rolling import failure_section, rollout_failure
from commands.clients.rollout import RolloutStatus
from commands.cluster.status import redis_answers
from commands.contract import Args, Change, Event, Operation, OperationError, Plan, Progress, Result, Section
from commands.environment import ComponentName, Environment

BACKEND_REFUSAL = (
    "backend stays at 1 replica: its OAuth state is in-memory, so logins break with more than one "
    "replica. Add --force to scale it anyway."
)
BACKEND_RISK = "backend above 1 replica: OAuth state is in-memory, logins break with more than one replica"
REDIS_REFUSAL = "LiteLLM needs Redis for more than one replica: litellm-redis does not answer"


class ScaleArgs(Args):
    """`scale <component> <replicas> [--force]`."""

    positional = ("component", "replicas")

    component: ComponentName
    replicas: int = Field(ge=0)
    force: bool = False


def _spec_replicas(deployment: dict[str, Any]) -> int:
    try:
        return int((deployment.get("spec") or {}).get("replicas", 1) or 0)
    except (TypeError, ValueError):
        return 0


class ScaleOperation(Operation[ScaleArgs]):
    """Scale a LiteMaaS component to a number of replicas and wait for the rollout."""

    name = "scale"
    args_model = ScaleArgs
    mutating = True
    default_role = "operator"
    default_approval = True

    def plan(self, env: Environment, args: ScaleArgs) -> Plan:
        """Read the Deployment and check bounds, Redis (LiteLLM) and the backend's one-replica rule."""
        component = env.component(args.component)
        target = f"deployment/{component.deployment}"
        wanted = args.replicas

        low, high = env.scale_bounds.get(component.name, (0, wanted))
        if not low <= wanted <= high:
            raise OperationError(
                f"{component.name} may be scaled between {low} and {high} replicas; {wanted} is outside"
            )
        try:
            deployment = env.kube.get_deployment(component.deployment)
        except KubeError as exc:
            raise OperationError(f"cannot read {target}: {exc}") from None

        current = _spec_replicas(deployment)
        observed = {
            "deployment": component.deployment,
            "replicas": current,
            "generation": int((deployment.get("metadata") or {}).get("generation") or 0),
        }
        if current == wanted:
            return Plan(
                summary=f"{component.name} is already at {current} replicas",
                target=target,
                noop=True,
                observed=observed,
            )

        risks: list[str] = []
        if component.name == "litellm" and wanted > 1 and not redis_answers(env):
            raise OperationError(REDIS_REFUSAL)
        if component.name == "backend" and wanted > 1:
            if not args.force:
                raise OperationError(BACKEND_REFUSAL)
            risks.append(BACKEND_RISK)
        if wanted == 0:
            risks.append(f"{component.name} stops serving: no pod will run")

        return Plan(
            summary=f"Scale {component.name} ({target}) from {current} to {wanted} replicas",
            target=target,
            changes=(Change(target, "replicas", str(current), str(wanted)),),
            risks=tuple(risks),
            observed=observed,
        )

    def execute(self, env: Environment, args: ScaleArgs, plan: Plan | None) -> Iterator[Event]:
        """Patch the scale subresource, then follow the rollout; progress counts available replicas."""
        component = env.component(args.component)
        target = f"deployment/{component.deployment}"
        if plan is None:
            try:
                plan = self.plan(env, args)
            except OperationError as exc:
                yield Result(ok=False, summary=str(exc))
                return
        if plan.noop:
            yield Result(ok=True, summary=plan.summary)
            return
        before = plan.observed.get("replicas", "?")
        wanted = args.replicas

        yield Progress(f"Setting {target} to {wanted} replicas")
        try:
            env.kube.patch_scale(component.deployment, wanted)
        except KubeError as exc:
            yield Result(ok=False, summary=f"Scaling {component.name} failed: {exc}")
            return

        final: RolloutStatus | None = None
        try:
            for status in follow_rollout_failing_fast(
                env.kube, component.deployment, env.rollout_timeout, env.fail_fast
            ):
                final = status
                if not (status.done or status.failed):
                    yield Progress(status.message, done=status.available, total=status.desired)
        except KubeError as exc:
            yield Result(
                ok=False,
                summary=f"{component.name} scaled from {before} to {wanted} replicas, "
                f"but following the rollout failed: {exc}",
            )
            return

        assert final is not None
        section = Section(
            title=target,
            fields={"replicas": f"{final.available}/{final.desired} available", "rollout": final.message},
        )
        failing = failure_section(env, final)
        if final.done:
            summary = f"{component.name} scaled from {before} to {wanted} replicas; rollout complete"
        elif final.failure is not None:
            summary = f"{component.name} scaled from {before} to {wanted} replicas, but " + rollout_failure(
                component, final
            )
        else:
            summary = f"{component.name} scaled from {before} to {wanted} replicas; {final.message}"
        sections = (section,) if failing is None else (section, failing)
        yield Result(ok=final.done, summary=summary, sections=sections)
