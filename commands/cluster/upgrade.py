"""`upgrade <component|all> <tag>`: set a new image tag on a component and follow the rollout.

The image repository is kept from the current spec; only the tag changes. The main container AND the
component's same-image init containers change together (`backend` + `run-migrations`, `frontend` +
`copy-custom-logos`: litemaas-facts §4.1), with the strategic-merge patch `kubectl set image` sends.
An init container that turns out to run another repository is left alone, and the plan says so.
`upgrade all <version>` is LiteMaaS's own components, backend then frontend, stopping at the first
failure. LiteLLM: a database backup first (no backup, no upgrade), then the image, then the migration
lines of a new pod's log in the result. A component already at the tag whose rollout did not finish
(the run that set it was interrupted) is not refused: the same command follows that rollout to its end.
"""

from __future__ import annotations

import re
from collections.abc import Generator, Iterator
from dataclasses import dataclass

from pydantic import Field, field_validator

from commands import targets
from commands.clients.kube import STRATEGIC_MERGE
from commands.clients.kube_errors import KubeError
from commands.clients.rolling import (
    SHOWN_INPUT_LIMIT,
    failure_section,
    follow_rollout,
    generation,
    kube_problem,
    rollout_failure,
)
from commands.cluster.images import container_images, image_tag
from commands.cluster.litellm_upgrade import backup_before_upgrade, migration_report
from commands.cluster.preflight import preflight, short_digest
from commands.cluster.upgrade_plan import ComponentUpgrade, ContainerChange, plan_component
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
__all__ = ["ComponentUpgrade", "ContainerChange", "UpgradeArgs", "UpgradeOperation", "plan_component"]


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


def _targets(env: Environment, args: UpgradeArgs) -> list[Component]:
    if args.component == ALL:
        return env.components_in_order(ALL_ORDER)
    return [env.component(args.component)]


def _lock_set(env: Environment, args: UpgradeArgs) -> tuple[str, ...]:
    """Every lock the run takes: `all` also takes each component's Deployment (issue 12)."""
    if args.component == ALL:
        return targets.every_deployment([c.deployment for c in env.components.values()])
    return (_lock(env, args),)


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


def _shown_after(change: ContainerChange, digests: dict[str, str]) -> str:
    """The new tag, with the digest that will run when the registry told it."""
    digest = digests.get(change.after)
    return f"{image_tag(change.after)} ({short_digest(digest)})" if digest else image_tag(change.after)


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
        if not any(u.changes or u.unfinished for u in upgrades):
            names = " and ".join(u.component.name for u in upgrades)
            raise OperationError(f"{names} {'is' if len(upgrades) == 1 else 'are'} already at {args.tag}")
        checked = preflight(env, upgrades)
        changes = tuple(
            Change(
                f"deployment/{u.component.deployment}",
                f"image ({c.name})",
                image_tag(c.before),
                _shown_after(c, checked.digests),
            )
            for u in upgrades
            for c in u.changes
        ) + tuple(
            Change(f"deployment/{u.component.deployment}", "rollout", "unfinished", "followed to its end")
            for u in upgrades
            if u.unfinished
        )
        risks = [*checked.notes, *(risk for u in upgrades if u.changes for risk in _risks(u.component))]
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
        moving = [u.component.name for u in upgrades if u.changes or u.unfinished]
        return Plan(
            summary=f"Upgrade {' then '.join(moving)} to {args.tag}",
            target=target,
            targets=_lock_set(env, args),
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
    """Backup (LiteLLM), patch, follow the rollout (ending early on a failed new pod), then read the
    migrations (LiteLLM): a failed migration fails the upgrade, with Rollback and the backup's id."""
    name = component.name
    try:
        upgrade = plan_component(env, component, tag)
    except OperationError as exc:
        return Outcome(ok=False, changed=False, summary=f"{name} was not upgraded: {exc}")
    if not upgrade.changes and not upgrade.unfinished:
        yield Progress(f"{name} is already at {tag}")
        return Outcome(ok=True, changed=False)

    sections: list[Section] = []
    backup_note = ""
    offer_rollback = (rollback(name),)
    if upgrade.unfinished:  # set by an earlier run that did not see the rollout through
        yield Progress(f"{name} is at {tag}; following its unfinished rollout")
    elif name == "litellm":
        try:
            backup = yield from backup_before_upgrade(env)
        except OperationError as exc:
            return Outcome(
                ok=False,
                changed=False,
                summary=f"the database backup failed, so {name} was not upgraded (nothing changed): {exc}",
            )
        sections.append(backup)
        backup_note = f"; the pre-upgrade database backup is {backup.fields.get('backup', '?')}"

    if upgrade.changes:
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
            summary=f"{name}'s image was set to {tag}, but following the rollout failed: "
            f"{kube_problem(exc)}{backup_note}",
            sections=tuple(sections),
            follow_ups=offer_rollback,
        )

    warnings: list[str] = []
    failure = (
        f"upgrading {name} to {tag} failed: {rollout_failure(component, final)}" if not final.done else ""
    )
    if name == "litellm" and final.done:
        report = migration_report(env, component)
        sections.append(report.section)
        warnings.extend(report.warnings)
        if report.failed:
            failure = (
                f"upgrading {name} to {tag} failed: the new pod reports a failed migration "
                f"({report.failures[0]})"
            )
    target = f"deployment/{component.deployment}"
    fields = {f"image ({c.name})": f"{image_tag(c.before)} → {image_tag(c.after)}" for c in upgrade.changes}
    fields["replicas"] = f"{final.available}/{final.desired} available"
    fields["rollout"] = final.message
    sections.insert(0, Section(title=f"{name} ({target})", fields=fields))
    failing_pod = failure_section(env, final)
    if failing_pod is not None:
        sections.insert(1, failing_pod)
    if failure:
        return Outcome(
            ok=False,
            changed=True,
            summary=failure + backup_note,
            sections=tuple(sections),
            warnings=tuple(warnings),
            follow_ups=offer_rollback,
        )
    return Outcome(ok=True, changed=True, sections=tuple(sections), warnings=tuple(warnings))
