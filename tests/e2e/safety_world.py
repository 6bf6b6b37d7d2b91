"""The world the safety model drives: bot instances sharing one PostgreSQL, Redis, cluster and Slack.

Each instance reaches every peer (PostgreSQL, Redis, the Kubernetes API, Slack's Web API) through its
own loopback proxy, so a fault hits one instance only: `cut_postgres` drops its open PostgreSQL
connections (it reconnects), `crash` stops its HTTP server and severs every peer at once; from then
on nothing it does reaches the world, as after `kill -9` (its threads live on, talking to nobody).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import psycopg
import redis
from psycopg.rows import dict_row

from bot.recovery import lock_targets
from bot.runtime import build_bot
from bot.settings import load_settings
from bot.store import OperationRecord
from commands.environment import DEFAULT_COMPONENTS
from sandbox.kube import KubeSandbox
from sandbox.slack import SlackSandbox
from tests.e2e.harness import BotHarness, is_card
from tests.integration.cutting_proxy import CuttingProxy

ENDED = ("succeeded", "failed", "interrupted")
LOCK_TTL_SECONDS = 2  # renewed every 2/3 s; the model expires the keys itself (no waiting out a TTL)


class LogCapture(logging.Handler):
    """Every log line the bots emit, as the root handlers see it (after the bots' redaction filter)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []
        self._guard = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = self.format(record)
        except Exception:  # a broken record must not break the run
            text = str(record.msg)
        with self._guard:
            self.lines.append(text)

    def text(self) -> str:
        with self._guard:
            return "\n".join(self.lines)

    def count(self, fragment: str) -> int:
        with self._guard:
            return sum(fragment in line for line in self.lines)


def _upstream(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", int(parts.port or 0)


def _via(url: str, proxy: CuttingProxy) -> str:
    """`url` with its host and port replaced by the proxy's."""
    parts = urlsplit(url)
    netloc = urlsplit(proxy.url).netloc
    if parts.username:
        netloc = f"{parts.username}@{netloc}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


@dataclass
class Instance:
    """One replica of the service, its peers behind proxies of its own."""

    name: str
    harness: BotHarness
    postgres: CuttingProxy
    proxies: list[CuttingProxy]
    alive: bool = True
    orphans: set[str] = field(default_factory=set)  # its operations when it crashed

    @property
    def bot(self) -> Any:
        return self.harness.bot

    def inflight(self) -> set[str]:
        """The operations this instance runs or has queued (nothing once crashed)."""
        return self.bot.service.recovery.inflight.ids() if self.alive else set()

    def quiesce(self, timeout: float = 15.0) -> None:
        """Wait until every acknowledged command and click has been answered."""
        if self.alive:
            self.bot.service.intake.pool.wait_idle(timeout)

    def cut_postgres(self) -> None:
        self.postgres.drop_open()

    def crash(self) -> None:
        """Stop without any cleanup: no lock released, no row or message updated, ever again."""
        self.orphans = self.inflight()
        self.alive = False
        for proxy in self.proxies:
            proxy.sever()
        self.harness.http.close()  # no keep-alive connection holds the server's stop
        self.harness.server.stop()

    def close(self) -> None:
        self.harness.http.close()
        if self.alive:
            self.bot.wait_idle(3)
            self.harness.server.stop()
        self.bot.close(grace=0.5 if self.alive else 0.0)
        for proxy in self.proxies:
            proxy.close()


def start_instance(
    name: str,
    settings: dict[str, Any],
    *,
    kube: KubeSandbox,
    slack: SlackSandbox,
    pg_url: str,
    tmp_path: Path,
) -> Instance:
    """Build and serve one instance whose PostgreSQL, Redis, Kubernetes and Slack go through proxies."""
    postgres = CuttingProxy(_upstream(pg_url))
    rds = CuttingProxy(_upstream(str(settings["redis_url"])))
    slack_proxy = CuttingProxy(_upstream(slack.api_url))
    kube_proxy = CuttingProxy(_upstream(kube.url))
    kubeconfig = kube.write_kubeconfig(tmp_path / f"kubeconfig-{name}", namespace="litellm-rhpds")
    kubeconfig.write_text(kubeconfig.read_text().replace(kube.url, kube_proxy.url))
    values = {
        **settings,
        "bot_database_url": _via(pg_url, postgres),
        "redis_url": _via(str(settings["redis_url"]), rds),
        "slack_api_url": _via(slack.api_url, slack_proxy),
        "kubeconfig": kubeconfig,
        "lock_ttl_seconds": LOCK_TTL_SECONDS,
        "pod_name": name,
    }
    bot = build_bot(load_settings(**values), progress_interval=0.0)
    server = bot.http_server("127.0.0.1", 0).start()
    harness = BotHarness(bot, server, kube, slack, pg_url, httpx.Client(timeout=10))
    return Instance(name, harness, postgres, [postgres, rds, slack_proxy, kube_proxy])


# ---------------------------------------------------------------------- observations


def operations(pg_url: str) -> list[OperationRecord]:
    with psycopg.connect(pg_url, row_factory=dict_row) as conn:
        rows = conn.execute("SELECT * FROM chatops.operations ORDER BY created_at").fetchall()
    return [OperationRecord.from_row(r) for r in rows]


def audit_counts(pg_url: str) -> dict[tuple[str, str], int]:
    """(operation id, outcome) → how many audit rows say so."""
    with psycopg.connect(pg_url) as conn:
        rows = conn.execute(
            "SELECT operation_id::text, outcome, count(*) FROM chatops.audit"
            " WHERE operation_id IS NOT NULL GROUP BY 1, 2"
        ).fetchall()
    return {(str(o), str(outcome)): int(n) for o, outcome, n in rows}


def stored_text(pg_url: str) -> str:
    """Every row the bot keeps, as text."""
    with psycopg.connect(pg_url) as conn:
        tables = conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'chatops'"
        ).fetchall()
        texts = [
            str(row[0])
            for (table,) in tables
            for row in conn.execute(
                f'SELECT row_to_json(t)::text FROM chatops."{table}" t'  # names from the catalogue
            ).fetchall()
        ]
    return "\n".join(texts)


def redis_text(client: redis.Redis, prefix: str) -> str:
    """Every key under `prefix` and its value, as text."""
    out: list[str] = []
    for key in client.scan_iter(match=prefix + "*", count=500):
        kind = client.type(key)
        value = _read(client, key, kind.decode() if isinstance(kind, bytes) else str(kind))
        out.append(f"{key!r} {value!r}")
    return "\n".join(out)


def _read(client: redis.Redis, key: Any, kind: str) -> Any:
    if kind == "string":
        return client.get(key)
    if kind == "hash":
        return client.hgetall(key)
    if kind == "list":
        return client.lrange(key, 0, -1)
    if kind == "set":
        return client.smembers(key)
    if kind == "zset":
        return client.zrange(key, 0, -1)
    if kind == "stream":
        return client.xrange(key)
    return None


def locks_held(client: redis.Redis, prefix: str) -> dict[str, str | None]:
    """Lock key → the operation id its value names."""
    held: dict[str, str | None] = {}
    for key in client.scan_iter(match=f"{prefix}lock:*", count=500):
        raw = client.get(key)
        if raw is None:
            continue
        try:
            held[key.decode()] = json.loads(raw).get("operation")
        except ValueError:
            held[key.decode()] = None
    return held


def touched(record: OperationRecord) -> set[str]:
    """What an operation changes, from its command alone (the model's view, independent of the lock
    set the code declares): a component's Deployment, every Deployment for `all`."""
    deployments = {name: c.deployment for name, c in DEFAULT_COMPONENTS.items()}
    component = str((record.args or {}).get("component", ""))
    if record.command in ("scale", "restart", "upgrade", "rollback"):
        if component == "all":
            return {f"deployment/{d}" for d in deployments.values()}
        return {f"deployment/{deployments.get(component, component)}"}
    return {record.command}


def overlapping(records: list[OperationRecord]) -> list[tuple[str, str, set[str]]]:
    """Pairs of operations that change a common target (by `touched`) or share a declared lock."""
    found = []
    for i, first in enumerate(records):
        for second in records[i + 1 :]:
            shared = (touched(first) & touched(second)) | (
                set(lock_targets(first)) & set(lock_targets(second))
            )
            if shared:
                found.append((first.text, second.text, shared))
    return found


def final_text_agrees(state: str, text: str) -> bool:
    """Does a final Slack message's text say what the row says?"""
    if state == "succeeded":
        return text.lstrip().startswith("✅")
    if state == "failed":
        return text.lstrip().startswith("❌") and "interrupted" not in text.lower()
    if state == "interrupted":
        return "interrupted" in text.lower()
    return False


CARD_LABEL = {"succeeded": "Succeeded", "failed": "Failed", "interrupted": "Interrupted"}


def message_text(slack: SlackSandbox, channel: str, ts: str) -> str:
    try:
        message = slack.message(channel, ts)
    except (KeyError, LookupError, AssertionError):
        return ""
    return str(message.get("text", "")) + json.dumps(message.get("blocks") or [], ensure_ascii=False)


def non_card_messages(slack: SlackSandbox, channel: str, since: set[str]) -> list[dict[str, Any]]:
    """Messages posted in `channel` since the snapshot `since` (their ts) that are not approval cards."""
    return [m for m in slack.messages(channel) if m["ts"] not in since and not is_card(m)]


def eventually(check: Callable[[], str | None], timeout: float) -> str | None:
    """None once `check()` returns None within `timeout`; else its last complaint."""
    import time

    deadline = time.monotonic() + timeout
    complaint = check()
    while complaint is not None and time.monotonic() < deadline:
        time.sleep(0.05)
        complaint = check()
    return complaint
