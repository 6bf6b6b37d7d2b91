"""The demo console's registry commands: `registry down|up` (an outage: the bot's pre-flight cannot
check, the card says so, an approved bad tag then fails fast at the kubelet), `untag IMAGE` deletes a tag
from the sandbox registry, `push IMAGE` adds one (pods waiting for it start)."""

from __future__ import annotations

from sandbox.kube import KubeSandbox
from sandbox.registry import RegistrySandbox

USAGE = "usage: {word} <image>, e.g. {word} quay.io/rh-aiservices-bu/litemaas-frontend:0.5.2"


def registry_command(
    kube: KubeSandbox | None, registry: RegistrySandbox | None, word: str, args: list[str]
) -> str:
    """Run `registry`/`untag`/`push` on the registry the sandbox kubelet pulls from; the line to print."""
    if word == "registry":
        if registry is None or args not in (["down"], ["up"]):
            return "! usage: registry down | registry up" if registry else "! no sandbox registry here"
        registry.set_unavailable(args == ["down"])
        if args == ["down"]:
            return "the registry answers 503: the bot cannot check tags (the card says so); pulls still work"
        return "the registry answers again"
    if kube is None:
        return "! no sandbox registry here"
    if len(args) != 1 or ":" not in args[0].rsplit("/", 1)[-1]:
        return "! " + USAGE.format(word=word)
    image = args[0]
    if word == "push":
        digest = kube.images.push(image)
        return f"{image} pushed ({digest[:19]}): new pods can pull it"
    if not kube.images.has_image(image):
        return f"! {image} is not in the sandbox registry"
    kube.images.remove(image)
    return f"{image} untagged: a pod asking for it now gets ErrImagePull (the pre-flight would refuse it)"
