"""One bot, two LiteMaaS deployments (dev and prod, each in its own sandbox cluster): a command on one
never reaches the other, a naked mutating command is refused, roles and policy hold per environment.

Isolation is proven from what the servers recorded: the Kubernetes API calls each cluster received
and the rows the bot wrote.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from bot.interactions import CommandRequest
from bot.parsing import parse_command
from sandbox.backend import BackendSandbox
from sandbox.kube import KubeSandbox
from sandbox.litellm import LiteLLMSandbox
from tests.e2e.harness import BotHarness, wait_until
from tests.e2e.test_keys_models_flow import submit_form

ACCESS = """\
channels: [C0OPS]
channel_environments: {C0OTHER: prod}  # a channel bound to production
roles:
  admin:    {users: [U0ALICE]}
  operator: {users: [U0BOB], environments: [dev]}  # bob operates dev, and nothing in prod
  viewer:   {users: [U0CAROL]}
approvers: {users: [U0ALICE, U0DAVE]}
policy:
  scale: {role: operator, approval: false}          # dev: an operator scales freely
environment_policy:
  prod:
    scale: {role: operator, approval: true}         # prod: a second person approves
"""

AUTOMATION = """\
alerts:
  channel: C0ALERTS
  watchers: {pods: {interval_seconds: 60, pending_seconds: 0, clear_seconds: 0}}
schedules:
  key-cleanup: {cron: "0 2 * * *", channel: C0OPS}
  backup: {cron: "0 3 * * *", channel: C0OPS}
"""


@pytest.fixture
def clusters() -> Iterator[dict[str, KubeSandbox]]:
    started = {
        name: KubeSandbox(namespace=f"litellm-{name}", seed=True, auto_progress=0.05).start()
        for name in ("dev", "prod")
    }
    yield started
    for sb in started.values():
        sb.stop()


@pytest.fixture
def prod_services() -> Iterator[tuple[LiteLLMSandbox, BackendSandbox]]:
    litellm, backend = LiteLLMSandbox().start(), BackendSandbox().start()
    yield litellm, backend
    litellm.stop()
    backend.stop()


@pytest.fixture
def two_envs(
    tmp_path: Path,
    start_bot: Callable[..., BotHarness],
    clusters: dict[str, KubeSandbox],
    litellm: LiteLLMSandbox,
    backend: BackendSandbox,
    prod_services: tuple[LiteLLMSandbox, BackendSandbox],
    redis_url: str,
) -> BotHarness:
    access = tmp_path / "access-envs.yaml"
    access.write_text(ACCESS)
    urls = {"dev": (litellm.url, backend.url), "prod": (prod_services[0].url, prod_services[1].url)}
    lines = ["environments:"]
    for name, sb in clusters.items():
        kubeconfig = sb.write_kubeconfig(tmp_path / f"kubeconfig-{name}", namespace=f"litellm-{name}")
        lines += [
            f"  {name}:",
            f"    namespace: litellm-{name}",
            f"    kubeconfig: {kubeconfig}",
            f"    litellm_url: {urls[name][0]}",
            f"    backend_url: {urls[name][1]}",
            f"    litellm_redis_url: {redis_url}",
            f"    production: {'true' if name == 'prod' else 'false'}",
        ]
        if name == "prod":  # prod's alerts go to its own channel; its backups are not cleaned by schedule
            lines += ["    alert_channel: C0OTHER", "    schedules: [backup]"]
    envs = tmp_path / "environments.yaml"
    envs.write_text("\n".join(lines) + "\n")
    automation = tmp_path / "automation.yaml"
    automation.write_text(AUTOMATION)
    return start_bot(access_config=access, environments_config=envs, automation_config=automation)


def replicas(sb: KubeSandbox, deployment: str = "litellm") -> int:
    return int(sb.get("deployments", deployment)["spec"]["replicas"])


def audit_rows(harness: BotHarness) -> list[tuple[str, str, str | None]]:
    with psycopg.connect(harness.pg_url) as conn:
        rows = conn.execute("SELECT command, outcome, environment FROM chatops.audit ORDER BY id").fetchall()
    return [(str(c), str(o), e) for c, o, e in rows]


def operation_rows(harness: BotHarness) -> list[tuple[str, str, str]]:
    with psycopg.connect(harness.pg_url) as conn:
        rows = conn.execute("SELECT command, state, environment FROM chatops.operations").fetchall()
    return [(str(c), str(s), str(e)) for c, s, e in rows]


def test_a_naked_mutating_command_is_refused_with_the_choices(
    two_envs: BotHarness, clusters: dict[str, KubeSandbox]
) -> None:
    _, key = two_envs.command("bob", "scale litellm 3")
    text = two_envs.wait_reply(key)
    assert "--env" in text and "dev, prod" in text
    assert ("scale", "refused", None) in audit_rows(two_envs)
    assert clusters["dev"].writes() == [] and clusters["prod"].writes() == []
    assert operation_rows(two_envs) == []


def test_a_command_on_dev_never_touches_prod(two_envs: BotHarness, clusters: dict[str, KubeSandbox]) -> None:
    prod_calls_before = len(clusters["prod"].requests)
    two_envs.command("bob", "scale litellm 3 --env dev")
    wait_until(lambda: ("scale", "succeeded", "dev") in operation_rows(two_envs), 20, "the dev scale")
    assert replicas(clusters["dev"]) == 3
    assert replicas(clusters["prod"]) != 3
    assert clusters["prod"].requests[prod_calls_before:] == [], "prod's API saw no call at all"
    assert all(
        r.path.startswith("/apis/apps/v1/namespaces/litellm-dev/") or "litellm-dev" in r.path
        for r in clusters["dev"].writes()
    )
    assert two_envs.kube.writes() == [], "the bot's home cluster is not operated"
    wait_until(lambda: ("scale", "succeeded", "dev") in audit_rows(two_envs), 10, "the audit row")
    assert {env for command, _, env in audit_rows(two_envs) if command == "scale"} == {"dev"}


def test_prod_needs_approval_and_its_card_is_unmistakable(
    two_envs: BotHarness, clusters: dict[str, KubeSandbox]
) -> None:
    two_envs.command("alice", "scale litellm 2 --env prod")
    card = two_envs.wait_card()
    assert card["text"].startswith("🚨 PRODUCTION (prod)")
    assert card["blocks"][0]["text"]["text"].startswith("🚨 PRODUCTION (prod)")
    assert card["attachments"][0]["color"] == "#E01E5A"
    assert "--env prod" in str(card["blocks"])
    assert clusters["prod"].writes() == [] and clusters["dev"].writes() == []
    assert ("scale", "requested", "prod") in operation_rows(two_envs)


def test_roles_are_per_environment(two_envs: BotHarness, clusters: dict[str, KubeSandbox]) -> None:
    _, key = two_envs.command("bob", "scale litellm 2 --env prod")
    assert "no role" in two_envs.wait_reply(key)
    assert ("scale", "blocked", "prod") in audit_rows(two_envs)
    assert clusters["prod"].writes() == []


def test_a_bound_channel_picks_its_environment_and_refuses_another(
    two_envs: BotHarness, clusters: dict[str, KubeSandbox]
) -> None:
    two_envs.command("alice", "scale litellm 2", channel="C0OTHER")
    wait_until(lambda: ("scale", "requested", "prod") in operation_rows(two_envs), 10, "a prod request")
    _, key = two_envs.command("alice", "scale litellm 2 --env dev", channel="C0OTHER")
    assert "bound to the `prod` environment" in two_envs.wait_reply(key)
    assert clusters["dev"].writes() == []


def test_an_unknown_environment_gets_did_you_mean(two_envs: BotHarness) -> None:
    _, key = two_envs.command("alice", "status --env prdo")
    text = two_envs.wait_reply(key)
    assert "unknown environment" in text and "did you mean `prod`" in text


def test_read_only_without_env_answers_for_every_environment(two_envs: BotHarness) -> None:
    _, key = two_envs.command("carol", "status")
    wait_until(lambda: "environments" in " ".join(two_envs.reply_texts(key)), 20, "the status")
    blocks = str(two_envs.slack.responses(key)[-1]["blocks"])
    assert "dev:" in blocks and "prod (production):" in blocks
    assert "status --env dev" in blocks and "status --env prod" in blocks  # details on request


def test_locks_are_per_environment(two_envs: BotHarness, clusters: dict[str, KubeSandbox]) -> None:
    held = two_envs.bot.service.locks.acquire("env/dev/deployment/litellm", owner="U0DAVE", reason="test")
    try:
        _, key = two_envs.command("bob", "scale litellm 3 --env dev")
        assert "locked" in two_envs.wait_reply(key)
        two_envs.command("alice", "scale litellm 3 --env prod")  # same Deployment name, other environment
        two_envs.wait_card()
        assert ("scale", "requested", "prod") in operation_rows(two_envs)
    finally:
        held.release()
    assert clusters["dev"].writes() == []


def test_follow_up_buttons_stay_in_their_environment(two_envs: BotHarness) -> None:
    two_envs.command("bob", "scale litellm 3 --env dev")
    wait_until(lambda: ("scale", "succeeded", "dev") in operation_rows(two_envs), 20, "the dev scale")
    values: list[Any] = [
        element.get("value")
        for message in two_envs.slack.messages("C0OPS")
        for block in message.get("blocks") or []
        for element in block.get("elements") or []
        if isinstance(element, dict) and element.get("action_id") == "followup.run"
    ]
    assert all(str(v).endswith("--env dev") for v in values)


def test_watchers_run_per_environment_and_alerts_route_by_it(
    two_envs: BotHarness, clusters: dict[str, KubeSandbox]
) -> None:
    prod = clusters["prod"]
    pod = prod.pods_of("litellm")[0]["metadata"]["name"]
    prod.set_pod_state(pod, "litellm", waiting_reason="CrashLoopBackOff", restart_count=7, ready=False)
    pods = next(w for w in two_envs.bot.watchers.watches if w.name == "pods")
    two_envs.bot.watchers.run_once(pods)  # one pass in each environment
    (alert,) = [m for m in two_envs.slack.messages("C0OTHER") if "CrashLoopBackOff" in str(m)]
    assert "[prod]" in str(alert["blocks"]) and "PRODUCTION" in str(alert["blocks"])
    assert pod in str(alert["blocks"])
    assert not [m for m in two_envs.slack.messages("C0ALERTS") if "CrashLoopBackOff" in str(m)]
    assert clusters["dev"].writes() == [] and prod.writes() == []
    _, key = two_envs.command("carol", "alerts")  # the bot's own state: one answer, grouped
    assert two_envs.wait_reply(key).startswith("*prod*\n`")


def test_schedules_run_per_environment(two_envs: BotHarness) -> None:
    names = two_envs.bot.scheduler.names
    assert [n for n in names if n.endswith("@prod")] == ["backup@prod"]  # prod runs only its backups
    assert {"backup@dev", "key-cleanup@dev"} <= set(names)
    _, key = two_envs.command("carol", "schedules")
    wait_until(lambda: "environments" in " ".join(two_envs.reply_texts(key)), 20, "the schedule list")
    blocks = str(two_envs.slack.responses(key)[-1]["blocks"])
    assert "schedules --env dev" in blocks and "schedules --env prod" in blocks
    _, key = two_envs.command("carol", "schedules --env prod")
    shown = str(wait_until(lambda: two_envs.slack.responses(key), 20, "prod's schedules")[-1])
    assert "backup" in shown and "key-cleanup" not in shown


def test_the_audit_names_the_environment_of_each_row(two_envs: BotHarness) -> None:
    two_envs.command("bob", "scale litellm 3 --env dev")
    wait_until(lambda: ("scale", "succeeded", "dev") in audit_rows(two_envs), 20, "the dev scale")
    _, key = two_envs.command("alice", "audit")
    assert "scale [dev] → succeeded" in two_envs.wait_reply(key)


def test_one_environment_without_a_file_is_as_before(harness: BotHarness) -> None:
    """No environments file: no `--env` in texts, locks named as always, the environment is `default`."""
    harness.command("bob", "scale litellm 2")
    card = harness.wait_card()
    assert "--env" not in str(card) and "PRODUCTION" not in str(card) and not card.get("attachments")
    held = harness.bot.service.locks.acquire("deployment/litellm", owner="U0DAVE", reason="test")
    try:
        _, key = harness.command("bob", "scale litellm 3")
        assert "locked" in harness.wait_reply(key)
    finally:
        held.release()
    with psycopg.connect(harness.pg_url) as conn:
        (environment,) = conn.execute("SELECT DISTINCT environment FROM chatops.operations").fetchone() or (
            "",
        )
    assert environment == "default"
    _, key = harness.command("alice", "audit")
    assert "[default]" not in harness.wait_reply(key)


def test_a_form_keeps_the_environment_it_was_opened_in(two_envs: BotHarness) -> None:
    _, key = two_envs.command("alice", "models add")  # naked: refused before any form opens
    assert "--env NAME" in two_envs.wait_reply(key)
    two_envs.command("alice", "models add --env prod")
    view = two_envs.slack.wait_for("views.open").args["view"]
    view = json.loads(view) if isinstance(view, str) else view
    values = {"model_name": "qwen-coder", "litellm_model": "openai/qwen", "api_base": "http://qwen:8000/v1"}
    values["api_key"] = "sk-form-1234567890"
    assert submit_form(two_envs, "U0ALICE", view, values) == {}
    wait_until(
        lambda: [row for row in audit_rows(two_envs) if row[0] == "models add" and row[2] is not None],
        10,
        "the submitted form's outcome",
    )
    assert {env for command, _, env in audit_rows(two_envs) if command == "models add"} <= {"prod", None}
    assert ("models add", "refused", None) in audit_rows(two_envs)


def test_a_run_holding_its_environments_lock_is_not_taken_for_a_crashed_one(two_envs: BotHarness) -> None:
    """The reaper of another replica finds the lock by the row's target: the environment's lock name."""
    service, dev = two_envs.bot.service, two_envs.bot.environments.get("dev")
    parsed = parse_command("scale litellm 3", service.runs.registry, components=list(dev.components))
    plan = parsed.operation().plan(dev, parsed.args)
    request = CommandRequest(user_id="U0BOB", channel_id="C0OPS", text="scale litellm 3 --env dev")
    record = service.runs.create_record(request, parsed, plan, approval_required=False, env=dev)
    assert record.target == "env/dev/deployment/litellm"
    service.store.transition(record.id, from_states=["approved"], to="running")
    held = service.locks.acquire(record.target, owner="U0BOB", reason="test", operation=str(record.id))
    try:
        assert service.recovery.recover_interrupted(approved_grace=timedelta(0)) == []
    finally:
        held.release()
    assert [r.id for r in service.recovery.recover_interrupted(approved_grace=timedelta(0))] == [record.id]
