"""`drift` against real PostgreSQL with the real schemas, in one shared database and in two.

Every kind of product.md §5 is planted with the seed helpers, next to rows that agree; the report must
count exactly the planted ones, name them in its sample and file, and nothing else.
"""

from __future__ import annotations

import csv
import io
import json
import secrets
from datetime import UTC, datetime, timedelta

import psycopg

import sandbox.seed_data as seed
from commands.clients.sessions import key_databases
from commands.contract import Result
from commands.drift.operation import DriftArgs, DriftOperation, find_drift
from tests.conftest import DatabasePair
from tests.integration.test_keys_cleanup import World, world  # noqa: F401 - the fixture

TOKENS = '"LiteLLM_VerificationToken"'
PARAMS = {"model": "openai/upstream", "api_base": "http://upstream/v1"}


def plant_everything(dbs: DatabasePair) -> dict[str, set[str]]:
    """Agreeing rows plus each kind of drift; returns the expected items per kind."""
    now = datetime.now(UTC)
    with psycopg.connect(dbs.litemaas_url) as lm, psycopg.connect(dbs.litellm_url) as ll:
        user = seed.add_user(lm, email="dora@example.com")
        other = seed.add_user(lm, email="eve@example.com")
        # models: in sync
        for name in ("granite", "llama"):
            mid = seed.add_litellm_model(ll, name, PARAMS)
            seed.add_model(lm, id=name, litellm_model_id=mid, litellm_params=PARAMS)
            seed.add_subscription(lm, user, name)
        # a model with two deployments: the catalogue id matches one of them
        first = seed.add_litellm_model(ll, "mixtral", PARAMS)
        seed.add_litellm_model(ll, "mixtral", PARAMS)
        seed.add_model(lm, id="mixtral", litellm_model_id=first, litellm_params=PARAMS)
        # (c1) in LiteLLM, not in the catalogue
        seed.add_litellm_model(ll, "phi-3-mini", PARAMS)
        # (c2) in the catalogue (available), not in LiteLLM; an unavailable one is not drift
        seed.add_model(lm, id="codellama", litellm_model_id="0000-gone", litellm_params=PARAMS)
        seed.add_model(lm, id="retired", availability="unavailable", litellm_params=PARAMS)
        # (d) catalogue id differs from LiteLLM's model_info.id
        seed.add_litellm_model(ll, "mistral", PARAMS)
        seed.add_model(lm, id="mistral", litellm_model_id="stale-id", litellm_params=PARAMS)
        # (e) active subscription on an unavailable model (an inactive one is fine)
        seed.add_model(lm, id="granite-legacy", availability="unavailable", litellm_params=PARAMS)
        seed.add_subscription(lm, user, "granite-legacy")
        seed.add_subscription(lm, other, "granite-legacy", status="inactive")
        seed.add_subscription(lm, other, "retired", status="inactive")

        def key(
            alias: str,
            *,
            litemaas: bool,
            litellm: bool,
            active: bool = True,
            blocked: bool | None = None,
            expires: datetime | None = now + timedelta(days=30),
            litellm_alias: str | None = None,
        ) -> None:
            k = "sk-" + secrets.token_urlsafe(16)
            if litemaas:
                seed.add_api_key(lm, user, key=k, alias=alias, active=active)
            if litellm:
                seed.add_litellm_token(
                    ll, key=k, alias=litellm_alias or alias, expires=expires, blocked=blocked
                )

        for i in range(5):
            key(f"in-sync-{i}", litemaas=True, litellm=True)
        key("revoked-and-gone", litemaas=True, litellm=False, active=False)  # not drift: inactive
        key("orphan-a1", litemaas=True, litellm=False)  # (a)
        key("orphan-a2", litemaas=True, litellm=False)  # (a)
        key("workshop-b1", litemaas=False, litellm=True)  # (b)
        key("script-b2", litemaas=False, litellm=True)  # (b)
        # (f) deactivated in LiteMaaS (the sync's cascade) but still working in LiteLLM
        key("cascaded-f1", litemaas=True, litellm=True, active=False)
        key("cascaded-f2", litemaas=True, litellm=True, active=False, expires=None, blocked=False)
        key("renamed-f3_old", litemaas=True, litellm=True, active=False, litellm_alias="renamed-f3_new")
        # not (f): blocked, or expired, in LiteLLM; active in LiteMaaS and blocked in LiteLLM
        key("blocked-off", litemaas=True, litellm=True, active=False, blocked=True)
        key("expired-off", litemaas=True, litellm=True, active=False, expires=now - timedelta(hours=1))
        key("blocked-on", litemaas=True, litellm=True, blocked=True)
        # renamed in LiteLLM but same token: exists by hash on both sides, so neither (a) nor (b)
        k = "sk-" + secrets.token_urlsafe(16)
        seed.add_api_key(lm, user, key=k, alias="old-name_1234abcd")
        seed.add_litellm_token(ll, key=k, alias="new-name_1234abcd", expires=None)
    return {
        "a": {"orphan-a1", "orphan-a2"},
        "b": {"workshop-b1", "script-b2"},
        "c1": {"phi-3-mini"},
        "c2": {"codellama"},
        "d": {"mistral"},
        "e": {"granite-legacy"},
        "f": {"cascaded-f1", "cascaded-f2", "renamed-f3_old"},
    }


def run_drift(world: World) -> Result:  # noqa: F811
    events = list(DriftOperation().execute(world.env, DriftArgs(), None))
    result = events[-1]
    assert isinstance(result, Result)
    return result


def test_drift_finds_every_planted_divergence_and_nothing_else(world: World) -> None:  # noqa: F811
    expected = plant_everything(world.dbs)

    result = run_drift(world)

    assert result.ok, result.to_json()
    counts = {s.title.split(")")[0].strip("("): int(s.fields["count"]) for s in result.sections}
    assert counts == {kind: len(items) for kind, items in expected.items()}
    (file,) = result.files
    listed: dict[str, set[str]] = {}
    for row in csv.DictReader(io.StringIO(file.content)):
        listed.setdefault(row["kind"], set()).add(row["item"].split(" ")[0])
    assert listed == expected
    text = json.dumps(result.to_json()) + file.content
    assert "sk-" not in text
    layout = "one shared database" if world.dbs.shared else "two databases"
    assert layout in result.summary


def test_tiny_key_ranges_find_exactly_the_same(world: World) -> None:  # noqa: F811
    """Ranges of one key (`range_keys=1`: 256 ranges for these few keys) find exactly what one range
    does, and (f) carries the tokens the fix blocks."""
    expected = plant_everything(world.dbs)
    dbs = key_databases(world.env)

    findings = find_drift(dbs, range_keys=1)

    listed = {f.kind: {item.split(" ")[0] for item, _ in f.items} for f in findings if f.count}
    assert listed == expected
    [inactive_usable] = [f for f in findings if f.kind == "f"]
    with psycopg.connect(world.dbs.litellm_url) as conn:
        usable = {
            alias: token
            for token, alias in conn.execute('SELECT token, key_alias FROM "LiteLLM_VerificationToken"')
        }
    assert sorted(inactive_usable.refs) == sorted(
        usable[a] for a in ("cascaded-f1", "cascaded-f2", "renamed-f3_new")
    )


def test_vacuumed_tables_pair_through_their_indexes_and_find_exactly_the_same(world: World) -> None:  # noqa: F811
    """After a VACUUM the key indexes are all-visible (shared: the merge of the two indexes runs,
    before it the hash join): the findings are the same."""
    expected = plant_everything(world.dbs)
    for url, table in ((world.dbs.litemaas_url, "api_keys"), (world.dbs.litellm_url, TOKENS)):
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f"VACUUM ANALYZE {table}")

    findings = find_drift(key_databases(world.env))

    assert {f.kind: {item.split(" ")[0] for item, _ in f.items} for f in findings if f.count} == expected


def test_no_drift_when_both_sides_agree(world: World) -> None:  # noqa: F811
    with psycopg.connect(world.dbs.litemaas_url) as lm, psycopg.connect(world.dbs.litellm_url) as ll:
        user = seed.add_user(lm, email="frank@example.com")
        mid = seed.add_litellm_model(ll, "granite", PARAMS)
        seed.add_model(lm, id="granite", litellm_model_id=mid, litellm_params=PARAMS)
        seed.add_subscription(lm, user, "granite")
        k = "sk-" + secrets.token_urlsafe(16)
        seed.add_api_key(lm, user, key=k, alias="agree_00000000")
        seed.add_litellm_token(ll, key=k, alias="agree_00000000", expires=None)

    result = run_drift(world)

    assert result.ok and result.summary.startswith("No drift")
    assert not result.files
    assert all(s.fields["count"] == "0" for s in result.sections)


def test_drift_reports_an_unreachable_database_plainly(world: World) -> None:  # noqa: F811
    world.env.litellm_database_url = "postgresql://bot:pw-secret-1@127.0.0.1:1/litellm"
    result = run_drift(world)
    assert not result.ok
    assert "LiteLLM's database is unreachable" in result.summary
    assert "pw-secret-1" not in json.dumps(result.to_json())
