"""`drift` (a) and (b) equal their definitions on thousands of keys and on every alias corner, in one
shared database and in two.

The expected sets are computed here from the tables by product.md §5's definitions, read plainly: (a)
an active row (created before the run) with neither its hash nor its alias among LiteLLM's keys; (b) a
LiteLLM key with neither its token among the rows' hashes nor its alias among the rows' aliases. The
bulk keys span every key range the two-database comparison reads; the planted corners are the ones an
index-and-hash shortcut could get wrong.
"""

from __future__ import annotations

import csv
import io
import secrets

import psycopg

import sandbox.seed_data as seed
from commands.contract import Result
from commands.drift.operation import DriftArgs, DriftOperation
from tests.conftest import DatabasePair
from tests.integration.test_keys_cleanup import World, world  # noqa: F401 - the fixture


def plant_corners(dbs: DatabasePair) -> None:
    with psycopg.connect(dbs.litemaas_url) as lm, psycopg.connect(dbs.litellm_url) as ll:
        user = seed.add_user(lm, email="corner@example.com")

        def row(alias: str | None, *, active: bool = True) -> str:
            key = "sk-" + secrets.token_urlsafe(16)
            seed.add_api_key(lm, user, key=key, alias=alias or f"tmp_{secrets.token_hex(4)}", active=active)
            if alias is None:
                lm.execute(
                    "UPDATE api_keys SET litellm_key_alias = NULL WHERE key_hash = %s",
                    (seed.sha256_hex(key),),
                )
            return key

        def token(alias: str | None, key: str | None = None) -> None:
            seed.add_litellm_token(
                ll, key=key or "sk-" + secrets.token_urlsafe(16), alias=alias, expires=None
            )

        row("held-by-a-lone-token_00000001")  # not (a): a LiteLLM key has its alias…
        token("held-by-a-lone-token_00000001")  # …and not (b): a row has its alias
        renamed = row("renamed-from_00000002")
        token("renamed-to_00000003", key=renamed)  # a pair whose aliases differ: neither (a) nor (b)
        row("renamed-to_00000003")  # not (a): its alias is the renamed pair's LiteLLM alias
        row("inactive-alias_00000004", active=False)  # not (a): inactive
        token("inactive-alias_00000004")  # not (b): a row, inactive, has its alias
        row(None)  # (a): no hash, no alias
        token(None)  # (b): no token among the hashes, no alias
        row("plain-orphan_00000005")  # (a)
        token("plain-unknown_00000006")  # (b)


def by_definition(dbs: DatabasePair) -> tuple[set[str], set[str]]:
    """(a) and (b) as the report names their items, computed from the whole tables."""
    with psycopg.connect(dbs.litemaas_url) as lm, psycopg.connect(dbs.litellm_url) as ll:
        rows = lm.execute("SELECT id::text, key_hash, litellm_key_alias, is_active FROM api_keys").fetchall()
        tokens = ll.execute('SELECT token, key_alias FROM "LiteLLM_VerificationToken"').fetchall()
    hashes, row_aliases = {r[1] for r in rows}, {r[2] for r in rows if r[2] is not None}
    token_set, token_aliases = {t[0] for t in tokens}, {t[1] for t in tokens if t[1] is not None}
    a = {
        alias or f"(no alias, api_keys.id {key_id})"
        for key_id, key_hash, alias, active in rows
        if active and key_hash not in token_set and alias not in token_aliases
    }
    b = {
        f"{alias or '(no alias)'} (token {tok[:8]}…)"
        for tok, alias in tokens
        if tok not in hashes and (alias is None or alias not in row_aliases)
    }
    return a, b


def test_a_and_b_are_exactly_their_definitions(world: World) -> None:  # noqa: F811
    seed.bulk_keys(world.dbs.litemaas_url, world.dbs.litellm_url, 3000, divergence=0.05, tag="exact")
    plant_corners(world.dbs)
    expected_a, expected_b = by_definition(world.dbs)
    assert len(expected_a) > 50 and len(expected_b) > 50  # the bulk divergence is there, both ways

    events = list(DriftOperation().execute(world.env, DriftArgs(), None))

    result = events[-1]
    assert isinstance(result, Result) and result.ok, result
    listed: dict[str, set[str]] = {"a": set(), "b": set()}
    for item in csv.DictReader(io.StringIO(result.files[0].content)):
        listed.setdefault(item["kind"], set()).add(item["item"])
    assert listed["a"] == expected_a
    assert listed["b"] == expected_b
    counts = {s.title.split(")")[0].strip("("): int(s.fields["count"]) for s in result.sections}
    assert (counts["a"], counts["b"]) == (len(expected_a), len(expected_b))
    for corner in ("plain-orphan_00000005", "plain-unknown_00000006 (token"):
        assert any(item.startswith(corner) for item in listed["a"] | listed["b"]), corner
