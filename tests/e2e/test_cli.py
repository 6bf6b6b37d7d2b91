"""The command line as a newcomer meets it: demo, sandbox --write-env + serve --env-file, bad settings."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import httpx
import pytest

from sandbox.slack import sign, slash_command_body
from tests.e2e.harness import wait_until
from tests.e2e.processes import BOT, ServeProcess, clean_env


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
def test_sandbox_write_env_then_serve_env_file_answers_signed_commands(
    tmp_path: Path, sandbox_state: Path
) -> None:
    env_file = tmp_path / "sandbox.env"
    sandbox = subprocess.Popen(
        [*BOT, "sandbox", "--write-env", str(env_file), "--state-dir", str(sandbox_state)],
        env=clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    serve: ServeProcess | None = None
    try:
        wait_until(env_file.exists, 30, "the env file")
        settings = dict(
            line.split("=", 1)
            for line in env_file.read_text().splitlines()
            if "=" in line and not line.startswith("#")
        )
        for key in ("KUBECONFIG", "LITEMAAS_NAMESPACE", "SLACK_API_URL", "BOT_DATABASE_URL", "REDIS_URL"):
            assert settings.get(key), key
        serve = ServeProcess(env_file)
        base = serve.url
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
        if serve is not None:
            serve.stop(15)
        sandbox.send_signal(signal.SIGTERM)
        try:
            sandbox.wait(15)
        except subprocess.TimeoutExpired:
            sandbox.kill()


def run_demo(state_dir: Path, script: str) -> str:
    """`litemaas-bot demo` fed `script` on its console; returns what it printed (it must exit 0)."""
    proc = subprocess.run(
        [*BOT, "demo", "--state-dir", str(state_dir)],
        input=script + "\n",
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


@pytest.mark.slow
def test_demo_scale_approved_in_the_console(sandbox_state: Path) -> None:
    script = "\n".join(
        [
            "as bob: /maas scale litellm 2",
            "as dave: press 1",
            "wait 30 for scaled from 1 to 2",
            "as carol: /maas status",
            "wait 20 for litellm-frontend",
            "as eve: /maas scale litellm 5",
            "quit",
        ]
    )
    out = run_demo(sandbox_state, script)
    assert "approval needed: scale litellm 2" in out.lower()
    assert "[1] Approve" in out
    assert "scaled from 1 to 2" in out
    assert "litellm-frontend" in out
    assert "no role" in out
    assert "<!date" not in out, "Slack date tokens are shown as their text"


@pytest.mark.slow
def test_demo_breaks_a_deployment_and_shows_the_alert_then_its_resolution(sandbox_state: Path) -> None:
    script = "\n".join(
        [
            "break litellm",
            "wait 40 for CrashLoopBackOff",
            "heal litellm",
            "wait 40 for Resolved",
            "break nothing",
            "quit",
        ]
    )
    out = run_demo(sandbox_state, script)
    assert "#ops-alerts" in out
    assert "CrashLoopBackOff" in out
    assert "Logs" in out  # the alert's fix button, numbered like any other
    assert "Resolved" in out
    assert "no deployment 'nothing'" in out


def test_a_bad_environments_file_stops_start_up_with_its_file_and_line(tmp_path: Path) -> None:
    access = tmp_path / "access.yaml"
    access.write_text("channels: [C0OPS]\nroles: {}\n")
    environments = tmp_path / "environments.yaml"
    environments.write_text(
        "environments:\n  prod:\n    namespace: litellm-prod\n    litellm_master_key: sk-hunter2-abcdef\n"
        "    production: maybe\n"
    )
    env_file = tmp_path / "envs.env"
    env_file.write_text(
        "SLACK_BOT_TOKEN=xoxb-secret-value-1234\nSLACK_SIGNING_SECRET=abc123abc123\n"
        f"BOT_DATABASE_URL=postgresql://postgres@127.0.0.1:1/x\nACCESS_CONFIG={access}\n"
        f"ENVIRONMENTS_CONFIG={environments}\n"
    )
    proc = subprocess.run(
        [*BOT, "serve", "--env-file", str(env_file)],
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "environments.yaml:5: environments.prod.production: input should be" in proc.stderr
    assert "Traceback" not in proc.stderr and "hunter2" not in proc.stderr
