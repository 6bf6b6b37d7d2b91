"""`status`: every component Deployment (replicas, rollout, image tags, pods) with health and warnings.

Besides the Deployments it shows the pods in trouble (not ready, restarting, CrashLoopBackOff,
OOMKilled: counts, last reason, pod/container named), the health of LiteLLM and of the backend, the
backend's version, Redis and PostgreSQL reachability (in the section of the component they concern),
and the namespace's OpenShift Routes when `route.openshift.io` is served. Probes run concurrently
while the Kubernetes API is read, so the answer comes within ~5 s even when every endpoint hangs;
a failing probe is a line in the result, never an exception.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from commands.clients import health
from commands.clients.kube_errors import KubeError
from commands.clients.rollout import rollout_status
from commands.cluster.images import container_images, image_tag, same_image_mismatches
from commands.cluster.pods import (
    PodReport,
    cap_lines,
    object_name,
    owned_pods,
    pod_report,
)
from commands.cluster.updates import updates_available
from commands.contract import Args, Event, Operation, Plan, Result, Section
from commands.environment import Component, Environment

BACKEND_REPLICAS_WARNING = "OAuth state is in-memory: login breaks with more than one backend replica"
LITELLM_REDIS_WARNING = (
    "LiteLLM runs {n} replicas but litellm-redis does not answer: the replicas do not share their cache"
)
MAX_FIELDS = 10  # Slack: at most 10 fields per section block
MAX_POD_LINES = 8  # pod problem lines per component section
MAX_ROUTE_LINES = 20


class StatusArgs(Args):
    """`status` takes no arguments."""


def _replicas(deployment: dict[str, Any]) -> int:
    try:
        return int((deployment.get("spec") or {}).get("replicas", 1) or 0)
    except (TypeError, ValueError):
        return 0


def redis_answers(env: Environment) -> bool:
    """True when LiteLLM's Redis answers; a failing probe counts as "does not answer"."""
    try:
        return bool(env.litellm_redis_ping())
    except Exception:
        return False


def pod_warnings(component: Component, report: PodReport) -> list[str]:
    """Warnings for crash-looping and OOMKilled pods, naming the first one."""
    warnings: list[str] = []
    if report.crash_looping:
        n = report.crash_looping
        warnings.append(
            f"{component.name}: {n} pod{'s' if n != 1 else ''} in CrashLoopBackOff ({report.first_crash})"
        )
    if report.oom_killed:
        n = report.oom_killed
        warnings.append(
            f"{component.name}: {n} pod{'s' if n != 1 else ''} OOMKilled ({report.first_oom}):"
            " the container hit its memory limit"
        )
    return warnings


# -- sections --------------------------------------------------------------------------------------


def deployment_section(component: Component, deployment: dict[str, Any]) -> Section:
    """One component's Deployment as a result section: replicas, rollout, image tag per container."""
    status = deployment.get("status") or {}
    ready = int(status.get("readyReplicas") or 0)
    fields = {
        "replicas": f"{ready}/{_replicas(deployment)}",
        "rollout": rollout_status(deployment).message,
    }
    for name, image in container_images(deployment, init=False).items():
        fields[f"image ({name})"] = image_tag(image)
    for name, image in container_images(deployment, init=True).items():
        fields[f"image ({name})"] = image_tag(image)
    return Section(title=f"{component.name} (deployment/{component.deployment})", fields=fields)


def split_section(section: Section) -> list[Section]:
    """The section, cut into several of at most MAX_FIELDS fields (the lines stay on the first)."""
    items = list(section.fields.items())
    if len(items) <= MAX_FIELDS:
        return [section]
    parts = [items[i : i + MAX_FIELDS] for i in range(0, len(items), MAX_FIELDS)]
    return [
        Section(
            title=section.title if n == 0 else f"{section.title} (continued)",
            fields=dict(part),
            lines=section.lines if n == 0 else (),
        )
        for n, part in enumerate(parts)
    ]


def route_line(route: dict[str, Any]) -> str:
    """`host/path → service:port (TLS edge, insecure: Redirect)` for one OpenShift Route."""
    spec = route.get("spec") or {}
    host = str(spec.get("host") or "(no host)")
    path = str(spec.get("path") or "")
    service = str((spec.get("to") or {}).get("name") or "?")
    port = (spec.get("port") or {}).get("targetPort")
    tls = spec.get("tls") or {}
    if tls:
        security = f"TLS {tls.get('termination') or '?'}"
        if tls.get("insecureEdgeTerminationPolicy"):
            security += f", insecure: {tls['insecureEdgeTerminationPolicy']}"
    else:
        security = "no TLS"
    target = f"{service}:{port}" if port not in (None, "") else service
    return f"{host}{path} → {target} ({security})"


def routes_section(env: Environment) -> Section | None:
    """The namespace's Routes (as `oc get routes`), None when `route.openshift.io` is not served."""
    try:
        routes = env.kube.list_routes()
    except KubeError as exc:
        return Section(title="routes", lines=(f"cannot read the Routes: {exc}",))
    if routes is None:
        return None
    lines = [route_line(r) for r in sorted(routes, key=object_name)] or ["no Routes in this namespace"]
    return Section(title="routes", lines=cap_lines(lines, MAX_ROUTE_LINES))


def _checks(env: Environment) -> dict[str, list[health.Check]]:
    """The probes to run, by the component whose section shows them."""
    litellm, backend, services = env.litellm_url, env.backend_url, env.services
    return {
        "litellm": [
            health.Check("LiteLLM readiness", lambda: health.litellm_readiness(services, litellm)),
            health.Check("LiteLLM liveliness", lambda: health.litellm_liveliness(services, litellm)),
        ],
        "backend": [
            health.Check("backend readiness", lambda: health.backend_readiness(services, backend)),
            health.Check("backend version", lambda: health.backend_version(services, backend)),
            health.Check(
                "PostgreSQL (LiteMaaS)", lambda: health.postgres_reachable(env.litemaas_database_url)
            ),
        ],
        "redis": [health.Check("Redis", lambda: health.redis_reachable(env.litellm_redis_ping))],
    }


HEALTH_FIELD = {
    "LiteLLM readiness": "readiness",
    "LiteLLM liveliness": "liveliness",
    "backend readiness": "readiness",
    "backend version": "version",
    "PostgreSQL (LiteMaaS)": "database",
    "Redis": "PING",
}


def health_warnings(probes: list[health.Probe]) -> list[str]:
    """LiteLLM or the backend answering "not ready" (an unreachable endpoint is shown, not warned)."""
    warnings: list[str] = []
    for probe in probes:
        if probe.ok is False and probe.answered and probe.name == "LiteLLM readiness":
            warnings.append(f"LiteLLM is not ready: {probe.detail}")
        elif probe.ok is False and probe.answered and probe.name == "backend readiness":
            warnings.append(f"the backend is not ready: {probe.detail}")
    return warnings


class StatusOperation(Operation[StatusArgs]):
    """Show replicas, rollouts, images, pods and health of every LiteMaaS component, with warnings."""

    name = "status"
    args_model = StatusArgs
    mutating = False
    default_role = "viewer"
    default_approval = False

    def execute(self, env: Environment, args: StatusArgs, plan: Plan | None = None) -> Iterator[Event]:
        """One Result: a section per Deployment found (with its pods and health), the Routes, warnings."""
        checks = _checks(env)
        run = health.ProbeRun([c for group in checks.values() for c in group], env.services.executor)
        try:
            served = {object_name(d): d for d in env.kube.list_deployments()}
        except KubeError as exc:
            section = Section(title="health", fields={p.name: p.detail for p in run.results()})
            yield Result(
                ok=False,
                summary=f"Cannot read the Deployments of {env.namespace}: {exc}",
                sections=tuple(split_section(section)),
            )
            return

        warnings: list[str] = []
        try:
            replicasets = env.kube.list_replicasets("")
            pods = env.kube.list_pods("")
        except KubeError as exc:
            replicasets, pods = [], []
            pods_error: str | None = f"cannot read the pods: {exc}"
            warnings.append(f"{env.namespace}: {pods_error}")
        else:
            pods_error = None
        routes = routes_section(env)
        probes: dict[str, health.Probe] = {p.name: p for p in run.results()}

        sections: list[Section] = []
        orphans: dict[str, str] = {}
        rolled_out = 0
        updates = updates_available(env, served)
        for component in env.components.values():
            component_probes = [probes[c.name] for c in checks.get(component.name, [])]
            deployment = served.get(component.deployment)
            if deployment is None:
                warnings.append(
                    f"{component.name}: Deployment {component.deployment} not found in {env.namespace}"
                )
                orphans.update({p.name: p.detail for p in component_probes})
                continue
            base = deployment_section(component, deployment)
            fields = dict(base.fields)
            lines: tuple[str, ...] = ()
            if pods_error is None:
                report = pod_report(owned_pods(deployment, replicasets, pods))
                fields["pods"] = report.summary()
                lines = cap_lines(report.lines, MAX_POD_LINES)
                warnings.extend(pod_warnings(component, report))
            else:
                fields["pods"] = "unknown"
            for probe in component_probes:
                fields[HEALTH_FIELD.get(probe.name, probe.name)] = probe.detail
            if component.name in updates:
                fields["update available"] = updates[component.name]
            sections.extend(split_section(Section(title=base.title, fields=fields, lines=lines)))

            rolled_out += rollout_status(deployment).done
            warnings.extend(same_image_mismatches(component, deployment))
            replicas = _replicas(deployment)
            if component.name == "backend" and replicas > 1:
                warnings.append(f"backend runs {replicas} replicas: {BACKEND_REPLICAS_WARNING}")
            if component.name == "litellm" and replicas > 1 and probes["Redis"].ok is not True:
                warnings.append(LITELLM_REDIS_WARNING.format(n=replicas))

        if orphans:
            sections.extend(split_section(Section(title="health", fields=orphans)))
        if routes is not None:
            sections.append(routes)
        warnings.extend(health_warnings(list(probes.values())))

        found = len([c for c in env.components.values() if c.deployment in served])
        summary = f"{env.name} ({env.namespace}): {rolled_out} of {found} Deployments rolled out"
        if found < len(env.components):
            summary += f", {len(env.components) - found} missing"
        yield Result(ok=True, summary=summary, sections=tuple(sections), warnings=tuple(warnings))
