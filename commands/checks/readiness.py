"""The "readiness" check: LiteLLM's `/health/readiness` and the backend's `/api/v1/health/ready`.

Both are probed concurrently under one deadline (`commands.clients.health`), through the environment's
long-lived clients and probe pool. A service that answers "not
ready" and one the bot cannot reach are both findings: inside the cluster, a Service whose pods are
all unready refuses connections, so "unreachable" is how "nothing is ready" usually looks.
"""

from __future__ import annotations

from commands.checks.finding import Finding
from commands.clients import health
from commands.contract import FollowUp
from commands.environment import Environment

SERVICES = (("litellm", "LiteLLM"), ("backend", "the backend"))


def readiness_check(env: Environment) -> list[Finding]:
    """One critical finding per service whose readiness probe fails, with the probe's short reason."""
    litellm, backend, services = env.litellm_url, env.backend_url, env.services
    probes = health.run_probes(
        [
            health.Check("litellm", lambda: health.litellm_readiness(services, litellm)),
            health.Check("backend", lambda: health.backend_readiness(services, backend)),
        ],
        services.executor,
    )
    findings: list[Finding] = []
    for (component, shown), probe in zip(SERVICES, probes, strict=True):
        if probe.ok is not False:
            continue
        if probe.answered:
            title = f"{shown[0].upper()}{shown[1:]} is not ready: {probe.detail}"
        else:
            title = f"{shown[0].upper()}{shown[1:]} does not answer its readiness probe: {probe.detail}"
        path = "/health/readiness" if component == "litellm" else "/api/v1/health/ready"
        actions = (FollowUp("Logs", f"logs {component} --tail 100"),) if component in env.components else ()
        findings.append(
            Finding(
                key=f"ready/{component}",
                severity="critical",
                component=component,
                title=title,
                details=(f"GET {path}: {probe.detail}",),
                actions=actions,
            )
        )
    return findings
