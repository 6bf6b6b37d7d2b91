"""Credentials of the operated system: from settings, else from the namespace's Secrets (facts §4.2).

Like the seed's scripts, a key that is not configured is read through the Kubernetes API from
`litellm-secret` (LITELLM_MASTER_KEY) or `backend-secret` (ADMIN_API_KEY). Values are returned to the
caller only; no message, error or log line here ever contains one.
"""

from __future__ import annotations

from commands.clients.kube_errors import KubeError
from commands.contract import OperationError
from commands.environment import Environment


def _from_secret(env: Environment, secret: str, key: str, setting: str) -> str:
    try:
        data = env.kube.read_secret(secret)
    except KubeError as exc:
        raise OperationError(
            f"{setting} is not set and the Secret {secret} could not be read ({exc.reason}); "
            f"set {setting} or let the bot read {secret}"
        ) from None
    value = data.get(key, "").strip()
    if not value:
        raise OperationError(f"{setting} is not set and the Secret {secret} has no key {key}")
    return value


def litellm_master_key(env: Environment) -> str:
    """LiteLLM's master key: `LITELLM_MASTER_KEY`, else `litellm-secret` / LITELLM_MASTER_KEY."""
    if env.litellm_master_key:
        return env.litellm_master_key
    return _from_secret(env, "litellm-secret", "LITELLM_MASTER_KEY", "LITELLM_MASTER_KEY")


def backend_admin_key(env: Environment) -> str:
    """The backend's admin key: `BACKEND_ADMIN_KEY`, else `backend-secret` / ADMIN_API_KEY.

    The backend accepts only keys starting with `ltm_admin_` (facts §2.3, §4.2): a generated one
    without the prefix answers 401, which callers explain.
    """
    if env.backend_admin_key:
        return env.backend_admin_key
    return _from_secret(env, "backend-secret", "ADMIN_API_KEY", "BACKEND_ADMIN_KEY")
