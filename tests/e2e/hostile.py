"""What the hostile-input suite watches: everything the bot sent or kept, and whether it still answers.

`Observed` gathers every outbound and stored text of a running bot (Slack Web API calls, response_url
answers and files recorded by the Slack sandbox; the bot's log lines as its handlers print them;
every row of its PostgreSQL schema; every Redis value under its prefix) so one assertion covers
"no secret anywhere" and "no raw mention from input anywhere". `responsive` is the liveness bar.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import psycopg
import redis

from tests.e2e.harness import BotHarness, wait_until

HEALTHZ_BUDGET = 1.0  # seconds: /healthz must answer within this during an attack
ACK_BUDGET = 3.0  # seconds: Slack gives up on an unacknowledged command after 3 s
MENTIONS = ("<!channel>", "<!here>", "<!everyone>", "<@U0HACKER>", "<#C0HACK>", "<!subteam^S0HACK>")


class LogLines(logging.Handler):
    """The bot's log as printed: installed on the root logger before the bot is built, so the bot's
    redaction filter sits on it like on the real handlers."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []
        self._guard = threading.Lock()
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        line = self.format(record)
        with self._guard:
            self.lines.append(line)

    def text(self) -> str:
        with self._guard:
            return "\n".join(self.lines)


@contextmanager
def captured_logs() -> Iterator[LogLines]:
    root = logging.getLogger()
    handler, level = LogLines(), root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


@dataclass
class Observed:
    """The texts of one place the bot writes to, by name."""

    places: dict[str, str]

    def containing(self, needles: Iterable[str]) -> list[tuple[str, str]]:
        """(place, needle) for every needle found somewhere."""
        return [(place, n) for n in needles for place, text in self.places.items() if n in text]


def observe(harness: BotHarness, logs: LogLines) -> Observed:
    """Everything the bot sent or stored so far."""
    slack = harness.slack
    return Observed(
        {
            # Web API calls and response_url answers (recorded as calls too), then uploaded files' text
            "slack calls": json.dumps([c.args for c in slack.calls], default=str, ensure_ascii=False),
            "slack files": json.dumps(slack.files, default=str, ensure_ascii=False),
            "bot log": logs.text(),
            "postgresql": bot_rows(harness.pg_url),
            "redis": redis_values(harness),
        }
    )


def secret_pieces(secret: str, width: int = 12) -> set[str]:
    """The secret, its Slack-escaped form, and every `width`-character piece of either (a clipped prefix)."""
    escaped = secret.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    pieces = {secret, escaped}
    for text in (secret, escaped):
        pieces |= {text[i : i + width] for i in range(max(0, len(text) - width + 1))}
    return pieces


def bot_rows(pg_url: str) -> str:
    """Every row of every table of the bot's schema, as JSON text."""
    with psycopg.connect(pg_url) as conn:
        tables = [
            str(r[0])
            for r in conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'chatops'"
            )
        ]
        rows = [
            str(r[0])
            for table in tables
            for r in conn.execute(f'SELECT row_to_json(t)::text FROM chatops."{table}" t')
        ]
    return "\n".join(rows)


def table_digests(url: str) -> dict[str, str]:
    """A digest of every table of the public schema of an operated database: "nothing changed"."""
    with psycopg.connect(url) as conn:
        tables = [
            str(r[0])
            for r in conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
            )
        ]
        out: dict[str, str] = {}
        for table in tables:
            row = conn.execute(
                f"SELECT md5(coalesce(string_agg(t::text, ',' ORDER BY t::text), '')) FROM \"{table}\" t"
            ).fetchone()
            out[table] = str(row[0] if row else "")
    return out


def redis_values(harness: BotHarness) -> str:
    """Every value under the bot's Redis prefix, whatever its type, as text."""
    client = redis.Redis.from_url(harness.bot.settings.redis_url.get_secret_value())
    parts: list[str] = []
    try:
        for key in client.scan_iter(match=harness.bot.settings.redis_prefix + "*", count=1000):
            kind = client.type(key)
            if kind == b"string":
                value: object = client.get(key)
            elif kind == b"hash":
                value = client.hgetall(key)
            elif kind == b"list":
                value = client.lrange(key, 0, -1)
            elif kind == b"set":
                value = client.smembers(key)
            elif kind == b"zset":
                value = client.zrange(key, 0, -1)
            else:
                value = kind
            parts.append(f"{key!r}={value!r}")
    finally:
        client.close()
    return "\n".join(parts)


def responsive(harness: BotHarness, user: str = "carol") -> tuple[float, float]:
    """(healthz seconds, another user's command ack seconds); fails beyond the budgets."""
    started = time.monotonic()
    health = harness.http.get(f"{harness.server.url}/healthz", timeout=HEALTHZ_BUDGET * 5)
    healthz = time.monotonic() - started
    started = time.monotonic()
    response, key = harness.command(user, "whoami")
    ack = time.monotonic() - started
    assert health.status_code == 200 and response.status_code == 200
    assert healthz < HEALTHZ_BUDGET, f"/healthz took {healthz:.2f}s"
    assert ack < ACK_BUDGET, f"a command was acknowledged after {ack:.2f}s"
    wait_until(lambda: harness.slack.responses(key), 10, "the other user's answer")
    return healthz, ack


def audit_rows(pg_url: str) -> list[tuple[str, str, str, str, str]]:
    """(actor, command, outcome, args as text, detail) of every audit row, oldest first."""
    with psycopg.connect(pg_url) as conn:
        rows = conn.execute(
            "SELECT actor, command, outcome, args::text, coalesce(detail, '') FROM chatops.audit ORDER BY id"
        ).fetchall()
    return [(str(a), str(c), str(o), str(g), str(d)) for a, c, o, g, d in rows]
