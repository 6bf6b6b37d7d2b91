"""Schedules, with a fake clock: the nightly cleanup posts its result and audits it like a typed
command; a failing run raises an alert that the next good run resolves; missed runs run once;
`schedules pause` needs an admin and an approval."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from sandbox.litellm import LiteLLMSandbox
from sandbox.seed_data import seed_demo
from tests.e2e.conftest import MASTER_KEY
from tests.e2e.harness import BotHarness, operation_id_of, wait_until

AUTOMATION = """\
alerts:
  channel: C0ALERTS
schedules:
  key-cleanup: {channel: C0OPS}
  backup: {enabled: false}
  backup-verify: {enabled: false}
  drift: {enabled: false}
"""


class FakeClock:
    """The scheduler's clock, moved by the test."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2026, 11, 26, 23, 0, tzinfo=UTC))


@pytest.fixture
def scheduled(
    start_bot: Callable[..., BotHarness],
    tmp_path: Path,
    litemaas_db: str,
    litellm_db: str,
    data_litellm: LiteLLMSandbox,
    clock: FakeClock,
) -> BotHarness:
    seed_demo(litemaas_db, litellm_db)
    path = tmp_path / "automation.yaml"
    path.write_text(AUTOMATION)
    harness = start_bot(
        automation_config=path,
        litemaas_database_url=litemaas_db,
        litellm_database_url=litellm_db,
        litellm_url=data_litellm.url,
        litellm_master_key=MASTER_KEY,
    )
    harness.bot.scheduler.clock = clock
    return harness


def expired_keys(litellm_db: str) -> int:
    with psycopg.connect(litellm_db) as conn:
        row = conn.execute(
            'SELECT count(*) FROM "LiteLLM_VerificationToken" WHERE expires < now()'
        ).fetchone()
    assert row is not None
    return int(row[0])


def schedule_row(harness: BotHarness) -> tuple[str | None, str | None]:
    with psycopg.connect(harness.pg_url) as conn:
        row = conn.execute(
            "SELECT last_outcome, last_summary FROM chatops.schedules WHERE name = 'key-cleanup'"
        ).fetchone()
    assert row is not None
    return row[0], row[1]


def test_nightly_cleanup_runs_at_two_posts_its_result_and_audits_it(
    scheduled: BotHarness, clock: FakeClock, litellm_db: str
) -> None:
    assert expired_keys(litellm_db) > 0
    assert scheduled.bot.scheduler.tick() == []  # 23:00: the first run is tonight at 02:00

    clock.now = datetime(2026, 11, 27, 1, 59, tzinfo=UTC)
    assert scheduled.bot.scheduler.tick() == []
    clock.now = datetime(2026, 11, 27, 2, 0, 20, tzinfo=UTC)
    assert scheduled.bot.scheduler.tick() == ["key-cleanup"]
    assert scheduled.bot.scheduler.tick() == [], "a due time runs once"

    assert expired_keys(litellm_db) == 0
    posted = [m for m in scheduled.slack.messages("C0OPS") if m["text"].startswith("✅")]
    assert len(posted) == 1 and "schedule:key-cleanup" in str(posted[0]["blocks"])
    assert ("schedule:key-cleanup", "keys cleanup", "succeeded") in scheduled.audit_outcomes()
    assert schedule_row(scheduled)[0] == "succeeded"

    _, key = scheduled.command("carol", "schedules")
    scheduled.wait_reply(key)
    text = str(scheduled.slack.responses(key)[-1])
    assert "key-cleanup" in text and "0 2 * * *" in text and "2026-11-28 02:00 UTC" in text
    assert "succeeded" in text

    with psycopg.connect(scheduled.pg_url) as conn:
        row = conn.execute(
            "SELECT last_operation_id FROM chatops.schedules WHERE name = 'key-cleanup'"
        ).fetchone()
    assert row is not None and row[0] is not None
    _, key = scheduled.command("carol", f"audit show {row[0]}")  # what the runbook tails in a log file
    shown = scheduled.wait_reply(key)
    assert shown.startswith("✅ Deleted 4 of 4 LiteLLM keys")
    _, key = scheduled.command("carol", "audit show 00000000-0000-0000-0000-000000000000")
    assert "No operation with this id" in scheduled.wait_reply(key)


def test_a_failing_run_raises_an_alert_and_the_next_good_run_resolves_it(
    scheduled: BotHarness, clock: FakeClock, data_litellm: LiteLLMSandbox
) -> None:
    scheduled.bot.scheduler.tick()
    data_litellm.inject_failure("/key/delete", status=500, times=1000)  # LiteLLM failing at 02:00
    clock.now = datetime(2026, 11, 27, 2, 1, tzinfo=UTC)
    assert scheduled.bot.scheduler.tick() == ["key-cleanup"]
    assert schedule_row(scheduled)[0] == "failed"
    alerts = [m for m in scheduled.slack.messages("C0ALERTS") if not m.get("thread_ts")]
    assert len(alerts) == 1 and "key-cleanup failed" in alerts[0]["text"]
    assert ("schedule:key-cleanup", "keys cleanup", "failed") in scheduled.audit_outcomes()

    data_litellm.clear_failures()
    clock.now += timedelta(days=1)
    assert scheduled.bot.scheduler.tick() == ["key-cleanup"]
    assert schedule_row(scheduled)[0] == "succeeded"
    alerts = [m for m in scheduled.slack.messages("C0ALERTS") if not m.get("thread_ts")]
    assert len(alerts) == 1 and alerts[0]["text"].startswith("✅ Resolved")


def test_runs_missed_without_a_leader_run_once(scheduled: BotHarness, clock: FakeClock) -> None:
    scheduled.bot.scheduler.tick()
    clock.now = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)  # three nights missed
    assert scheduled.bot.scheduler.tick() == ["key-cleanup"]
    assert scheduled.bot.scheduler.tick() == []
    runs = [a for a in scheduled.audit_outcomes() if a[0] == "schedule:key-cleanup"]
    assert len(runs) == 1


def test_pause_needs_an_admin_and_an_approval_and_stops_the_runs(
    scheduled: BotHarness, clock: FakeClock
) -> None:
    scheduled.bot.scheduler.tick()
    _, key = scheduled.command("bob", "schedules pause key-cleanup")
    assert "needs the admin role" in scheduled.wait_reply(key)

    scheduled.command("alice", "schedules pause key-cleanup")
    card = scheduled.wait_card()
    scheduled.click("dave", "approval.approve", operation_id_of(card), message_ts=card["ts"])
    wait_until(
        lambda: ("schedules pause", "succeeded") in scheduled.operations(), timeout=10, what="the pause"
    )
    clock.now = datetime(2026, 11, 27, 2, 5, tzinfo=UTC)
    assert scheduled.bot.scheduler.tick() == []

    scheduled.command("alice", "schedules resume key-cleanup")
    card = wait_until(lambda: [c for c in scheduled.cards() if "resume" in c["text"]], 10, "the resume card")[
        -1
    ]
    scheduled.click("dave", "approval.approve", operation_id_of(card), message_ts=card["ts"])
    wait_until(
        lambda: ("schedules resume", "succeeded") in scheduled.operations(), timeout=10, what="the resume"
    )
    assert scheduled.bot.scheduler.tick() == [], "a run missed while paused is skipped"
    clock.now = datetime(2026, 11, 28, 2, 0, 5, tzinfo=UTC)
    assert scheduled.bot.scheduler.tick() == ["key-cleanup"]
