"""deploy/ renders offline, every object is schema-valid, the pods run under OpenShift's restricted
SCC, the Role is least-privilege, the settings the manifests give are the bot's settings, and the
Slack app manifest asks for exactly the scopes the bot's Web API calls need.
"""

from __future__ import annotations

import ast
import copy
import inspect
from pathlib import Path
from typing import Any

import pytest
import yaml
from slack_sdk import WebClient

from bot.access import load_access_config
from bot.automation import load_automation
from bot.settings import DEFAULT_SECRETS_DIR, Settings, load_settings
from commands.clients.oci.pull_secrets import PULL_SECRET
from commands.registry import default_registry
from tests.deploy.manifests import (
    BASE,
    DEPLOY,
    OPENSHIFT_OVERLAY,
    REPO,
    KubectlMissing,
    Manifest,
    by_kind,
    load,
    one,
    render,
    schema_errors,
)
from tests.deploy.rbac import role_rules

pytestmark = pytest.mark.kubectl

NAMESPACE = "litellm-rhpds"
BOT = "litemaas-chatops"
OPERATED_SECRETS = {"litellm-secret", "backend-secret", "litemaas-db"}
SECRET_TEMPLATE = BASE / "secret.example.yaml"
SLACK_MANIFEST = DEPLOY / "slack-app-manifest.yaml"
SLACK_SCOPES = DEPLOY / "slack-scopes.yaml"
ALLOWED_VOLUME_TYPES = {
    "configMap",
    "secret",
    "emptyDir",
    "downwardAPI",
    "projected",
    "persistentVolumeClaim",
}


def _render(directory: Path) -> list[Manifest]:
    try:
        return render(directory)
    except KubectlMissing:
        pytest.skip("kubectl (kustomize) is not on PATH")


@pytest.fixture(scope="module")
def base() -> list[Manifest]:
    return _render(BASE)


@pytest.fixture(scope="module")
def overlay() -> list[Manifest]:
    return _render(OPENSHIFT_OVERLAY)


def _kinds(objects: list[Manifest]) -> set[tuple[str, str]]:
    return {(o["kind"], o["metadata"]["name"]) for o in objects}


# -- rendering and schemas ---------------------------------------------------------------------------


def test_base_renders_the_bot_without_inbound_exposure(base: list[Manifest]) -> None:
    assert _kinds(base) == {
        ("ServiceAccount", BOT),
        ("Role", BOT),
        ("RoleBinding", BOT),
        ("ConfigMap", "litemaas-chatops-config"),
        ("ConfigMap", "litemaas-chatops-access"),
        ("ConfigMap", "litemaas-chatops-automation"),
        ("Deployment", BOT),
        ("Deployment", "litemaas-chatops-redis"),
        ("Service", "litemaas-chatops-redis"),
        ("NetworkPolicy", "litemaas-chatops-redis"),
    }
    assert all("namespace" not in o["metadata"] for o in base), "the base leaves the namespace to overlays"
    assert not by_kind(base, "Secret"), "no Secret is rendered: it is created from the template"


def test_openshift_overlay_adds_http_mode_and_a_route_in_the_litemaas_namespace(
    base: list[Manifest], overlay: list[Manifest]
) -> None:
    assert _kinds(overlay) - _kinds(base) == {
        ("Service", BOT),
        ("NetworkPolicy", "litemaas-chatops-http"),
        ("Route", BOT),
    }
    assert {o["metadata"].get("namespace") for o in overlay} == {NAMESPACE}
    binding = one(overlay, "RoleBinding", BOT)
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": BOT, "namespace": NAMESPACE}]
    bot = _container(one(overlay, "Deployment", BOT))
    assert bot["image"].endswith(f"/{NAMESPACE}/litemaas-chatops:latest")
    assert bot["imagePullPolicy"] == "Always"


@pytest.mark.parametrize("which", ["base", "overlay"])
def test_every_rendered_object_is_valid_for_its_kind(which: str, request: pytest.FixtureRequest) -> None:
    objects: list[Manifest] = request.getfixturevalue(which)
    errors = [e for obj in objects for e in schema_errors(obj)]
    assert errors == []


def test_the_secret_template_is_a_valid_secret_with_placeholders_only() -> None:
    (secret,) = load(SECRET_TEMPLATE)
    assert schema_errors(secret) == []
    assert secret["metadata"]["name"] == BOT
    assert all("REPLACE-ME" in value for value in secret["stringData"].values())


def test_schema_validation_refuses_what_kubernetes_would() -> None:
    """The validator is not vacuous: a misspelt field, a wrong type and a bad Route are all caught."""
    deployment = copy.deepcopy(load(BASE / "deployment.yaml")[0])
    deployment["spec"]["template"]["spec"]["containers"][0]["imagePullPolicyy"] = "Always"
    assert schema_errors(deployment)
    deployment = copy.deepcopy(load(BASE / "deployment.yaml")[0])
    deployment["spec"]["replicas"] = "one"
    assert schema_errors(deployment)
    route = copy.deepcopy(load(OPENSHIFT_OVERLAY / "route.yaml")[0])
    route["spec"]["tls"]["termination"] = "edgy"
    assert schema_errors(route)
    del route["spec"]["to"]
    assert schema_errors(route)


def test_route_is_edge_tls_to_the_http_service(overlay: list[Manifest]) -> None:
    route = one(overlay, "Route", BOT)
    service = one(overlay, "Service", BOT)
    assert route["spec"]["tls"] == {"termination": "edge", "insecureEdgeTerminationPolicy": "Redirect"}
    assert route["spec"]["to"]["name"] == service["metadata"]["name"]
    assert route["spec"]["port"]["targetPort"] in {p["name"] for p in service["spec"]["ports"]}


# -- the pods under the restricted-v2 SCC ----------------------------------------------------------------


def _pod(deployment: Manifest) -> dict[str, Any]:
    spec: dict[str, Any] = deployment["spec"]["template"]["spec"]
    return spec


def _container(deployment: Manifest, name: str = "bot") -> dict[str, Any]:
    return next(c for c in _pod(deployment)["containers"] if c["name"] == name)


@pytest.mark.parametrize("name", [BOT, "litemaas-chatops-redis"])
def test_pod_runs_under_openshift_restricted_scc(overlay: list[Manifest], name: str) -> None:
    pod = _pod(one(overlay, "Deployment", name))
    context = pod["securityContext"]
    assert context["runAsNonRoot"] is True
    assert context["seccompProfile"] == {"type": "RuntimeDefault"}
    for forbidden in ("hostNetwork", "hostPID", "hostIPC", "hostUsers"):
        assert not pod.get(forbidden), forbidden
    containers = pod["containers"] + pod.get("initContainers", [])
    for container in containers:
        sc = container["securityContext"]
        assert sc["allowPrivilegeEscalation"] is False, container["name"]
        assert sc["capabilities"] == {"drop": ["ALL"]}, container["name"]
        assert sc["readOnlyRootFilesystem"] is True, container["name"]
        assert not sc.get("privileged"), container["name"]
        assert not container.get("ports") or all("hostPort" not in p for p in container["ports"])
    for context_holder in [pod, *containers]:  # the SCC picks the UID, GID and fsGroup
        for fixed in ("runAsUser", "runAsGroup", "fsGroup", "supplementalGroups"):
            assert fixed not in context_holder.get("securityContext", {}), fixed
    for volume in pod.get("volumes", []):
        assert set(volume) - {"name"} <= ALLOWED_VOLUME_TYPES, volume["name"]


def test_bot_pod_has_probes_resources_and_its_writable_paths(overlay: list[Manifest]) -> None:
    deployment = one(overlay, "Deployment", BOT)
    pod = _pod(deployment)
    bot = _container(deployment)
    assert deployment["spec"]["replicas"] == 1
    assert pod["serviceAccountName"] == one(overlay, "ServiceAccount", BOT)["metadata"]["name"]
    ports = {p["name"]: p["containerPort"] for p in bot["ports"]}
    assert bot["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert bot["readinessProbe"]["httpGet"]["path"] == "/readyz"
    for probe in ("livenessProbe", "readinessProbe"):
        assert bot[probe]["httpGet"]["port"] in ports
    config = one(overlay, "ConfigMap", "litemaas-chatops-config")["data"]
    assert ports["http"] == int(config["PORT"])
    assert set(bot["resources"]) == {"requests", "limits"}
    assert set(bot["resources"]["requests"]) == set(bot["resources"]["limits"]) == {"cpu", "memory"}

    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["mountPath"]: volumes[m["name"]] for m in bot["volumeMounts"]}
    assert "emptyDir" in mounts["/tmp"]
    assert "emptyDir" in mounts[config["BACKUP_DIR"]], "backups are staged on a writable volume"
    secret_mount = mounts[str(DEFAULT_SECRETS_DIR)]
    assert secret_mount["secret"]["secretName"] == BOT, "the Secret is mounted where SECRETS_DIR looks"
    for setting, configmap in (
        ("ACCESS_CONFIG", "litemaas-chatops-access"),
        ("AUTOMATION_CONFIG", "litemaas-chatops-automation"),
    ):
        path = Path(config[setting])
        assert mounts[str(path.parent)]["configMap"]["name"] == configmap
        assert path.name in one(overlay, "ConfigMap", configmap)["data"]

    env = {e["name"]: e for e in bot["env"]}
    assert env["POD_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    assert env["LITEMAAS_NAMESPACE"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.namespace"
    assert bot["envFrom"] == [{"configMapRef": {"name": "litemaas-chatops-config"}}]


def test_http_ingress_is_limited_to_the_router_and_monitoring(overlay: list[Manifest]) -> None:
    policy = one(overlay, "NetworkPolicy", "litemaas-chatops-http")
    bot_labels = one(overlay, "Deployment", BOT)["spec"]["template"]["metadata"]["labels"]
    assert policy["spec"]["policyTypes"] == ["Ingress"]
    assert policy["spec"]["podSelector"]["matchLabels"].items() <= bot_labels.items()
    (rule,) = policy["spec"]["ingress"]
    assert rule["ports"] == [{"port": "http", "protocol": "TCP"}]
    assert all(set(peer) == {"namespaceSelector"} for peer in rule["from"]), "namespaces, never all pods"
    selected = [peer["namespaceSelector"]["matchLabels"] for peer in rule["from"]]
    assert any("ingress" in str(labels) for labels in selected)
    assert any("monitoring" in str(labels) for labels in selected)


# -- the Role -------------------------------------------------------------------------------------------


def test_role_is_namespaced_explicit_and_reads_only_the_litemaas_secrets(overlay: list[Manifest]) -> None:
    assert not by_kind(overlay, "ClusterRole") and not by_kind(overlay, "ClusterRoleBinding")
    (role,) = by_kind(overlay, "Role")
    binding = one(overlay, "RoleBinding", BOT)
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": BOT}
    rules = role_rules(role)
    for rule in rules:
        fields = (*rule.api_groups, *rule.resources, *rule.verbs, *rule.resource_names)
        assert all("*" not in field for field in fields), f"wildcard in {rule}"
        assert not {"escalate", "bind", "impersonate", "delete", "deletecollection"} & set(rule.verbs)
        assert not {"pods/exec", "pods/attach", "pods/portforward"} & set(rule.resources)
    secret_rules = [r for r in rules if "secrets" in r.resources]
    assert secret_rules, "the bot reads the LiteMaaS Secrets"
    for rule in secret_rules:
        assert rule.resources == ("secrets",) and rule.verbs == ("get",)
    named_secrets = {name for r in secret_rules for name in r.resource_names}
    assert all(r.resource_names for r in secret_rules), "every Secret is granted by name"
    assert named_secrets == {*OPERATED_SECRETS, PULL_SECRET}
    lease_rules = [r for r in rules if "leases" in r.resources]
    named = {name for r in lease_rules for name in r.resource_names}
    assert named == {Settings.model_fields["leader_lease_name"].default}
    unnamed_verbs = {v for r in lease_rules if not r.resource_names for v in r.verbs}
    assert unnamed_verbs == {"create"}, "only create, which RBAC cannot limit by name, is unnamed"


# -- the settings the manifests give ---------------------------------------------------------------------


def _setting_names() -> set[str]:
    return {name.upper() for name in Settings.model_fields}


def test_configmap_and_secret_keys_are_settings_the_bot_knows(overlay: list[Manifest]) -> None:
    """The settings ignore unknown names, so a misspelt key would be silently dropped: refuse it here."""
    config = one(overlay, "ConfigMap", "litemaas-chatops-config")["data"]
    (secret,) = load(SECRET_TEMPLATE)
    bot = _container(one(overlay, "Deployment", BOT))
    given = set(config) | set(secret["stringData"]) | {e["name"] for e in bot["env"]}
    assert given - _setting_names() == set()
    assert not set(config) & set(secret["stringData"]), "a key in both: the ConfigMap would win"


def test_the_manifests_settings_start_the_bot_configuration(
    overlay: list[Manifest], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The ConfigMap as environment, the Secret template as mounted files and the access and automation
    files from their ConfigMaps load as the bot loads them at start-up."""
    config = dict(one(overlay, "ConfigMap", "litemaas-chatops-config")["data"])
    for setting, configmap in (
        ("ACCESS_CONFIG", "litemaas-chatops-access"),
        ("AUTOMATION_CONFIG", "litemaas-chatops-automation"),
    ):
        name = Path(config[setting]).name
        local = tmp_path / configmap / name
        local.parent.mkdir()
        local.write_text(one(overlay, "ConfigMap", configmap)["data"][name])
        config[setting] = str(local)
    secrets_dir = tmp_path / "secrets"
    secrets_dir.mkdir()
    (secret,) = load(SECRET_TEMPLATE)
    for key, value in secret["stringData"].items():
        (secrets_dir / key).write_text(value + "\n")
    for name in _setting_names():
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LITEMAAS_NAMESPACE", NAMESPACE)  # the downward API's value
    monkeypatch.setenv("POD_NAME", "litemaas-chatops-5d9c7-abcde")
    for key, value in config.items():
        monkeypatch.setenv(key, value)

    settings = load_settings(secrets_dir=secrets_dir)

    assert settings.slack_bot_token.get_secret_value() == secret["stringData"]["SLACK_BOT_TOKEN"]
    assert settings.slack_app_token is not None  # Socket Mode with the template's app token
    assert settings.port == 3000 and settings.kubeconfig is None  # in-cluster configuration
    assert settings.redis_url.get_secret_value() == "redis://litemaas-chatops-redis:6379/0"
    access = load_access_config(settings.access_config, known_commands=default_registry().verbs())
    assert access.channels == ["C0OPS"]
    automation = load_automation(settings.automation_config)
    assert automation.active and set(automation.schedules) == {
        "key-cleanup",
        "backup",
        "backup-verify",
        "drift",
    }


def test_redis_service_is_the_one_the_bot_is_configured_with(overlay: list[Manifest]) -> None:
    config = one(overlay, "ConfigMap", "litemaas-chatops-config")["data"]
    service = one(overlay, "Service", "litemaas-chatops-redis")
    redis_labels = one(overlay, "Deployment", "litemaas-chatops-redis")["spec"]["template"]["metadata"]
    assert (
        config["REDIS_URL"]
        == f"redis://{service['metadata']['name']}:{service['spec']['ports'][0]['port']}/0"
    )
    assert service["spec"]["selector"].items() <= redis_labels["labels"].items()
    assert config["REDIS_URL"] != config["LITELLM_REDIS_URL"], "LiteLLM's Redis is FLUSHALLed by the backend"


# -- the Slack app ------------------------------------------------------------------------------------


def _scope_table() -> dict[str, Any]:
    table: dict[str, Any] = yaml.safe_load(SLACK_SCOPES.read_text())
    return table


def _web_client_calls() -> dict[str, list[str]]:
    """Every `<something>.<WebClient method>(…)` call in bot/: method name → where it is called."""
    methods = {n for n, _ in inspect.getmembers(WebClient, inspect.isfunction) if not n.startswith("_")}
    calls: dict[str, list[str]] = {}
    for path in sorted((REPO / "bot").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            if node.func.attr in methods:
                calls.setdefault(node.func.attr, []).append(f"{path.relative_to(REPO)}:{node.lineno}")
    return calls


def test_every_web_api_call_of_the_bot_is_in_the_scope_table() -> None:
    table = _scope_table()["methods"]
    calls = _web_client_calls()
    assert set(calls) - set(table) == set(), "add these methods and their scopes to deploy/slack-scopes.yaml"
    stale = set(table) - set(calls) - {"auth_test"}  # auth.test: Bolt calls it, not bot/
    assert stale == set(), "methods the bot no longer calls: drop them and their scopes"
    for method in table:
        assert callable(getattr(WebClient, method, None)), f"{method} is not a WebClient method"


def test_slack_app_manifest_asks_exactly_for_the_scopes_the_calls_need() -> None:
    table = _scope_table()
    needed = {s for entry in table["methods"].values() for s in entry["scopes"]}
    needed |= {s for entry in table["features"].values() for s in entry["scopes"]}
    manifest = yaml.safe_load(SLACK_MANIFEST.read_text())
    scopes = manifest["oauth_config"]["scopes"]
    assert (
        sorted(scopes["bot"])
        == sorted(needed)
        == ["chat:write", "commands", "files:write", "usergroups:read"]
    )
    assert "user" not in scopes, "the bot acts with its own token only"


def test_slack_app_manifest_declares_the_command_interactivity_and_socket_mode() -> None:
    manifest = yaml.safe_load(SLACK_MANIFEST.read_text())
    (command,) = manifest["features"]["slash_commands"]
    assert command["command"] == Settings.model_fields["slash_command"].default
    assert command["description"] and command["usage_hint"]
    assert manifest["features"]["bot_user"]["display_name"]
    assert manifest["display_information"]["name"]
    assert manifest["settings"]["interactivity"]["is_enabled"] is True  # approval buttons, forms
    assert manifest["settings"]["socket_mode_enabled"] is True
    assert "event_subscriptions" not in manifest["settings"], "the bot subscribes to no events"
