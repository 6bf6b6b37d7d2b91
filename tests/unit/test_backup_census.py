"""The census a manifest records and how a restored database is compared with it; manifest versions."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from commands.backup.census import TableCensus, compare
from commands.backup.manifest import BackupFile, Verification, manifest_text, parse_manifest
from commands.contract import Plan

USERS = TableCensus(
    "public", "users", 3, ("id uuid NOT NULL", "email text"), ("users_pkey: PRIMARY KEY (id)",)
)
KEYS = TableCensus("public", "api_keys", 5, ("id uuid NOT NULL",), ("api_keys_pkey: PRIMARY KEY (id)",))


def test_the_same_census_has_no_difference() -> None:
    assert compare((USERS, KEYS), (KEYS, USERS)) == []


def test_each_difference_names_its_table_first() -> None:
    fewer = TableCensus("public", "users", 2, USERS.columns[:1], ())
    extra = TableCensus("public", "planted", 0, (), ())

    assert compare((USERS, KEYS), (fewer, extra)) == [
        "public.users: 3 rows in the backup, 2 restored; columns differ (missing email text); "
        "constraints differ (missing users_pkey: PRIMARY KEY (id))",
        "public.api_keys: missing after the restore (5 rows in the backup)",
        "public.planted: restored but not in the backup",
    ]


def test_many_missing_columns_are_summarised() -> None:
    wide = TableCensus("public", "wide", 0, tuple(f"c{i} int" for i in range(6)), ())
    narrow = TableCensus("public", "wide", 0, (), ())

    [line] = compare((wide,), (narrow,))
    assert line == "public.wide: columns differ (missing c0 int; c1 int; c2 int and 3 more)"


def test_a_manifest_round_trips_with_its_census_and_last_verify(tmp_path: Path) -> None:
    created = datetime(2026, 6, 18, 2, 0, tzinfo=UTC)
    file = BackupFile("litemaas", tmp_path / "litemaas.sql.gz", 10, "ab" * 32, "16.4", (USERS, KEYS))
    verification = Verification(created, ok=False, summary="Backup x failed verify: …", databases=("a",))
    text = manifest_text("20260618T020000Z", created, [file], verification)

    manifest = parse_manifest(text, tmp_path / "manifest.json")

    assert json.loads(text)["version"] == 2
    assert manifest.files == (file,)
    assert manifest.verification == verification


def test_a_version_1_manifest_has_no_census_and_a_bad_verify_record_hides_nothing(tmp_path: Path) -> None:
    text = json.dumps(
        {
            "version": 1,
            "id": "20260101T000000Z",
            "created_at": "2026-01-01T00:00:00+00:00",
            "files": [{"database": "litemaas", "filename": "litemaas.sql.gz", "size": 1, "sha256": "x"}],
            "verification": {"ok": True},  # no time: not a record
        }
    )

    manifest = parse_manifest(text, tmp_path / "manifest.json")

    assert manifest.files[0].tables is None and manifest.verification is None


@pytest.mark.parametrize("rows", [-1, "3", True])
def test_a_table_entry_with_a_bad_count_is_refused(rows: object) -> None:
    with pytest.raises(ValueError, match="not a count"):
        TableCensus.from_json({"schema": "public", "table": "users", "rows": rows})


def test_a_plan_keeps_its_lock_set_through_storage() -> None:
    plan = Plan(summary="s", target="backup", targets=("backup", "deployment/litellm"))
    assert Plan.from_json(json.loads(json.dumps(plan.to_json()))).lock_targets == (
        "backup",
        "deployment/litellm",
    )
    assert Plan(summary="s", target="deployment/litellm").lock_targets == ("deployment/litellm",)
    assert (
        "targets" not in Plan(summary="s", target="x").to_json()
    )  # stored plans of other commands unchanged
