"""The registry pre-flight of an upgrade: every image reference it will set exists, and which digest
will run.

Asked live (no cache) before the approval card, through the OCI distribution API with the
Deployment's pull-secret credentials. A tag that does not exist refuses the upgrade, naming the
nearest existing tags. A registry that cannot answer is said on the card (`warn`, the default) or
refuses (`require`); `off` skips the check and the card says so.
"""

from __future__ import annotations

from dataclasses import dataclass

from commands.clients.oci.auth import Credentials
from commands.clients.oci.client import RegistryError
from commands.clients.oci.pull_secrets import pull_credentials
from commands.clients.oci.reference import ImageReference, parse_reference
from commands.clients.oci.versions import nearest_tags, newest_tags, parse_tag
from commands.cluster.upgrade_plan import ComponentUpgrade
from commands.contract import OperationError
from commands.environment import Environment

SHOWN_DIGEST = 19  # "sha256:" + 12 hex digits


@dataclass(frozen=True)
class Preflight:
    """Digests by image reference (checked ones) and the lines the approval card shows."""

    digests: dict[str, str]
    notes: tuple[str, ...]


def short_digest(digest: str) -> str:
    return digest[:SHOWN_DIGEST]


def preflight(env: Environment, upgrades: list[ComponentUpgrade]) -> Preflight:
    """Check every image the upgrades set; OperationError when a tag is missing (or the registry cannot
    answer and the check is `require`)."""
    registry = env.image_registry
    if registry is None or registry.check == "off":
        return Preflight({}, ("the new images were not checked against the registry (REGISTRY_CHECK=off)",))
    digests: dict[str, str] = {}
    notes: list[str] = []
    for upgrade in upgrades:
        for change in upgrade.changes:
            if change.after in digests:
                continue
            try:
                ref = parse_reference(change.after)
            except ValueError as exc:
                raise OperationError(f"{upgrade.component.name}: {exc}; nothing changed") from None
            found = pull_credentials(env.kube, upgrade.deployment, ref.registry)
            notes.extend(found.notes)
            try:
                digests[change.after] = registry.manifest(ref, found.credentials).digest
            except RegistryError as exc:
                if exc.kind == "not_found":
                    raise OperationError(_missing(env, ref, found.credentials)) from None
                if registry.check == "require":
                    raise OperationError(
                        f"{exc.message}. REGISTRY_CHECK=require refuses an upgrade the registry cannot "
                        "confirm; nothing changed"
                    ) from None
                notes.append(
                    f"{exc.message}: the tag could not be checked; if it does not exist the new pods fail "
                    "with ErrImagePull and the rollout stops with Rollback offered"
                )
    return Preflight(digests, tuple(dict.fromkeys(notes)))


def _missing(env: Environment, ref: ImageReference, credentials: Credentials | None) -> str:
    """ "0.5.1 is not in quay.io/x/backend; nearest: 0.5.2, 0.5.0, 0.4.1; newest: 0.5.2. Nothing changed"."""
    tag = ref.tag or ref.reference
    text = f"{tag} is not in {ref.name}"
    assert env.image_registry is not None
    try:
        tags = env.image_registry.tags(ref, credentials)
    except RegistryError as exc:
        return f"{text} ({exc.message}); nothing changed"
    near = nearest_tags(tag, tags)
    parsed = parse_tag(tag)
    newest = newest_tags(tags, 1, flavour=parsed.flavour if parsed else "*")
    if near:
        text += f"; nearest: {', '.join(near)}"
    if newest and newest[0] not in near[:1]:
        text += f"; newest: {newest[0]}"
    if not tags:
        text += "; the repository has no tags"
    return f"{text}. Nothing changed"
