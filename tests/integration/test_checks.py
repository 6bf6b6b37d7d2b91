"""The watchers' checks against real peers: the Kubernetes sandbox through the official client, the
LiteLLM and backend sandboxes over HTTP, real PostgreSQL (drift) and Redis (PING), a real backup
directory. Each failure is driven with the sandbox's own controls or a real PATCH; each check must
then return exactly the expected finding, with actions that parse as typed commands.
"""

from __future__ import annotations

import json
import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

import sandbox.litellm as sandbox_litellm
import sandbox.seed_data as seed
from bot.parsing import parse_command
from commands.backup import newest_backup_time
from commands.backup.manifest import Verification, new_backup_directory, write_manifest
from commands.backup.targets import DirectoryTarget
from commands.checks import Finding
from commands.checks.backups import backup_age_check
from commands.checks.deployments import deployments_check
from commands.checks.drift import drift_check
from commands.checks.images import images_check
from commands.checks.litellm_redis import redis_check
from commands.checks.pods import pods_check
from commands.checks.readiness import readiness_check
from commands.checks.registry import CHECKS, CheckSettings, build_checks
from commands.clients.kube import STRATEGIC_MERGE, KubeClient
from commands.clients.kube_errors import KubeError
from commands.cluster.upgrade import UpgradeArgs, UpgradeOperation
from commands.contract import OperationError
from commands.environment import Component, Environment
from commands.registry import default_registry
from sandbox.kube import KubeSandbox
from tests.conftest import DatabasePair
from tests.integration.conftest import NAMESPACE, make_env, redis_ping

DEAD_REDIS = "redis://127.0.0.1:1/0"
WATCHER_NAMES = {"deployments", "pods", "readiness", "redis", "images", "drift", "backups"}


def assert_actions_parse(env: Environment, findings: list[Finding]) -> None:
    """Every button's command is one the bot accepts as typed; no finding text carries a secret."""
    registry = default_registry()
    for finding in findings:
        for action in finding.actions:
            parse_command(action.command, registry, components=list(env.components))
        text = json.dumps([finding.title, *finding.details])
        assert "sk-" not in text and "://" not in text, text


def one(findings: list[Finding]) -> Finding:
    assert len(findings) == 1, findings
    return findings[0]


def restart(kube: KubeClient, deployment: str) -> None:
    """A new template (as `kubectl rollout restart` sends), so the controller starts a rollout."""
    patch = {"spec": {"template": {"metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": "t"}}}}}
    kube.patch_deployment(deployment, patch, STRATEGIC_MERGE)


def pod_names(sb: KubeSandbox, deployment: str) -> list[str]:
    return sorted(p["metadata"]["name"] for p in sb.pods_of(deployment))


def write_backup(directory: Path, created_at: datetime) -> str:
    """A complete backup as `backup now` leaves it: a dump file and the manifest naming it; its id."""
    backup_id, path = new_backup_directory(directory, created_at)
    dump = path / "litemaas.sql.gz"
    dump.write_bytes(b"\x1f\x8b")
    write_manifest(path, backup_id, created_at, [])
    return backup_id


# -- healthy ---------------------------------------------------------------------------------------


def test_the_registry_names_every_watcher_of_the_automation_file() -> None:
    from bot.automation import DEFAULT_WATCHERS

    assert set(CHECKS) == set(DEFAULT_WATCHERS) == WATCHER_NAMES


def test_a_healthy_deployment_gives_no_finding_from_any_check(
    sb: KubeSandbox,
    kube: KubeClient,
    litellm: Any,
    backend: Any,
    redis_url: str,
    litemaas_db: str,
    litellm_db: str,
    tmp_path: Path,
) -> None:
    write_backup(tmp_path / "backups", datetime.now(UTC) - timedelta(days=1))
    env = make_env(
        kube,
        redis_ping(redis_url),
        litellm_url=litellm.url,
        backend_url=backend.url,
        litemaas_database_url=litemaas_db,
        litellm_database_url=litellm_db,
        backup_dir=tmp_path / "backups",
    )
    kube.patch_scale("litellm", 2)  # with Redis answering, two replicas are fine
    sb.settle()

    checks = build_checks(CheckSettings())

    assert set(checks) == WATCHER_NAMES
    for name, check in checks.items():
        assert check(env) == [], name


# -- deployments -----------------------------------------------------------------------------------


def test_a_rollout_past_its_deadline_is_a_warning_with_rollback_and_logs(
    sb: KubeSandbox, kube: KubeClient
) -> None:
    env = make_env(kube, lambda: True)
    sb.fail_rollout("litellm")
    restart(kube, "litellm")
    for _ in range(5):
        sb.step()

    finding = one(deployments_check(env))

    assert finding.key == "deployment/litellm"
    assert finding.severity == "warning"  # the old pod still serves
    assert finding.component == "litellm"
    assert finding.title == (
        "litellm: the rollout of deployment/litellm exceeded its progress deadline (1 of 1 replica available)"
    )
    assert 'deployment "litellm" exceeded its progress deadline' in finding.details
    assert any("has timed out progressing" in line for line in finding.details), finding.details
    assert [(a.label, a.command) for a in finding.actions] == [
        ("Rollback", "rollback litellm"),
        ("Logs", "logs litellm --tail 100"),
    ]
    assert_actions_parse(env, [finding])


def test_no_available_replica_is_critical_and_names_the_pod(sb: KubeSandbox, kube: KubeClient) -> None:
    env = make_env(kube, lambda: True)
    [pod] = pod_names(sb, "litellm-backend")
    sb.set_pod_state(pod, "backend", ready=False)

    finding = one(deployments_check(env))

    assert finding.key == "deployment/litellm-backend"
    assert finding.severity == "critical"
    assert finding.title == "backend: 0 of 1 replica available (deployment/litellm-backend)"
    assert f"{pod}: not ready" in finding.details
    assert any(line.startswith("Available: ") for line in finding.details), finding.details


def test_some_replicas_unavailable_is_a_warning(sb: KubeSandbox, kube: KubeClient) -> None:
    env = make_env(kube, lambda: True)
    pod = pod_names(sb, "litellm-frontend")[0]
    sb.set_pod_state(pod, "frontend", waiting_reason="ImagePullBackOff", ready=False)

    finding = one(deployments_check(env))

    assert (finding.key, finding.severity) == ("deployment/litellm-frontend", "warning")
    assert finding.title == "frontend: 2 of 3 replicas available (deployment/litellm-frontend)"
    assert any("ImagePullBackOff" in line for line in finding.details), finding.details


def test_a_deleted_deployment_is_reported(sb: KubeSandbox, kube: KubeClient) -> None:
    env = make_env(kube, lambda: True)
    env.components["extra"] = Component("extra", "not-deployed", "extra")

    finding = one(deployments_check(env))

    assert finding.key == "deployment/not-deployed"
    assert finding.title == f"extra: Deployment not-deployed not found in {NAMESPACE}"


def test_a_check_that_cannot_read_the_cluster_raises_a_plain_error(sb: KubeSandbox, kube: KubeClient) -> None:
    env = make_env(kube, lambda: False)
    sb.inject_error("GET", r"/deployments$", 403, 'deployments.apps is forbidden: User "bot"', times=4)

    for check in (deployments_check, pods_check, images_check, redis_check):
        with pytest.raises(KubeError) as caught:
            check(env)
        assert caught.value.status == 403
        assert "forbidden" in str(caught.value)


# -- pods ------------------------------------------------------------------------------------------


def test_a_crash_looping_pod_is_critical_when_no_pod_serves(sb: KubeSandbox, kube: KubeClient) -> None:
    env = make_env(kube, lambda: True)
    [pod] = pod_names(sb, "litellm")
    sb.set_pod_state(
        pod,
        "litellm",
        waiting_reason="CrashLoopBackOff",
        terminated_reason="Error",
        restart_count=5,
        ready=False,
    )

    finding = one(pods_check(env))

    assert finding.key == "pods/litellm"
    assert finding.severity == "critical"
    assert finding.title == "litellm: 1 of 1 pod in CrashLoopBackOff"
    assert finding.details == (
        f"{pod}/litellm: CrashLoopBackOff, 5 restarts, last terminated: Error (exit 1)",
    )
    assert [(a.label, a.command) for a in finding.actions] == [("Logs", "logs litellm --previous --tail 100")]
    assert_actions_parse(env, [finding])


def test_an_oom_killed_pod_is_a_warning_naming_pod_container_and_reason(
    sb: KubeSandbox, kube: KubeClient
) -> None:
    env = make_env(kube, lambda: True)
    pod = pod_names(sb, "litellm-frontend")[1]
    sb.oom_kill(pod, "frontend")

    finding = one(pods_check(env))

    assert (finding.key, finding.severity, finding.component) == ("pods/frontend", "warning", "frontend")
    assert finding.title == "frontend: 1 of 3 pods OOMKilled"
    assert finding.details == (f"{pod}/frontend: running, 1 restart, last terminated: OOMKilled (exit 137)",)


def test_crash_loops_and_oom_kills_of_one_component_are_one_finding(
    sb: KubeSandbox, kube: KubeClient
) -> None:
    env = make_env(kube, lambda: True)
    first, second, _third = pod_names(sb, "litellm-frontend")
    sb.oom_kill(first, "frontend")
    sb.set_pod_state(second, "frontend", waiting_reason="CrashLoopBackOff", restart_count=2, ready=False)

    finding = one(pods_check(env))

    assert finding.title == "frontend: 2 of 3 pods failing (1 in CrashLoopBackOff, 1 OOMKilled)"
    assert finding.severity == "warning"
    assert len(finding.details) == 2


def test_twenty_crash_looping_pods_of_one_deployment_are_one_finding(
    sb: KubeSandbox, kube: KubeClient
) -> None:
    env = make_env(kube, redis_ping(DEAD_REDIS))
    kube.patch_scale("litellm", 20)
    sb.settle()
    pods = pod_names(sb, "litellm")
    assert len(pods) == 20
    for pod in pods:
        sb.set_pod_state(
            pod,
            "litellm",
            waiting_reason="CrashLoopBackOff",
            terminated_reason="OOMKilled",
            restart_count=7,
            ready=False,
        )

    finding = one(pods_check(env))

    assert finding.key == "pods/litellm"
    assert finding.severity == "critical"
    assert finding.title == "litellm: 20 of 20 pods failing (20 in CrashLoopBackOff, 20 OOMKilled)"
    assert len(finding.details) == 11
    assert finding.details[:10] == tuple(
        f"{pod}/litellm: CrashLoopBackOff, 7 restarts, last terminated: OOMKilled (exit 137)"
        for pod in pods[:10]
    )
    assert finding.details[10] == "… and 10 more"
    # the other checks see the same outage from their side, once each
    assert [f.key for f in deployments_check(env)] == ["deployment/litellm"]
    assert [f.key for f in redis_check(env)] == ["redis/litellm"]


def test_a_failing_init_container_gets_logs_of_that_container(sb: KubeSandbox, kube: KubeClient) -> None:
    env = make_env(kube, lambda: True)
    [pod] = pod_names(sb, "litellm-backend")
    sb.set_pod_state(pod, "run-migrations", waiting_reason="CrashLoopBackOff", restart_count=3, ready=False)

    finding = one(pods_check(env))

    assert finding.details == (f"{pod}/run-migrations (init): CrashLoopBackOff, 3 restarts",)
    assert [a.command for a in finding.actions] == [
        "logs backend --previous --tail 100 --container run-migrations"
    ]
    assert_actions_parse(env, [finding])


# -- readiness -------------------------------------------------------------------------------------


def test_not_ready_services_are_one_critical_finding_each(
    kube: KubeClient, litellm: Any, backend: Any
) -> None:
    env = make_env(kube, lambda: True, litellm_url=litellm.url, backend_url=backend.url)
    litellm.set_ready(False)
    backend.set_ready(False)

    findings = readiness_check(env)

    assert [(f.key, f.severity, f.component, f.title) for f in findings] == [
        ("ready/litellm", "critical", "litellm", "LiteLLM is not ready: 503 database not connected"),
        ("ready/backend", "critical", "backend", "The backend is not ready: 503 not ready"),
    ]
    assert findings[0].details == ("GET /health/readiness: 503 database not connected",)
    assert [a.command for a in findings[1].actions] == ["logs backend --tail 100"]
    assert_actions_parse(env, findings)

    litellm.set_ready(True)
    assert [f.key for f in readiness_check(env)] == ["ready/backend"]


def test_a_stopped_litellm_is_not_ready(kube: KubeClient, backend: Any) -> None:
    stopped = sandbox_litellm.LiteLLMSandbox().start()
    url = stopped.url
    stopped.stop()
    env = make_env(kube, lambda: True, litellm_url=url, backend_url=backend.url)

    finding = one(readiness_check(env))

    assert finding.key == "ready/litellm"
    assert finding.title == "LiteLLM does not answer its readiness probe: unreachable (connection refused)"


# -- LiteLLM's Redis -------------------------------------------------------------------------------


def test_a_dead_redis_matters_only_with_several_litellm_replicas(
    sb: KubeSandbox, kube: KubeClient, redis_url: str
) -> None:
    dead = make_env(kube, redis_ping(DEAD_REDIS))
    assert redis_check(dead) == []  # one replica: nothing to diverge

    kube.patch_scale("litellm", 2)
    assert redis_check(make_env(kube, redis_ping(redis_url))) == []

    finding = one(redis_check(dead))

    assert (finding.key, finding.severity, finding.component) == ("redis/litellm", "critical", "redis")
    assert (
        finding.title
        == "LiteLLM runs 2 replicas but its Redis (deployment/litellm-redis) does not answer PING"
    )
    assert [a.command for a in finding.actions] == ["logs redis --tail 100"]
    assert_actions_parse(dead, [finding])


# -- images ----------------------------------------------------------------------------------------


def _set_init_image(kube: KubeClient, deployment: str, container: str, image: str) -> None:
    patch = {"spec": {"template": {"spec": {"initContainers": [{"name": container, "image": image}]}}}}
    kube.patch_deployment(deployment, patch, STRATEGIC_MERGE)


def test_an_init_container_left_on_the_old_image_offers_the_upgrade_that_fixes_it(
    sb: KubeSandbox, kube: KubeClient
) -> None:
    env = make_env(kube, lambda: True)
    _set_init_image(
        kube, "litellm-frontend", "copy-custom-logos", "quay.io/rh-aiservices-bu/litemaas-frontend:0.3.2"
    )

    finding = one(images_check(env))

    assert (finding.key, finding.severity, finding.component) == ("images/frontend", "warning", "frontend")
    assert finding.title == "frontend: init container copy-custom-logos runs 0.3.2 but frontend runs 0.4.0"
    assert finding.details == ("the old UI bundle is served",)
    [fix] = finding.actions
    assert (fix.label, fix.command) == ("Fix", "upgrade frontend 0.4.0")
    assert_actions_parse(env, [finding])
    # the button's command changes exactly the init container back to the main image
    plan = UpgradeOperation().plan(env, UpgradeArgs(component="frontend", tag="0.4.0"))
    assert [(c.field, c.before, c.after) for c in plan.changes] == [
        ("image (copy-custom-logos)", "0.3.2", "0.4.0")
    ]


def test_an_init_container_of_another_repository_gets_no_fix_button(
    sb: KubeSandbox, kube: KubeClient
) -> None:
    env = make_env(kube, lambda: True)
    _set_init_image(kube, "litellm-backend", "run-migrations", "registry.example/fork/backend:0.4.0")

    finding = one(images_check(env))

    assert finding.key == "images/backend"
    assert finding.title == (
        "backend: init container run-migrations runs registry.example/fork/backend:0.4.0 but backend runs "
        "quay.io/rh-aiservices-bu/litemaas-backend:0.4.0"
    )
    assert finding.actions == ()


# -- drift -----------------------------------------------------------------------------------------


def plant_drift(dbs: DatabasePair) -> None:
    """Seven orphaned LiteMaaS keys (a), one LiteLLM model missing from the catalogue (c1), one key in
    sync, and two keys deactivated in LiteMaaS that still work in LiteLLM (f)."""
    params = {"model": "openai/upstream", "api_base": "http://upstream/v1"}
    with psycopg.connect(dbs.litemaas_url) as lm, psycopg.connect(dbs.litellm_url) as ll:
        user = seed.add_user(lm, email="dora@example.com")
        model_id = seed.add_litellm_model(ll, "granite", params)
        seed.add_model(lm, id="granite", litellm_model_id=model_id, litellm_params=params)
        seed.add_litellm_model(ll, "phi-3-mini", params)
        for alias in (f"orphan-{n}" for n in range(1, 8)):
            seed.add_api_key(lm, user, key="sk-" + secrets.token_urlsafe(16), alias=alias)
        key = "sk-" + secrets.token_urlsafe(16)
        seed.add_api_key(lm, user, key=key, alias="in-sync")
        seed.add_litellm_token(ll, key=key, alias="in-sync", expires=None)
        for alias in ("cascaded-1", "cascaded-2"):
            key = "sk-" + secrets.token_urlsafe(16)
            seed.add_api_key(lm, user, key=key, alias=alias, active=False)
            seed.add_litellm_token(ll, key=key, alias=alias, expires=None)


def test_drift_above_its_threshold_offers_the_fix(
    kube: KubeClient, litemaas_litellm_dbs: DatabasePair
) -> None:
    dbs = litemaas_litellm_dbs
    plant_drift(dbs)
    env = make_env(
        kube, lambda: True, litemaas_database_url=dbs.litemaas_url, litellm_database_url=dbs.litellm_url
    )

    findings = drift_check({"default": 0})(env)

    assert [(f.key, f.severity, f.component) for f in findings] == [
        ("drift/a", "warning", "drift"),
        ("drift/c1", "warning", "drift"),
        ("drift/f", "warning", "drift"),
    ]
    orphans, models, inactive = findings
    assert orphans.title == "Drift (a): Active LiteMaaS keys with no LiteLLM key: 7 (threshold 0)"
    assert orphans.details == (
        *(f"orphan-{n} — user dora@example.com" for n in range(1, 6)),
        "… and 2 more (the drift report lists them all)",
    )
    assert [(a.label, a.command) for a in orphans.actions] == [
        ("Fix", "keys orphans --fix"),
        ("Drift report", "drift"),
    ]
    assert models.title == "Drift (c1): LiteLLM models missing from the catalogue: 1 (threshold 0)"
    assert models.details == ("phi-3-mini — 1 deployment(s) in LiteLLM; subscribing fails",)
    assert [a.command for a in models.actions] == ["models sync", "drift"]
    assert inactive.title == "Drift (f): Keys inactive in LiteMaaS but usable in LiteLLM: 2 (threshold 0)"
    assert inactive.details == (
        "cascaded-1 — user dora@example.com, works in LiteLLM, never expires",
        "cascaded-2 — user dora@example.com, works in LiteLLM, never expires",
    )
    assert [a.command for a in inactive.actions] == ["drift block-inactive", "drift"]
    assert_actions_parse(env, findings)

    # thresholds by kind, by letter, then default
    assert [f.key for f in drift_check({"a": 7, "f": 2, "default": 0})(env)] == ["drift/c1"]
    assert [f.key for f in drift_check({"c": 1, "default": 1})(env)] == ["drift/a", "drift/f"]
    assert drift_check({"default": 7})(env) == []
    with pytest.raises(ValueError, match="unknown drift kind 'g'"):
        drift_check({"g": 1})


def test_drift_that_cannot_read_the_databases_raises_a_plain_error(kube: KubeClient) -> None:
    password = "hunter2-not-shown"
    env = make_env(
        kube, lambda: True, litemaas_database_url=f"postgresql://litemaas:{password}@127.0.0.1:1/litemaas"
    )

    with pytest.raises(OperationError) as caught:
        drift_check({"default": 0})(env)

    assert password not in str(caught.value) and "postgresql://" not in str(caught.value)


def test_a_negative_drift_threshold_is_refused() -> None:
    with pytest.raises(ValueError, match="'a' must be 0 or more"):
        drift_check({"a": -1})


# -- backups ---------------------------------------------------------------------------------------


def test_an_old_or_missing_backup_is_a_warning_with_backup_now(kube: KubeClient, tmp_path: Path) -> None:
    directory = tmp_path / "backups"
    env = make_env(kube, lambda: True, backup_dir=directory)
    now = datetime(2026, 6, 18, 12, 0, tzinfo=UTC)
    check = backup_age_check(timedelta(days=7), newest_backup_time, now=lambda: now)

    missing = one(check(env))
    assert (missing.key, missing.severity, missing.component) == ("backups/age", "warning", "backup")
    assert missing.title == "No successful backup found"
    assert missing.details == ("expected one at least every 7 days",)

    write_backup(directory, now - timedelta(days=9, hours=3))
    (directory / "20260618T000000Z").mkdir()  # a failed backup: no manifest, does not count
    old = one(check(env))
    assert old.title == "The newest backup is 9 days 3 h old (allowed: 7 days)"
    assert old.details == ("newest backup: 2026-06-09 09:00 UTC",)
    assert [(a.label, a.command) for a in old.actions] == [("Back up now", "backup now")]
    assert_actions_parse(env, [old])

    write_backup(directory, now - timedelta(hours=5))
    assert check(env) == []


def test_a_failed_last_verify_is_a_warning_until_a_verify_passes(kube: KubeClient, tmp_path: Path) -> None:
    directory = tmp_path / "backups"
    env = make_env(kube, lambda: True, backup_dir=directory)
    now = datetime.now(UTC)
    check = build_checks(CheckSettings(backup_max_age=timedelta(days=7)))["backups"]
    older = write_backup(directory, now - timedelta(days=2))
    newest = write_backup(directory, now - timedelta(hours=1))
    assert check(env) == []  # never verified: nothing to say yet

    target = DirectoryTarget(directory)
    failed = Verification(
        at=now - timedelta(minutes=30),
        ok=False,
        summary=f"Backup {newest} failed verify: litemaas differs from the manifest: public.users: 3 rows "
        "in the backup, 2 restored",
        databases=("litemaas: 17 tables, 40 rows, restored in 0.4 s; differs: public.users: …",),
    )
    target.record_verification(newest, failed)
    target.record_verification(older, Verification(at=now - timedelta(hours=5), ok=True, summary="ok"))
    finding = one(check(env))
    assert (finding.key, finding.severity, finding.component) == ("backups/verify", "warning", "backup")
    assert finding.title == (
        f"Backup {newest} failed its verify: litemaas differs from the manifest: public.users: 3 rows in "
        "the backup, 2 restored"
    )
    assert finding.details[1] == failed.databases[0]
    assert [(a.label, a.command) for a in finding.actions] == [
        ("Verify again", f"backup verify {newest}"),
        ("Back up now", "backup now"),
    ]
    assert_actions_parse(env, [finding])

    target.record_verification(newest, Verification(at=now, ok=True, summary="verified"))
    assert check(env) == []


def test_the_backup_source_is_pluggable_and_its_failure_is_plain(kube: KubeClient) -> None:
    env = make_env(kube, lambda: True)
    now = datetime.now(UTC)
    assert backup_age_check(timedelta(days=1), lambda _env: now - timedelta(hours=1))(env) == []

    def unreadable(_env: Environment) -> datetime | None:
        raise PermissionError(13, "Permission denied")

    with pytest.raises(OperationError, match="cannot read the backups: Permission denied"):
        backup_age_check(timedelta(days=1), unreadable)(env)


def test_pods_that_cannot_pull_their_image_are_a_failed_finding_with_rollback(
    sb: KubeSandbox, kube: KubeClient
) -> None:
    env = make_env(kube, lambda: True)
    patch = {
        "spec": {
            "template": {
                "spec": {"containers": [{"name": "litellm", "image": "ghcr.io/berriai/litellm:no-such-tag"}]}
            }
        }
    }
    kube.patch_deployment("litellm", patch, STRATEGIC_MERGE)
    for _ in range(3):
        sb.step()

    finding = one(pods_check(env))

    assert finding.key == "pods/litellm" and finding.failed
    assert "unable to pull their image" in finding.title
    assert [a.label for a in finding.actions] == ["Rollback", "Logs"]
    assert_actions_parse(env, [finding])


def test_a_healthy_scale_up_under_way_offers_no_rollback(sb: KubeSandbox, kube: KubeClient) -> None:
    env = make_env(kube, lambda: True)
    kube.patch_scale("litellm", 3)

    finding = one(deployments_check(env))

    assert finding.title == "litellm: 1 of 3 replicas available (deployment/litellm)"
    assert not finding.failed and [a.label for a in finding.actions] == ["Logs"]
