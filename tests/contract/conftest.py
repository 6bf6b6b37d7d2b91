"""Targets of the contract suites: LiteLLM (here) and the LiteMaaS backend (`backend_target.py`).

LiteLLM: a real proxy, or by default the sandbox on real tables.

`LITELLM_CONTRACT_URL` + `LITELLM_CONTRACT_KEY` point the suite at any LiteLLM proxy with a database
(e.g. `LITELLM_CONTRACT_URL=http://127.0.0.1:4000 LITELLM_CONTRACT_KEY=sk-… pytest tests/contract`).
Without them each test gets a `LiteLLMSandbox` on a fresh database holding LiteLLM's migrated schema.
Every key and model a test creates carries a unique per-test prefix and is deleted afterwards, so a
shared proxy is left as it was found.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from commands.clients.litellm import LiteLLMClient, LiteLLMError
from tests.contract.backend_target import BackendTarget, real_target, sandbox_target


@dataclass
class ContractTarget:
    """Where the suite talks to, and what it created there (to clean up)."""

    url: str
    master_key: str
    is_sandbox: bool
    prefix: str
    aliases: list[str] = field(default_factory=list)
    model_ids: list[str] = field(default_factory=list)

    def alias(self, name: str) -> str:
        """A key alias unique to this test; remembered for cleanup."""
        alias = f"{self.prefix}-{name}"
        self.aliases.append(alias)
        return alias


@pytest.fixture
def contract_target(request: pytest.FixtureRequest) -> Iterator[ContractTarget]:
    url = os.environ.get("LITELLM_CONTRACT_URL", "").strip()
    prefix = f"contract-{uuid.uuid4().hex[:10]}"
    if url:
        key = os.environ.get("LITELLM_CONTRACT_KEY", "").strip()
        if not key:
            pytest.fail("LITELLM_CONTRACT_URL is set but LITELLM_CONTRACT_KEY is not")
        target = ContractTarget(url.rstrip("/"), key, is_sandbox=False, prefix=prefix)
        yield target
        _clean_up(target)
        return
    from sandbox.litellm import LiteLLMSandbox

    database_url: str = request.getfixturevalue("litellm_db")
    with LiteLLMSandbox(master_key="sk-contract-master-0001", database_url=database_url) as sandbox:
        yield ContractTarget(sandbox.url, sandbox.master_key, is_sandbox=True, prefix=prefix)


def _clean_up(target: ContractTarget) -> None:
    with LiteLLMClient(target.url, target.master_key) as client:
        for alias in target.aliases:
            with contextlib.suppress(LiteLLMError):
                client.delete_keys(key_aliases=[alias])
        for model_id in target.model_ids:
            with contextlib.suppress(LiteLLMError):
                client.delete_model(model_id)


@pytest.fixture
def client(contract_target: ContractTarget) -> Iterator[LiteLLMClient]:
    with LiteLLMClient(contract_target.url, contract_target.master_key, timeout=10.0) as http:
        yield http


# -- the LiteMaaS backend (tests/contract/backend_target.py) -------------------------------------------


@pytest.fixture
def backend_target(request: pytest.FixtureRequest) -> Iterator[BackendTarget]:
    """A real backend (`BACKEND_CONTRACT_*`), else the sandbox twin on fresh databases."""
    target = real_target()
    if target is not None:
        try:
            yield target
        finally:
            target.clean_up()
        return
    litemaas_url: str = request.getfixturevalue("litemaas_db")
    litellm_url: str = request.getfixturevalue("litellm_db")
    with sandbox_target(litemaas_url, litellm_url) as twin:
        yield twin
