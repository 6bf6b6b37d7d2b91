"""Ack latency under a minute's mixed load, two replicas against one, in the same run.

    .venv/bin/python bench/replica_load.py [--commands 500] [--duration 30] [--rounds 2] [--concurrency 16]

Two `litemaas-bot serve` processes (HTTP mode, one PostgreSQL database, one Redis prefix) run against
the sandbox; the load is the one tests/e2e/test_replicas.py sends (help, status, bad input, approval
requests, spread evenly over `--duration` seconds; 0 = as fast as the sender goes). Rounds alternate
the two setups (after a short warm-up of both processes): round-robin over both replicas, then
everything to one of them (the baseline).
Prints p50/p90/p99/max ack latency per command kind and overall for each setup, the two/one ratios,
and how long the last answer on a response_url took after the last send. Nothing is approved, so
nothing runs. Needs the local PostgreSQL and Redis (`.ci/services`).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

import redis
from _common import (
    Ack,
    describe,
    free_port,
    latencies_by_kind,
    mixed_load,
    percentile,
    send_load,
    start_server,
    stop_server,
)

from sandbox.schemas import drop_database
from sandbox.slack import SlackSandbox
from sandbox.world import SandboxWorld

SETUPS = ("two replicas", "one replica")


def run_round(
    setup: str, urls: list[str], world: SandboxWorld, slack: SlackSandbox, args: argparse.Namespace
) -> tuple[list[Ack], float]:
    """Send the load once; returns the acks and the seconds from the last ack to the last answer."""
    commands = mixed_load(args.commands)
    targets = urls if setup == "two replicas" else urls[:1]
    acks = send_load(
        commands,
        targets,
        world.signing_secret,
        slack.response_url,
        duration=args.duration,
        concurrency=args.concurrency,
    )
    sent = time.monotonic()
    deadline = sent + 120
    waiting = list(commands)
    while waiting and time.monotonic() < deadline:
        waiting = [c for c in waiting if not slack.responses(c.key)]
        time.sleep(0.05)
    if waiting:
        print(f"{setup}: {len(waiting)} commands unanswered after 120 s", file=sys.stderr)
    return acks, time.monotonic() - sent


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--commands", type=int, default=500, help="slash commands per round and setup")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds each round's load spans")
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds of the two setups")
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()

    run = uuid.uuid4().hex[:8]
    state = Path(tempfile.mkdtemp(prefix="bench-replicas-"))
    world = SandboxWorld(
        state_dir=state,
        database=f"chatops_bench_{run}",
        litemaas_database=f"litemaas_bench_{run}",
        litellm_database=f"litellm_bench_{run}",
    ).start()
    assert world.slack is not None
    env_file = world.write_env(state / "bench.env")
    prefix = f"chatops-bench-{run}:"
    env = {**os.environ, "REDIS_PREFIX": prefix, "LOG_LEVEL": "WARNING"}
    ports = [free_port(), free_port()]
    serve = [sys.executable, "-m", "bot", "serve", "--env-file", str(env_file), "--host", "127.0.0.1"]
    replicas = [start_server([*serve, "--port", str(port)], port, env) for port in ports]
    urls = [f"http://127.0.0.1:{port}/slack/events" for port in ports]
    acks: dict[str, list[Ack]] = {setup: [] for setup in SETUPS}
    drain: dict[str, list[float]] = {setup: [] for setup in SETUPS}
    try:
        warm_up = argparse.Namespace(**{**vars(args), "commands": 50, "duration": 0})
        run_round("two replicas", urls, world, world.slack, warm_up)  # first requests of fresh processes
        for _ in range(args.rounds):
            for setup in SETUPS:
                round_acks, answered_after = run_round(setup, urls, world, world.slack, args)
                acks[setup] += round_acks
                drain[setup].append(answered_after)
    finally:
        for proc in replicas:
            stop_server(proc)
        world.stop()
        for name in (world.database, world.litemaas_database, world.litellm_database):
            drop_database(world.pg_admin_url, name)
        client = redis.Redis.from_url(world.redis_url)
        keys = list(client.scan_iter(match=prefix + "*", count=1000))
        if keys:
            client.delete(*keys)
        client.close()

    rate = f"over {args.duration:g} s" if args.duration > 0 else "as fast as possible"
    print(
        f"{args.commands} signed slash commands per round {rate} (help 40 %, status 20 %, bad input 20 %, "
        f"approval requests 20 %), {args.rounds} alternating rounds per setup, concurrency "
        f"{args.concurrency}, HTTP mode on loopback, separate processes sharing PostgreSQL and Redis"
    )
    figures = {setup: latencies_by_kind(acks[setup]) for setup in SETUPS}
    for setup in SETUPS:
        failed = [a for a in acks[setup] if a.status != 200]
        print(f"\n{setup}: {len(acks[setup])} acks, {len(failed)} not 200")
        for kind, values in figures[setup].items():
            print("  " + describe(kind, values, width=18))
        print(f"  last answer on response_url {max(drain[setup]):.1f} s after the last ack (worst round)")
    print("\nratio two replicas / one replica   p50    p90    p99    max")
    for kind, two in figures["two replicas"].items():
        one = figures["one replica"][kind]
        ratios = [percentile(two, q) / percentile(one, q) for q in (0.5, 0.9, 0.99)] + [max(two) / max(one)]
        print(f"  {kind:<32}" + "".join(f" {r:5.2f} " for r in ratios))
    return 0


if __name__ == "__main__":
    sys.exit(main())
