"""Ack latency and CPU per command of signed slash commands in HTTP mode, against a bare Bolt app.

    .venv/bin/python bench/ack_latency.py [--requests 2000] [--concurrency 20] [--cpu-commands 1000]

The bot (`litemaas-bot serve`) and the baseline (bench/bare_bolt_app.py: a Bolt app that only acks,
built like the bot's app, on the same HTTP stack) run as their own processes; the sandbox and the
load generator run here.

1. CPU per 1,000 commands of each kind (`help`, `status`, `scale litellm 3`, which is a plan and an
   approval request), read from /proc/PID/stat of the bot after every answer of the batch has arrived
   on its response_url, minus the bot's idle CPU over the same time; kinds alternate over `--cpu-rounds`.
   The RSS of the bot idle (before any command) and after the first `--cpu-commands` statuses.
   Targets (issue 17): status <= 10 ms of CPU per command and <= 6x a help; RSS after the status load
   within 10 % of idle.
2. Ack latency: p50/p99/max of the bot for `help` and `scale litellm 3`, the same for the baseline,
   their ratios. The baseline's listener must have run once per request sent to it (checked).
   Targets (issue 2): p50 ratio <= 1.5, no ack slower than 1 s, idle RSS < 150 MB.
Needs the local PostgreSQL and Redis (`.ci/services`). CPU figures are robust to the machine's load
(the bot's own CPU time); latencies are not: run it twice and note `uptime`.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from _common import (
    OPERATOR,
    VIEWER,
    cpu_seconds,
    describe,
    free_port,
    percentile,
    rss_mb,
    start_server,
    stop_server,
)

from sandbox.slack import SlackSandbox, sign, slash_command_body
from sandbox.world import SandboxWorld

CPU_KINDS = {
    "help": (VIEWER, "help"),
    "status": (VIEWER, "status"),
    "scale plan": (OPERATOR, "scale litellm 3"),
}


def measure(
    url: str, secret: str, texts: list[str], response_urls: list[str], concurrency: int, user: str = OPERATOR
) -> list[float]:
    """Send every text as a signed slash command; returns each ack's latency in seconds."""
    bodies = [
        slash_command_body(
            text=text,
            user_id=user,
            channel_id="C0OPS",
            response_url=response_url,
            trigger_id=uuid.uuid4().hex,
        )
        for text, response_url in zip(texts, response_urls, strict=True)
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


def listener_calls(base_port: int) -> int:
    """How many times the baseline's listener ran (bench/bare_bolt_app.py reports it on /readyz)."""
    return int(httpx.get(f"http://127.0.0.1:{base_port}/readyz", timeout=5).json()["listener_calls"])


def wait_answered(slack: SlackSandbox, keys: list[str], timeout: float = 300) -> None:
    """Until every response_url of `keys` has an answer; raises when one is missing after `timeout`."""
    deadline = time.monotonic() + timeout
    waiting = keys
    while waiting:
        waiting = [k for k in waiting if not slack.responses(k)]
        if waiting and time.monotonic() > deadline:
            raise RuntimeError(f"{len(waiting)} commands unanswered after {timeout:.0f} s")
        time.sleep(0.02)


def idle_cpu_rate(pid: int, seconds: float = 5.0) -> float:
    """CPU seconds per second the bot spends doing nothing asked of it (threads, timers, watchers)."""
    before = cpu_seconds(pid)
    time.sleep(seconds)
    return (cpu_seconds(pid) - before) / seconds


def cpu_batch(
    pid: int, url: str, world: SandboxWorld, kind: str, count: int, concurrency: int, idle_rate: float
) -> float:
    """CPU seconds of the bot per command of `kind`, from the first send to the last answer."""
    assert world.slack is not None
    user, text = CPU_KINDS[kind]
    keys = [f"cpu-{kind.replace(' ', '-')}-{uuid.uuid4().hex[:10]}" for _ in range(count)]
    before, started = cpu_seconds(pid), time.monotonic()
    measure(
        url,
        world.signing_secret,
        [text] * count,
        [world.slack.response_url(k) for k in keys],
        concurrency,
        user,
    )
    wait_answered(world.slack, keys)
    time.sleep(0.2)  # the answering thread finishes its bookkeeping after the POST
    used = cpu_seconds(pid) - before - idle_rate * (time.monotonic() - started)
    return used / count


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument(
        "--rounds", type=int, default=4, help="alternating rounds the requests are split into"
    )
    parser.add_argument("--cpu-commands", type=int, default=1000, help="commands per kind and CPU round")
    parser.add_argument("--cpu-rounds", type=int, default=2)
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
            "--bot-token",
            world.bot_token,
        ],
        base_port,
    )
    time.sleep(2)
    idle_rss = rss_mb(bot.pid)
    n, c = args.requests, args.concurrency
    bot_url, base_url = (
        f"http://127.0.0.1:{bot_port}/slack/events",
        f"http://127.0.0.1:{base_port}/slack/events",
    )
    response_url = world.slack.response_url("bench")
    cpu: dict[str, list[float]] = {kind: [] for kind in CPU_KINDS}
    try:
        idle_rate = idle_cpu_rate(bot.pid)
        status_rss: list[float] = []
        for _ in range(args.cpu_rounds):
            for kind in ("status", "help", "scale plan"):  # status first: its RSS is compared with idle
                cpu[kind].append(cpu_batch(bot.pid, bot_url, world, kind, args.cpu_commands, c, idle_rate))
                if kind == "status":
                    status_rss.append(rss_mb(bot.pid))

        warm = 50
        measure(base_url, world.signing_secret, ["help"] * warm, [response_url] * warm, c)
        measure(bot_url, world.signing_secret, ["help"] * warm, [response_url] * warm, c)
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
                urls = [response_url] * per_round
                results[name] += measure(url, world.signing_secret, [text] * per_round, urls, c)
        busy_rss = rss_mb(bot.pid)
        calls, sent = listener_calls(base_port), warm + len(results["bare bolt ack"])
    finally:
        for proc in (bot, baseline):
            stop_server(proc)
    world.stop()

    print(
        f"CPU of litemaas-bot serve per command kind: {args.cpu_commands} commands per kind and round, "
        f"{args.cpu_rounds} alternating rounds, concurrency {c}; idle {idle_rate * 1000:.1f} ms/s subtracted"
    )
    for kind, values in cpu.items():
        rounds = ", ".join(f"{v * 1000:.2f}" for v in values)
        print(
            f"  {kind:<11} {statistics.median(values) * 1000:6.2f} ms per command"
            f" = {statistics.median(values) * 1000:5.1f} s per 1,000   (rounds: {rounds} ms)"
        )
    status_ms, help_ms = statistics.median(cpu["status"]) * 1000, statistics.median(cpu["help"]) * 1000
    print(
        f"  status: {status_ms:.2f} ms (target <= 10 ms {'OK' if status_ms <= 10 else 'MISSED'}), "
        f"{status_ms / help_ms:.1f}x a help (target <= 6x {'OK' if status_ms <= 6 * help_ms else 'MISSED'})"
    )
    grown = max(status_rss) / idle_rss - 1
    print(
        f"  RSS: idle {idle_rss:.1f} MB, after each status load "
        f"{', '.join(f'{r:.1f}' for r in status_rss)} MB: +{grown:.0%} "
        f"(target <= +10 % {'OK' if grown <= 0.10 else 'MISSED'})"
    )

    print(
        f"\n{n} signed slash commands per case in {args.rounds} alternating rounds, concurrency {c}, "
        "HTTP mode on loopback, separate processes"
    )
    print(
        f"bare Bolt listener ran {calls} times for {sent} requests "
        f"({'OK' if calls == sent else 'BROKEN BASELINE'})"
    )
    for name, values in results.items():
        print(describe(name, values))
    base = percentile(results["bare bolt ack"], 0.5)
    for name in ("bot /maas help", "bot /maas scale litellm 3"):
        print(f"p50 ratio {name:<26} {percentile(results[name], 0.5) / base:5.2f}  (target <= 1.5)")
    slowest = max(max(v) for k, v in results.items() if k.startswith("bot"))
    print(f"slowest bot ack {slowest * 1000:.1f} ms (target < 1000 ms)")
    print(f"RSS of litemaas-bot serve: idle {idle_rss:.1f} MB (target < 150 MB), loaded {busy_rss:.1f} MB")
    return 0 if calls == sent else 1


if __name__ == "__main__":
    sys.exit(main())
