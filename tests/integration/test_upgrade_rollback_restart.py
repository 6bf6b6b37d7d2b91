"""`upgrade`, `rollback` and `restart` against the Kubernetes sandbox over HTTP (the official client).

Rollouts advance by `sb.step()` from a helper thread while `execute` watches. What is asserted is what
an operator would notice: the Deployment as the API serves it afterwards, the PATCH requests the API
received (and that there was none after a refusal), and the result text.
"""

from __future__ import annotations

import gzip
import json
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bot.parsing import ParseError, parse_command
from commands.clients.kube import KubeClient
from commands.clients.rollout import rollout_status
from commands.cluster.restart import RestartArgs, RestartOperation
from commands.cluster.rollback import RollbackArgs, RollbackOperation
from commands.cluster.status import StatusArgs, StatusOperation
from commands.cluster.upgrade import UpgradeArgs, UpgradeOperation
from commands.contract import Args, Event, Operation, OperationError, Progress, Result
from commands.contract import rollback as offered_rollback
from commands.environment import DEFAULT_COMPONENTS, Environment
from commands.registry import default_registry
from sandbox.kube import litellm_startup_lines
from tests.integration.conftest import NAMESPACE, only_result

STEP_INTERVAL = 0.02
REPO = "quay.io/rh-aiservices-bu"


@pytest.fixture
def env(kube: KubeClient, tmp_path: Path) -> Environment:
    return Environment(
        name="test",
        namespace=NAMESPACE,
        kube=kube,
        litellm_redis_ping=lambda: True,
        rollout_timeout=20.0,
        backup_dir=tmp_path / "backups",
    )


class Stepper:
    """Runs `action` (default: one sandbox step) every few ms from a thread, for at most `deadline` s."""

    def __init__(self, sb: Any, action: Callable[[], Any] | None = None, deadline: float = 20.0) -> None:
        self._action = action or sb.step
        self._stop = threading.Event()
        self._deadline = time.monotonic() + deadline
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set() and time.monotonic() < self._deadline:
            self._action()
            self._stop.wait(STEP_INTERVAL)

    def __enter__(self) -> Stepper:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def run(op: Operation[Any], env: Environment, args: Args) -> list[Event]:
    """Plan then execute, as the bot does after approval."""
    return list(op.execute(env, args, op.plan(env, args)))


def images(sb: Any, deployment: str) -> dict[str, str]:
    spec = sb.get("deployments", deployment)["spec"]["template"]["spec"]
    return {c["name"]: c["image"] for c in spec.get("initContainers", []) + spec["containers"]}


def parse(text: str) -> Any:
    return parse_command(text, default_registry(), components=list(DEFAULT_COMPONENTS))


def template(sb: Any, deployment: str) -> dict[str, Any]:
    return dict(sb.get("deployments", deployment)["spec"]["template"])


# -- upgrade ---------------------------------------------------------------------------------------


def test_upgrade_frontend_sets_frontend_and_copy_custom_logos(sb: Any, env: Environment) -> None:
    op, args = UpgradeOperation(), UpgradeArgs(component="frontend", tag="0.5.0")
    plan = op.plan(env, args)
    assert plan.target == "deployment/litellm-frontend"
    assert [(c.field, c.before, c.after) for c in plan.changes] == [
        ("image (frontend)", "0.4.0", "0.5.0"),
        ("image (copy-custom-logos)", "0.4.0", "0.5.0"),
    ]

    with Stepper(sb):
        events = list(op.execute(env, args, plan))

    result = only_result(events)
    assert result.ok, result
    assert result.summary == "frontend upgraded to 0.5.0; rollout complete"
    after = images(sb, "litellm-frontend")
    assert after["frontend"] == f"{REPO}/litemaas-frontend:0.5.0"
    assert after["copy-custom-logos"] == f"{REPO}/litemaas-frontend:0.5.0"
    assert not after["wait-for-backend"].endswith(":0.5.0")
    assert any("updated replicas are available" in e.text for e in events if isinstance(e, Progress))

    [patch] = sb.writes()
    assert patch.path.endswith("/deployments/litellm-frontend")
    assert patch.content_type.startswith("application/strategic-merge-patch+json")
    body = json.loads(patch.body)["spec"]["template"]["spec"]
    assert body["$setElementOrder/containers"] == [{"name": "frontend"}]
    assert body["$setElementOrder/initContainers"] == [
        {"name": "copy-custom-logos"},
        {"name": "wait-for-backend"},
    ]
    assert body["initContainers"] == [
        {"image": f"{REPO}/litemaas-frontend:0.5.0", "name": "copy-custom-logos"}
    ]

    [status] = list(StatusOperation().execute(env, StatusArgs(), None))
    assert isinstance(status, Result)
    assert not any("init container" in w for w in status.warnings), status.warnings


def test_an_upgrade_interrupted_mid_rollout_is_finished_by_the_same_command(
    sb: Any, env: Environment
) -> None:
    op, args = UpgradeOperation(), UpgradeArgs(component="frontend", tag="0.5.0")
    plan = op.plan(env, args)
    interrupted = op.execute(env, args, plan)
    while "setting image" not in next(interrupted).text:  # type: ignore[union-attr]
        pass
    next(interrupted)  # the image is set; the run stops while the rollout has not moved
    interrupted.close()  # type: ignore[attr-defined]
    assert len(sb.writes()) == 1

    again = op.plan(env, args)
    assert [(c.field, c.before, c.after) for c in again.changes] == [
        ("rollout", "unfinished", "followed to its end")
    ]
    with Stepper(sb):
        events = list(op.execute(env, args, again))

    result = only_result(events)
    assert result.ok, result
    assert result.summary == "frontend upgraded to 0.5.0; rollout complete"
    assert len(sb.writes()) == 1, "the image was set once"
    assert any("following its unfinished rollout" in e.text for e in events if isinstance(e, Progress))
    with pytest.raises(OperationError, match=r"frontend is already at 0\.5\.0"):
        op.plan(env, args)


def test_upgrade_backend_sets_backend_and_run_migrations(sb: Any, env: Environment) -> None:
    with Stepper(sb):
        result = only_result(run(UpgradeOperation(), env, UpgradeArgs(component="backend", tag="0.5.0")))

    assert result.ok, result
    after = images(sb, "litellm-backend")
    assert after["backend"] == after["run-migrations"] == f"{REPO}/litemaas-backend:0.5.0"
    assert after["wait-for-database"] == "postgres:16-alpine"
    assert rollout_status(sb.get("deployments", "litellm-backend")).done


def test_upgrade_all_goes_backend_then_frontend(sb: Any, env: Environment) -> None:
    op, args = UpgradeOperation(), UpgradeArgs(component="all", tag="0.5.0")
    plan = op.plan(env, args)
    assert plan.target == "deployments/litemaas"
    assert [c.target for c in plan.changes] == ["deployment/litellm-backend"] * 2 + [
        "deployment/litellm-frontend"
    ] * 2

    with Stepper(sb):
        result = only_result(list(op.execute(env, args, plan)))

    assert result.ok, result
    assert result.summary == "backend and frontend upgraded to 0.5.0; rollout complete"
    assert [r.path.rsplit("/", 1)[-1] for r in sb.writes()] == ["litellm-backend", "litellm-frontend"]
    assert images(sb, "litellm")["litellm"].endswith(":main-v1.81.0-stable-custom")


def test_upgrade_all_stops_at_the_first_failure(sb: Any, env: Environment) -> None:
    failed = threading.Event()

    def fail_backend_then_step() -> None:
        if not failed.is_set() and images(sb, "litellm-backend")["backend"].endswith(":0.5.0"):
            sb.fail_rollout("litellm-backend")
            failed.set()
        sb.step()

    with Stepper(sb, action=fail_backend_then_step):
        result = only_result(run(UpgradeOperation(), env, UpgradeArgs(component="all", tag="0.5.0")))

    assert not result.ok
    assert 'deployment "litellm-backend" exceeded its progress deadline' in result.summary
    assert result.summary.endswith("Not touched: frontend")
    assert result.follow_ups == (offered_rollback("backend"),)
    assert images(sb, "litellm-frontend")["frontend"].endswith(":0.4.0")
    assert [r.path.rsplit("/", 1)[-1] for r in sb.writes()] == ["litellm-backend"]


def test_an_init_container_of_another_repository_is_left_alone(
    sb: Any, env: Environment, kube: KubeClient
) -> None:
    kube.patch_deployment(
        "litellm-frontend",
        {
            "spec": {
                "template": {
                    "spec": {
                        "$setElementOrder/initContainers": [
                            {"name": "copy-custom-logos"},
                            {"name": "wait-for-backend"},
                        ],
                        "initContainers": [
                            {"name": "copy-custom-logos", "image": "quay.io/acme/branding:1.0"}
                        ],
                    }
                }
            }
        },
        "application/strategic-merge-patch+json",
    )
    sb.settle()

    plan = UpgradeOperation().plan(env, UpgradeArgs(component="frontend", tag="0.5.0"))

    assert [c.field for c in plan.changes] == ["image (frontend)"]
    assert any(
        "copy-custom-logos runs quay.io/acme/branding" in r and "left unchanged" in r for r in plan.risks
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('upgrade backend "bad tag!"', "'bad tag!' is not a valid image tag"),
        ("upgrade backend .hidden", "'.hidden' is not a valid image tag"),
        ("upgrade backend " + "x" * 129, "is not a valid image tag"),
        ("upgrade nosuch 1.0", "unknown component `nosuch`"),
        ("rollback all", "unknown component `all`"),
        ("rollback litellm --to-revision 0", "--to-revision must be"),
        ("restart nosuch", "unknown component `nosuch`"),
    ],
)
def test_bad_arguments_are_refused_before_anything_is_read(sb: Any, text: str, message: str) -> None:
    with pytest.raises(ParseError) as caught:
        parse(text)
    assert message in str(caught.value)
    assert sb.requests == []


def test_arguments_parse_as_typed() -> None:
    assert parse("upgrade Frontend 0.5.0").args == UpgradeArgs(component="frontend", tag="0.5.0")
    assert parse("upgrade all v0.5.0_rc-1").args == UpgradeArgs(component="all", tag="v0.5.0_rc-1")
    assert parse("rollback litellm --to-revision 3").args == RollbackArgs(component="litellm", to_revision=3)
    assert parse("restart all").args == RestartArgs(component="all")


def test_upgrade_to_the_current_tag_is_refused(sb: Any, env: Environment) -> None:
    with pytest.raises(OperationError, match=r"frontend is already at 0\.4\.0"):
        UpgradeOperation().plan(env, UpgradeArgs(component="frontend", tag="0.4.0"))
    with pytest.raises(OperationError, match=r"backend and frontend are already at 0\.4\.0"):
        UpgradeOperation().plan(env, UpgradeArgs(component="all", tag="0.4.0"))
    assert sb.writes() == []


def test_a_rollout_past_its_deadline_fails_offers_rollback_and_the_rollback_restores(
    sb: Any, env: Environment
) -> None:
    original = template(sb, "litellm-frontend")
    failed = threading.Event()

    def fail_then_step() -> None:
        if not failed.is_set() and images(sb, "litellm-frontend")["frontend"].endswith(":0.5.0"):
            sb.fail_rollout("litellm-frontend")
            failed.set()
        sb.step()

    with Stepper(sb, action=fail_then_step):
        result = only_result(run(UpgradeOperation(), env, UpgradeArgs(component="frontend", tag="0.5.0")))

    assert not result.ok
    assert result.summary.startswith("upgrading frontend to 0.5.0 failed: ")
    assert 'deployment "litellm-frontend" exceeded its progress deadline' in result.summary
    assert "the previous pods keep serving" in result.summary
    assert result.follow_ups == (offered_rollback("frontend"),)

    follow_up = parse(result.follow_ups[0].command)
    plan = RollbackOperation().plan(env, follow_up.args)
    assert plan.summary == "Roll frontend back to revision 1"
    assert ("image (frontend)", "0.5.0", "0.4.0") in [(c.field, c.before, c.after) for c in plan.changes]
    with Stepper(sb):
        rollback = only_result(list(RollbackOperation().execute(env, follow_up.args, plan)))

    assert rollback.ok, rollback
    assert rollback.summary == "frontend rolled back to revision 1; rollout complete"
    assert template(sb, "litellm-frontend") == original
    deployment = sb.get("deployments", "litellm-frontend")
    assert deployment["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "3"
    assert rollout_status(deployment).done
    patch = sb.writes()[-1]
    assert patch.content_type.startswith("application/json-patch+json")
    assert [op["path"] for op in json.loads(patch.body)] == ["/spec/template", "/metadata/annotations"]


# -- rollback --------------------------------------------------------------------------------------


def upgrade(sb: Any, env: Environment, component: str, tag: str) -> None:
    with Stepper(sb):
        assert only_result(run(UpgradeOperation(), env, UpgradeArgs(component=component, tag=tag))).ok


def test_rollback_to_a_named_revision(sb: Any, env: Environment) -> None:
    upgrade(sb, env, "backend", "0.5.0")
    upgrade(sb, env, "backend", "0.5.1")

    with Stepper(sb):
        result = only_result(run(RollbackOperation(), env, RollbackArgs(component="backend", to_revision=1)))

    assert result.ok, result
    after = images(sb, "litellm-backend")
    assert after["backend"].endswith(":0.4.0") and after["run-migrations"].endswith(":0.4.0")


def test_rollback_to_an_unknown_revision_lists_the_known_ones(sb: Any, env: Environment) -> None:
    command = parse("rollback litellm --to-revision 999")

    with pytest.raises(OperationError) as caught:
        RollbackOperation().plan(env, command.args)

    assert str(caught.value) == "litellm has no revision 999; known revisions: 1. Nothing changed"
    assert sb.writes() == []
    [result] = list(RollbackOperation().execute(env, command.args, None))
    assert isinstance(result, Result) and not result.ok and "no revision 999" in result.summary
    assert sb.writes() == []


def test_rollback_without_history_and_to_the_current_revision(sb: Any, env: Environment) -> None:
    with pytest.raises(OperationError, match="no previous revision to roll back to"):
        RollbackOperation().plan(env, RollbackArgs(component="frontend"))

    upgrade(sb, env, "frontend", "0.5.0")
    plan = RollbackOperation().plan(env, RollbackArgs(component="frontend", to_revision=2))
    assert plan.noop
    assert "skipped rollback (current template already matches revision 2)" in plan.summary
    [result] = list(RollbackOperation().execute(env, RollbackArgs(component="frontend", to_revision=2), plan))
    assert isinstance(result, Result) and result.ok and "skipped rollback" in result.summary
    assert len(sb.writes()) == 1  # the upgrade only


# -- restart ---------------------------------------------------------------------------------------


RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"


def restarted(sb: Any, deployment: str) -> bool:
    annotations = template(sb, deployment).get("metadata", {}).get("annotations") or {}
    return RESTARTED_AT in annotations


def test_restart_one_component(sb: Any, env: Environment) -> None:
    op, args = RestartOperation(), RestartArgs(component="litellm")
    assert not op.needs_approval(args)
    assert op.needs_approval(RestartArgs(component="all"))

    with Stepper(sb):
        result = only_result(run(op, env, args))

    assert result.ok, result
    assert restarted(sb, "litellm") and not restarted(sb, "litellm-backend")
    [patch] = sb.writes()
    body = json.loads(patch.body)
    stamp = body["spec"]["template"]["metadata"]["annotations"][RESTARTED_AT]
    assert time.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ")
    assert patch.content_type.startswith("application/strategic-merge-patch+json")


def test_restart_all_goes_in_order_each_after_the_previous_rolled_out(sb: Any, env: Environment) -> None:
    order = ["litellm-backend", "litellm", "litellm-frontend"]
    previous_done_when_started: dict[str, bool] = {}

    def watch_then_step() -> None:
        for index, name in enumerate(order[1:], start=1):
            if name not in previous_done_when_started and restarted(sb, name):
                previous_done_when_started[name] = rollout_status(
                    sb.get("deployments", order[index - 1])
                ).done
        sb.step()

    plan = RestartOperation().plan(env, RestartArgs(component="all"))
    assert plan.summary == "Restart litellm-backend → litellm → litellm-frontend"
    with Stepper(sb, action=watch_then_step):
        result = only_result(list(RestartOperation().execute(env, RestartArgs(component="all"), plan)))

    assert result.ok, result
    assert result.summary == "restarted backend, litellm, frontend; rollout complete"
    assert [r.path.rsplit("/", 1)[-1] for r in sb.writes()] == order
    assert previous_done_when_started == {"litellm": True, "litellm-frontend": True}
    assert not restarted(sb, "litellm-redis")


def test_restart_all_stops_at_a_failure_and_says_what_was_not_restarted(sb: Any, env: Environment) -> None:
    failed = threading.Event()

    def fail_litellm_then_step() -> None:
        if not failed.is_set() and restarted(sb, "litellm"):
            sb.fail_rollout("litellm")
            failed.set()
        sb.step()

    with Stepper(sb, action=fail_litellm_then_step):
        result = only_result(run(RestartOperation(), env, RestartArgs(component="all")))

    assert not result.ok
    assert result.summary.startswith("restarted backend; then restarting litellm failed: ")
    assert result.summary.endswith("Not restarted: frontend")
    assert result.follow_ups == (offered_rollback("litellm"),)
    assert not restarted(sb, "litellm-frontend")


# -- Kubernetes failures ---------------------------------------------------------------------------


FAILURES = [
    (
        403,
        'deployments.apps "x" is forbidden: User "system:serviceaccount:ops:bot" cannot patch',
        "Kubernetes refused: forbidden",
    ),
    (404, 'deployments.apps "litellm-frontend" not found', "does not exist (not found)"),
    (409, "Operation cannot be fulfilled: the object has been modified", "conflict"),
    (500, "etcdserver: leader changed", "Kubernetes API server failed (HTTP 500)"),
    (504, "Timeout: request did not complete within 60s", "timed out"),
]

OPERATIONS: list[tuple[Operation[Any], Args]] = [
    (UpgradeOperation(), UpgradeArgs(component="frontend", tag="0.5.0")),
    (RestartOperation(), RestartArgs(component="frontend")),
]


@pytest.mark.parametrize(("status", "message", "said"), FAILURES)
@pytest.mark.parametrize(("op", "args"), OPERATIONS, ids=["upgrade", "restart"])
def test_a_refused_patch_is_a_plain_failure_and_changes_nothing(
    sb: Any, env: Environment, op: Operation[Any], args: Args, status: int, message: str, said: str
) -> None:
    before = template(sb, "litellm-frontend")
    plan = op.plan(env, args)
    sb.inject_error("PATCH", r"/deployments/litellm-frontend$", status, message)

    result = only_result(list(op.execute(env, args, plan)))

    assert not result.ok
    assert said in result.summary and message in result.summary
    assert "nothing changed" in result.summary or "not restarted" in result.summary
    assert "Traceback" not in result.summary
    assert template(sb, "litellm-frontend") == before


@pytest.mark.parametrize(("status", "message", "said"), FAILURES)
def test_a_failing_read_refuses_the_plan_in_plain_language(
    sb: Any, env: Environment, status: int, message: str, said: str
) -> None:
    sb.inject_error("GET", r"/deployments/litellm-backend$", status, message, times=3)
    for op, args in [
        (UpgradeOperation(), UpgradeArgs(component="backend", tag="0.5.0")),
        (RollbackOperation(), RollbackArgs(component="backend")),
        (RestartOperation(), RestartArgs(component="backend")),
    ]:
        with pytest.raises(OperationError) as caught:
            op.plan(env, args)
        assert str(caught.value).startswith("cannot read deployment/litellm-backend: ")
        assert said in str(caught.value)
    assert sb.writes() == []


def test_a_failing_rollback_patch_and_replicaset_list(sb: Any, env: Environment) -> None:
    upgrade(sb, env, "frontend", "0.5.0")
    sb.inject_error("GET", r"/replicasets$", 403, "replicasets.apps is forbidden: cannot list")
    with pytest.raises(
        OperationError,
        match="cannot read the revisions of deployment/litellm-frontend: Kubernetes refused: forbidden",
    ):
        RollbackOperation().plan(env, RollbackArgs(component="frontend"))

    sb.inject_error("PATCH", r"/deployments/litellm-frontend$", 409, "the object has been modified")
    result = only_result(run(RollbackOperation(), env, RollbackArgs(component="frontend")))
    assert not result.ok
    assert result.summary.startswith(
        "rolling back frontend failed, nothing changed: Kubernetes reported a conflict"
    )
    assert images(sb, "litellm-frontend")["frontend"].endswith(":0.5.0")


def test_a_rollout_that_does_not_move_times_out(sb: Any, kube: KubeClient, tmp_path: Path) -> None:
    env = Environment(
        name="t", namespace=NAMESPACE, kube=kube, litellm_redis_ping=lambda: True, rollout_timeout=1.0
    )
    started = time.monotonic()

    result = only_result(run(RestartOperation(), env, RestartArgs(component="frontend")))

    assert not result.ok
    assert "timed out after 1s waiting for" in result.summary
    assert result.follow_ups == (offered_rollback("frontend"),)
    assert time.monotonic() - started < 5


# -- LiteLLM: backup first, migration lines after --------------------------------------------------


MIGRATION_LOG = [
    "INFO:     Started server process [1]",
    "prisma: Running database migrations",
    "Applying migration `20260601_add_budget_table`",
    "Migration 20260602_key_alias FAILED: relation exists (postgresql://llm:hunter2@db:5432/litellm)",
    "INFO:     Application startup complete.",
]


def script_new_litellm_pods(sb: Any, old_pods: set[str]) -> Callable[[], None]:
    """Step, then give every new litellm pod the migration log (old pods keep the default log)."""
    scripted: set[str] = set()

    def action() -> None:
        sb.step()
        for pod in sb.pods_of("litellm"):
            name = pod["metadata"]["name"]
            if name not in old_pods and name not in scripted:
                sb.set_logs(name, "litellm", MIGRATION_LOG)
                scripted.add(name)

    return action


def test_a_failed_litellm_migration_fails_the_upgrade_with_rollback_and_the_backup_id(
    sb: Any, env: Environment, pg_url: str, tmp_path: Path
) -> None:
    env.litemaas_database_url = pg_url
    env.litellm_database_url = pg_url
    old_pods = {p["metadata"]["name"] for p in sb.pods_of("litellm")}
    op, args = UpgradeOperation(), UpgradeArgs(component="litellm", tag="main-v1.82.0-stable")
    plan = op.plan(env, args)

    with Stepper(sb, action=script_new_litellm_pods(sb, old_pods)):
        events = list(op.execute(env, args, plan))

    result = only_result(events)
    assert not result.ok, result
    texts = [e.text for e in events if isinstance(e, Progress)]
    assert texts[0] == "litellm: backing up the database before the upgrade"
    assert texts.index("litellm: backing up the database before the upgrade") < next(
        i for i, t in enumerate(texts) if t.startswith("litellm: setting image")
    )
    dumps = list((tmp_path / "backups").rglob("*.sql.gz"))
    assert dumps and gzip.decompress(dumps[0].read_bytes())
    sections = {s.title: s for s in result.sections}
    backup_id = sections["Database backup"].fields["backup"]
    assert result.summary.startswith(
        "upgrading litellm to main-v1.82.0-stable failed: the new pod reports a failed migration "
        "(Migration 20260602_key_alias FAILED: relation exists"
    )
    assert result.summary.endswith(f"the pre-upgrade database backup is {backup_id}")
    assert result.follow_ups == (offered_rollback("litellm"),)
    migrations = sections["Migrations"]
    assert migrations.fields["pod"] not in old_pods
    assert migrations.lines == (
        "prisma: Running database migrations",
        "Applying migration `20260601_add_budget_table`",
        "❌ Migration 20260602_key_alias FAILED: relation exists (postgresql://llm:***@db:5432/litellm)",
    )
    assert "hunter2" not in json.dumps(result.to_json())
    assert images(sb, "litellm")["litellm"].endswith(":main-v1.82.0-stable")


@pytest.mark.parametrize(
    ("log", "ok"),
    [
        (litellm_startup_lines(), True),
        (litellm_startup_lines(failed_migration="20250326162113_baseline"), False),  # Prisma P3009
        (
            [
                "prisma db error: Error: P3018 A migration failed to apply. Migration name: 20250801_x "
                "Database error: column already exists",
                "Resolving migration 20250801_x that failed due to existing schema objects",
                "✅ Migration resolved.",
            ],
            True,
        ),
        (["❌ Migration 20250801_x failed due to insufficient permissions. Please check privileges."], False),
    ],
    ids=["clean", "p3009", "p3018-resolved", "permissions"],
)
def test_litellm_migration_verdicts_from_the_new_pods_log(
    sb: Any, env: Environment, pg_url: str, log: list[str], ok: bool
) -> None:
    env.litemaas_database_url = pg_url
    env.litellm_database_url = pg_url
    sb.set_startup_logs("litellm", "litellm", log)
    op, args = UpgradeOperation(), UpgradeArgs(component="litellm", tag="main-v1.82.0-stable")

    with Stepper(sb):
        result = only_result(list(op.execute(env, args, op.plan(env, args))))

    assert result.ok is ok, result
    assert (result.follow_ups == (offered_rollback("litellm"),)) is not ok
    lines = {s.title: s for s in result.sections}["Migrations"].lines
    flagged = [line for line in lines if line.startswith("❌")]
    assert bool(flagged) is (log != litellm_startup_lines())  # a recovered failure is still shown
    if flagged and ok:
        assert any("recovered" in w for w in result.warnings)


def test_a_failing_backup_stops_the_litellm_upgrade_before_any_patch(
    sb: Any, env: Environment, pg_url: str, tmp_path: Path
) -> None:
    missing = pg_url.rsplit("/", 1)[0] + "/no_such_database_for_upgrade"
    env.litemaas_database_url = missing
    env.litellm_database_url = missing

    result = only_result(
        run(UpgradeOperation(), env, UpgradeArgs(component="litellm", tag="main-v1.82.0-stable"))
    )

    assert not result.ok
    assert result.summary.startswith(
        "the database backup failed, so litellm was not upgraded (nothing changed)"
    )
    assert sb.writes() == []
    assert images(sb, "litellm")["litellm"].endswith(":main-v1.81.0-stable-custom")
    assert not list((tmp_path / "backups").rglob("*.sql.gz"))
