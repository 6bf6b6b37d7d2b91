"""`litemaas-bot serve` in Socket Mode: the real process connects to the Slack fake's websocket, acks each
envelope, answers `/maas help`, posts an approval card for a scale, scales once Approve is clicked, and
reconnects when Slack asks it to."""

from __future__ import annotations

import re
import signal
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from sandbox.kube import KubeSandbox
from sandbox.slack import SlackSandbox
from tests.e2e import processes
from tests.e2e.harness import operation_id_of, wait_until
from tests.e2e.test_cli import BOT, clean_env

APP_TOKEN = "xapp-sandbox"  # the app-level token the e2e Slack fake accepts


def write_env_file(path: Path, settings: dict[str, Any]) -> Path:
    """The settings as the dotenv file `serve --env-file` reads (names upper-cased, maps as JSON)."""
    return processes.write_env_file(settings, path)


@pytest.fixture
def socket_bot(settings_for: Callable[..., dict[str, Any]], tmp_path: Path) -> Iterator[Path]:
    """A `litemaas-bot serve` subprocess in Socket Mode; yields its log file (stdout and stderr)."""
    env_file = write_env_file(tmp_path / "socket.env", settings_for(slack_app_token=APP_TOKEN))
    log_path = tmp_path / "serve.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [*BOT, "serve", "--env-file", str(env_file), "--host", "127.0.0.1", "--port", "0"],
            env=clean_env(),
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
        )
    try:
        yield log_path
    finally:
        proc.send_signal(signal.SIGTERM)
        code: int | None
        try:
            code = proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            code = None
    assert code == 0, "serve did not stop cleanly on SIGTERM:\n" + log_path.read_text()[-3000:]


def serve_port(log_path: Path) -> int:
    """The health port from "Socket Mode connected; health on port N" in the serve log."""
    found = wait_until(
        lambda: re.search(r"Socket Mode connected; health on port (\d+)", log_path.read_text()),
        60,
        "serve to report Socket Mode connected",
    )
    return int(found.group(1))


def approval_card(slack: SlackSandbox) -> dict[str, Any]:
    """The newest approval card in #ops (waits for one)."""
    cards = wait_until(
        lambda: [m for m in slack.messages("C0OPS") if str(m.get("text", "")).startswith("Approval needed")],
        15,
        "an approval card",
    )
    return dict(cards[-1])


@pytest.mark.slow
def test_serve_in_socket_mode_answers_help_and_runs_an_approved_scale(
    socket_bot: Path, slack: SlackSandbox, kube: KubeSandbox
) -> None:
    try:
        _help_then_approved_scale(socket_bot, slack, kube)
    except AssertionError as exc:
        calls = "\n  ".join(call.describe() for call in slack.calls)
        log = socket_bot.read_text()[-4000:]
        raise AssertionError(f"{exc}\nSlack calls:\n  {calls}\nserve log:\n{log}") from None


def _help_then_approved_scale(log_path: Path, slack: SlackSandbox, kube: KubeSandbox) -> None:
    port = serve_port(log_path)
    wait_until(slack.socket_connected, 30, "the bot's websocket")
    opened = slack.calls_to("apps.connections.open")
    assert opened and opened[0].headers["authorization"] == f"Bearer {APP_TOKEN}"
    assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code == 200

    help_id = slack.socket_deliver_command("carol", "C0OPS", "help")
    assert slack.wait_for_ack(help_id, 5)["envelope_id"] == help_id
    help_text = wait_until(lambda: slack.responses(help_id), 15, "the help answer")
    assert "`/maas status`" in str(help_text) and "`/maas approvals`" in str(help_text)

    scale_id = slack.socket_deliver_command("bob", "C0OPS", "scale litellm 3")
    assert slack.wait_for_ack(scale_id, 5)["envelope_id"] == scale_id
    card = approval_card(slack)
    assert "scale litellm 3" in card["text"]
    slack.wait_for(
        "chat.postMessage", lambda call: str(call.args.get("text", "")).startswith("Approval needed")
    )
    assert kube.get("deployments", "litellm")["spec"]["replicas"] == 1, "nothing changes before approval"

    click_id = slack.socket_deliver_action(
        "dave", "approval.approve", operation_id_of(card), channel="C0OPS", message_ts=card["ts"]
    )
    assert slack.wait_for_ack(click_id, 5) == {"envelope_id": click_id}
    wait_until(lambda: kube.get("deployments", "litellm")["spec"]["replicas"] == 3, 30, "litellm scaled to 3")
    wait_until(
        lambda: [m for m in slack.messages("C0OPS") if "scaled from 1 to 3" in str(m)], 30, "the result"
    )
    assert {ack["envelope_id"] for ack in slack.socket_acks} == {help_id, scale_id, click_id}

    # Slack refreshes connections: the bot reconnects on `disconnect` and keeps answering
    assert slack.socket_disconnect("refresh_requested") == 1
    wait_until(lambda: slack.socket_connections_opened >= 2, 15, "the bot to reconnect")
    status_id = wait_until(lambda: _deliver_status(slack), 15, "a delivery on the new connection")
    slack.wait_for_ack(status_id, 5)
    status = wait_until(lambda: slack.responses(status_id), 15, "the status answer")
    assert "3/3" in str(status)


def _deliver_status(slack: SlackSandbox) -> str | None:
    try:
        return slack.socket_deliver_command("carol", "C0OPS", "status")
    except RuntimeError:  # between the old connection closing and the new one saying hello
        return None
