"""Ack latency of signed slash commands in HTTP mode, against a bare Bolt app in the same run.

    .venv/bin/python bench/ack_latency.py [--requests 2000] [--concurrency 20]

The bot (`litemaas-bot serve`) and the baseline (bench/bare_bolt_app.py: a Bolt app that only acks,
on the same HTTP stack) run as their own processes; the sandbox and the load generator run here.
Prints p50/p99/max of the bot for `/maas help` and `/maas scale litellm 3`, the same for the
baseline, their ratios, and the RSS of the bot process.
Targets (issue 2): p50 ratio <= 1.5, no ack slower than 1 s, idle RSS < 150 MB.
Needs the local PostgreSQL and Redis (`.ci/services`).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from _common import cpu_seconds, describe, free_port, percentile, rss_mb, start_server, stop_server

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


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument(
        "--rounds", type=int, default=4, help="alternating rounds the requests are split into"
    )
    args = parser.parse_args()

    state = Path(tempfile.mkdtemp(prefix="bench-"))
    world = SandboxWorld(state_dir=state, database=f"chatops_bench_{uuid.uuid4().hex[:8]}").start()
    assert world.slack is not None
    env_file = world.write_env(state / "bench.env")
    automation = state / "automation.yaml"  # production's watcher intervals, not the demo's quick ones
    automation.write_text("alerts: {channel: C0ALERTS}\n")
    env = {
        **os.environ,
        "REDIS_PREFIX": f"chatops-bench-{uuid.uuid4().hex[:8]}:",
        "LOG_LEVEL": "WARNING",
        "AUTOMATION_CONFIG": str(automation),
    }
    bot_port, base_port = free_port(), free_port()
    bot = start_server(
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
            str(bot_port),
        ],
        bot_port,
        env,
    )
    baseline = start_server(
        [
            sys.executable,
            str(Path(__file__).with_name("bare_bolt_app.py")),
            "--port",
            str(base_port),
            "--signing-secret",
            world.signing_secret,
            "--slack-api-url",
            world.slack.api_url,
        ],
        base_port,
    )
    time.sleep(2)
    idle_rss = rss_mb(bot.pid)
    idle_cpu = cpu_seconds(bot.pid)
    response_url = world.slack.response_url("bench")
    n, c = args.requests, args.concurrency
    bot_url, base_url = (
        f"http://127.0.0.1:{bot_port}/slack/events",
        f"http://127.0.0.1:{base_port}/slack/events",
    )
    try:
        measure(base_url, world.signing_secret, ["help"] * 50, response_url, c)  # warm-up
        measure(bot_url, world.signing_secret, ["help"] * 50, response_url, c)
        cases = {
            "bare bolt ack": (base_url, "help"),
            "bot /maas help": (bot_url, "help"),
            "bot /maas scale litellm 3": (bot_url, "scale litellm 3"),
        }
        # Rounds alternate the cases so that a passing disturbance of the machine hits all of them;
        # each case's latencies are pooled over the rounds.
        results: dict[str, list[float]] = {name: [] for name in cases}
        per_round = max(1, n // args.rounds)
        for _ in range(args.rounds):
            for name, (url, text) in cases.items():
                results[name] += measure(url, world.signing_secret, [text] * per_round, response_url, c)
        busy_rss = rss_mb(bot.pid)
        bot_cpu = cpu_seconds(bot.pid) - idle_cpu
    finally:
        for proc in (bot, baseline):
            stop_server(proc)
    print(
        f"{n} signed slash commands per case in {args.rounds} alternating rounds, concurrency {c}, "
        "HTTP mode on loopback, separate processes"
    )
    for name, values in results.items():
        print(describe(name, values))
    base = percentile(results["bare bolt ack"], 0.5)
    for name in ("bot /maas help", "bot /maas scale litellm 3"):
        print(f"p50 ratio {name:<26} {percentile(results[name], 0.5) / base:5.2f}  (target <= 1.5)")
    slowest = max(max(v) for k, v in results.items() if k.startswith("bot"))
    print(f"slowest bot ack {slowest * 1000:.1f} ms (target < 1000 ms)")
    print(f"RSS of litemaas-bot serve: idle {idle_rss:.1f} MB (target < 150 MB), loaded {busy_rss:.1f} MB")
    handled = sum(len(v) for k, v in results.items() if k.startswith("bot")) + 50
    print(f"CPU of litemaas-bot serve: {1000 * bot_cpu / handled:.2f} ms per command (acks and answers)")
    world.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
