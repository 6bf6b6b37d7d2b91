"""Drift of models: (c) LiteLLM vs catalogue, (d) wrong `litellm_model_id`, (e) stranded subscriptions.

(e) = active subscriptions on unavailable models.

Model tables are small (hundreds of rows), so each side is read once and compared in memory; this
works the same in one database or two. LiteLLM's deployments are `"LiteLLM_ProxyModelTable"` (models
added through the API/UI; config-file models are not in the database and cannot be seen here). A model
name may have several deployments: a catalogue row matches when its `litellm_model_id` is the
`model_info.id` (else `model_id`) of any deployment of that name. Catalogue rows marked `unavailable`
are expected to be missing from LiteLLM (that is how sync records a deletion) and are not drift.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import psycopg

from commands.drift.findings import Finding

_DEPLOYMENTS = """SELECT model_name, COALESCE(model_info->>'id', model_id) FROM "LiteLLM_ProxyModelTable\""""
_CATALOGUE = "SELECT id, availability, litellm_model_id FROM models"
_SUBSCRIPTIONS = """SELECT s.model_id, u.email FROM subscriptions s
    JOIN models m ON m.id = s.model_id LEFT JOIN users u ON u.id = s.user_id
    WHERE s.status = 'active' AND m.availability = 'unavailable' ORDER BY s.model_id, u.email"""


def model_drift(
    litemaas: psycopg.Connection[Any], litellm: psycopg.Connection[Any]
) -> tuple[Finding, Finding, Finding, Finding]:
    """(c1) LiteLLM models missing from the catalogue, (c2) the reverse, (d) id mismatches, (e)."""
    deployments: dict[str, set[str]] = defaultdict(set)
    for name, model_id in litellm.execute(_DEPLOYMENTS):
        deployments[name].add(str(model_id))
    catalogue = [(str(i), a, m) for i, a, m in litemaas.execute(_CATALOGUE)]
    catalogue_ids = {i for i, _, _ in catalogue}

    missing_here = Finding("c1", "LiteLLM models missing from the catalogue")
    for name in sorted(deployments.keys() - catalogue_ids):
        missing_here.add(name, f"{len(deployments[name])} deployment(s) in LiteLLM; subscribing fails")
    missing_there = Finding("c2", "Catalogue models missing from LiteLLM")
    mismatched = Finding("d", "Catalogue rows whose litellm_model_id does not match LiteLLM")
    for model, availability, litellm_id in sorted(catalogue, key=lambda row: row[0]):
        ids = deployments.get(model)
        if ids is None:
            if availability != "unavailable":
                missing_there.add(model, f"availability {availability or 'unset'}")
        elif litellm_id not in ids:
            shown = ", ".join(sorted(ids)[:3])
            mismatched.add(model, f"catalogue {litellm_id or 'none'}, LiteLLM {shown}")

    stranded = Finding("e", "Active subscriptions on unavailable models")
    with litemaas.cursor() as cur:
        for model, email in cur.stream(_SUBSCRIPTIONS):
            stranded.add(model, f"user {email or 'unknown'}")
    return missing_here, missing_there, mismatched, stranded
