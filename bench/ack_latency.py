"""Ack latency of signed slash commands in HTTP mode, against a bare Bolt app in the same run.

    .venv/bin/python bench/ack_latency.py [--requests 2000] [--concurrency 20]

Prints p50/p99/max of the bot for `/maas help` and `/maas scale litellm 3`, the same for a bare
Bolt app that only acks, their ratios, and the idle RSS of a `litemaas-bot serve` process.
Targets (issue 2): p50 ratio <= 1.5, no ack slower than 1 s, idle RSS < 150 MB.
Needs the local PostgreSQL and Redis (`.ci/services`).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from slack_bolt import Ack, App
from slack_sdk import WebClient

from bot.http import BotWsgiApp, HttpServer
from bot.runtime import build_bot
from bot.settings import load_settings
from sandbox.slack import sign, slash_command_body
from sandbox.world import SandboxWorld


def measure(url: str, secret: str, texts: list[str], response_url: str, concurrency: int) -> list[float]:
    """Send every text as a signed slash command; returns each ack's latency in seconds."""
    bodies = [
        slash_command_body(
            text=text,
            user_id="U0BOB",
            channel_id="C0OPS",
            response_url=response_url,
            trigger_id=uuid.uuid4().hex,
        )
        for text in texts
    ]
    client = httpx.Client(timeout=10, limits=httpx.Limits(max_connections=concurrency))

    def send(body: str) -> float:
        headers = sign(secret, body)
        start = time.perf_counter()
        response = client.post(url, content=body, headers=headers)
        elapsed = time.perf_counter() - start
        if response.status_code != 200:
            raise RuntimeError(f"HTTP {response.status_code}: {response.text[:200]}")
        return elapsed

    with ThreadPoolExecutor(concurrency) as pool:
        latencies = list(pool.map(send, bodies))
    client.close()
    return latencies


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def describe(name: str, values: list[float]) -> str:
    return (
        f"{name:<28} p50 {percentile(values, 0.5) * 1000:7.1f} ms"
        f"   p99 {percentile(values, 0.99) * 1000:7.1f} ms"
        f"   max {max(values) * 1000:7.1f} ms   mean {statistics.mean(values) * 1000:6.1f} ms"
    )


def bare_bolt(world: SandboxWorld) -> HttpServer:
    """The baseline: a Bolt app that only acks the same signed command."""
    assert world.slack is not None
    app = App(
        client=WebClient(token=world.bot_token, base_url=world.slack.api_url),
        signing_secret=world.signing_secret,
        token_verification_enabled=False,
    )

    @app.command("/maas")
    def on_command(ack: Ack) -> None:
        ack()

    return HttpServer(BotWsgiApp(app, dict), "127.0.0.1", 0).start()


def idle_rss_mb(env_file: Path) -> float:
    """Start `litemaas-bot serve`, wait until ready, let it idle, read its resident set size."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bot",
            "serve",
            "--env-file",
            str(env_file),
            "--host",
            "127.0.0.1",
            "--port",
            "0",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        time.sleep(4)
        status = Path(f"/proc/{proc.pid}/status").read_text()
        rss_kb = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:"))
        return rss_kb / 1024
    finally:
        proc.terminate()
        proc.wait(10)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=20)
    args = parser.parse_args()

    state = Path(tempfile.mkdtemp(prefix="bench-"))
    world = SandboxWorld(state_dir=state, database=f"chatops_bench_{uuid.uuid4().hex[:8]}").start()
    assert world.slack is not None
    env_file = world.write_env(state / "bench.env")
    os.environ["REDIS_PREFIX"] = f"chatops-bench-{uuid.uuid4().hex[:8]}:"
    bot = build_bot(load_settings(env_file=env_file))
    server = bot.http_server("127.0.0.1", 0).start()
    baseline = bare_bolt(world)
    response_url = world.slack.response_url("bench")
    n, c = args.requests, args.concurrency
    try:
        measure(
            f"{baseline.url}/slack/events", world.signing_secret, ["help"] * 50, response_url, c
        )  # warm-up
        measure(f"{server.url}/slack/events", world.signing_secret, ["help"] * 50, response_url, c)
        results = {
            "bare bolt ack": measure(
                f"{baseline.url}/slack/events", world.signing_secret, ["help"] * n, response_url, c
            ),
            "bot /maas help": measure(
                f"{server.url}/slack/events", world.signing_secret, ["help"] * n, response_url, c
            ),
            "bot /maas scale litellm 3": measure(
                f"{server.url}/slack/events", world.signing_secret, ["scale litellm 3"] * n, response_url, c
            ),
        }
        bot.wait_idle(120)
    finally:
        server.stop()
        baseline.stop()
        bot.close()
    print(f"{n} signed slash commands per case, concurrency {c}, HTTP mode on loopback")
    for name, values in results.items():
        print(describe(name, values))
    base = percentile(results["bare bolt ack"], 0.5)
    for name in ("bot /maas help", "bot /maas scale litellm 3"):
        print(f"p50 ratio {name:<26} {percentile(results[name], 0.5) / base:5.2f}  (target <= 1.5)")
    slowest = max(max(v) for k, v in results.items() if k.startswith("bot"))
    print(f"slowest bot ack {slowest * 1000:.1f} ms (target < 1000 ms)")
    print(f"idle RSS of litemaas-bot serve: {idle_rss_mb(env_file):.1f} MB (target < 150 MB)")
    world.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
