"""A running bot and the moves a Slack user can make against it: signed commands and clicks."""

from __future__ import annotations

import itertools
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import psycopg

from bot.http import HttpServer
from bot.runtime import Bot
from sandbox.kube import KubeSandbox
from sandbox.slack import SlackSandbox, block_actions_body, sign, slash_command_body
from sandbox.world import DEMO_USERS

SIGNING_SECRET = "e2e-signing-secret-0123456789"
BOT_TOKEN = "xoxb-e2e-sandbox-token"
U = DEMO_USERS  # alice admin+approver, bob operator, carol viewer, dave approver, eve nobody


def wait_until(predicate: Callable[[], Any], timeout: float = 10.0, what: str = "condition") -> Any:
    """Poll until `predicate()` is truthy; fail the test with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


@dataclass
class BotHarness:
    """A running bot plus the sandbox around it, and the moves a Slack user can make."""

    bot: Bot
    server: HttpServer
    kube: KubeSandbox
    slack: SlackSandbox
    pg_url: str
    http: httpx.Client

    _keys = itertools.count(1)

    def command(
        self,
        user: str,
        text: str,
        *,
        channel: str = "C0OPS",
        secret: str = SIGNING_SECRET,
        timestamp: int | None = None,
        extra_headers: dict[str, str] | None = None,
        body: str | None = None,
    ) -> tuple[httpx.Response, str]:
        """Send a signed `/maas <text>` as `user`; returns the HTTP response and the response_url key."""
        key = f"cmd-{next(self._keys)}-{uuid.uuid4().hex[:6]}"
        body = body or slash_command_body(
            text=text,
            user_id=U.get(user, user),
            channel_id=channel,
            response_url=self.slack.response_url(key),
            trigger_id=f"trig-{uuid.uuid4().hex}",
        )
        headers = sign(secret, body, timestamp)
        headers.update(extra_headers or {})
        return self.http.post(f"{self.server.url}/slack/events", content=body, headers=headers), key

    def click(
        self, user: str, action_id: str, operation_id: str, *, message_ts: str, channel: str = "C0OPS"
    ) -> tuple[httpx.Response, str]:
        key = f"act-{next(self._keys)}-{uuid.uuid4().hex[:6]}"
        body = block_actions_body(
            user_id=U.get(user, user),
            action_id=action_id,
            value=operation_id,
            channel_id=channel,
            message_ts=message_ts,
            response_url=self.slack.response_url(key),
        )
        return self.http.post(
            f"{self.server.url}/slack/events", content=body, headers=sign(SIGNING_SECRET, body)
        ), key

    def reply_texts(self, key: str) -> list[str]:
        return [str(r.get("text", "")) for r in self.slack.responses(key)]

    def wait_reply(self, key: str, timeout: float = 10.0) -> str:
        texts = wait_until(lambda: self.reply_texts(key), timeout, f"a reply on {key}")
        return str(texts[-1])

    def cards(self, channel: str = "C0OPS") -> list[dict[str, Any]]:
        """Messages carrying approval buttons or an approval state (current content)."""
        return [m for m in self.slack.messages(channel) if is_card(m)]

    def wait_card(self, channel: str = "C0OPS") -> dict[str, Any]:
        cards: list[dict[str, Any]] = wait_until(lambda: self.cards(channel), 10, "an approval card")
        return cards[-1]

    def audit_outcomes(self) -> list[tuple[str, str, str]]:
        with psycopg.connect(self.pg_url) as conn:
            rows = conn.execute("SELECT actor, command, outcome FROM chatops.audit ORDER BY id").fetchall()
        return [(str(a), str(c), str(o)) for a, c, o in rows]

    def operations(self) -> list[tuple[str, str]]:
        with psycopg.connect(self.pg_url) as conn:
            rows = conn.execute(
                "SELECT command, state FROM chatops.operations ORDER BY created_at"
            ).fetchall()
        return [(str(c), str(s)) for c, s in rows]

    def replicas(self, deployment: str = "litellm") -> int:
        return int(self.kube.get("deployments", deployment)["spec"]["replicas"])

    def mutations(self) -> list[Any]:
        """Every write the bot sent to the Kubernetes API."""
        return self.kube.writes()


def is_card(message: dict[str, Any]) -> bool:
    """An approval card (a production one starts with its environment's banner)."""
    return "Approval needed" in str(message.get("text", "")).split(":")[0]


def operation_id_of(card: dict[str, Any]) -> str:
    for block in card.get("blocks") or []:
        for element in block.get("elements") or []:
            if element.get("action_id") == "approval.approve":
                return str(element["value"])
    raise AssertionError(f"no Approve button on {card.get('text')!r}")
