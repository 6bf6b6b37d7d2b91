"""Target of the backend contract suite: a real LiteMaaS backend, or by default the sandbox twin.

A real backend is named by `BACKEND_CONTRACT_URL` + `BACKEND_CONTRACT_ADMIN_KEY` (an `ltm_admin_…` key
of its `ADMIN_API_KEYS`). Its sync can only be watched in its tables and driven through the LiteLLM it
reads, so the tests about the sync also need `BACKEND_CONTRACT_DATABASE_URL` (the backend's
`DATABASE_URL`), `BACKEND_CONTRACT_LITELLM_URL` + `BACKEND_CONTRACT_LITELLM_KEY` (its `LITELLM_API_URL`
and a master key), and the failing-sync test `BACKEND_CONTRACT_FAILING_URL` (a second backend whose
`LITELLM_DATABASE_URL` names a database that does not exist); each is skipped, saying which variable
is missing, when its variable is not set.

Every model, user and key a test creates carries the per-test prefix and is removed afterwards. The
sync itself works on the whole catalogue (0.4.0's cascade deactivates every active key with no model):
use a disposable backend.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import psycopg
import pytest

from commands.clients.litellm import LiteLLMClient, LiteLLMError
from tests.contract.waiting import eventually

SYNC = "/api/v1/models/sync"
ENV = "BACKEND_CONTRACT_"


@dataclass
class BackendTarget:
    """Where the suite talks to, and what it created there (to clean up)."""

    url: str
    admin_key: str
    is_sandbox: bool
    prefix: str
    database_url: str | None = None
    litellm_url: str | None = None
    litellm_key: str | None = None
    failing_url: str | None = None
    litellm_model_ids: list[str] = field(default_factory=list)

    # -- HTTP ------------------------------------------------------------------------------------------

    def post_sync(self, *, headers: dict[str, str] | None = None, **request: Any) -> httpx.Response:
        """`POST /api/v1/models/sync` as sent (`json=`, `content=`), with the admin key unless `headers`."""
        sent = {"Authorization": f"Bearer {self.admin_key}"} if headers is None else headers
        return httpx.post(f"{self.url}{SYNC}", headers=sent, timeout=60, **request)

    def sync(self, body: dict[str, Any] | None = None) -> dict[str, Any]:
        """A sync that must answer 200; its body."""
        reply = self.post_sync(json={} if body is None else body)
        assert reply.status_code == 200, reply.text
        answer: dict[str, Any] = reply.json()
        return answer

    # -- what the sync tests need ----------------------------------------------------------------------

    def needs(self, *names: str) -> None:
        """Skip (naming the variable) when the target lacks what the test needs."""
        for name in names:
            if getattr(self, name) is None:
                pytest.skip(f"set {ENV}{name.upper()} to run this against a real backend")

    def name(self, what: str) -> str:
        return f"{self.prefix}-{what}"

    def db(self) -> psycopg.Connection[tuple[Any, ...]]:
        self.needs("database_url")
        assert self.database_url is not None
        return psycopg.connect(self.database_url, autocommit=True)

    def litellm(self) -> LiteLLMClient:
        self.needs("litellm_url", "litellm_key")
        assert self.litellm_url is not None and self.litellm_key is not None
        return LiteLLMClient(self.litellm_url, self.litellm_key, timeout=30)

    def add_litellm_model(self, name: str, model_info: dict[str, Any] | None = None) -> str:
        """A deployment registered through LiteLLM's API, seen by `/model/info`; its id."""
        with self.litellm() as client:
            made = client.new_model(
                name,
                {"model": f"openai/{name}", "api_base": "http://upstream.invalid/v1", "api_key": "sk-up"},
                model_info or {},
            )
            model_id = str(made.get("model_id") or made["model_info"]["id"])
            self.litellm_model_ids.append(model_id)
            eventually(lambda: any(m.get("model_name") == name for m in client.model_info()) or None)
        return model_id

    def delete_litellm_model(self, model_id: str) -> None:
        with self.litellm() as client:
            client.delete_model(model_id)
            eventually(
                lambda: (
                    all((m.get("model_info") or {}).get("id") != model_id for m in client.model_info())
                    or None
                )
            )

    def clean_up(self) -> None:
        if self.litellm_url and self.litellm_key:
            with self.litellm() as client:
                for model_id in self.litellm_model_ids:
                    with contextlib.suppress(LiteLLMError):
                        client.delete_model(model_id)
        if self.database_url:
            pattern = f"{self.prefix}-%"
            with self.db() as conn:
                users = "SELECT id FROM users WHERE username LIKE %(p)s"
                conn.execute(f"DELETE FROM api_keys WHERE user_id IN ({users})", {"p": pattern})
                conn.execute(f"DELETE FROM subscriptions WHERE user_id IN ({users})", {"p": pattern})
                conn.execute("DELETE FROM subscriptions WHERE model_id LIKE %(p)s", {"p": pattern})
                conn.execute("DELETE FROM audit_logs WHERE resource_id LIKE %(p)s", {"p": pattern})
                conn.execute("DELETE FROM models WHERE id LIKE %(p)s", {"p": pattern})
                conn.execute("DELETE FROM users WHERE username LIKE %(p)s", {"p": pattern})


def real_target() -> BackendTarget | None:
    """The real backend named by the environment, or None (then the sandbox twin is used)."""
    url = os.environ.get(f"{ENV}URL", "").strip()
    if not url:
        return None
    key = os.environ.get(f"{ENV}ADMIN_KEY", "").strip()
    if not key:
        pytest.fail(f"{ENV}URL is set but {ENV}ADMIN_KEY is not")

    def opt(name: str) -> str | None:
        return os.environ.get(f"{ENV}{name}", "").strip() or None

    return BackendTarget(
        url.rstrip("/"),
        key,
        is_sandbox=False,
        prefix=f"contract-{uuid.uuid4().hex[:10]}",
        database_url=opt("DATABASE_URL"),
        litellm_url=opt("LITELLM_URL"),
        litellm_key=opt("LITELLM_KEY"),
        failing_url=(opt("FAILING_URL") or "").rstrip("/") or None,
    )


@contextlib.contextmanager
def sandbox_target(litemaas_url: str, litellm_url: str) -> Iterator[BackendTarget]:
    """The twin on two fresh databases (the upstream layout), its sandbox LiteLLM, and a failing twin
    whose `LITELLM_DATABASE_URL` is the LiteMaaS database (no LiteLLM tables there: facts §4.8)."""
    from sandbox.backend import BackendSandbox
    from sandbox.litellm import LiteLLMSandbox

    master, admin = "sk-contract-master-0002", "ltm_admin_contract"
    with LiteLLMSandbox(master_key=master, database_url=litellm_url) as litellm:
        common = {"litellm_url": litellm.url, "litellm_master_key": master, "admin_keys": (admin,)}
        with (
            BackendSandbox(database_url=litemaas_url, litellm_database_url=litellm_url, **common) as twin,
            BackendSandbox(database_url=litemaas_url, litellm_database_url=litemaas_url, **common) as broken,
        ):
            yield BackendTarget(
                twin.url,
                admin,
                is_sandbox=True,
                prefix=f"contract-{uuid.uuid4().hex[:10]}",
                database_url=litemaas_url,
                litellm_url=litellm.url,
                litellm_key=master,
                failing_url=broken.url,
            )
