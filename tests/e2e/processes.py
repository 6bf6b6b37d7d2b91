"""`litemaas-bot serve` as a real process: started with an env file, its log kept, stopped with SIGTERM.

Used by the tests that need the bot as it runs in production (its own process, HTTP mode), e.g. the
command-line tests and the several-replicas tests.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Mapping
from pathlib import Path

BOT = [sys.executable, "-m", "bot"]
PORT_LINE = re.compile(r"on port (\d+)")  # "HTTP mode: /slack/events on port N", as text or JSON
OUR_SETTINGS = (
    "SLACK_",
    "KUBECONFIG",
    "LITEMAAS_",
    "BOT_DATABASE_URL",
    "REDIS_",
    "ACCESS_CONFIG",
    "PORT",
    "SLASH_",
)


def clean_env(**extra: str) -> dict[str, str]:
    """The process environment without any setting of ours, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(OUR_SETTINGS)}
    env.update(extra)
    return env


def write_env_file(settings: Mapping[str, object], path: Path) -> Path:
    """Write `settings` (names as `load_settings` takes them, any case) as an env file `serve` reads;
    maps and lists as JSON, as pydantic-settings reads them."""
    lines = [
        f"{name.upper()}={json.dumps(value) if isinstance(value, dict | list) else value}"
        for name, value in settings.items()
        if value is not None
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


class ServeProcess:
    """One `litemaas-bot serve --env-file FILE --port 0` process; its output is drained and kept."""

    def __init__(self, env_file: Path, *, start_timeout: float = 30.0, **env: str) -> None:
        self.proc = subprocess.Popen(
            [*BOT, "serve", "--env-file", str(env_file), "--host", "127.0.0.1", "--port", "0"],
            env=clean_env(**env),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self._lines: list[str] = []
        self._port: int | None = None
        self._port_seen = threading.Event()
        # An undrained pipe fills up under load and would block the bot's logging, so read it always.
        self._drain = threading.Thread(target=self._read_output, name="serve-log", daemon=True)
        self._drain.start()
        if not self._port_seen.wait(start_timeout) or self._port is None:
            self.stop()
            raise AssertionError("serve did not report its port:\n" + self.log())

    def _read_output(self) -> None:
        """Keep every line; the port comes from the line saying "on port N"."""
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._lines.append(line)
            found = PORT_LINE.search(line) if self._port is None else None
            if found:
                self._port = int(found.group(1))
                self._port_seen.set()
        self._port_seen.set()  # the process ended: stop waiting for a port

    @property
    def url(self) -> str:
        """Base URL, e.g. `http://127.0.0.1:40123`."""
        return f"http://127.0.0.1:{self._port}"

    @property
    def events_url(self) -> str:
        """Where Slack delivers commands and clicks."""
        return f"{self.url}/slack/events"

    def log(self) -> str:
        """Everything the process printed so far."""
        return "".join(list(self._lines))

    def stop(self, timeout: float = 30.0) -> int | None:
        """SIGTERM (running work may finish), then SIGKILL after `timeout`; returns the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._drain.join(5)
        return self.proc.returncode
