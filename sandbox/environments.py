"""Several LiteMaaS deployments for the sandbox (`litemaas-bot sandbox --environments dev,prod`): one
twin per environment, in namespace `litellm-<name>` of its own simulated cluster, with its own
databases (cloned from the real schemas, seeded), LiteLLM and backend twins; and the environments file
that points the bot at all of them. The databases it creates are dropped when it stops.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from sandbox.backend import BackendSandbox
from sandbox.kube import KubeSandbox
from sandbox.litellm import LiteLLMSandbox
from sandbox.registry import ImageStore
from sandbox.schemas import TemplateDatabases, drop_database
from sandbox.seed_data import seed_demo

_NAME = re.compile(r"[a-z0-9]([-a-z0-9]{0,30}[a-z0-9])?")


def environment_names(text: str) -> tuple[str, ...]:
    """`dev,prod` as names; a bad or repeated name is a ValueError saying which."""
    names = tuple(part.strip() for part in text.split(",") if part.strip())
    for name in names:
        if not _NAME.fullmatch(name) or name == "all":
            raise ValueError(f"environment name {name!r}: lower-case letters, digits and '-'")
    if len(set(names)) != len(names) or not names:
        raise ValueError("name each environment once, e.g. dev,prod")
    return names


@dataclass
class EnvironmentTwin:
    """One environment's simulated deployment: cluster, databases, LiteLLM and backend."""

    name: str
    admin_url: str  # a maintenance database URL of the PostgreSQL server
    images: ImageStore | None = None
    auto_progress: float | None = 1.0
    master_key: str = field(default_factory=lambda: "sk-sandbox-" + secrets.token_hex(12))
    backend_admin_key: str = field(default_factory=lambda: "ltm_admin_" + secrets.token_hex(12))
    kube: KubeSandbox | None = None
    litellm: LiteLLMSandbox | None = None
    backend: BackendSandbox | None = None
    created: list[str] = field(default_factory=list)  # databases this twin created (dropped at stop)

    @property
    def namespace(self) -> str:
        return f"litellm-{self.name}"

    def _url(self, database: str) -> str:
        base, _, _ = self.admin_url.rpartition("/")
        return f"{base}/{database}"

    def start(self, databases_prefix: str) -> EnvironmentTwin:
        templates = TemplateDatabases(self.admin_url)
        urls: dict[str, str] = {}
        for layout in ("litemaas", "litellm"):  # the layouts TemplateDatabases knows
            database = f"{databases_prefix}_{layout}_{self.name.replace('-', '_')}"
            drop_database(self.admin_url, database)
            templates.clone(layout, database)
            self.created.append(database)
            urls[layout] = self._url(database)
        seed_demo(urls["litemaas"], urls["litellm"])
        planted = {
            "litemaas-db": {"DATABASE_URL": urls["litemaas"], "LITELLM_DATABASE_URL": urls["litellm"]},
            "litellm-secret": {"LITELLM_MASTER_KEY": self.master_key},
        }
        self.kube = KubeSandbox(
            namespace=self.namespace,
            seed=True,
            auto_progress=self.auto_progress,
            secrets=planted,
            images=self.images,
        ).start()
        self.litellm = LiteLLMSandbox(master_key=self.master_key, database_url=urls["litellm"]).start()
        self.backend = BackendSandbox(
            litellm_url=self.litellm.url,
            litellm_master_key=self.master_key,
            database_url=urls["litemaas"],
            litellm_database_url=urls["litellm"],
            admin_keys=(self.backend_admin_key,),
        ).start()
        return self

    def entry(self, state_dir: Path, redis_url: str, *, production: bool) -> list[str]:
        """This environment's lines of the environments file (its kubeconfig written beside it)."""
        assert self.kube and self.litellm and self.backend, "start() first"
        kubeconfig = self.kube.write_kubeconfig(state_dir / f"kubeconfig-{self.name}", self.namespace)
        return [
            f"  {self.name}:",
            f"    namespace: {self.namespace}",
            f"    kubeconfig: {kubeconfig}",
            f"    production: {'true' if production else 'false'}",
            f"    litellm_url: {self.litellm.url}",
            f"    backend_url: {self.backend.url}",
            f"    litellm_redis_url: {redis_url}",
            f"    litemaas_database_url: {self._url(self.created[0])}",
            f"    litellm_database_url: {self._url(self.created[1])}",
            f"    litellm_master_key: {self.master_key}",
            f"    backend_admin_key: {self.backend_admin_key}",
            f"    backup_dir: {state_dir / 'backups' / self.name}",
        ]

    def stop(self) -> None:
        for server in (self.kube, self.litellm, self.backend):
            if server is not None:
                server.stop()
        for database in self.created:
            drop_database(self.admin_url, database)
        self.created = []


def environments_file(twins: list[EnvironmentTwin], state_dir: Path, redis_url: str) -> str:
    """The environments file for the twins: `prod` (or the last one named) is production."""
    production = "prod" if any(t.name == "prod" for t in twins) else twins[-1].name
    lines = [
        "# Several LiteMaaS deployments (litemaas-bot sandbox --environments); secrets are sandbox ones",
        "environments:",
    ]
    for twin in twins:
        lines += twin.entry(state_dir, redis_url, production=twin.name == production)
    return "\n".join(lines) + "\n"


def access_policy(names: tuple[str, ...]) -> str:
    """The demo's per-environment policy: production needs approval to scale, the others do not."""
    production = "prod" if "prod" in names else names[-1]
    others = [n for n in names if n != production]
    lines = ["environment_policy:", f"  {production}:", "    scale: {role: operator, approval: true}"]
    for name in others:
        lines += [f"  {name}:", "    scale: {role: operator, approval: false}"]
    return "\n".join(lines) + "\n"
