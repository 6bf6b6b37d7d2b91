"""The hostile-input gate: what a viewer, a stranger or a log line does to the running bot over HTTP.

For each attack: the bot stays responsive (/healthz < 1 s, another user's command acknowledged < 3 s
during it), no secret reaches Slack, the log, PostgreSQL or Redis, no mention from input reaches any
outbound field raw, every refusal is audited, and neither the cluster nor the operated databases change.
Property-based variants: tests/e2e/test_hostile_properties.py.
"""

from __future__ import annotations

import resource
import select
import socket
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.alerts.alertmanager import PATH as ALERTMANAGER_PATH
from sandbox.litellm import LiteLLMSandbox
from sandbox.seed_data import seed_demo
from tests.e2e.conftest import MASTER_KEY
from tests.e2e.harness import BotHarness, operation_id_of, wait_until
from tests.e2e.hostile import (
    MENTIONS,
    LogLines,
    audit_rows,
    captured_logs,
    observe,
    responsive,
    secret_pieces,
    table_digests,
)

pytestmark = pytest.mark.slow

# A secret of the bot's own settings with Slack markup in it, longer than any line the bot clips.
BOT_SECRET = "am-hostile-&<tok>-" + "Z7q" * 200
INLINE_KEY = "up&str,eam;ke)y with spaces-0123456789"  # typed by an admin in `models add`
ALERTS = "C0OPS"
MODEL_ARGS = "model_name=hostile-model litellm_model=openai/h api_base=https://h.example/v1"


@dataclass
class Hostile:
    """A running bot with the operated databases seeded, alerts on, and its log captured."""

    harness: BotHarness
    logs: LogLines
    databases: tuple[str, str]
    digests: tuple[dict[str, str], dict[str, str]]

    def unchanged(self) -> None:
        """Nothing changed in the cluster or the operated databases."""
        assert self.harness.mutations() == [], "a write reached the cluster"
        assert (table_digests(self.databases[0]), table_digests(self.databases[1])) == self.digests

    def nothing_leaked(self, *secrets: str) -> None:
        pieces = {p for secret in (BOT_SECRET, *secrets) for p in secret_pieces(secret)}
        found = observe(self.harness, self.logs).containing(pieces)
        assert found == [], f"secret pieces found: {sorted({place for place, _ in found})}"

    def no_raw_mentions(self) -> None:
        """No mention from input in anything sent to Slack (rows and log lines are not sent anywhere)."""
        found = observe(self.harness, self.logs).containing(MENTIONS)
        assert [(place, m) for place, m in found if place.startswith("slack")] == []

    def reply(self, user: str, text: str) -> str:
        """The answer to a signed command: its text and blocks, as one string."""
        response, key = self.harness.command(user, text)
        assert response.status_code == 200
        self.harness.wait_reply(key)
        return str(self.harness.slack.responses(key)[-1])


@pytest.fixture
def hostile(
    start_bot: Callable[..., BotHarness],
    tmp_path: Path,
    litemaas_db: str,
    litellm_db: str,
    data_litellm: LiteLLMSandbox,
) -> Iterator[Hostile]:
    seed_demo(litemaas_db, litellm_db)
    automation = tmp_path / "automation.yaml"
    automation.write_text(f"alerts:\n  channel: {ALERTS}\nschedules: {{}}\n")
    with captured_logs() as logs:
        harness = start_bot(
            litemaas_database_url=litemaas_db,
            litellm_database_url=litellm_db,
            litellm_url=data_litellm.url,
            litellm_master_key=MASTER_KEY,
            alertmanager_token=BOT_SECRET,
            automation_config=automation,
        )
        digests = (table_digests(litemaas_db), table_digests(litellm_db))
        yield Hostile(harness, logs, (litemaas_db, litellm_db), digests)


def during(attack: Callable[[], object], workers: int, harness: BotHarness) -> None:
    """Run `attack` on `workers` threads; meanwhile the bot must stay responsive, twice."""
    with ThreadPoolExecutor(workers) as pool:
        futures = [pool.submit(attack) for _ in range(workers)]
        time.sleep(0.2)
        responsive(harness)
        responsive(harness, user="bob")
        for future in futures:
            future.result(timeout=120)


def test_a_catastrophic_grep_never_freezes_the_bot(hostile: Hostile) -> None:
    harness = hostile.harness
    pods = [p["metadata"]["name"] for p in harness.kube.pods_of("litellm")]
    for pod in pods:
        harness.kube.set_logs(pod, "litellm", ["a" * 28 + "!"] * 3000 + ["x" * 5000] * 100)

    def grep() -> None:
        for pattern in ("(.+)+X", "(a+)+$", "(a|aa)+$"):
            response, key = harness.command("carol", f"logs litellm --grep '{pattern}'")
            assert response.status_code == 200
            harness.wait_reply(key, timeout=30)

    during(grep, 3, harness)
    refusal = hostile.reply("carol", r"logs litellm --grep '(a)\1'")
    assert "backreferences" in refusal and "Something went wrong" not in refusal
    wait_until(lambda: [r for r in audit_rows(harness.pg_url) if r[1] == "logs" and r[2] == "refused"])
    hostile.unchanged()


def test_huge_unsigned_bodies_are_refused_unread_and_cost_no_memory(hostile: Hostile) -> None:
    """Six 60 MB bodies (declared or chunked) at once: 413 each, the process grows by little."""
    harness = hostile.harness
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    def flood(chunked: bool) -> None:
        """Send the body until the bot answers (read as soon as there is something to read)."""
        with socket.create_connection(("127.0.0.1", harness.server.port), timeout=30) as sock:
            framing = "Transfer-Encoding: chunked" if chunked else "Content-Length: 60000000"
            sock.sendall(f"POST /slack/events HTTP/1.1\r\nHost: x\r\n{framing}\r\n\r\n".encode())
            block = b"x" * 65536
            data = (b"%x\r\n%s\r\n" % (len(block), block)) if chunked else block
            sent, answer = 0, b""
            while not answer and sent < 60_000_000:
                readable, writable, _ = select.select([sock], [sock], [], 10)
                if readable:
                    answer = sock.recv(200)
                elif writable:
                    sent += sock.send(data)
            assert answer.startswith(b"HTTP/1.1 413"), answer[:40]
            assert sent < 10_000_000, f"the bot read {sent} bytes before refusing"

    kinds = iter([True, False] * 3)
    lock = threading.Lock()

    def one() -> None:
        with lock:
            chunked = next(kinds)
        flood(chunked)

    during(one, 6, harness)
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grown_mb < 150, f"the process grew by {grown_mb:.0f} MB"
    hostile.unchanged()


def test_a_key_typed_inline_is_masked_everywhere_and_encrypted_while_pending(hostile: Hostile) -> None:
    harness = hostile.harness
    text = f"models add {MODEL_ARGS} api_key='{INLINE_KEY}'"
    answer = hostile.reply("alice", text)
    assert "Approval requested" in answer and "api_key=***" in answer
    card = harness.wait_card()
    assert "api_key=***" in str(card)
    assert "api_key=***" in hostile.reply("carol", "approvals")
    assert "api_key=***" in hostile.reply("alice", f"{text} --dry-run")
    refused = hostile.reply("alice", f"models add {MODEL_ARGS} api_key='{INLINE_KEY}' rpm=1_000")
    assert "rpm" in refused and "whole number" in refused
    # the pending key waits in Redis, as ciphertext only
    assert "secret-args:" + operation_id_of(card) in observe(harness, hostile.logs).places["redis"]
    hostile.nothing_leaked(INLINE_KEY)
    hostile.unchanged()


def test_a_bot_secret_with_markup_and_longer_than_a_line_never_leaks_a_prefix(hostile: Hostile) -> None:
    harness = hostile.harness
    pods = [p["metadata"]["name"] for p in harness.kube.pods_of("litellm")]
    harness.kube.set_logs(pods[0], "litellm", [f"token={BOT_SECRET}", f"x {BOT_SECRET} y", "plain"] * 2)
    assert "log lines" in hostile.reply("carol", "logs litellm")
    harness.kube.set_logs(pods[0], "litellm", [f"{n} {BOT_SECRET}" for n in range(50)])
    hostile.reply("carol", "logs litellm")  # long output: a file as well
    wait_until(lambda: harness.slack.files, 10, "the uploaded log file")
    hostile.nothing_leaked()


def test_mentions_typed_or_alerted_never_ping(hostile: Hostile) -> None:
    harness = hostile.harness
    for text in (
        "logs litellm --grep '<!channel>'",
        "models verify '<!channel>'",
        "help <!here>",
        "scale <@U0HACKER> 2",
        "admin promote '<!subteam^S0HACK>@x.example'",
        "upgrade backend '<#C0HACK>'",
        "audit '<!everyone>'",
    ):
        hostile.reply("alice", text)
    summary = " ".join(MENTIONS) + " *LiteLLM* down"
    alert = {
        "version": "4",
        "groupKey": '{}:{alertname="X"}',
        "status": "firing",
        "receiver": "chatops",
        "commonLabels": {"alertname": "<!channel>", "severity": "critical", "component": "<!here>"},
        "commonAnnotations": {"summary": summary},
        "alerts": [
            {
                "status": "firing",
                "labels": {"alertname": "<!channel>", "pod": "<@U0HACKER>"},
                "annotations": {"description": "<!here> now"},
            }
        ],
    }
    posted = harness.http.post(
        f"{harness.server.url}{ALERTMANAGER_PATH}",
        json=alert,
        headers={"Authorization": f"Bearer {BOT_SECRET}"},
    )
    assert posted.status_code == 200
    wait_until(lambda: [m for m in harness.slack.messages(ALERTS) if "LiteLLM" in m["text"]], 10, "the alert")
    responsive(harness)
    hostile.no_raw_mentions()
    hostile.nothing_leaked()
    hostile.unchanged()


@pytest.mark.parametrize("user", ["alice", "eve"])
def test_control_and_direction_characters_are_refused_plainly_and_audited(
    hostile: Hostile, user: str
) -> None:
    for text in (
        "scale litellm 3\x00",
        "admin promote a\x00@x.example",
        "models verify gra\u202enite",
        "help \x1b[2J",
    ):
        answer = hostile.reply(user, text)
        assert "invisible character" in answer and "Something went wrong" not in answer
    refused = wait_until(
        lambda: (
            [r for r in audit_rows(hostile.harness.pg_url) if r[2] == "refused"][3:]
            and [r for r in audit_rows(hostile.harness.pg_url) if r[2] == "refused"]
        ),
        10,
        "four audit rows",
    )
    assert len(refused) == 4
    assert [r[1] for r in refused] == ["scale", "admin promote", "models verify", "help"]
    assert "\\\\u0000" in refused[0][3] and "U+0000" in refused[0][4]  # the NUL shown escaped
    assert "\\\\u202e" in refused[2][3] and "U+202E" in refused[2][4]
    assert hostile.harness.cards() == []
    hostile.unchanged()


@pytest.mark.parametrize("number", ["1_0", "3.0", "+3", "' 3'", "-1", "0x3"])
def test_numbers_must_be_plain_digits(hostile: Hostile, number: str) -> None:
    answer = hostile.reply("bob", f"scale litellm {number}")
    assert "replicas must be a whole number" in answer
    wait_until(lambda: [r for r in audit_rows(hostile.harness.pg_url) if r[1:3] == ("scale", "refused")])
    assert hostile.harness.cards() == []
    hostile.unchanged()


def test_an_approve_click_counts_only_on_its_own_card(hostile: Hostile) -> None:
    harness = hostile.harness
    hostile.reply("bob", "scale litellm 2")
    card = harness.wait_card()
    op_id = operation_id_of(card)
    elsewhere = harness.slack.messages("C0OPS")[0]["ts"] + "1"  # another message of the channel
    for ts, channel in ((elsewhere, "C0OPS"), (card["ts"], "C0ELSEWHERE")):
        response, key = harness.click("dave", "approval.approve", op_id, message_ts=ts, channel=channel)
        assert response.status_code == 200
        assert "not on this request's approval card" in harness.wait_reply(key)
    wait_until(lambda: [r for r in audit_rows(harness.pg_url) if r[2] == "blocked"][1:], 10, "2 blocked rows")
    assert harness.operations() == [("scale", "requested")]
    hostile.unchanged()
    harness.click("dave", "approval.approve", op_id, message_ts=card["ts"])  # on the card: it counts
    wait_until(lambda: harness.replicas() == 2, 20, "litellm at 2")


def test_an_alert_storm_is_accepted_and_posted_cut(hostile: Hostile) -> None:
    harness = hostile.harness
    alerts = [
        {
            "status": "firing",
            "labels": {"alertname": "PodDown", "pod": f"p-{n}"},
            "annotations": {"description": "d" * 300},
        }
        for n in range(1000)
    ]
    storm = {
        "version": "4",
        "groupKey": '{}:{alertname="PodDown"}',
        "status": "firing",
        "receiver": "chatops",
        "commonLabels": {"alertname": "PodDown", "severity": "warning"},
        "alerts": alerts,
    }
    response = harness.http.post(
        f"{harness.server.url}{ALERTMANAGER_PATH}",
        json=storm,
        headers={"Authorization": f"Bearer {BOT_SECRET}"},
    )
    assert response.status_code == 200, response.text
    [message] = wait_until(lambda: [m for m in harness.slack.messages(ALERTS) if "PodDown" in m["text"]], 10)
    assert "990 more not shown" in str(message["blocks"])
    responsive(harness)
