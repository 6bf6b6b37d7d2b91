"""`upgrade <component|all> <tag>`: set a new image tag on a component and follow the rollout.

The image repository is kept from the current spec; only the tag changes. The main container AND the
component's same-image init containers change together (`backend` + `run-migrations`, `frontend` +
`copy-custom-logos`: litemaas-facts §4.1), with the strategic-merge patch `kubectl set image` sends.
An init container that turns out to run another repository is left alone, and the plan says so.
`upgrade all <version>` is LiteMaaS's own components, backend then frontend, stopping at the first
failure. LiteLLM: a database backup first (no backup, no upgrade), then the image, then the migration
lines of a new pod's log in the result.
"""

from __future__ import annotations

import queue
import re
import threading
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from typing import Any

from pydantic import Field, field_validator

from commands import targets
from commands.clients.kube import STRATEGIC_MERGE, KubeError
from commands.clients.rolling import (
    SHOWN_INPUT_LIMIT,
    follow_rollout,
    generation,
    kube_problem,
    read_deployment,
    rollout_failure,
    scrub,
)
from commands.cluster.images import container_images, image_repository, image_tag, with_tag
from commands.cluster.revisions import HASH_LABEL, current_replicaset, selector_string
from commands.contract import (
    Args,
    Change,
    Event,
    FollowUp,
    Operation,
    OperationError,
    Plan,
    Progress,
    Result,
    Section,
    rollback,
    shown_as,
)
from commands.environment import ALL, Component, ComponentOrAll, Environment

TAG_PATTERN = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,127}")
ALL_ORDER = ("backend", "frontend")  # LiteMaaS's own components, in upgrade order
MIGRATION_LINE = re.compile(r"migrat", re.IGNORECASE)
ERROR_LINE = re.compile(r"error|fail", re.IGNORECASE)
MAX_MIGRATION_LINES = 50


class UpgradeArgs(Args):
    """`upgrade <component|all> <tag>`."""

    positional = ("component", "tag")

    component: ComponentOrAll = Field(json_schema_extra=shown_as("component|all"))
    tag: str

    @field_validator("tag")
    @classmethod
    def _oci_tag(cls, value: str) -> str:
        """The OCI tag grammar: `[A-Za-z0-9_][A-Za-z0-9._-]{0,127}`."""
        if not TAG_PATTERN.fullmatch(value):
            shown = value[:SHOWN_INPUT_LIMIT]
            raise ValueError(
                f"{shown!r} is not a valid image tag: use letters, digits, '_', '.' and '-' "
                "(not first), at most 128 characters"
            )
        return value


@dataclass(frozen=True)
class ContainerChange:
    """One container whose image changes."""

    name: str
    init: bool
    before: str
    after: str


@dataclass(frozen=True)
class ComponentUpgrade:
    """What upgrading one component changes, read from its Deployment."""

    component: Component
    deployment: dict[str, Any]
    changes: tuple[ContainerChange, ...]
    notes: tuple[str, ...]

    def patch(self) -> dict[str, Any]:
        """The strategic-merge patch `kubectl set image` sends, with `$setElementOrder` for each list."""
        spec: dict[str, Any] = {}
        for key, init in (("containers", False), ("initContainers", True)):
            changed = [c for c in self.changes if c.init == init]
            if not changed:
                continue
            order = [{"name": name} for name in container_images(self.deployment, init=init)]
            spec[f"$setElementOrder/{key}"] = order
            spec[key] = [{"image": c.after, "name": c.name} for c in changed]
        return {"spec": {"template": {"spec": spec}}}


def plan_component(env: Environment, component: Component, tag: str) -> ComponentUpgrade:
    """Read the component's Deployment and work out which containers change to `tag`."""
    deployment = read_deployment(env, component.deployment)
    mains = container_images(deployment, init=False)
    main = mains.get(component.container)
    if main is None:
        raise OperationError(
            f"deployment/{component.deployment} has no container {component.container!r} "
            f"(it has: {', '.join(mains) or 'none'}); nothing changed"
        )
    repository = image_repository(main)
    changes: list[ContainerChange] = []
    notes: list[str] = []
    if main != with_tag(main, tag):
        changes.append(ContainerChange(component.container, False, main, with_tag(main, tag)))
    inits = container_images(deployment, init=True)
    for name in component.init_containers:
        image = inits.get(name)
        if image is None:
            notes.append(
                f"{component.name}: init container {name} is not in the Deployment; only "
                f"{component.container} changes"
            )
        elif image_repository(image) != repository:
            notes.append(
                f"{component.name}: init container {name} runs {image_repository(image)}, not "
                f"{repository}: it is left unchanged"
            )
        elif image != with_tag(image, tag):
            changes.append(ContainerChange(name, True, image, with_tag(image, tag)))
    return ComponentUpgrade(component, deployment, tuple(changes), tuple(notes))


def _targets(env: Environment, args: UpgradeArgs) -> list[Component]:
    if args.component == ALL:
        return env.components_in_order(ALL_ORDER)
    return [env.component(args.component)]


def _lock(env: Environment, args: UpgradeArgs) -> str:
    """The component's Deployment; `all` locks LiteMaaS as a whole."""
    if args.component == ALL:
        return targets.ALL_DEPLOYMENTS
    return targets.deployment(env.component(args.component).deployment)


def _risks(component: Component) -> list[str]:
    if component.name == "litellm":
        return [
            "LiteLLM: a database backup runs first; the new version may migrate the database schema "
            "at start-up (check the migration lines in the result)"
        ]
    if component.name == "backend":
        return ["backend: run-migrations applies the new version's database migrations before it starts"]
    return []


class UpgradeOperation(Operation[UpgradeArgs]):
    """Set a new image tag on a component (main and same-image init containers) and follow the rollout."""

    name = "upgrade"
    args_model = UpgradeArgs
    mutating = True
    default_role = "admin"
    default_approval = True

    def plan(self, env: Environment, args: UpgradeArgs) -> Plan:
        """One Change per container whose image changes; a refusal when everything is at the tag."""
        target = _lock(env, args)
        upgrades = [plan_component(env, c, args.tag) for c in _targets(env, args)]
        changes = tuple(
            Change(
                f"deployment/{u.component.deployment}",
                f"image ({c.name})",
                image_tag(c.before),
                image_tag(c.after),
            )
            for u in upgrades
            for c in u.changes
        )
        if not changes:
            names = " and ".join(u.component.name for u in upgrades)
            raise OperationError(f"{names} {'is' if len(upgrades) == 1 else 'are'} already at {args.tag}")
        risks = [risk for u in upgrades if u.changes for risk in _risks(u.component)]
        risks.extend(note for u in upgrades for note in u.notes)
        observed = {
            u.component.deployment: {
                "generation": generation(u.deployment),
                "images": {
                    **container_images(u.deployment, init=False),
                    **{f"init:{k}": v for k, v in container_images(u.deployment, init=True).items()},
                },
            }
            for u in upgrades
        }
        moving = [u.component.name for u in upgrades if u.changes]
        return Plan(
            summary=f"Upgrade {' then '.join(moving)} to {args.tag}",
            target=target,
            changes=changes,
            risks=tuple(risks),
            observed=observed,
        )

    def execute(self, env: Environment, args: UpgradeArgs, plan: Plan | None) -> Iterator[Event]:
        """Upgrade each target in order; the first failure ends the run and names what was not touched."""
        try:
            targets = _targets(env, args)
            if plan is None:
                plan = self.plan(env, args)
        except OperationError as exc:
            yield Result(ok=False, summary=str(exc))
            return

        done: list[str] = []
        sections: list[Section] = []
        warnings: list[str] = []
        for index, component in enumerate(targets):
            outcome = yield from _upgrade_one(env, component, args.tag)
            sections.extend(outcome.sections)
            warnings.extend(outcome.warnings)
            if outcome.ok:
                if outcome.changed:
                    done.append(component.name)
                continue
            untouched = [c.name for c in targets[index + 1 :]]
            summary = outcome.summary
            if done:
                summary = f"{', '.join(done)} upgraded to {args.tag}; then {summary}"
            if untouched:
                summary += f". Not touched: {', '.join(untouched)}"
            yield Result(
                ok=False,
                summary=summary,
                sections=tuple(sections),
                warnings=tuple(warnings),
                follow_ups=outcome.follow_ups,
            )
            return

        summary = f"{' and '.join(done) or 'nothing'} upgraded to {args.tag}; rollout complete"
        yield Result(ok=True, summary=summary, sections=tuple(sections), warnings=tuple(warnings))


@dataclass(frozen=True)
class Outcome:
    """How upgrading one component ended."""

    ok: bool
    changed: bool
    summary: str = ""
    sections: tuple[Section, ...] = ()
    warnings: tuple[str, ...] = ()
    follow_ups: tuple[FollowUp, ...] = ()


def _upgrade_one(env: Environment, component: Component, tag: str) -> Generator[Progress, None, Outcome]:
    """Backup (LiteLLM), patch, follow the rollout, read migrations (LiteLLM)."""
    name = component.name
    try:
        upgrade = plan_component(env, component, tag)
    except OperationError as exc:
        return Outcome(ok=False, changed=False, summary=f"{name} was not upgraded: {exc}")
    if not upgrade.changes:
        yield Progress(f"{name} is already at {tag}")
        return Outcome(ok=True, changed=False)

    sections: list[Section] = []
    if name == "litellm":
        try:
            backup = yield from _backup(env)
        except OperationError as exc:
            return Outcome(
                ok=False,
                changed=False,
                summary=f"the database backup failed, so {name} was not upgraded (nothing changed): {exc}",
            )
        sections.append(backup)

    offer_rollback = (rollback(name),)
    shown = ", ".join(f"{c.name} → {image_tag(c.after)}" for c in upgrade.changes)
    yield Progress(f"{name}: setting image {shown}")
    try:
        env.kube.patch_deployment(component.deployment, upgrade.patch(), STRATEGIC_MERGE)
    except KubeError as exc:
        return Outcome(
            ok=False,
            changed=False,
            summary=f"upgrading {name} failed, nothing changed: {kube_problem(exc)}",
            sections=tuple(sections),
        )

    try:
        final = yield from follow_rollout(env, component)
    except KubeError as exc:
        return Outcome(
            ok=False,
            changed=True,
            summary=f"{name}'s image was set to {tag}, but following the rollout failed: {kube_problem(exc)}",
            sections=tuple(sections),
            follow_ups=offer_rollback,
        )

    warnings: list[str] = []
    if name == "litellm":
        migrations, migration_warnings = _migration_lines(env, component)
        sections.append(migrations)
        warnings.extend(migration_warnings)
    target = f"deployment/{component.deployment}"
    fields = {f"image ({c.name})": f"{image_tag(c.before)} → {image_tag(c.after)}" for c in upgrade.changes}
    fields["replicas"] = f"{final.available}/{final.desired} available"
    fields["rollout"] = final.message
    sections.insert(0, Section(title=f"{name} ({target})", fields=fields))
    if not final.done:
        return Outcome(
            ok=False,
            changed=True,
            summary=f"upgrading {name} to {tag} failed: {rollout_failure(component, final)}",
            sections=tuple(sections),
            warnings=tuple(warnings),
            follow_ups=offer_rollback,
        )
    return Outcome(ok=True, changed=True, sections=tuple(sections), warnings=tuple(warnings))


def _backup(env: Environment) -> Generator[Progress, None, Section]:
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


def _migration_lines(env: Environment, component: Component) -> tuple[Section, list[str]]:
    """The lines mentioning migrations in the log of a pod of the new ReplicaSet; errors flagged ❌."""
    try:
        deployment = env.kube.get_deployment(component.deployment)
        replicaset = current_replicaset(env.kube, deployment)
        if replicaset is None:
            return Section("Migrations", lines=("the new ReplicaSet was not found",)), []
        labels = ((replicaset.get("spec") or {}).get("template") or {}).get("metadata", {}).get("labels")
        pod_hash = str((labels or {}).get(HASH_LABEL) or "")
        selector = selector_string((deployment.get("spec") or {}).get("selector") or {})
        pods = env.kube.list_pods(f"{selector},{HASH_LABEL}={pod_hash}" if selector else "")
        if not pods:
            return Section("Migrations", lines=("no pod of the new version was found",)), []
        pods.sort(key=lambda p: str((p.get("metadata") or {}).get("creationTimestamp") or ""))
        pod = str(pods[-1]["metadata"]["name"])
        text = env.kube.read_pod_log(pod, component.container)
    except KubeError as exc:
        warning = f"the migration lines of the new LiteLLM pod could not be read: {kube_problem(exc)}"
        return Section("Migrations", lines=("not read",)), [warning]

    lines: list[str] = []
    failed = 0
    for line in text.splitlines():
        if not MIGRATION_LINE.search(line):
            continue
        line = scrub(line.strip())
        if ERROR_LINE.search(line):
            failed += 1
            line = f"❌ {line}"
        lines.append(line)
    if not lines:
        lines = [f"no line of pod {pod} mentions a migration"]
    elif len(lines) > MAX_MIGRATION_LINES:
        lines = [*lines[:MAX_MIGRATION_LINES], f"… {len(lines) - MAX_MIGRATION_LINES} more"]
    warnings = (
        [f"{failed} migration line(s) of pod {pod} report an error: check the database before relying on it"]
        if failed
        else []
    )
    return Section("Migrations", fields={"pod": pod}, lines=tuple(lines)), warnings
