"""The command line as a newcomer meets it: demo, sandbox --write-env + serve --env-file, bad settings."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from sandbox.slack import sign, slash_command_body
from tests.e2e.harness import wait_until

BOT = [sys.executable, "-m", "bot"]


def clean_env(**extra: str) -> dict[str, str]:
    """The process environment without any setting of ours, plus `extra`."""
    ours = {
        "SLACK_",
        "KUBECONFIG",
        "LITEMAAS_",
        "BOT_DATABASE_URL",
        "REDIS_",
        "ACCESS_CONFIG",
        "PORT",
        "SLASH_",
    }
    env = {k: v for k, v in os.environ.items() if not any(k.startswith(p) for p in ours)}
    env.update(extra)
    return env


def test_missing_setting_stops_start_up_with_one_line_naming_it(tmp_path: Path) -> None:
    proc = subprocess.run(
        [*BOT, "serve", "--port", "0"],
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert proc.returncode == 2
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert (
        "SLACK_BOT_TOKEN" in lines[0] or "SLACK_SIGNING_SECRET" in lines[0] or "BOT_DATABASE_URL" in lines[0]
    )


def test_invalid_setting_is_named_without_its_value(tmp_path: Path) -> None:
    env_file = tmp_path / "bad.env"
    access = tmp_path / "access.yaml"
    access.write_text("channels: [C0OPS]\nroles: {}\napprovers: {users: []}\n")
    env_file.write_text(
        "SLACK_BOT_TOKEN=xoxb-secret-value-1234\nSLACK_SIGNING_SECRET=abc123abc123\n"
        f"BOT_DATABASE_URL=mysql://root:hunter2@db/x\nACCESS_CONFIG={access}\n"
    )
    proc = subprocess.run(
        [*BOT, "serve", "--env-file", str(env_file)],
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "BOT_DATABASE_URL" in proc.stderr
    assert "hunter2" not in proc.stderr and "xoxb-secret" not in proc.stderr


@pytest.mark.slow
def test_sandbox_write_env_then_serve_env_file_answers_signed_commands(tmp_path: Path) -> None:
    env_file = tmp_path / "sandbox.env"
    sandbox = subprocess.Popen(
        [*BOT, "sandbox", "--write-env", str(env_file), "--state-dir", str(tmp_path / "state")],
        env=clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    serve = None
    try:
        wait_until(env_file.exists, 30, "the env file")
        settings = dict(
            line.split("=", 1)
            for line in env_file.read_text().splitlines()
            if "=" in line and not line.startswith("#")
        )
        for key in ("KUBECONFIG", "LITEMAAS_NAMESPACE", "SLACK_API_URL", "BOT_DATABASE_URL", "REDIS_URL"):
            assert settings.get(key), key
        serve = subprocess.Popen(
            [*BOT, "serve", "--env-file", str(env_file), "--host", "127.0.0.1", "--port", "0"],
            env=clean_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        port = _port_of(serve)
        base = f"http://127.0.0.1:{port}"
        assert httpx.get(f"{base}/healthz", timeout=5).status_code == 200
        ready = httpx.get(f"{base}/readyz", timeout=5)
        assert ready.status_code == 200, ready.text
        body = slash_command_body(
            text="help", user_id="U0CAROL", channel_id="C0OPS", response_url=settings["SLACK_API_URL"] + "x"
        )
        response = httpx.post(
            f"{base}/slack/events",
            content=body,
            headers=sign(settings["SLACK_SIGNING_SECRET"], body),
            timeout=5,
        )
        assert response.status_code == 200
        forged = httpx.post(f"{base}/slack/events", content=body, headers=sign("wrong", body), timeout=5)
        assert forged.status_code == 401
    finally:
        for proc in (serve, sandbox):
            if proc is not None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(15)
                except subprocess.TimeoutExpired:
                    proc.kill()


def _port_of(proc: subprocess.Popen[str]) -> int:
    """Read the port from the serve log line "HTTP mode: /slack/events on port N"."""
    assert proc.stdout is not None
    deadline = time.monotonic() + 30
    seen = []
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        seen.append(line)
        if "on port" in line:
            return int(line.rsplit(" ", 1)[-1])
    raise AssertionError("serve did not report its port:\n" + "".join(seen))


@pytest.mark.slow
def test_demo_scale_approved_in_the_console(tmp_path: Path) -> None:
    script = "\n".join(
        [
            "as bob: /maas scale litellm 2",
            "as dave: press 1",
            "wait 6",
            "as carol: /maas status",
            "wait 3",
            "as eve: /maas scale litellm 5",
            "quit",
        ]
    )
    proc = subprocess.run(
        [*BOT, "demo", "--state-dir", str(tmp_path / "demo")],
        input=script + "\n",
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    out = proc.stdout
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "approval needed: scale litellm 2" in out.lower()
    assert "[1] Approve" in out
    assert "scaled from 1 to 2" in out
    assert "litellm-frontend" in out
    assert "no role" in out
    assert "<!date" not in out, "Slack date tokens are shown as their text"
