"""The bot as Slack sees it: signed HTTP requests in, recorded Web API calls out.

Every test gets its own sandbox Kubernetes API and Slack Web API (real HTTP servers on loopback),
its own PostgreSQL database and Redis prefix, and a real bot (`build_bot`) served over HTTP.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.runtime import build_bot
from bot.settings import load_settings
from sandbox.backend import BackendSandbox
from sandbox.kube import KubeSandbox
from sandbox.litellm import LiteLLMSandbox
from sandbox.registry import RegistrySandbox
from sandbox.schemas import drop_database
from sandbox.slack import SlackSandbox
from sandbox.world import DEMO_ACCESS_FILE, sandbox_tag
from tests.conftest import PG_ADMIN_URL
from tests.e2e.harness import BOT_TOKEN, SIGNING_SECRET, BotHarness


@pytest.fixture
def kube(request: pytest.FixtureRequest) -> Iterator[KubeSandbox]:
    """Rollouts progress by themselves; under `@pytest.mark.stepped_rollouts` only when the test steps
    them (`kube.step()`), so a run can be held inside a step."""
    stepped = request.node.get_closest_marker("stepped_rollouts") is not None
    sb = KubeSandbox(namespace="litellm-rhpds", seed=True, auto_progress=None if stepped else 0.05).start()
    if stepped:
        sb.settle()
    yield sb
    sb.stop()


@pytest.fixture
def sandbox_state(tmp_path: Path) -> Iterator[Path]:
    """The state directory for a `sandbox` or `demo` process; the databases a sandbox keeps for its
    next start (named after this directory) are dropped afterwards."""
    state = tmp_path / "sandbox-state"
    yield state
    tag = sandbox_tag(state)
    for kind in ("chatops", "litemaas", "litellm"):
        drop_database(PG_ADMIN_URL, f"{kind}_sandbox_{tag}")


SECRET_SHAPES = re.compile(r"sk-[A-Za-z0-9_-]{6,}|ltm_admin_\w+|xox[abpr]-[A-Za-z0-9-]+|hunter2")


@pytest.fixture
def registry(kube: KubeSandbox) -> Iterator[RegistrySandbox]:
    """The sandbox registry over the images the kubelet pulls from (the bot's pre-flight asks it)."""
    sb = RegistrySandbox(kube.images).start()
    yield sb
    sb.stop()


@pytest.fixture
def slack() -> Iterator[SlackSandbox]:
    """The Slack fake; after every test, nothing secret-shaped may be in anything the bot sent it."""
    sb = SlackSandbox(bot_token=BOT_TOKEN).start()
    yield sb
    sb.stop()
    sent = json.dumps([call.args for call in sb.calls], default=str) + json.dumps(sb.files, default=str)
    leaked = sorted(set(SECRET_SHAPES.findall(sent)))
    assert not leaked, f"secret-shaped values reached Slack: {[value[:8] + '…' for value in leaked]}"


@pytest.fixture
def litellm() -> Iterator[LiteLLMSandbox]:
    sb = LiteLLMSandbox().start()
    yield sb
    sb.stop()


MASTER_KEY = "sk-e2e-master-0123456789abcdef"


@pytest.fixture
def data_litellm(litellm_db: str) -> Iterator[LiteLLMSandbox]:
    """A LiteLLM sandbox on its own database with the LiteLLM schema (keys, models), master key MASTER_KEY."""
    sb = LiteLLMSandbox(master_key=MASTER_KEY, database_url=litellm_db).start()
    yield sb
    sb.stop()


@pytest.fixture
def backend() -> Iterator[BackendSandbox]:
    sb = BackendSandbox().start()
    yield sb
    sb.stop()


@pytest.fixture
def access_file(tmp_path: Path) -> Path:
    path = tmp_path / "access.yaml"
    path.write_text(DEMO_ACCESS_FILE)
    return path


@pytest.fixture
def settings_for(
    tmp_path: Path,
    pg_url: str,
    redis_url: str,
    redis_prefix: str,
    kube: KubeSandbox,
    slack: SlackSandbox,
    litellm: LiteLLMSandbox,
    backend: BackendSandbox,
    access_file: Path,
    registry: RegistrySandbox,
) -> Callable[..., dict[str, Any]]:
    kubeconfig = kube.write_kubeconfig(tmp_path / "kubeconfig", namespace="litellm-rhpds")

    def settings(**overrides: Any) -> dict[str, Any]:
        values: dict[str, Any] = {
            "slack_bot_token": BOT_TOKEN,
            "slack_signing_secret": SIGNING_SECRET,
            "slack_api_url": slack.api_url,
            "kubeconfig": kubeconfig,
            "litemaas_namespace": "litellm-rhpds",
            "bot_database_url": pg_url,
            "redis_url": redis_url,
            "redis_prefix": redis_prefix,
            "litellm_redis_url": redis_url,
            "access_config": access_file,
            "rollout_timeout_seconds": 30,
            "litellm_url": litellm.url,
            "backend_url": backend.url,
            "litemaas_database_url": pg_url,
            "litellm_database_url": pg_url,
            "backup_dir": tmp_path / "backups",
            "registry_mirrors": registry.mirrors(),
        }
        values.update(overrides)
        return values

    return settings


@pytest.fixture
def start_bot(
    settings_for: Callable[..., dict[str, Any]], kube: KubeSandbox, slack: SlackSandbox, pg_url: str
) -> Iterator[Callable[..., BotHarness]]:
    started: list[BotHarness] = []

    def start(**overrides: Any) -> BotHarness:
        settings = load_settings(**settings_for(**overrides))
        bot = build_bot(settings, progress_interval=0.0)
        server = bot.http_server("127.0.0.1", 0).start()
        harness = BotHarness(bot, server, kube, slack, pg_url, httpx.Client(timeout=10))
        started.append(harness)
        return harness

    yield start
    for h in started:
        h.bot.wait_idle(10)
        h.http.close()
        h.server.stop()
        h.bot.close()


@pytest.fixture
def harness(start_bot: Callable[..., BotHarness]) -> BotHarness:
    return start_bot()
