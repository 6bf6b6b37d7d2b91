"""LiteLLM's part of an upgrade: the database backup before the image changes, and the migration
lines of a new pod's log after (a failed migration fails the upgrade: `commands.cluster.migrations`)."""

from __future__ import annotations

import queue
import threading
from collections.abc import Generator
from dataclasses import dataclass
from typing import Any

from commands.clients.kube_errors import KubeError
from commands.clients.rolling import kube_problem, scrub
from commands.clients.selectors import selector_string
from commands.cluster.migrations import read_migrations
from commands.cluster.revisions import HASH_LABEL, current_replicaset
from commands.contract import OperationError, Progress, Section
from commands.environment import Component, Environment

MAX_MIGRATION_LINES = 50


def backup_before_upgrade(env: Environment) -> Generator[Progress, None, Section]:
    """Run `commands.backup.run_backup` in a thread, relaying its progress; raises OperationError."""
    yield Progress("litellm: backing up the database before the upgrade")
    try:
        from commands.backup import run_backup  # imported late: backups are a feature of their own
    except ImportError:
        raise OperationError("backups are not available in this version of the bot") from None
    events: queue.Queue[Progress | tuple[str, Any]] = queue.Queue()

    def work() -> None:
        try:
            manifest = run_backup(env, on_progress=events.put)
        except OperationError as exc:
            events.put(("error", str(exc)))
        except Exception as exc:  # a bug or an I/O failure: say what kind, never the text (may hold a URL)
            events.put(("error", f"{type(exc).__name__} while writing the backup"))
        else:
            events.put(("done", manifest))

    thread = threading.Thread(target=work, name="upgrade-backup", daemon=True)
    thread.start()
    while True:
        event = events.get()
        if isinstance(event, Progress):
            yield event
            continue
        kind, value = event
        thread.join(timeout=5)
        if kind == "error":
            raise OperationError(str(value))
        files = [f"{f.database}: {f.path.name} ({f.size:,} bytes)" for f in value.files]
        return Section(title="Database backup", fields={"backup": str(value.id)}, lines=tuple(files))


@dataclass(frozen=True)
class MigrationReport:
    """The Migrations section of the result, whether they failed, and warnings (log not readable)."""

    section: Section
    failed: bool
    failures: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()


def _newest_pod(env: Environment, component: Component) -> str | None:
    deployment = env.kube.get_deployment(component.deployment)
    replicaset = current_replicaset(env.kube, deployment)
    if replicaset is None:
        return None
    labels = ((replicaset.get("spec") or {}).get("template") or {}).get("metadata", {}).get("labels")
    pod_hash = str((labels or {}).get(HASH_LABEL) or "")
    selector = selector_string((deployment.get("spec") or {}).get("selector") or {})
    pods = env.kube.list_pods(f"{selector},{HASH_LABEL}={pod_hash}" if selector else "")
    if not pods:
        return None
    pods.sort(key=lambda p: str((p.get("metadata") or {}).get("creationTimestamp") or ""))
    return str(pods[-1]["metadata"]["name"])


def migration_report(env: Environment, component: Component) -> MigrationReport:
    """The migration lines of the newest pod of the new ReplicaSet; failures flagged ❌."""
    try:
        pod = _newest_pod(env, component)
        if pod is None:
            return MigrationReport(
                Section("Migrations", lines=("no pod of the new version was found",)), False
            )
        text = env.kube.read_pod_log(pod, component.container)
    except KubeError as exc:
        warning = f"the migration lines of the new LiteLLM pod could not be read: {kube_problem(exc)}"
        return MigrationReport(Section("Migrations", lines=("not read",)), False, warnings=(warning,))

    verdict = read_migrations(text)
    failures = set(verdict.failures)
    lines = [
        scrub(line) if line not in failures or line.startswith("❌") else f"❌ {scrub(line)}"
        for line in verdict.lines
    ]
    if not lines:
        lines = [f"no line of pod {pod} mentions a migration"]
    elif len(lines) > MAX_MIGRATION_LINES:
        lines = [*lines[:MAX_MIGRATION_LINES], f"… {len(lines) - MAX_MIGRATION_LINES} more"]
    warnings: tuple[str, ...] = ()
    if verdict.failures and verdict.recovered:
        warnings = (f"pod {pod} reported a failed migration and then recovered from it: check the database",)
    section = Section("Migrations", fields={"pod": pod}, lines=tuple(lines))
    shown = tuple(scrub(line) for line in verdict.failures)
    return MigrationReport(section, verdict.failed, shown, warnings)
