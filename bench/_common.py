"""What the benchmarks share: starting servers, percentiles, and Slack-side load (signed slash commands).

Benchmarks import it as `_common` (run as scripts: `python bench/NAME.py`); the load tests import it
as `bench._common`, so a test and its benchmark send exactly the same load.
"""

from __future__ import annotations

import os
import socket
import statistics
import subprocess
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx

from sandbox.slack import sign, slash_command_body

# ---------------------------------------------------------------------------------------- servers


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(command: list[str], port: int, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """Start a server process and wait until it answers on `port`."""
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
            return proc
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"{command[:3]} did not start")


def stop_server(proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    """SIGTERM, then SIGKILL when it does not stop within `timeout` seconds."""
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()


def rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")) / 1024


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process has used so far (from /proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# ---------------------------------------------------------------------------------------- figures


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def describe(name: str, values: Sequence[float], width: int = 28) -> str:
    """One table row: p50, p90, p99, max and mean of `values` (seconds), in milliseconds."""
    return (
        f"{name:<{width}} p50 {percentile(values, 0.5) * 1000:7.1f} ms"
        f"   p90 {percentile(values, 0.9) * 1000:7.1f} ms"
        f"   p99 {percentile(values, 0.99) * 1000:7.1f} ms"
        f"   max {max(values) * 1000:7.1f} ms   mean {statistics.mean(values) * 1000:6.1f} ms"
    )


# ---------------------------------------------------------------------------------------- load

OPERATOR, VIEWER = "U0BOB", "U0CAROL"  # the sandbox's operator (may request a scale) and viewer
BAD_INPUT = ("scael litellm 2", "scale litellm many", "scale nosuch 2", "logs", "status --bogus")


@dataclass(frozen=True)
class SlashCommand:
    """One `/maas` command of a load: its kind (for the figures), who types it, and its response_url key."""

    kind: str
    user_id: str
    text: str
    key: str
    replicas: int | None = None  # for an approval request: the N of `scale litellm N`


def mixed_load(count: int, tag: str | None = None) -> list[SlashCommand]:
    """`count` commands cycling help, status, bad input, help, approval request (40/20/20/20 %).

    Approval requests are `scale litellm N` by the operator, N cycling through 2…10 (1 is the seeded
    replica count, a no-op; 10 the default upper bound): each is a separate request (its own trigger_id
    and response_url), so each must become exactly one operation row, however many share its N.
    """
    tag = tag or uuid.uuid4().hex[:6]
    commands: list[SlashCommand] = []
    approvals = 0
    for i in range(count):
        key = f"load-{tag}-{i}"
        step = i % 5
        if step in (0, 3):
            commands.append(SlashCommand("help", VIEWER, "help", key))
        elif step == 1:
            commands.append(SlashCommand("status", VIEWER, "status", key))
        elif step == 2:
            text = BAD_INPUT[(i // 5) % len(BAD_INPUT)]
            commands.append(SlashCommand("bad input", OPERATOR, text, key))
        else:
            n = 2 + approvals % 9
            approvals += 1
            commands.append(SlashCommand("approval request", OPERATOR, f"scale litellm {n}", key, n))
    return commands


@dataclass(frozen=True)
class Ack:
    """How one delivery went: the replica it went to, its HTTP status (None: no answer), its latency."""

    command: SlashCommand
    url: str
    status: int | None
    latency: float
    error: str = ""


def send_load(
    commands: Sequence[SlashCommand],
    urls: Sequence[str],
    secret: str,
    response_url: Callable[[str], str],
    *,
    duration: float,
    concurrency: int = 16,
    timeout: float = 10.0,
) -> list[Ack]:
    """Send every command signed, round-robin over `urls`, evenly spread over `duration` seconds
    (0: as fast as `concurrency` threads go); returns one `Ack` per command, in order."""
    client = httpx.Client(timeout=timeout, limits=httpx.Limits(max_connections=concurrency * len(urls)))
    start = time.monotonic() + 0.05
    gap = duration / max(1, len(commands))

    def send(index: int) -> Ack:
        command = commands[index]
        url = urls[index % len(urls)]
        body = slash_command_body(
            text=command.text,
            user_id=command.user_id,
            channel_id="C0OPS",
            response_url=response_url(command.key),
            trigger_id=f"trig-{command.key}-{uuid.uuid4().hex[:8]}",
        )
        delay = start + index * gap - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        started = time.perf_counter()
        try:
            response = client.post(url, content=body, headers=sign(secret, body))
        except httpx.HTTPError as exc:
            return Ack(command, url, None, time.perf_counter() - started, type(exc).__name__)
        return Ack(command, url, response.status_code, time.perf_counter() - started)

    try:
        with ThreadPoolExecutor(concurrency) as pool:
            return list(pool.map(send, range(len(commands))))
    finally:
        client.close()


def latencies_by_kind(acks: Sequence[Ack]) -> dict[str, list[float]]:
    """Ack latencies per command kind, plus "all"."""
    kinds: dict[str, list[float]] = {}
    for ack in acks:
        kinds.setdefault(ack.command.kind, []).append(ack.latency)
    kinds["all"] = [ack.latency for ack in acks]
    return kinds
