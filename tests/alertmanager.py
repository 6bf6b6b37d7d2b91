"""The real Prometheus Alertmanager as a test peer: one process on loopback, clustering off, its own dirs.

`AlertmanagerProcess(tmp_path, webhook_url=..., token=...)` writes a config whose only receiver is a
webhook (bearer token, `send_resolved`, 1 s grouping), starts the binary and waits for `/-/ready`.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import yaml

BINARY_NAMES = ("prometheus-alertmanager", "alertmanager")  # Debian's name, upstream's name


def alertmanager_binary() -> str | None:
    """The Alertmanager executable on PATH, or None."""
    for name in BINARY_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def webhook_config(
    webhook_url: str, token: str, group_by: tuple[str, ...] = ("alertname",)
) -> dict[str, Any]:
    """An Alertmanager config sending every alert to one webhook, quickly (1 s group wait/interval)."""
    return {
        "route": {
            "receiver": "chatops",
            "group_by": list(group_by),
            "group_wait": "1s",
            "group_interval": "1s",
            "repeat_interval": "1h",
        },
        "receivers": [
            {
                "name": "chatops",
                "webhook_configs": [
                    {
                        "url": webhook_url,
                        "send_resolved": True,
                        "http_config": {"authorization": {"type": "Bearer", "credentials": token}},
                    }
                ],
            }
        ],
    }


class AlertmanagerProcess:
    """One Alertmanager on a free loopback port; `start()` waits until it is ready, `stop()` ends it."""

    def __init__(self, workdir: Path, *, webhook_url: str, token: str, binary: str | None = None) -> None:
        self.workdir = workdir
        self.binary = binary or alertmanager_binary() or BINARY_NAMES[0]
        self.port = free_port()
        self.config_path = workdir / "alertmanager.yml"
        self.config_path.write_text(yaml.safe_dump(webhook_config(webhook_url, token)))
        self.log_path = workdir / "alertmanager.log"
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 20.0) -> AlertmanagerProcess:
        storage = self.workdir / "alertmanager-data"
        storage.mkdir(exist_ok=True)
        with self.log_path.open("wb") as log:
            self._process = subprocess.Popen(
                [
                    self.binary,
                    f"--config.file={self.config_path}",
                    f"--storage.path={storage}",
                    f"--web.listen-address=127.0.0.1:{self.port}",
                    "--cluster.listen-address=",  # no gossip: a single instance notifies at once
                    "--log.level=debug",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self._wait_ready(timeout)
        return self

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self._process is not None
            if self._process.poll() is not None:
                raise RuntimeError(f"alertmanager exited with {self._process.returncode}:\n{self.log()}")
            try:
                if httpx.get(f"{self.url}/-/ready", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"alertmanager not ready after {timeout}s:\n{self.log()}")

    def post_alert(
        self,
        labels: dict[str, str],
        annotations: dict[str, str] | None = None,
        *,
        starts_at: datetime | None = None,
        ends_at: datetime | None = None,
    ) -> None:
        """Send one alert through API v2, as Prometheus would; `ends_at` in the past resolves it."""
        alert: dict[str, Any] = {"labels": labels, "annotations": annotations or {}}
        if starts_at is not None:
            alert["startsAt"] = starts_at.isoformat()
        if ends_at is not None:
            alert["endsAt"] = ends_at.isoformat()
        response = httpx.post(f"{self.url}/api/v2/alerts", json=[alert], timeout=5)
        response.raise_for_status()

    def resolve_alert(
        self, labels: dict[str, str], annotations: dict[str, str] | None = None, *, started: datetime
    ) -> None:
        """Mark the alert with these labels as ended a moment ago."""
        ended = datetime.now(UTC) - timedelta(seconds=1)
        self.post_alert(labels, annotations, starts_at=started, ends_at=ended)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        if self._process is None:
            return
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(timeout=5)
        self._process = None
