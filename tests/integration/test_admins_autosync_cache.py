"""`admin promote|demote|list` on the real `users` table, `autosync` on the sandbox's backend Deployment
(through the real `kubernetes` client), `cache flush` on a private `redis-server` (never the shared one).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import redis

from bot.parsing import ParseError, parse_command
from commands.admins.demote import AdminDemoteOperation
from commands.admins.listing import AdminListOperation, ListArgs
from commands.admins.promote import AdminPromoteOperation
from commands.admins.roles import EmailArgs
from commands.autosync.off import AutosyncOffArgs, AutosyncOffOperation
from commands.autosync.on import AutosyncOnArgs, AutosyncOnOperation
from commands.autosync.status import AutosyncStatusArgs, AutosyncStatusOperation
from commands.cache.flush import CacheFlushArgs, CacheFlushOperation
from commands.clients.kube import KubeClient
from commands.contract import Args, Event, Operation, OperationError, Progress, Result
from commands.environment import DEFAULT_COMPONENTS, Environment
from commands.registry import default_registry
from sandbox import seed_data
from sandbox.kube import KubeSandbox
from tests.conftest import DEAD_URL_PORT

NAMESPACE = "litellm-rhpds"
BACKEND = "litellm-backend"


@pytest.fixture
def kube_sandbox() -> Iterator[KubeSandbox]:
    sandbox = KubeSandbox(namespace=NAMESPACE, seed=True, auto_progress=0.02).start()
    try:
        sandbox.settle()
        yield sandbox
    finally:
        sandbox.stop()


@pytest.fixture
def kube(kube_sandbox: KubeSandbox, tmp_path: Path) -> Iterator[KubeClient]:
    client = KubeClient.from_kubeconfig(kube_sandbox.write_kubeconfig(tmp_path / "kubeconfig"), NAMESPACE)
    try:
        yield client
    finally:
        client.close()


def make_env(kube: KubeClient, **settings: Any) -> Environment:
    return Environment(
        name="test",
        namespace=NAMESPACE,
        kube=kube,
        litellm_redis_ping=lambda: True,
        rollout_timeout=20,
        **settings,
    )


def run(op: Operation[Any], env: Environment, args: Args) -> Result:
    """plan (when mutating) then execute, as the bot does after approval; the last event is the Result."""
    plan = op.plan(env, args) if op.mutating else None
    events: list[Event] = list(op.execute(env, args, plan))
    assert isinstance(events[-1], Result) and all(isinstance(e, Progress) for e in events[:-1]), events
    return events[-1]


def parse(text: str) -> Any:
    return parse_command(text, default_registry(), components=list(DEFAULT_COMPONENTS)).args


# -- admin ---------------------------------------------------------------------------------------------


@pytest.fixture
def users(litemaas_db: str) -> str:
    with psycopg.connect(litemaas_db) as conn:
        seed_data.add_user(conn, email="Alice@Example.com", roles=["user", "admin-readonly"])
        seed_data.add_user(conn, email="bob@example.com", roles=["admin", "user"])
        seed_data.add_user(conn, email="carol@example.com", roles=["user"])
    return litemaas_db


def roles_of(url: str, email: str) -> list[str]:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT roles FROM users WHERE email = %s", (email,)).fetchone()
    assert row is not None
    return list(row[0])


def test_promote_adds_admin_and_keeps_every_other_role(users: str, kube: KubeClient) -> None:
    env = make_env(kube, litemaas_database_url=users)
    args = parse("admin promote alice@example.com")  # any case: the stored email is Alice@Example.com

    plan = AdminPromoteOperation().plan(env, args)
    result = run(AdminPromoteOperation(), env, args)

    assert [(c.field, c.before, c.after) for c in plan.changes] == [
        ("roles", "{user,admin-readonly}", "{user,admin-readonly,admin}")
    ]
    assert any("next login" in r for r in plan.risks)
    assert result.ok
    assert result.summary.startswith("Alice@Example.com is now admin; this applies at the user's next login")
    assert roles_of(users, "Alice@Example.com") == ["user", "admin-readonly", "admin"]
    assert roles_of(users, "carol@example.com") == ["user"]

    again = AdminPromoteOperation().plan(env, args)
    assert again.noop and again.summary.startswith("Alice@Example.com is already admin")


def test_demote_removes_only_admin(users: str, kube: KubeClient) -> None:
    env = make_env(kube, litemaas_database_url=users)

    plan = AdminDemoteOperation().plan(env, EmailArgs(email="bob@example.com"))
    result = run(AdminDemoteOperation(), env, EmailArgs(email="bob@example.com"))

    assert plan.changes[0].after == "{user}"
    assert any("no user will hold admin afterwards" in r for r in plan.risks)
    assert result.ok and "is no longer admin" in result.summary
    assert any("litemaas-admins" in w for w in result.warnings)  # login merges roles back from groups
    assert roles_of(users, "bob@example.com") == ["user"]

    readonly = AdminDemoteOperation().plan(env, EmailArgs(email="alice@example.com"))
    assert readonly.noop and "is not admin" in readonly.summary
    assert roles_of(users, "Alice@Example.com") == ["user", "admin-readonly"]


def test_an_unknown_email_must_log_in_first_and_nothing_changes(users: str, kube: KubeClient) -> None:
    env = make_env(kube, litemaas_database_url=users)
    with psycopg.connect(users) as conn:
        before = conn.execute("SELECT email, roles FROM users ORDER BY email").fetchall()

    with pytest.raises(OperationError, match="must log in once first"):
        AdminPromoteOperation().plan(env, EmailArgs(email="dave@example.com"))
    failed = list(AdminPromoteOperation().execute(env, EmailArgs(email="dave@example.com"), None))

    assert (
        isinstance(failed[-1], Result)
        and not failed[-1].ok
        and "must log in once first" in failed[-1].summary
    )
    with psycopg.connect(users) as conn:
        assert conn.execute("SELECT email, roles FROM users ORDER BY email").fetchall() == before


def test_list_shows_admins_and_admin_readonly(users: str, kube: KubeClient) -> None:
    result = run(AdminListOperation(), make_env(kube, litemaas_database_url=users), ListArgs())

    assert result.ok and result.summary == "1 admin(s), 1 admin-readonly"
    lines = result.sections[0].lines
    assert [line.split(" ")[0] for line in lines] == ["bob@example.com", "Alice@Example.com"]
    assert "{admin,user}" in lines[0] and "{user,admin-readonly}" in lines[1]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("admin promote not-an-email", "is not an email address"),
        ("admin promote", "email"),
        ("admin demote a@b.c extra", "extra"),
        ("admin list --force", "force"),
    ],
)
def test_bad_admin_arguments_are_refused(text: str, problem: str) -> None:
    with pytest.raises(ParseError) as caught:
        parse(text)
    assert problem in caught.value.message


def test_a_slack_autolinked_email_is_read_as_the_address() -> None:
    assert parse("admin promote <mailto:alice@example.com|alice@example.com>").email == "alice@example.com"


def test_an_unreachable_database_is_a_plain_refusal_without_the_password(kube: KubeClient) -> None:
    env = make_env(
        kube, litemaas_database_url=f"postgresql://litellm:s3cret-pw@127.0.0.1:{DEAD_URL_PORT}/litemaas_db"
    )

    with pytest.raises(OperationError) as caught:
        AdminPromoteOperation().plan(env, EmailArgs(email="bob@example.com"))
    listed = run(AdminListOperation(), env, ListArgs())

    assert str(caught.value).startswith("cannot reach the LiteMaaS database (litemaas_db at 127.0.0.1:1)")
    assert not listed.ok and "s3cret-pw" not in str(caught.value) + listed.summary


def test_the_wrong_database_is_named_plainly(litellm_db: str, kube: KubeClient) -> None:
    result = run(AdminListOperation(), make_env(kube, litemaas_database_url=litellm_db), ListArgs())

    assert not result.ok and "the LiteMaaS tables are not in that database" in result.summary


# -- autosync ------------------------------------------------------------------------------------------


def backend_env(kube_sandbox: KubeSandbox) -> dict[str, dict[str, Any]]:
    deployment = kube_sandbox.get("deployments", BACKEND)
    [container] = [c for c in deployment["spec"]["template"]["spec"]["containers"] if c["name"] == "backend"]
    return {e["name"]: e for e in container.get("env", [])}


def test_status_of_the_seeded_backend_is_off(kube: KubeClient) -> None:
    result = run(AutosyncStatusOperation(), make_env(kube), AutosyncStatusArgs())

    assert result.ok and result.summary == "periodic model sync is off (LITELLM_AUTO_SYNC not set)"
    fields = result.sections[0].fields
    assert fields["LITELLM_SYNC_INTERVAL"] == "not set (default 60 minutes)"
    assert "once at every start" in result.sections[0].lines[0]


def test_on_with_an_interval_then_off(kube_sandbox: KubeSandbox, kube: KubeClient) -> None:
    env = make_env(kube)
    args = parse("autosync on --interval 30")
    generation = kube_sandbox.get("deployments", BACKEND)["metadata"]["generation"]

    plan = AutosyncOnOperation().plan(env, args)
    result = run(AutosyncOnOperation(), env, args)

    assert [(c.field, c.before, c.after) for c in plan.changes] == [
        ("env LITELLM_AUTO_SYNC (backend)", "not set", "true"),
        ("env LITELLM_SYNC_INTERVAL (backend)", "not set", "30"),
    ]
    assert any("its active subscriptions inactive" in r for r in plan.risks)
    assert result.ok, result
    assert result.summary.startswith("periodic model sync is on, every 30 minutes; the backend rolled out")
    env_vars = backend_env(kube_sandbox)
    assert env_vars["LITELLM_AUTO_SYNC"] == {"name": "LITELLM_AUTO_SYNC", "value": "true"}
    assert env_vars["LITELLM_SYNC_INTERVAL"]["value"] == "30"
    assert env_vars["PORT"]["value"] == "8080"  # the rest of the env is untouched
    assert kube_sandbox.get("deployments", BACKEND)["metadata"]["generation"] == generation + 1
    status = run(AutosyncStatusOperation(), env, AutosyncStatusArgs())
    assert status.summary == "periodic model sync is on, every 30 minutes"

    assert AutosyncOnOperation().plan(env, AutosyncOnArgs()).noop  # already on: nothing to change
    assert AutosyncOnOperation().plan(env, AutosyncOnArgs(interval=30)).noop

    off = run(AutosyncOffOperation(), env, AutosyncOffArgs())
    assert off.ok and off.summary.startswith("periodic model sync is off (LITELLM_AUTO_SYNC is 'false')")
    assert backend_env(kube_sandbox)["LITELLM_AUTO_SYNC"]["value"] == "false"
    assert backend_env(kube_sandbox)["LITELLM_SYNC_INTERVAL"]["value"] == "30"
    assert AutosyncOffOperation().plan(env, AutosyncOffArgs()).noop


def test_a_value_other_than_exactly_true_is_off_and_said_so(
    kube_sandbox: KubeSandbox, kube: KubeClient
) -> None:
    kube.patch_deployment(
        BACKEND,
        {
            "spec": {
                "template": {
                    "spec": {
                        "containers": [
                            {"name": "backend", "env": [{"name": "LITELLM_AUTO_SYNC", "value": "True"}]}
                        ]
                    }
                }
            }
        },
        "application/strategic-merge-patch+json",
    )
    env = make_env(kube)

    status = run(AutosyncStatusOperation(), env, AutosyncStatusArgs())
    plan = AutosyncOnOperation().plan(env, AutosyncOnArgs())

    assert status.summary == "periodic model sync is off (LITELLM_AUTO_SYNC is 'True')"
    assert any("only accepts the exact string 'true'" in w for w in status.warnings)
    assert [(c.before, c.after) for c in plan.changes] == [("True", "true")]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("autosync on --interval 0", "interval"),
        ("autosync on --interval 1441", "interval"),
        ("autosync on --interval often", "interval"),
        ("autosync off --interval 5", "interval"),
    ],
)
def test_bad_autosync_arguments_are_refused(text: str, problem: str) -> None:
    with pytest.raises(ParseError) as caught:
        parse(text)
    assert problem in caught.value.message


def test_a_refused_patch_changes_nothing_and_says_why(kube_sandbox: KubeSandbox, kube: KubeClient) -> None:
    kube_sandbox.inject_error("PATCH", f"deployments/{BACKEND}$", 403, "forbidden by RBAC")
    before = backend_env(kube_sandbox)

    result = run(AutosyncOnOperation(), make_env(kube), AutosyncOnArgs())

    assert not result.ok
    assert result.summary.startswith(f"deployment/{BACKEND} unchanged: Kubernetes refused: forbidden")
    assert backend_env(kube_sandbox) == before


# -- cache flush ---------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[str]:
    """A redis-server of this test only (FLUSHDB must never reach the shared test Redis)."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not on PATH")
    port = _free_port()
    process = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(tmp_path),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}"
    client = redis.Redis.from_url(url, socket_connect_timeout=0.2)
    deadline = time.monotonic() + 5
    try:
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise
                time.sleep(0.02)
        yield url
    finally:
        client.close()
        process.terminate()
        process.wait(timeout=5)


def test_flush_empties_the_configured_database_only(private_redis: str, kube: KubeClient) -> None:
    litellm_db = redis.Redis.from_url(f"{private_redis}/2")
    other_db = redis.Redis.from_url(f"{private_redis}/0")
    litellm_db.mset({f"litellm:key:{i}": "cached" for i in range(5)})
    other_db.set("someone-else", "kept")
    env = make_env(kube, litellm_redis_url=f"{private_redis}/2")

    plan = CacheFlushOperation().plan(env, CacheFlushArgs())
    result = run(CacheFlushOperation(), env, CacheFlushArgs())

    assert plan.summary.endswith(": 5 keys now") and not plan.noop
    assert result.ok and result.summary.startswith("LiteLLM's Redis flushed: 5 keys removed")
    assert litellm_db.dbsize() == 0
    assert other_db.get("someone-else") == b"kept"
    assert CacheFlushOperation().plan(env, CacheFlushArgs()).noop  # empty now
    litellm_db.close()
    other_db.close()


def test_flush_with_redis_down_or_unset_is_a_clear_failure(kube: KubeClient) -> None:
    down = make_env(kube, litellm_redis_url=f"redis://:pa55word@127.0.0.1:{DEAD_URL_PORT}/0")

    with pytest.raises(OperationError) as caught:
        CacheFlushOperation().plan(down, CacheFlushArgs())
    failed = run_without_plan(CacheFlushOperation(), down, CacheFlushArgs())

    assert (
        str(caught.value)
        == f"LiteLLM's Redis at 127.0.0.1:{DEAD_URL_PORT} db 0 does not answer (ConnectionError)"
    )
    assert not failed.ok and "pa55word" not in failed.summary + str(caught.value)
    with pytest.raises(OperationError, match="set LITELLM_REDIS_URL"):
        CacheFlushOperation().plan(make_env(kube), CacheFlushArgs())
    with pytest.raises(OperationError, match="not a Redis URL"):
        CacheFlushOperation().plan(make_env(kube, litellm_redis_url="http://nope"), CacheFlushArgs())


def run_without_plan(op: Operation[Any], env: Environment, args: Args) -> Result:
    events = list(op.execute(env, args, None))
    assert isinstance(events[-1], Result)
    return events[-1]
