"""The registry pre-flight of `upgrade`, `versions` and `status`'s "update available", against the
sandbox registry over HTTP (the bot's client, the token challenge) and the Kubernetes sandbox whose
kubelet pulls from the same registry content."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from commands.clients.kube import STRATEGIC_MERGE, KubeClient
from commands.clients.oci.catalogue import ImageRegistry
from commands.clients.oci.client import RegistryClient
from commands.clients.oci.pull_secrets import PULL_SECRET
from commands.cluster.status import StatusArgs, StatusOperation
from commands.cluster.upgrade import UpgradeArgs, UpgradeOperation
from commands.cluster.versions import VersionsArgs, VersionsOperation
from commands.contract import OperationError
from commands.environment import Environment
from sandbox.kube import KubeSandbox
from sandbox.registry import RegistrySandbox
from tests.integration.conftest import NAMESPACE, only_result

BACKEND = "quay.io/rh-aiservices-bu/litemaas-backend"
FRONTEND = "quay.io/rh-aiservices-bu/litemaas-frontend"


@pytest.fixture
def registry(sb: KubeSandbox) -> Iterator[RegistrySandbox]:
    server = RegistrySandbox(sb.images, users={"puller": "pw"}).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def env(kube: KubeClient, registry: RegistrySandbox, tmp_path: Path) -> Iterator[Environment]:
    client = RegistryClient(registry.mirrors())
    yield Environment(
        name="test",
        namespace=NAMESPACE,
        kube=kube,
        litellm_redis_ping=lambda: True,
        rollout_timeout=20.0,
        backup_dir=tmp_path / "backups",
        image_registry=ImageRegistry(client),
    )
    client.close()


def test_a_missing_tag_is_refused_before_approval_naming_the_nearest_tags(
    sb: KubeSandbox, env: Environment
) -> None:
    with pytest.raises(OperationError) as refused:
        UpgradeOperation().plan(env, UpgradeArgs(component="backend", tag="0.5.1-typo"))

    assert str(refused.value) == (
        f"0.5.1-typo is not in {BACKEND}; nearest: 0.5.1, 0.5.0, 0.4.1; newest: 0.5.2. Nothing changed"
    )
    assert sb.writes() == []


def test_upgrade_all_checks_every_image_it_sets(
    sb: KubeSandbox, env: Environment, registry: RegistrySandbox
) -> None:
    sb.images.remove(f"{FRONTEND}:0.5.1")
    with pytest.raises(OperationError) as refused:
        UpgradeOperation().plan(env, UpgradeArgs(component="all", tag="0.5.1"))

    assert str(refused.value).startswith(f"0.5.1 is not in {FRONTEND}; nearest: 0.5.2, 0.5.0, 0.4.1")
    assert sb.writes() == []


def test_the_card_shows_the_digest_that_will_run(
    sb: KubeSandbox, env: Environment, registry: RegistrySandbox
) -> None:
    plan = UpgradeOperation().plan(env, UpgradeArgs(component="backend", tag="0.5.1"))

    digest = sb.images.digest(f"{BACKEND}:0.5.1")
    assert digest is not None
    assert {(c.field, c.before, c.after) for c in plan.changes} == {
        ("image (backend)", "0.4.0", f"0.5.1 ({digest[:19]})"),
        ("image (run-migrations)", "0.4.0", f"0.5.1 ({digest[:19]})"),
    }
    assert any(path == "/v2/auth" for _, path in registry.requests)  # the anonymous token challenge


@pytest.mark.parametrize("mode", ["warn", "require", "off"])
def test_an_unreachable_registry_is_said_on_the_card_or_refuses(
    sb: KubeSandbox, env: Environment, registry: RegistrySandbox, mode: str
) -> None:
    assert env.image_registry is not None
    env.image_registry.check = mode  # type: ignore[assignment]
    registry.set_unavailable()
    op, args = UpgradeOperation(), UpgradeArgs(component="frontend", tag="0.5.0")

    if mode == "require":
        with pytest.raises(OperationError) as refused:
            op.plan(env, args)
        assert "REGISTRY_CHECK=require refuses an upgrade the registry cannot confirm" in str(refused.value)
        assert "HTTP 503" in str(refused.value)
        return
    plan = op.plan(env, args)
    expected = (
        "could not be checked" if mode == "warn" else "not checked against the registry (REGISTRY_CHECK=off)"
    )
    assert any(expected in risk for risk in plan.risks), plan.risks
    assert {c.after for c in plan.changes} == {"0.5.0"}
    assert (registry.requests == []) is (mode == "off")


def test_the_pull_secret_named_by_the_pod_spec_authenticates(
    sb: KubeSandbox, kube: KubeClient, env: Environment, registry: RegistrySandbox
) -> None:
    registry.state.private.add("quay.io/rh-aiservices-bu/litemaas-backend")
    auth = base64.b64encode(b"puller:pw").decode()
    sb.set_secret(PULL_SECRET, {".dockerconfigjson": json.dumps({"auths": {"quay.io": {"auth": auth}}})})
    without = UpgradeOperation().plan(env, UpgradeArgs(component="backend", tag="0.5.1"))
    assert any("refused anonymous access" in r for r in without.risks), without.risks

    kube.patch_deployment(
        "litellm-backend",
        {"spec": {"template": {"spec": {"imagePullSecrets": [{"name": PULL_SECRET}]}}}},
        STRATEGIC_MERGE,
    )
    sb.settle()
    plan = UpgradeOperation().plan(env, UpgradeArgs(component="backend", tag="0.5.1"))
    assert not any("could not be checked" in r for r in plan.risks), plan.risks
    assert all("sha256:" in c.after for c in plan.changes)
    assert "pw" not in json.dumps(plan.to_json())


def test_versions_shows_the_running_digest_and_newer_tags_from_the_cache(
    sb: KubeSandbox, env: Environment, registry: RegistrySandbox
) -> None:
    result = only_result(list(VersionsOperation().execute(env, VersionsArgs(component="backend"))))

    assert result.ok and result.summary == "update available: backend 0.5.2"
    fields = result.sections[0].fields
    digest = sb.images.digest(f"{BACKEND}:0.4.0") or ""
    assert fields == {
        "image": BACKEND,
        "running": "0.4.0",
        "digest": digest[:19],
        "newer": "0.5.2, 0.5.1, 0.5.0, 0.4.1",
    }
    asked = [p for _, p in registry.requests if p.endswith("/tags/list")]
    assert len(asked) == 2  # the anonymous try (401), then with the token
    with_pre = only_result(
        list(VersionsOperation().execute(env, VersionsArgs(component="backend", pre=True)))
    )
    assert with_pre.sections[0].fields["newer"].startswith("0.6.0-rc.1, 0.5.2")
    assert [p for _, p in registry.requests if p.endswith("/tags/list")] == asked  # cached: no new call


def test_status_says_update_available_per_component(env: Environment, registry: RegistrySandbox) -> None:
    result = only_result(list(StatusOperation().execute(env, StatusArgs())))

    fields = {s.title.split(" ")[0]: s.fields for s in result.sections}
    assert fields["backend"]["update available"] == "0.5.2"
    assert fields["frontend"]["update available"] == "0.5.2"
    assert fields["litellm"]["update available"] == "main-v1.82.0-stable-custom"
    assert "update available" not in fields["redis"]  # `latest` is no version
    registry.set_unavailable()
    again = only_result(list(StatusOperation().execute(env, StatusArgs())))
    assert {s.title.split(" ")[0]: s.fields for s in again.sections}["backend"]["update available"] == "0.5.2"


def test_versions_says_plainly_when_the_registry_cannot_be_asked(
    env: Environment, registry: RegistrySandbox
) -> None:
    registry.set_unavailable()
    result = only_result(list(VersionsOperation().execute(env, VersionsArgs(component="frontend"))))

    assert not result.ok
    assert result.summary == "the registry could not be asked for frontend"
    assert result.sections[0].fields["newer"].startswith("unknown: ")
    assert "HTTP 503" in result.sections[0].fields["newer"]
