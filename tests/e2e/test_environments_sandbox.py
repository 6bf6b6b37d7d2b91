"""`litemaas-bot sandbox --environments dev,prod`: one LiteMaaS twin per environment (namespace
`litellm-<name>`, its own databases, LiteLLM and backend), settings for all of them, and the databases
it created dropped when it stops."""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path

import httpx
import psycopg
import pytest

from bot.runtime import build_bot
from bot.settings import load_settings
from sandbox.schemas import drop_database
from sandbox.world import SandboxWorld
from tests.e2e.processes import BOT, clean_env

ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def existing(names: list[str]) -> list[str]:
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        rows = conn.execute("SELECT datname FROM pg_database WHERE datname = ANY(%s)", (names,)).fetchall()
    return [str(r[0]) for r in rows]


def test_sandbox_serves_each_environment_from_its_own_twin(tmp_path: Path, redis_prefix: str) -> None:
    tag = uuid.uuid4().hex[:8]
    world = SandboxWorld(
        state_dir=tmp_path / "state",
        database=f"chatops_sbx_{tag}",
        litemaas_database=f"litemaas_sbx_{tag}",
        litellm_database=f"litellm_sbx_{tag}",
        environments=("dev", "prod"),
    )
    created: list[str] = []
    try:
        world.start()
        created = [database for twin in world.twins for database in twin.created]
        assert len(created) == 4 and sorted(existing(created)) == sorted(created)
        env_file = world.write_env(tmp_path / "sandbox.env")
        bot = build_bot(load_settings(env_file=env_file, redis_prefix=redis_prefix))
        try:
            assert bot.environments.names == ["dev", "prod"]
            assert [e.namespace for e in bot.environments] == ["litellm-dev", "litellm-prod"]
            assert [e.production for e in bot.environments] == [False, True]
            for twin in world.twins:
                env = bot.environments.get(twin.name)
                assert env.kube.get_deployment("litellm")["metadata"]["namespace"] == twin.namespace
                assert twin.litellm is not None and env.litellm_url == twin.litellm.url
                health = httpx.get(f"{env.litellm_url}/health/liveliness", timeout=5)
                assert health.status_code == 200
            dev, prod = (bot.environments.get(n) for n in ("dev", "prod"))
            assert dev.litemaas_database_url != prod.litemaas_database_url  # own databases
            assert "environment_policy" in world.access_path.read_text()
        finally:
            bot.close()
    finally:
        world.stop()
        for database in (world.database, world.litemaas_database, world.litellm_database):
            drop_database(ADMIN_URL, database)  # the single world's own: this test made them
    assert existing(created) == [], "the databases the sandbox created are dropped when it stops"


@pytest.mark.slow
def test_demo_with_environments_refuses_a_naked_command_and_applies_policy_per_environment(
    sandbox_state: Path,
) -> None:
    script = "\n".join(
        [
            "as bob: /maas scale litellm 3",
            "as bob: /maas scale litellm 3 --env dev",
            "wait 4",
            "as bob: /maas scale litellm 2 --env prod",
            "as carol: /maas status",
            "wait 4",
            "break litellm prod",
            "wait 40 for CrashLoopBackOff",  # the demo's pods watcher alerts once a crash loop lasts 10 s
            "quit",
        ]
    )
    done = subprocess.run(
        [*BOT, "demo", "--state-dir", str(sandbox_state), "--environments", "dev,prod"],
        input=script + "\n",
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    out = done.stdout
    assert "must name one: add `--env NAME` (dev, prod)" in out  # the naked command
    assert "litellm scaled from 1 to 3" in out  # dev: an operator scales at once
    assert "PRODUCTION (PROD) · APPROVAL NEEDED: SCALE LITELLM 2 --ENV PROD" in out  # prod: approval
    assert "status in 2 environments" in out and "prod details" in out
    assert "PRODUCTION [prod] litellm: 1 of 1 pod in CrashLoopBackOff" in out  # alerts name it
    assert "watch:pods@dev" not in out
    assert existing(["litemaas_chatops_sandbox_litemaas_dev", "litemaas_chatops_sandbox_litemaas_prod"]) == []
