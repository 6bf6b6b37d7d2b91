"""The "redis" check: LiteLLM's Redis not answering while LiteLLM runs more than one replica, so the
replicas' caches and rate limits diverge (one replica alone works without it)."""

from __future__ import annotations

from commands.checks.finding import Finding
from commands.checks.workloads import component_deployments
from commands.clients.rollout import rollout_status
from commands.cluster.status import redis_answers
from commands.contract import FollowUp
from commands.environment import Environment


def redis_check(env: Environment) -> list[Finding]:
    """A critical finding when Redis does not answer PING and the litellm Deployment wants > 1 replica."""
    if redis_answers(env):
        return []
    litellm = next((d for c, d in component_deployments(env) if c.name == "litellm"), None)
    if litellm is None:
        return []
    replicas = rollout_status(litellm).desired
    if replicas <= 1:
        return []
    redis = env.components.get("redis")
    where = f"deployment/{redis.deployment}" if redis is not None else "LiteLLM's Redis"
    return [
        Finding(
            key="redis/litellm",
            severity="critical",
            component="redis",
            title=f"LiteLLM runs {replicas} replicas but its Redis ({where}) does not answer PING",
            details=("each replica keeps its own cache, budgets and rate limits until Redis answers again",),
            actions=(FollowUp("Logs", "logs redis --tail 100"),) if redis is not None else (),
        )
    ]
