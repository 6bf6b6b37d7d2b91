"""The LiteLLM side of models: its deployments as `GET /model/info` lists them (litellm-facts §4.2).

One model name may have several deployments (duplicates are a known pain, facts §6.10); each has its
own `model_info.id`. Models from LiteLLM's config file (`db_model: false`) cannot be deleted through
the API. `/model/info` never returns `api_key`; we keep only what we show, and nothing secret.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from commands.clients.litellm import LiteLLMClient, LiteLLMError, litellm_client
from commands.contract import OperationError
from commands.environment import Environment


@dataclass(frozen=True)
class Deployment:
    """One LiteLLM deployment of a model name."""

    model_name: str
    id: str  # model_info.id: a UUID for DB models, a sha256 for config-file models
    db_model: bool  # False: defined in LiteLLM's config file, not deletable through the API
    litellm_model: str  # litellm_params.model, e.g. "openai/granite-3-8b"
    api_base: str


def _as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def parse_deployment(entry: dict[str, Any]) -> Deployment | None:
    """A `/model/info` entry as a Deployment; None for an entry without a model name."""
    name = entry.get("model_name")
    if not isinstance(name, str) or not name:
        return None
    info = _as_dict(entry.get("model_info"))
    params = _as_dict(entry.get("litellm_params"))
    return Deployment(
        model_name=name,
        id=str(info.get("id") or ""),
        db_model=bool(info.get("db_model", False)),
        litellm_model=str(params.get("model") or ""),
        api_base=str(params.get("api_base") or ""),
    )


def describe_litellm_error(exc: LiteLLMError) -> str:
    """The client's own words (status, path, LiteLLM's reason; `sk-` keys already masked)."""
    return exc.message or f"LiteLLM failed (HTTP {exc.status})"


@contextmanager
def open_litellm(env: Environment) -> Iterator[LiteLLMClient]:
    """A LiteLLM client for `env` (URL and master key from settings or Secrets), closed afterwards."""
    client = litellm_client(env)
    try:
        yield client
    finally:
        client.close()


def read_deployments(env: Environment) -> list[Deployment]:
    """Every deployment LiteLLM serves, sorted by model name then id; OperationError when unreadable."""
    try:
        with open_litellm(env) as client:
            entries = client.model_info()
    except LiteLLMError as exc:
        raise OperationError(f"cannot list LiteLLM's models: {describe_litellm_error(exc)}") from None
    found = (parse_deployment(_as_dict(e)) for e in entries)
    return sorted((d for d in found if d is not None), key=lambda d: (d.model_name, d.id))
