"""Issue 12 item 3: a run's true outcome survives a store outage at its final state change.

PostgreSQL (and Redis) are reached through a proxy the test cuts while the run ends: the Slack message
states the true result at once; once PostgreSQL is back, the reaper records that result (row and
audit), not "interrupted". With both stores gone the message still tells the truth, and that it was
not recorded.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from tests.e2e.harness import BotHarness, operation_id_of, wait_until
from tests.integration.cutting_proxy import CuttingProxy

pytestmark = [
    pytest.mark.slow,
    pytest.mark.stepped_rollouts,
]  # the runner retries the final state change for about 7 s


def through(proxy: CuttingProxy, url: str) -> str:
    """`url` with its host and port replaced by the proxy's."""
    parts = urlsplit(url)
    userinfo = parts.netloc.rpartition("@")[0]
    netloc = f"{userinfo}@127.0.0.1:{proxy.port}" if userinfo else f"127.0.0.1:{proxy.port}"
    return urlunsplit(parts._replace(netloc=netloc))


@pytest.fixture
def proxies(pg_url: str, redis_url: str) -> Iterator[Callable[[str], CuttingProxy]]:
    made: list[CuttingProxy] = []

    def proxy(url: str) -> CuttingProxy:
        parts = urlsplit(url)
        made.append(CuttingProxy((parts.hostname or "127.0.0.1", parts.port or 0)))
        return made[-1]

    yield proxy
    for each in made:
        each.sever()


def run_scale_to_the_end(harness: BotHarness, cut: Callable[[], None]) -> dict[str, Any]:
    """bob scales litellm, dave approves; `cut()` as it runs, then the rollout ends. Its final message."""
    harness.command("bob", "scale litellm 4")
    card = harness.wait_card()
    harness.click("dave", "approval.approve", operation_id_of(card), message_ts=card["ts"])
    wait_until(lambda: ("scale", "running") in harness.operations(), 15, "the scale to run")
    wait_until(lambda: scale_messages(harness), 10, "the progress message")
    wait_until(lambda: progress_ts_recorded(harness.pg_url), 10, "the progress message recorded")
    cut()
    harness.kube.settle()
    final: dict[str, Any] = wait_until(
        lambda: next((m for m in scale_messages(harness) if m["text"].startswith("✅")), None),
        30,
        "the final message",
    )
    return final


def scale_messages(harness: BotHarness) -> list[dict[str, Any]]:
    return [
        m
        for m in harness.slack.messages("C0OPS")
        if "scale litellm 4" in str(m) and "Approval" not in str(m.get("text", "")).split(":")[0]
    ]


def progress_ts_recorded(pg_url: str) -> bool:
    with psycopg.connect(pg_url) as conn:
        row = conn.execute("SELECT progress_ts FROM chatops.operations WHERE command = 'scale'").fetchone()
    return row is not None and row[0] is not None


def scale_row(pg_url: str) -> tuple[str, str | None, list[str]]:
    """The scale's state, error and audit outcomes, read straight from PostgreSQL."""
    with psycopg.connect(pg_url) as conn:
        row = conn.execute(
            "SELECT id, state, error FROM chatops.operations WHERE command = 'scale'"
        ).fetchone()
        assert row is not None
        audit = conn.execute(
            "SELECT outcome FROM chatops.audit WHERE operation_id = %s ORDER BY id", (row[0],)
        ).fetchall()
    return str(row[1]), row[2], [str(a[0]) for a in audit]


def test_postgresql_down_at_the_end_the_reaper_records_the_true_outcome(
    start_bot: Callable[..., BotHarness], proxies: Callable[[str], CuttingProxy], pg_url: str
) -> None:
    pg = proxies(pg_url)
    harness = start_bot(bot_database_url=through(pg, pg_url))
    harness.bot.start_reaper(interval=0.5)

    final = run_scale_to_the_end(harness, pg.cut)

    assert "litellm" in final["text"], final["text"]
    assert "Not recorded yet" in str(final["blocks"]), final["blocks"]
    assert scale_row(pg_url)[0] == "running", "nothing could write the row while PostgreSQL was cut"

    pg.restore()
    wait_until(lambda: scale_row(pg_url)[0] != "running", 30, "the reaper to record the outcome")
    state, error, audit = scale_row(pg_url)
    assert (state, error) == ("succeeded", None)
    assert audit[-1] == "succeeded" and "interrupted" not in audit, audit
    message = wait_until(
        lambda: [m for m in scale_messages(harness) if "Not recorded yet" not in str(m["blocks"])],
        10,
        "update",
    )[-1]
    assert message["text"].startswith("✅") and "Interrupted" not in str(message), message


def test_postgresql_and_redis_down_the_message_still_tells_the_truth(
    start_bot: Callable[..., BotHarness],
    proxies: Callable[[str], CuttingProxy],
    pg_url: str,
    redis_url: str,
) -> None:
    pg, rds = proxies(pg_url), proxies(redis_url)
    harness = start_bot(bot_database_url=through(pg, pg_url), redis_url=through(rds, redis_url))

    def cut_both() -> None:
        pg.cut()
        rds.cut()

    final = run_scale_to_the_end(harness, cut_both)

    assert "litellm" in final["text"], final["text"]
    blocks = str(final["blocks"])
    assert "could not be written" in blocks and "Redis" in blocks, blocks
    assert scale_row(pg_url)[0] == "running"
