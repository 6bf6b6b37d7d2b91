"""One LiteLLM deployment as a `models` row, and the sync's INSERT / UPDATE of it (0.4.0's
`model-sync.service.ts`; litemaas-facts.md §2.2, §8, §9).

- Derived columns: `name` = `model_name`; `provider` = `custom_llm_provider`, else the prefix of
  `litellm_params.model`, else "unknown"; `backend_model_name` = the rest after the first "/";
  costs from `model_info`, else `litellm_params` (JavaScript `||`); `features` = embeddings | convert |
  chat, then function_calling, parallel_function_calling, tool_choice, vision, then tokenize.
- The "unchanged" test compares availability, context_length, prices, the four capabilities,
  `supports_streaming = true`, `features`, `version = '1.0'`, api_base, backend_model_name, tpm, rpm,
  max_tokens and litellm_model_id — never name, provider, category or description.
- An UPDATE rewrites every derived column plus `category = 'Language Model'`,
  `supports_streaming = true`, `version`, `availability = 'available'`; only `description` survives.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

CAPABILITIES = (
    "supports_function_calling",
    "supports_parallel_function_calling",
    "supports_tool_choice",
    "supports_vision",
)
PRICE_EPSILON = 1e-10
_LIMITS = ("api_base", "backend_model_name", "tpm", "rpm", "max_tokens", "litellm_model_id")


def _int(value: Any) -> int | None:
    try:
        return int(value) if value is not None and not isinstance(value, bool) else None
    except (TypeError, ValueError):
        return None


def _decimal(value: Any) -> Decimal | None:
    try:
        return Decimal(str(value)) if value is not None and not isinstance(value, bool) else None
    except (InvalidOperation, ValueError):
        return None


def _kind(info: dict[str, Any]) -> str:
    if info.get("supports_embeddings") or info.get("supports_embedding"):
        return "embeddings"
    return "convert" if info.get("supports_convert") else "chat"


def features(info: dict[str, Any], *, capabilities_first: bool = False) -> list[str]:
    """The `features` array: insert order, or (`capabilities_first`) the order 0.4.0 compares with."""
    caps = [c.removeprefix("supports_") for c in CAPABILITIES if info.get(c)]
    head = [*caps, _kind(info)] if capabilities_first else [_kind(info), *caps]
    return head + (["tokenize"] if info.get("supports_tokenize") else [])


def catalogue_row(model: dict[str, Any]) -> dict[str, Any]:
    """The `models` columns the sync derives from one `/model/info` entry."""
    params = dict(model.get("litellm_params") or {})
    info = dict(model.get("model_info") or {})
    target = str(params.get("model") or "")
    prefix, slash, rest = target.partition("/")
    provider = params.get("custom_llm_provider") or (prefix if slash else "unknown")
    params.pop("api_key", None)  # /model/info never carries it; never store one that slipped through
    return {
        "id": model["model_name"],
        "name": model["model_name"],
        "provider": str(provider),
        "context_length": _int(info.get("max_tokens")),
        "input_cost_per_token": _decimal(
            info.get("input_cost_per_token") or params.get("input_cost_per_token")
        ),
        "output_cost_per_token": _decimal(
            info.get("output_cost_per_token") or params.get("output_cost_per_token")
        ),
        **{c: bool(info.get(c)) for c in CAPABILITIES},
        "features": features(info),
        "compared_features": features(info, capabilities_first=True),
        "metadata": {"litellm_model_info": info, "litellm_params": params},
        "api_base": params.get("api_base") or None,
        "tpm": _int(params.get("tpm")) or None,
        "rpm": _int(params.get("rpm")) or None,
        "max_tokens": _int(info.get("max_tokens")) or None,
        "litellm_model_id": None if info.get("id") is None else str(info.get("id")),
        "backend_model_name": (rest if slash else target) or None,
    }


def _same_price(old: Any, new: Any) -> bool:
    """JavaScript's `Math.abs(parseFloat(old || '0') - parseFloat(new || '0')) < 1e-10`."""
    return abs(float(old or 0) - float(new or 0)) < PRICE_EPSILON


def unchanged(existing: dict[str, Any], row: dict[str, Any], *, features_order_bug: bool) -> bool:
    """0.4.0's `modelsEqual`: True when the sync may skip the UPDATE."""
    # 0.4.0 bug (kept on purpose): modelsEqual builds `features` capabilities-first while the insert
    # and the UPDATE store the kind first, so any model with a capability never compares equal: it
    # is UPDATEd (and counted in updatedModels) on every sync. `features_order_bug=False` is a fixed
    # backend, comparing in the stored order.
    expected = row["compared_features"] if features_order_bug else row["features"]
    return (
        existing["availability"] == "available"
        and existing["context_length"] == row["context_length"]
        and _same_price(existing["input_cost_per_token"], row["input_cost_per_token"])
        and _same_price(existing["output_cost_per_token"], row["output_cost_per_token"])
        and all(existing[c] == row[c] for c in CAPABILITIES)
        and existing["supports_streaming"] is True
        and list(existing["features"] or []) == expected
        and existing["version"] == "1.0"
        and all(existing[c] == row[c] for c in _LIMITS)
    )


_INSERT = """
INSERT INTO models (id, name, provider, description, category, context_length, input_cost_per_token,
    output_cost_per_token, supports_vision, supports_function_calling, supports_tool_choice,
    supports_parallel_function_calling, supports_streaming, features, availability, version, metadata,
    api_base, tpm, rpm, max_tokens, litellm_model_id, backend_model_name)
VALUES (%(id)s, %(name)s, %(provider)s, NULL, 'Language Model', %(context_length)s, %(input_cost_per_token)s,
    %(output_cost_per_token)s, %(supports_vision)s, %(supports_function_calling)s, %(supports_tool_choice)s,
    %(supports_parallel_function_calling)s, true, %(features)s, 'available', '1.0', %(metadata)s,
    %(api_base)s, %(tpm)s, %(rpm)s, %(max_tokens)s, %(litellm_model_id)s, %(backend_model_name)s)
"""

_UPDATE = """
UPDATE models SET name = %(name)s, provider = %(provider)s, category = 'Language Model',
    context_length = %(context_length)s, input_cost_per_token = %(input_cost_per_token)s,
    output_cost_per_token = %(output_cost_per_token)s, supports_vision = %(supports_vision)s,
    supports_function_calling = %(supports_function_calling)s,
    supports_tool_choice = %(supports_tool_choice)s,
    supports_parallel_function_calling = %(supports_parallel_function_calling)s, supports_streaming = true,
    features = %(features)s, availability = 'available', version = '1.0', metadata = %(metadata)s,
    api_base = %(api_base)s, tpm = %(tpm)s, rpm = %(rpm)s, max_tokens = %(max_tokens)s,
    litellm_model_id = %(litellm_model_id)s, backend_model_name = %(backend_model_name)s,
    updated_at = CURRENT_TIMESTAMP
WHERE id = %(id)s
"""

_COMPARED = (
    "availability",
    "context_length",
    "input_cost_per_token",
    "output_cost_per_token",
    *CAPABILITIES,
    "supports_streaming",
    "features",
    "version",
    *_LIMITS,
)
_SELECT = f"SELECT {', '.join(_COMPARED)} FROM models WHERE id = %s"


def insert(conn: psycopg.Connection[Any], row: dict[str, Any]) -> None:
    """A new catalogue row (fails on a duplicate id, as the real INSERT does)."""
    conn.execute(_INSERT, {**row, "metadata": Jsonb(row["metadata"])})


def update(
    conn: psycopg.Connection[Any], row: dict[str, Any], *, force_update: bool, features_order_bug: bool
) -> bool:
    """0.4.0's `updateModel`: True when it UPDATEd the row (skipped when unchanged, unless forced)."""
    if not force_update:
        cur = conn.execute(_SELECT, (row["id"],))
        found = cur.fetchone()
        if found is not None:
            existing = dict(zip([d.name for d in cur.description or ()], found, strict=True))
            if unchanged(existing, row, features_order_bug=features_order_bug):
                return False
    conn.execute(_UPDATE, {**row, "metadata": Jsonb(row["metadata"])})
    return True
