"""What upgrading one component changes, read from its Deployment: the main container and the
component's same-image init containers move to the new tag; an init container of another repository
is left alone and said so. `patch()` is the strategic-merge patch `kubectl set image` sends.
A component already at the tag whose rollout has not finished (an upgrade interrupted mid-rollout) is
`unfinished`: upgrading it again follows that rollout to its end."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from commands.clients.rolling import read_deployment
from commands.clients.rollout import rollout_status
from commands.cluster.images import container_images, image_repository, with_tag
from commands.contract import OperationError
from commands.environment import Component, Environment


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

    @property
    def unfinished(self) -> bool:
        """At the tag already, but its rollout is still under way (not done, not failed)."""
        if self.changes:
            return False
        status = rollout_status(self.deployment)
        return not (status.done or status.failed)

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
