"""The whole simulated outside world on one machine: Kubernetes API, Slack Web API, databases.

`SandboxWorld.start()` starts the servers, creates the bot's database on the local PostgreSQL,
writes a kubeconfig and an access file, and writes an env file with every setting `serve` needs
to run against it (`litemaas-bot serve --env-file FILE`).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from psycopg import sql

from sandbox.kube import KubeSandbox
from sandbox.slack import SlackSandbox

DEMO_ACCESS_FILE = """\
# Who may do what (product.md §3). The sandbox's users: alice (admin, approver), bob (operator),
# carol (viewer), dave (approver only), eve (no role).
channels: [C0OPS]                     # commands accepted here (read-only ones also in DMs)
roles:                                # viewer ⊂ operator ⊂ admin
  admin:    {users: [U0ALICE], groups: [S0SRE]}
  operator: {users: [U0BOB]}
  viewer:   {users: [U0CAROL]}
approvers: {users: [U0ALICE, U0DAVE], groups: []}
approval: {ttl_minutes: 30, allow_self_approval: false}
policy:                               # overrides of the default table in §2
  scale: {role: operator, approval: true}
"""

DEMO_USERS = {"alice": "U0ALICE", "bob": "U0BOB", "carol": "U0CAROL", "dave": "U0DAVE", "eve": "U0EVE"}


@dataclass
class SandboxWorld:
    """Starts and stops the sandbox servers; knows the settings that point at them."""

    state_dir: Path
    namespace: str = "litellm-rhpds"
    pg_admin_url: str = "postgresql://postgres@127.0.0.1:5432/postgres"
    database: str = "litemaas_chatops_sandbox"
    redis_url: str = "redis://127.0.0.1:6379/0"
    auto_progress: float | None = 1.0
    signing_secret: str = field(default_factory=lambda: secrets.token_hex(16))
    bot_token: str = field(default_factory=lambda: "xoxb-sandbox-" + secrets.token_hex(8))
    kube: KubeSandbox | None = None
    slack: SlackSandbox | None = None

    def start(self) -> SandboxWorld:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.kube = KubeSandbox(namespace=self.namespace, seed=True, auto_progress=self.auto_progress).start()
        self.slack = SlackSandbox(bot_token=self.bot_token).start()
        self._create_database()
        self.kube.write_kubeconfig(self.kubeconfig_path, namespace=self.namespace)
        if not self.access_path.exists():
            self.access_path.write_text(DEMO_ACCESS_FILE)
        return self

    @property
    def kubeconfig_path(self) -> Path:
        return self.state_dir / "kubeconfig"

    @property
    def access_path(self) -> Path:
        return self.state_dir / "access.yaml"

    @property
    def database_url(self) -> str:
        base, _, _ = self.pg_admin_url.rpartition("/")
        return f"{base}/{self.database}"

    def _create_database(self) -> None:
        with psycopg.connect(self.pg_admin_url, autocommit=True, connect_timeout=5) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (self.database,)).fetchone()
            if exists is None:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(self.database)))

    def settings(self) -> dict[str, str]:
        """Every setting the bot needs to run against this sandbox."""
        assert self.kube is not None and self.slack is not None, "start() first"
        return {
            "SLACK_BOT_TOKEN": self.bot_token,
            "SLACK_SIGNING_SECRET": self.signing_secret,
            "SLACK_API_URL": self.slack.api_url,
            "KUBECONFIG": str(self.kubeconfig_path),
            "LITEMAAS_NAMESPACE": self.namespace,
            "BOT_DATABASE_URL": self.database_url,
            "REDIS_URL": self.redis_url,
            "REDIS_PREFIX": "chatops-sandbox:",
            "LITELLM_REDIS_URL": self.redis_url,
            "ACCESS_CONFIG": str(self.access_path),
        }

    def write_env(self, path: Path) -> Path:
        lines = [f"{key}={value}" for key, value in self.settings().items()]
        path.write_text(
            "# Settings pointing at the sandbox (litemaas-bot sandbox --write-env)\n"
            + "\n".join(lines)
            + "\n"
        )
        return path

    def stop(self) -> None:
        if self.slack is not None:
            self.slack.stop()
        if self.kube is not None:
            self.kube.stop()
