"""Acknowledgements and silences against real PostgreSQL, Redis, the Slack fake and the real Alertmanager:
a silence holds for every replica, ends on its own, and is made in Alertmanager for its alerts; an
acknowledged alert stops reminding."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from slack_sdk import WebClient

from bot.alerts.am_silences import AlertmanagerSilences
from bot.alerts.desk import AlertDesk
from bot.alerts.model import Alert
from bot.alerts.pipeline import AlertPipeline
from bot.automation import Alerts
from bot.messenger import Messenger
from bot.redaction import Redactor
from bot.store import AuditLog, Database
from bot.store.silences import SilenceStore
from sandbox.slack import SlackSandbox
from tests.alertmanager import AlertmanagerProcess, alertmanager_binary
from tests.integration.conftest import SLACK_TOKEN

ALERTS = "C0ALERTS"


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def db(pg_url: str) -> Iterator[Database]:
    database = Database(pg_url)
    database.migrate()
    yield database
    database.close()


def replica(
    db: Database, rds: redis.Redis, prefix: str, slack: SlackSandbox, clock: Clock, am: str | None = None
) -> tuple[AlertPipeline, AlertDesk]:
    """One replica's alert pipeline and desk (its own clients, the shared stores)."""
    messenger = Messenger(WebClient(token=SLACK_TOKEN, base_url=slack.api_url), Redactor([]))
    pipeline = AlertPipeline(
        client=rds,
        prefix=prefix,
        messenger=messenger,
        config=Alerts(channel=ALERTS, renotify_minutes=60),
        clock=clock,
        silences=SilenceStore(db),
    )
    desk = AlertDesk(
        pipeline=pipeline,
        silences=SilenceStore(db),
        audit=AuditLog(db, Redactor([])),
        components=["litellm", "backend"],
        alertmanager=AlertmanagerSilences(am) if am else None,
    )
    return pipeline, desk


def alert(fingerprint: str = "watch:pods:pods/litellm", **changes: Any) -> Alert:
    values: dict[str, Any] = {
        "fingerprint": fingerprint,
        "severity": "critical",
        "component": "litellm",
        "title": "litellm: 1 of 1 pod in CrashLoopBackOff",
        "source": "watch:pods",
    }
    return Alert(**{**values, **changes})


def top_level(slack: SlackSandbox) -> list[dict[str, Any]]:
    return [m for m in slack.messages(ALERTS) if not m.get("thread_ts")]


def test_a_silence_holds_for_every_replica_and_ends_on_its_own(
    db: Database, rds: redis.Redis, redis_prefix: str, alert_slack: SlackSandbox
) -> None:
    clock = Clock()
    _, desk_a = replica(db, rds, redis_prefix, alert_slack, clock)
    pipeline_b, _ = replica(db, rds, redis_prefix, alert_slack, clock)
    line = desk_a.silence("litellm", 2, "deploying a fix", "U0BOB")
    assert line.shown_as == "litellm" and line.created_by == "U0BOB"

    pipeline_b.fire(alert())
    assert top_level(alert_slack) == [], "replica B honours replica A's silence"
    assert [a.silenced_by for a in desk_a.alerts()] == [line.silence_id]

    time.sleep(2.2)  # the silence expires on its own
    pipeline_b.fire(alert())
    assert len(top_level(alert_slack)) == 1 and desk_a.silences() == []


def test_an_acknowledged_alert_stops_reminding(
    db: Database, rds: redis.Redis, redis_prefix: str, alert_slack: SlackSandbox
) -> None:
    clock = Clock()
    pipeline, desk = replica(db, rds, redis_prefix, alert_slack, clock)
    pipeline.fire(alert())
    clock.now += 3601
    pipeline.fire(alert())
    reminders = [m for m in alert_slack.messages(ALERTS) if "Still firing" in m.get("text", "")]
    assert len(reminders) == 1

    desk.acknowledge(alert().alert_id, "U0DAVE")
    for _ in range(3):
        clock.now += 3601
        pipeline.fire(alert())
    reminders = [m for m in alert_slack.messages(ALERTS) if "Still firing" in m.get("text", "")]
    assert len(reminders) == 1, "no reminder once someone is on it"
    [message] = top_level(alert_slack)
    assert "<@U0DAVE> is on it" in str(message["blocks"])


@pytest.fixture
def alertmanager(tmp_path: Path) -> Iterator[AlertmanagerProcess]:
    if alertmanager_binary() is None:
        pytest.skip("prometheus-alertmanager is not installed")
    process = AlertmanagerProcess(tmp_path, webhook_url="http://127.0.0.1:9/unused", token="t").start()
    yield process
    process.stop()


def test_silencing_an_alertmanager_alert_makes_a_real_alertmanager_silence(
    db: Database,
    rds: redis.Redis,
    redis_prefix: str,
    alert_slack: SlackSandbox,
    alertmanager: AlertmanagerProcess,
) -> None:
    labels = {"alertname": "LiteLLMDown", "severity": "critical"}
    alertmanager.post_alert(labels)
    pipeline, desk = replica(db, rds, redis_prefix, alert_slack, Clock(), am=alertmanager.url)
    fired = alert("alertmanager:abc", source="alertmanager", labels=(("alertname", "LiteLLMDown"),))
    pipeline.fire(fired)

    line = desk.silence(fired.alert_id, 3600, "known outage", "U0BOB")
    assert line.alertmanager
    [silence] = httpx.get(f"{alertmanager.url}/api/v2/silences", timeout=5).json()
    assert silence["status"]["state"] == "active"
    assert silence["createdBy"] == "U0BOB" and silence["comment"] == "known outage"
    assert silence["matchers"] == [
        {"name": "alertname", "value": "LiteLLMDown", "isRegex": False, "isEqual": True}
    ]

    def silenced_by() -> list[str]:
        alerts = httpx.get(f"{alertmanager.url}/api/v2/alerts", timeout=5).json()
        return [s for a in alerts for s in a["status"]["silencedBy"]]

    deadline = time.monotonic() + 10
    while silence["id"] not in silenced_by() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert silence["id"] in silenced_by(), "Alertmanager itself holds the alert silenced"

    desk.unsilence(line.silence_id, "U0BOB")
    [ended] = httpx.get(f"{alertmanager.url}/api/v2/silences", timeout=5).json()
    assert ended["status"]["state"] == "expired"
    audit = [(e.actor, e.command) for e in AuditLog(db, Redactor([])).recent(10)]
    assert ("U0BOB", "alerts silence") in audit and ("U0BOB", "alerts unsilence") in audit


def test_silence_store_takes_a_duration_and_finds_by_short_id(db: Database) -> None:
    store = SilenceStore(db)
    made = store.create(
        kind="component",
        matcher="backend",
        shown_as="backend",
        reason="",
        created_by="U0BOB",
        duration=timedelta(hours=1),
    )
    assert store.find(made.short_id) == made
    assert store.find("zz") is None and store.find("") is None
    assert store.end(made.id, "U0ALICE") is not None and store.active() == []
