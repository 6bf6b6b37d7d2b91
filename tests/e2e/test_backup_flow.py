"""The demo's backup story from Slack to the databases: take a backup, verify it, restore it with two
approvals (two approvers other than the requester), list it. The real bot over HTTP, the Kubernetes
sandbox, real PostgreSQL (the test's own uuid-named LiteMaaS and LiteLLM databases with the demo
data), real pg_dump and psql."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest

from sandbox.seed_data import seed_demo
from tests.conftest import PG_ADMIN_URL, DatabasePair, SchemaDatabases, database_pair
from tests.e2e.harness import BotHarness, operation_id_of, wait_until


@pytest.fixture
def demo_databases(schema_databases: SchemaDatabases) -> Iterator[DatabasePair]:
    """LiteMaaS and LiteLLM in two databases with the demo data; whatever a restore leaves is dropped."""
    with database_pair(schema_databases, "separate") as pair:
        seed_demo(pair.litemaas_url, pair.litellm_url)
        try:
            yield pair
        finally:
            with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
                for url in (pair.litemaas_url, pair.litellm_url):
                    name = url.rsplit("/", 1)[1]
                    for (other,) in conn.execute(
                        "SELECT datname FROM pg_database WHERE datname LIKE %s",
                        (name.replace("_", "\\_") + "\\_%",),
                    ).fetchall():
                        conn.execute(f'DROP DATABASE IF EXISTS "{other}" WITH (FORCE)')


def messages_with(harness: BotHarness, text: str) -> list[dict[str, Any]]:
    return [m for m in harness.slack.messages("C0OPS") if text in str(m)]


def reply(harness: BotHarness, key: str) -> str:
    """The whole reply (text and blocks) on a response_url."""
    return str(wait_until(lambda: harness.slack.responses(key), what=f"a reply on {key}"))


def count(url: str, table: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute(f'SELECT count(*) FROM "{table}"').fetchone()
    return int(row[0]) if row else -1


@pytest.mark.slow
def test_take_verify_and_restore_a_backup_from_slack(
    start_bot: Callable[..., BotHarness], demo_databases: DatabasePair, tmp_path: Path
) -> None:
    harness = start_bot(
        litemaas_database_url=demo_databases.litemaas_url,
        litellm_database_url=demo_databases.litellm_url,
        backup_dir=tmp_path / "backups",
    )
    models = count(demo_databases.litellm_url, "LiteLLM_ProxyModelTable")

    harness.command("bob", "backup now")
    [done] = wait_until(lambda: messages_with(harness, " done: litemaas and litellm"), 60, "the backup")
    backup_id = str(done["text"]).split("Backup ", 1)[1].split(" ", 1)[0]

    harness.command("bob", "backup verify")
    wait_until(lambda: messages_with(harness, f"Backup {backup_id} verified"), 60, "the verify")

    def audited() -> list[str]:  # the audit row follows the result message
        with psycopg.connect(harness.pg_url) as conn:
            rows = conn.execute(
                "SELECT detail FROM chatops.audit WHERE command = 'backup verify' AND outcome = 'succeeded'"
            ).fetchall()
        return [str(detail) for (detail,) in rows]

    [detail] = wait_until(audited, what="the verify's audit row")
    assert detail.startswith(f"Backup {backup_id} verified")
    _, listed = harness.command("carol", "backup list")
    assert f"{backup_id} · " in reply(harness, listed) and " · verified " in reply(harness, listed)

    with psycopg.connect(demo_databases.litellm_url, autocommit=True) as conn:
        conn.execute('DELETE FROM "LiteLLM_ProxyModelTable"')  # the accident the backup repairs
    _, refused = harness.command("bob", f"backup restore {backup_id}")
    assert "admin" in reply(harness, refused)

    _, dry = harness.command("alice", f"backup restore {backup_id} --database litellm --dry-run")
    plan = reply(harness, dry)
    assert "deployment/litellm" in plan and "LiteLLM_ProxyModelTable" in plan
    assert harness.replicas("litellm") == 1 and harness.mutations() == []

    # a deny by any approver ends a request, even one approved once already
    harness.command("alice", f"backup restore {backup_id} --database litellm")
    denied = harness.wait_card()
    _, first = harness.click("dave", "approval.approve", operation_id_of(denied), message_ts=denied["ts"])
    assert "approval 1 of 2" in harness.wait_reply(first)
    harness.click("frank", "approval.deny", operation_id_of(denied), message_ts=denied["ts"])
    wait_until(lambda: ("backup restore", "denied") in harness.operations(), what="the restore denied")
    wait_until(  # the card follows the row
        lambda: "Denied" in str(harness.slack.message("C0OPS", denied["ts"])["blocks"]),
        what="the denied card",
    )

    harness.command("alice", f"backup restore {backup_id} --database litellm")
    card = wait_until(lambda: [c for c in harness.cards() if c["ts"] != denied["ts"]], what="a new card")[-1]
    assert f"backup restore {backup_id}" in card["text"]
    assert "Needs 2 approvals" in str(card["blocks"])
    op_id = operation_id_of(card)

    # the first approval is counted and shown on the card; nothing runs
    _, first = harness.click("dave", "approval.approve", op_id, message_ts=card["ts"])
    assert "approval 1 of 2" in harness.wait_reply(first)
    shown = harness.slack.message("C0OPS", card["ts"])
    assert "1 of 2 approvals — <@U0DAVE>" in str(shown["blocks"]) and "approval.approve" in str(
        shown["blocks"]
    )
    listed = harness.wait_reply(harness.command("carol", "approvals")[1])
    assert "1 of 2 approvals (<@U0DAVE>)" in listed
    _, again = harness.click("dave", "approval.approve", op_id, message_ts=card["ts"])
    assert "already approved" in harness.wait_reply(again)
    _, own = harness.click("alice", "approval.approve", op_id, message_ts=card["ts"])
    assert "your own request" in harness.wait_reply(own)
    harness.bot.wait_idle(5)
    assert harness.mutations() == [] and ("backup restore", "requested") in harness.operations()

    # the second, distinct approver approves it and it runs
    harness.click("frank", "approval.approve", op_id, message_ts=card["ts"])
    wait_until(lambda: messages_with(harness, "Restored "), 120, "the restore's result")
    decided = str(harness.slack.message("C0OPS", card["ts"])["blocks"])
    assert "<@U0DAVE> and <@U0FRANK>" in decided

    assert count(demo_databases.litellm_url, "LiteLLM_ProxyModelTable") == models
    assert harness.replicas("litellm") == 1 and harness.replicas("litellm-backend") == 1
    scales = [r.path.rsplit("/", 2)[-2] for r in harness.mutations() if r.path.endswith("/scale")]
    assert scales == ["litellm-backend", "litellm", "litellm", "litellm-backend"]
    wait_until(lambda: ("backup restore", "succeeded") in harness.operations(), what="the restore succeeded")
    outcomes = [o for _, c, o in harness.audit_outcomes() if c == "backup restore"]
    assert outcomes[-8:] == [
        *("requested", "approved", "denied"),  # dave approved, frank denied
        *("requested", "approved", "blocked", "approved", "succeeded"),  # dave, alice (her own), frank
    ]
    with psycopg.connect(harness.pg_url) as conn:
        approvals = conn.execute(
            "SELECT approver, detail FROM chatops.audit WHERE command = 'backup restore'"
            " AND outcome = 'approved' ORDER BY id"
        ).fetchall()
    assert approvals[-2:] == [("U0DAVE", "approval 1 of 2"), ("U0FRANK", "approval 2 of 2")]


class FakeClock:
    """The scheduler's clock, moved by the test."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


AUTOMATION = """\
alerts:
  channel: C0ALERTS
schedules:
  key-cleanup: {enabled: false}
  backup: {enabled: false}
  drift: {enabled: false}
"""


@pytest.mark.slow
def test_the_weekly_verify_of_a_damaged_backup_alerts_and_a_good_one_resolves_it(
    start_bot: Callable[..., BotHarness], demo_databases: DatabasePair, tmp_path: Path
) -> None:
    automation = tmp_path / "automation.yaml"
    automation.write_text(AUTOMATION)
    harness = start_bot(
        litemaas_database_url=demo_databases.litemaas_url,
        litellm_database_url=demo_databases.litellm_url,
        backup_dir=tmp_path / "backups",
        automation_config=automation,
    )
    clock = FakeClock(datetime(2026, 11, 28, 12, 0, tzinfo=UTC))  # a Saturday
    harness.bot.scheduler.clock = clock
    assert harness.bot.scheduler.tick() == []

    harness.command("bob", "backup now")
    wait_until(lambda: messages_with(harness, " done: litemaas and litellm"), 60, "the backup")
    [dump] = (tmp_path / "backups").glob("*/litellm.sql.gz")
    damaged = bytearray(dump.read_bytes())
    damaged[len(damaged) // 2] ^= 0xFF
    dump.write_bytes(bytes(damaged))

    clock.now = datetime(2026, 11, 29, 4, 0, 10, tzinfo=UTC)  # Sunday 04:00: the default weekly verify
    assert harness.bot.scheduler.tick() == ["backup-verify"]
    [alert] = [m for m in harness.slack.messages("C0ALERTS") if "Scheduled job" in m["text"]]
    assert "Scheduled job backup-verify failed: Backup " in alert["text"]
    assert "failed verify: the dump litellm.sql.gz changed after it was written" in alert["text"]

    harness.command("bob", "backup now")  # a new, good backup: the next verify takes the newest
    wait_until(lambda: len(messages_with(harness, " done: litemaas and litellm")) == 2, 60, "a backup")
    clock.now = datetime(2026, 12, 6, 4, 0, 10, tzinfo=UTC)
    assert harness.bot.scheduler.tick() == ["backup-verify"]
    assert harness.slack.message("C0ALERTS", alert["ts"])["text"].startswith("✅ Resolved")
