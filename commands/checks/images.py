"""The "images" check: a same-image init container left on another image than its main container
(the known trap: the frontend's `copy-custom-logos` on the old tag serves the old UI bundle)."""

from __future__ import annotations

from commands.checks.finding import Finding
from commands.checks.workloads import component_deployments
from commands.cluster.images import ImageMismatch, image_mismatches, image_tag
from commands.cluster.upgrade import TAG_PATTERN
from commands.contract import FollowUp
from commands.environment import Component, Environment


def _fix(component: Component, mismatches: list[ImageMismatch]) -> tuple[FollowUp, ...]:
    """`upgrade <component> <main tag>` when that sets every init container right (same repository,
    a tag rather than a digest); else no button."""
    main = mismatches[0].main_image
    tag = image_tag(main)
    if "@" in main or not TAG_PATTERN.fullmatch(tag) or not all(m.same_repository for m in mismatches):
        return ()
    return (FollowUp("Fix", f"upgrade {component.name} {tag}"),)


def images_check(env: Environment) -> list[Finding]:
    """One warning per component whose same-image init containers run another image than the main one."""
    findings: list[Finding] = []
    for component, deployment in component_deployments(env):
        if deployment is None or not component.init_containers:
            continue
        mismatches = image_mismatches(component, deployment)
        if not mismatches:
            continue
        first = mismatches[0]
        init, main = first.shown_images()
        findings.append(
            Finding(
                key=f"images/{component.name}",
                severity="warning",
                component=component.name,
                title=f"{component.name}: init container {first.init_container} runs {init} but "
                f"{first.main_container} runs {main}",
                details=(first.consequence(), *(m.describe() for m in mismatches[1:])),
                actions=_fix(component, mismatches),
            )
        )
    return findings
