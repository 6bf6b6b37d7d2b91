"""Secrets as the API server stores them: `stringData` folded into base64 `data`, `type` defaulted.

Also builds the seeded LiteMaaS Secrets (litemaas-facts.md §4.2) with fresh random values, so no test
can depend on a fixed password by accident.
"""

from __future__ import annotations

import base64
import binascii
import secrets
import string
from collections.abc import Mapping
from typing import Any

_ALNUM = string.ascii_letters + string.digits


def random_alnum(length: int) -> str:
    """`length` random letters and digits, like the role's `lookup('password', ...)` values."""
    return "".join(secrets.choice(_ALNUM) for _ in range(length))


def encode(data: Mapping[str, str]) -> dict[str, str]:
    """Plain values → the base64 strings a Secret's `data` holds."""
    return {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}


def decode(data: Mapping[str, str]) -> dict[str, str]:
    """A Secret's base64 `data` → plain text values (for the sandbox's own use)."""
    return {k: base64.b64decode(v).decode("utf-8", "replace") for k, v in data.items()}


def normalize(obj: dict[str, Any]) -> str | None:
    """Fold `stringData` into `data` and default `type` in place; an error detail when invalid, else None."""
    data = obj.get("data")
    if data is None:
        data = {}
    if not isinstance(data, dict):
        return "data: Invalid value: must be a map of key to base64 value"
    string_data = obj.pop("stringData", None) or {}
    if not isinstance(string_data, dict):
        return "stringData: Invalid value: must be a map of key to string value"
    for key, value in data.items():
        if not isinstance(value, str):
            return f"data[{key}]: Invalid value: must be a base64 string"
        try:
            base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            return f"data[{key}]: Invalid value: illegal base64 data"
    for key, value in string_data.items():
        if not isinstance(value, str):
            return f"stringData[{key}]: Invalid value: must be a string"
        data[key] = base64.b64encode(value.encode()).decode()
    if data:
        obj["data"] = data
    else:
        obj.pop("data", None)
    obj.setdefault("type", "Opaque")
    return None


def secret(name: str, data: Mapping[str, str], labels: Mapping[str, str] | None = None) -> dict[str, Any]:
    """An Opaque Secret manifest with plain `data` values encoded."""
    meta: dict[str, Any] = {"name": name}
    if labels:
        meta["labels"] = dict(labels)
    return {"apiVersion": "v1", "kind": "Secret", "metadata": meta, "type": "Opaque", "data": encode(data)}


def litemaas_secret_data() -> dict[str, dict[str, str]]:
    """Fresh plain data of `litemaas-db`, `litellm-secret` and `backend-secret` (facts §4.2)."""
    password = random_alnum(32)
    db_url = f"postgresql://litellm:{password}@litellm-postgres:5432/{{db}}?sslmode=disable"
    return {
        "litemaas-db": {
            "username": "litellm",
            "password": password,
            "database": "litemaas_db",
            "DATABASE_URL": db_url.format(db="litemaas_db"),
            "LITELLM_DATABASE_URL": db_url.format(db="litellm"),
        },
        "litellm-secret": {
            "LITELLM_MASTER_KEY": "sk-" + random_alnum(32),
            "UI_USERNAME": "admin",
            "UI_PASSWORD": random_alnum(16),
        },
        "backend-secret": {
            "JWT_SECRET": random_alnum(32),
            "ADMIN_API_KEY": random_alnum(32),
            "OAUTH_CLIENT_SECRET": random_alnum(32),
        },
    }


SECRET_LABELS: dict[str, dict[str, str]] = {"litemaas-db": {"app": "litellm-postgres"}}
