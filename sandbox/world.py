"""The whole simulated outside world on one machine: Kubernetes, Slack, LiteLLM, backend, databases.

`SandboxWorld.start()` starts the servers, creates the bot's database and the operated LiteMaaS and
LiteLLM databases on the local PostgreSQL (their URLs are also planted in the `litemaas-db` Secret,
as in a real namespace), writes a kubeconfig and an access file, and writes an env file with every
setting `serve` needs to run against it (`litemaas-bot serve --env-file FILE`).
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import redis
from psycopg import sql

from sandbox.backend import BackendSandbox
from sandbox.control import ControlServer
from sandbox.environments import EnvironmentTwin, access_policy, environments_file
from sandbox.faults import Faults
from sandbox.kube import KubeSandbox
from sandbox.litellm import LiteLLMSandbox
from sandbox.redis_server import RedisServer, redis_server_binary
from sandbox.registry import RegistrySandbox
from sandbox.schemas import TemplateDatabases, drop_database
from sandbox.seed_data import seed_demo
from sandbox.slack import SlackSandbox

DEMO_ACCESS_FILE = """\
# Who may do what (product.md §3). The sandbox's users: alice (admin, approver), bob (operator),
# carol (viewer), dave and frank (approvers only), eve (no role).
channels: [C0OPS, C0ALERTS]           # commands accepted here (read-only ones also in DMs)
roles:                                # viewer ⊂ operator ⊂ admin
  admin:    {users: [U0ALICE], groups: [S0SRE]}
  operator: {users: [U0BOB]}
  viewer:   {users: [U0CAROL]}
approvers: {users: [U0ALICE, U0DAVE, U0FRANK], groups: []}  # a restore needs two
approval: {ttl_minutes: 30, allow_self_approval: false}
policy:                               # overrides of the default table in §2
  scale: {role: operator, approval: true}
"""

DEMO_AUTOMATION_FILE = """\
# Alerts and schedules (bot/automation.py). The demo's watchers look often and wait seconds, not the
# production minutes, before they alert (pending) or resolve (clear).
alerts:
  channel: C0ALERTS
  renotify_minutes: 60
  watchers:
    deployments: {interval_seconds: 5, pending_seconds: 20, failed_pending_seconds: 5, clear_seconds: 5}
    pods: {interval_seconds: 5, pending_seconds: 10, clear_seconds: 5}
    readiness: {interval_seconds: 10, pending_seconds: 20, clear_seconds: 5}
    images: {interval_seconds: 30}
    drift: {enabled: false}  # the demo plants drift on purpose: ask for it with /maas drift
    backups: {enabled: false}  # a fresh sandbox has no backup yet
schedules:
  key-cleanup: {cron: "0 2 * * *", channel: C0OPS}
  backup: {cron: "0 3 1 * *", channel: C0OPS}
  backup-verify: {cron: "0 4 * * 0", channel: C0OPS}
  drift: {cron: "0 6 * * *", channel: C0OPS}
"""


def sandbox_tag(state_dir: Path) -> str:
    """A sandbox's name, from its state directory: two sandboxes on one machine share no database
    and no Redis key, and a restarted sandbox finds its own again."""
    return hashlib.sha256(str(state_dir.resolve()).encode()).hexdigest()[:8]


DEMO_USERS = {
    "alice": "U0ALICE",
    "bob": "U0BOB",
    "carol": "U0CAROL",
    "dave": "U0DAVE",
    "eve": "U0EVE",
    "frank": "U0FRANK",
}


@dataclass
class SandboxWorld:
    """Starts and stops the sandbox servers; knows the settings that point at them."""

    state_dir: Path
    namespace: str = "litellm-rhpds"
    pg_admin_url: str = "postgresql://postgres@127.0.0.1:5432/postgres"
    database: str = ""  # the bot's database; default chatops_sandbox_<tag>
    redis_url: str = "redis://127.0.0.1:6379/0"  # the bot's Redis (keys under chatops-sandbox-<tag>:)
    auto_progress: float | None = 1.0
    signing_secret: str = field(default_factory=lambda: secrets.token_hex(16))
    bot_token: str = field(default_factory=lambda: "xoxb-sandbox-" + secrets.token_hex(8))
    master_key: str = field(default_factory=lambda: "sk-sandbox-" + secrets.token_hex(12))
    backend_admin_key: str = field(default_factory=lambda: "ltm_admin_" + secrets.token_hex(12))
    alertmanager_token: str = field(default_factory=lambda: secrets.token_hex(16))
    litemaas_database: str = ""  # default litemaas_sandbox_<tag>
    litellm_database: str = ""  # default litellm_sandbox_<tag>
    tag: str = ""  # default: from the state directory (`sandbox_tag`)
    kube: KubeSandbox | None = None
    slack: SlackSandbox | None = None
    litellm: LiteLLMSandbox | None = None
    backend: BackendSandbox | None = None
    registry: RegistrySandbox | None = None
    progress_deadline_steps: int = 60  # ten-second steps: Kubernetes' default 600 s progress deadline
    environments: tuple[str, ...] = ()  # several LiteMaaS deployments (sandbox/environments.py)
    twins: list[EnvironmentTwin] = field(default_factory=list)
    litellm_redis: RedisServer | None = None  # LiteLLM's Redis: a redis-server of its own
    faults: Faults | None = None
    control: ControlServer | None = None

    def __post_init__(self) -> None:
        self.tag = self.tag or sandbox_tag(self.state_dir)
        self.database = self.database or f"chatops_sandbox_{self.tag}"
        self.litemaas_database = self.litemaas_database or f"litemaas_sandbox_{self.tag}"
        self.litellm_database = self.litellm_database or f"litellm_sandbox_{self.tag}"

    @property
    def redis_prefix(self) -> str:
        return f"chatops-sandbox-{self.tag}:"

    @property
    def litellm_redis_url(self) -> str:
        """Never the bot's own Redis database: its own server, else another database number."""
        if self.litellm_redis is not None:
            return self.litellm_redis.url
        base, _, _ = self.redis_url.rpartition("/")
        return f"{base}/{1 + int(self.tag, 16) % 15}"

    def start(self) -> SandboxWorld:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self._create_database(self.database)
        self._forget_bot_state()
        litemaas_url, litellm_url = self._fresh_operated_databases()
        seed_demo(litemaas_url, litellm_url)
        planted = {
            "litemaas-db": {"DATABASE_URL": litemaas_url, "LITELLM_DATABASE_URL": litellm_url},
            "litellm-secret": {"LITELLM_MASTER_KEY": self.master_key},
        }
        self.registry = RegistrySandbox().start()
        self.kube = KubeSandbox(
            namespace=self.namespace,
            seed=True,
            auto_progress=self.auto_progress,
            secrets=planted,
            images=self.registry.store,  # the kubelet pulls from the registry the bot checks
            progress_deadline_steps=self.progress_deadline_steps,
        ).start()
        self.slack = SlackSandbox(bot_token=self.bot_token).start()
        self.litellm = LiteLLMSandbox(master_key=self.master_key, database_url=litellm_url).start()
        self.backend = BackendSandbox(
            litellm_url=self.litellm.url,
            litellm_master_key=self.master_key,
            database_url=litemaas_url,
            litellm_database_url=litellm_url,
            admin_keys=(self.backend_admin_key,),
        ).start()
        if redis_server_binary() is not None:
            self.litellm_redis = RedisServer().up()
        self.faults = Faults(
            kube=self.kube,
            litellm=self.litellm,
            backend=self.backend,
            litellm_redis=self.litellm_redis,
            backup_dir=self.state_dir / "backups",
            litellm_database_url=litellm_url,
        )
        self.control = ControlServer(self.faults).start()
        self.kube.write_kubeconfig(self.kubeconfig_path, namespace=self.namespace)
        self._start_environments()
        if self.environments:  # its own access file: the per-environment policy of the demo
            self.access_path.write_text(DEMO_ACCESS_FILE + access_policy(self.environments))
        elif not self.access_path.exists():
            self.access_path.write_text(DEMO_ACCESS_FILE)
        if not self.automation_path.exists():
            self.automation_path.write_text(DEMO_AUTOMATION_FILE)
        return self

    def _start_environments(self) -> None:
        """One twin per named environment; the environments file that points the bot at them."""
        for name in self.environments:
            twin = EnvironmentTwin(
                name,
                self.pg_admin_url,
                images=self.registry.store if self.registry else None,
                auto_progress=self.auto_progress,
            )
            self.twins.append(twin)  # before start: a failed start still drops what it created
            twin.start(self.database)
        if self.twins:
            text = environments_file(
                self.twins, self.state_dir, self.litellm_redis_url
            )  # not the bot's Redis
            self.environments_path.write_text(text)

    @property
    def environments_path(self) -> Path:
        return self.state_dir / "environments.yaml"

    @property
    def kubeconfig_path(self) -> Path:
        return self.state_dir / "kubeconfig"

    @property
    def access_path(self) -> Path:
        return self.state_dir / ("access-environments.yaml" if self.environments else "access.yaml")

    @property
    def automation_path(self) -> Path:
        return self.state_dir / "automation.yaml"

    @property
    def database_url(self) -> str:
        return self._url(self.database)

    def _url(self, database: str) -> str:
        base, _, _ = self.pg_admin_url.rpartition("/")
        return f"{base}/{database}"

    def _fresh_operated_databases(self) -> tuple[str, str]:
        """The LiteMaaS and LiteLLM databases, recreated from the real schemas (templates, built once)."""
        templates = TemplateDatabases(self.pg_admin_url)
        for layout, name in (("litemaas", self.litemaas_database), ("litellm", self.litellm_database)):
            for leftover in self._named_after(name):  # kept by a restore in an earlier demo
                drop_database(self.pg_admin_url, leftover)
            drop_database(self.pg_admin_url, name)
            templates.clone(layout, name)  # type: ignore[arg-type]
        return self._url(self.litemaas_database), self._url(self.litellm_database)

    def _named_after(self, name: str) -> list[str]:
        """What `backup restore` leaves next to `name`: `<name>_before_<id>`, `<name>_restore_<id>`."""
        escaped = name.replace("_", "\\_")
        with psycopg.connect(self.pg_admin_url, autocommit=True, connect_timeout=5) as conn:
            rows = conn.execute(
                "SELECT datname FROM pg_database WHERE datname LIKE %s OR datname LIKE %s",
                (f"{escaped}\\_before\\_%", f"{escaped}\\_restore\\_%"),
            ).fetchall()
        return [str(row[0]) for row in rows]

    def _forget_bot_state(self) -> None:
        """A fresh world has a fresh Slack: the bot's Redis state (alert messages, locks) of an earlier
        run points at messages that no longer exist, so it goes."""
        client = redis.Redis.from_url(self.redis_url, socket_connect_timeout=3)
        try:
            keys = list(client.scan_iter(match=f"{self.redis_prefix}*", count=1000))
            if keys:
                client.delete(*keys)
        finally:
            client.close()

    def _create_database(self, name: str) -> None:
        with psycopg.connect(self.pg_admin_url, autocommit=True, connect_timeout=5) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
            if exists is None:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))

    def settings(self) -> dict[str, str]:
        """Every setting the bot needs to run against this sandbox."""
        assert self.kube and self.slack and self.litellm and self.backend and self.registry, "start() first"
        return {
            "SLACK_BOT_TOKEN": self.bot_token,
            "SLACK_SIGNING_SECRET": self.signing_secret,
            "SLACK_API_URL": self.slack.api_url,
            "KUBECONFIG": str(self.kubeconfig_path),
            "LITEMAAS_NAMESPACE": self.namespace,
            "BOT_DATABASE_URL": self.database_url,
            "REDIS_URL": self.redis_url,
            "REDIS_PREFIX": self.redis_prefix,
            "LITELLM_REDIS_URL": self.litellm_redis_url,
            "ACCESS_CONFIG": str(self.access_path),
            "LITELLM_URL": self.litellm.url,
            "BACKEND_URL": self.backend.url,
            "LITEMAAS_DATABASE_URL": self._url(self.litemaas_database),
            "LITELLM_DATABASE_URL": self._url(self.litellm_database),
            "BACKUP_DIR": str(self.state_dir / "backups"),
            "LITELLM_MASTER_KEY": self.master_key,
            "BACKEND_ADMIN_KEY": self.backend_admin_key,
            "AUTOMATION_CONFIG": str(self.automation_path),
            "ALERTMANAGER_TOKEN": self.alertmanager_token,
            "LEADER_LEASE_SECONDS": "5",
            "REGISTRY_MIRRORS": json.dumps(self.registry.mirrors()),
            "SANDBOX_CONTROL_URL": self.control.url if self.control else "",
        } | ({"ENVIRONMENTS_CONFIG": str(self.environments_path)} if self.twins else {})

    def write_env(self, path: Path) -> Path:
        lines = [f"{key}={value}" for key, value in self.settings().items()]
        path.write_text(
            "# Settings pointing at the sandbox (litemaas-bot sandbox --write-env)\n"
            + "\n".join(lines)
            + "\n"
        )
        return path

    def stop(self) -> None:
        for server in (self.control, self.slack, self.kube, self.litellm, self.backend, self.registry):
            if server is not None:
                server.stop()
        for twin in self.twins:  # their servers, and the databases they created
            twin.stop()
        self.twins = []
        if self.litellm_redis is not None:
            self.litellm_redis.down()

    def drop_databases(self) -> None:
        """Drop this sandbox's databases (tests; a demo keeps them for its next start)."""
        for name in (self.database, self.litemaas_database, self.litellm_database):
            drop_database(self.pg_admin_url, name)
