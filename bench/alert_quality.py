"""Measured alert quality: a scripted day in the sandbox, 20 routine operations and 6 injected faults.

    .venv/bin/python bench/alert_quality.py [--step 0.2]

The whole product runs as in the demo (the sandbox world, a real bot served over HTTP, its watchers on the
leader), with the watchers' durations scaled down from minutes to seconds (AUTOMATION below). Routine
operations go through the bot as signed slash commands (scale up and down, upgrades, restarts,
rollbacks, a backup); faults go through the sandbox's control API (crash loop, OOM, bad image, LiteLLM's
Redis down, stuck rollout, an aged backup) and are healed the same way (or, for the backup, by `backup
now`). Printed: false alerts (an alert message that no fault explains), missed faults, and per fault the
seconds from injection to its first alert and from the heal to the alert's resolution, the budget
(pending + one interval; a stuck rollout's pending starts at Kubernetes' progress deadline), and how many
times each alert was resolved (exactly once is the target). Not a timed test: a benchmark.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bot.runtime import Bot, build_bot
from bot.settings import load_settings
from sandbox.slack import sign, slash_command_body
from sandbox.world import DEMO_USERS, SandboxWorld

ALERTS = "C0ALERTS"
INTERVAL = 1.0
AUTOMATION = """\
alerts:
  channel: C0ALERTS
  renotify_minutes: 60
  watchers:
    deployments: {interval_seconds: 1, pending_seconds: 6, failed_pending_seconds: 2, clear_seconds: 3}
    pods: {interval_seconds: 1, pending_seconds: 4, failed_pending_seconds: 2, clear_seconds: 3}
    readiness: {interval_seconds: 1, pending_seconds: 4, clear_seconds: 3}
    redis: {interval_seconds: 1, pending_seconds: 3, clear_seconds: 3}
    images: {interval_seconds: 2}
    drift: {enabled: false}
    backups: {interval_seconds: 1, pending_seconds: 0, clear_seconds: 0}
schedules: {}
"""
ACCESS = """\
channels: [C0OPS, C0ALERTS]
roles:
  admin: {users: [U0ALICE]}
approvers: {users: [U0DAVE]}
policy:
  scale: {role: admin, approval: false}
  upgrade: {role: admin, approval: false}
  restart: {role: admin, approval: false}
  rollback: {role: admin, approval: false}
"""
ROUTINE = [
    "scale litellm 3",
    "scale litellm 1",
    "upgrade backend 0.5.0",
    "restart litellm",
    # crash loop (litellm)
    "rollback backend",
    "scale frontend 4",
    "scale frontend 1",
    "upgrade frontend 0.5.0",
    # OOM (backend)
    "rollback frontend",
    "restart backend",
    "restart frontend",
    "upgrade backend 0.5.1",
    # bad image (frontend)
    "restart litellm",
    "rollback backend",
    "scale frontend 2",
    "scale litellm 2",
    # LiteLLM's Redis down: the redis watcher alerts only while LiteLLM runs more than one replica
    "scale frontend 1",
    "restart backend",
    "scale litellm 1",
    # stuck rollout (backend), then the aged backup
]  # with the first `backup now`: 20


@dataclass(frozen=True)
class Fault:
    name: str
    component: str
    inject: tuple[str, dict[str, Any]]  # control API path and body
    heal: tuple[str, dict[str, Any]] | str  # control API call, or a bot command
    budget: float  # seconds: pending + one interval (+ what Kubernetes itself takes to call it failed)


@dataclass
class Seen:
    """One top-level alert message as the alerts channel showed it."""

    component: str
    title: str
    posted: float
    resolved: float | None = None


@dataclass
class Monitor:
    """Polls the alerts channel: when each alert message appeared and when it turned resolved."""

    world: SandboxWorld
    seen: dict[str, Seen] = field(default_factory=dict)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        assert self.world.slack is not None
        while not self.stop.wait(0.1):
            now = time.monotonic()
            for message in self.world.slack.messages(ALERTS):
                if message.get("thread_ts") and message.get("thread_ts") != message["ts"]:
                    continue
                seen = self.seen.get(message["ts"])
                if seen is None:
                    seen = self.seen[message["ts"]] = Seen(_component(message), message["text"], now)
                if seen.resolved is None and str(message.get("text", "")).startswith("✅ Resolved"):
                    seen.resolved = now

    def resolutions(self, ts: str) -> int:
        assert self.world.slack is not None
        return sum(
            1
            for m in self.world.slack.messages(ALERTS)
            if m.get("thread_ts") == ts and "Resolved after" in str(m.get("text", ""))
        )


def _component(message: dict[str, Any]) -> str:
    for block in message.get("blocks") or []:
        if block.get("type") == "context":
            text = str((block.get("elements") or [{}])[-1].get("text", ""))
            if " from " in text:
                return text.split(" · ")[0].strip()
    return "?"


def faults(step: float, deadline_steps: int) -> list[Fault]:
    pods = 2 + INTERVAL  # the pods watcher's failed pending / pending below
    return [
        Fault(
            "crash loop",
            "litellm",
            ("/deployments/litellm/break/crashloop", {}),
            ("/deployments/litellm/heal", {}),
            4 + INTERVAL,
        ),
        Fault(
            "OOM",
            "backend",
            ("/deployments/litellm-backend/break/oom", {}),
            ("/deployments/litellm-backend/heal", {}),
            4 + INTERVAL,
        ),
        Fault(
            "bad image",
            "frontend",
            ("/deployments/litellm-frontend/break/image-pull", {}),
            ("/deployments/litellm-frontend/heal", {}),
            pods + 2 * step,
        ),
        Fault(
            "LiteLLM Redis down",
            "redis",
            ("/litellm-redis/down", {}),
            ("/litellm-redis/up", {}),
            3 + INTERVAL,
        ),
        Fault(
            "stuck rollout",
            "backend",
            ("/deployments/litellm-backend/break/stuck-rollout", {}),
            ("/deployments/litellm-backend/heal", {}),
            4 + INTERVAL + 2 * step,
        ),
        Fault("missing backup", "backup", ("/backups/age", {"days": 40}), "backup now", 0 + INTERVAL),
    ]


class Day:
    """The bot, the sandbox, and the moves of the scripted day."""

    def __init__(self, world: SandboxWorld, bot: Bot, url: str) -> None:
        self.world = world
        self.bot = bot
        self.url = url
        self.http = httpx.Client(timeout=30)

    def command(self, text: str) -> str:
        """Run `/maas text` as alice and wait for it to end; its final state."""
        assert self.world.slack is not None
        key = f"bench-{uuid.uuid4().hex[:8]}"
        body = slash_command_body(
            text=text,
            user_id=DEMO_USERS["alice"],
            channel_id="C0OPS",
            response_url=self.world.slack.response_url(key),
        )
        before = len(self.bot.service.store.recent(100))
        self.http.post(
            f"{self.url}/slack/events", content=body, headers=sign(self.world.signing_secret, body)
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            records = self.bot.service.store.recent(100)
            if len(records) > before and records[0].state in ("succeeded", "failed", "interrupted"):
                return records[0].state
            time.sleep(0.1)
        said = [str(r.get("text", "")) for r in self.world.slack.responses(key)]
        return f"no operation ran ({said[-1][:200] if said else 'no reply'})"

    def control(self, call: tuple[str, dict[str, Any]]) -> None:
        assert self.world.control is not None
        answer = self.http.post(f"{self.world.control.url}{call[0]}", json=call[1]).json()
        if not answer.get("ok"):
            raise RuntimeError(f"control API refused {call[0]}: {answer.get('error')}")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--step", type=float, default=0.2, help="seconds per sandbox controller step")
    parser.add_argument("--deadline-steps", type=int, default=40, help="progress deadline, in steps")
    parser.add_argument("--wait", type=float, default=25.0, help="longest wait for an alert or a resolve")
    options = parser.parse_args()
    load = os.getloadavg()

    with tempfile.TemporaryDirectory(prefix="alert-quality-") as tmp:
        state = Path(tmp)
        (state / "automation.yaml").write_text(AUTOMATION)
        (state / "access.yaml").write_text(ACCESS)
        world = SandboxWorld(
            state_dir=state, auto_progress=options.step, progress_deadline_steps=options.deadline_steps
        )
        world.start()
        bot = build_bot(load_settings(env_file=world.write_env(state / "sandbox.env")), progress_interval=0.5)
        server = bot.http_server("127.0.0.1", 0).start()
        day = Day(world, bot, server.url)
        monitor = Monitor(world)
        watcher = threading.Thread(target=monitor.run, daemon=True)
        try:
            outcomes = [
                ("backup now", day.command("backup now"))
            ]  # before the watchers: a fresh sandbox has no backup
            bot.start_automation()
            watcher.start()
            time.sleep(3)  # the leader's first passes
            plan = faults(options.step, options.deadline_steps)
            windows: list[tuple[Fault, float, float, float]] = []  # fault, injected, healed, window end
            per_gap = len(ROUTINE) // len(plan) + 1
            routine = iter(ROUTINE)
            for fault in plan:
                for text in [t for _, t in zip(range(per_gap), routine, strict=False)]:
                    outcomes.append((text, day.command(text)))
                time.sleep(2)
                injected = time.monotonic()
                day.control(fault.inject)
                _wait_for(lambda f=fault, t=injected: _first(monitor, f, t) is not None, options.wait)
                healed = time.monotonic()
                if isinstance(fault.heal, str):
                    day.command(fault.heal)
                else:
                    day.control(fault.heal)
                _wait_for(lambda f=fault, t=injected: _all_resolved(monitor, f, t), options.wait)
                time.sleep(1)
                windows.append((fault, injected, healed, time.monotonic()))
            for text in routine:
                outcomes.append((text, day.command(text)))
            time.sleep(5)  # late alerts of the last operations would show now
        finally:
            monitor.stop.set()
            server.stop()
            bot.close()
            world.stop()
            world.drop_databases()
    report(monitor, windows, outcomes, load, options)


def _wait_for(done: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not done():
        time.sleep(0.1)


def _belongs(seen: Seen, fault: Fault, start: float, end: float) -> bool:
    return seen.component == fault.component and start <= seen.posted <= end


def _first(monitor: Monitor, fault: Fault, injected: float) -> Seen | None:
    mine = [s for s in list(monitor.seen.values()) if _belongs(s, fault, injected, float("inf"))]
    return min(mine, key=lambda s: s.posted) if mine else None


def _all_resolved(monitor: Monitor, fault: Fault, injected: float) -> bool:
    mine = [s for s in list(monitor.seen.values()) if _belongs(s, fault, injected, float("inf"))]
    return bool(mine) and all(s.resolved is not None for s in mine)


def report(
    monitor: Monitor,
    windows: list[tuple[Fault, float, float, float]],
    outcomes: list[tuple[str, str]],
    load: tuple[float, float, float],
    options: argparse.Namespace,
) -> None:
    explained: set[str] = set()
    print(
        f"alert quality: {len(outcomes)} routine operations, {len(windows)} faults "
        f"(step {options.step} s, progress deadline {options.deadline_steps} steps; load {load[0]:.2f})"
    )
    failed_ops = [f"{text}: {state}" for text, state in outcomes if state != "succeeded"]
    print(f"routine operations: {len(outcomes) - len(failed_ops)} succeeded, {len(failed_ops)} did not")
    for line in failed_ops:
        print(f"  - {line}")
    print(f"{'fault':<20} {'alerts':>6} {'to alert':>9} {'budget':>7} {'to resolve':>11} {'resolved':>9}")
    missed = 0
    for fault, injected, healed, end in windows:
        mine = {ts: s for ts, s in monitor.seen.items() if _belongs(s, fault, injected, end)}
        explained |= set(mine)
        if not mine:
            missed += 1
            print(f"{fault.name:<20} {0:>6} {'missed':>9} {fault.budget:>6.1f}s")
            continue
        first = min(mine.values(), key=lambda s: s.posted).posted - injected
        resolved = [s.resolved for s in mine.values() if s.resolved is not None]
        to_resolve = f"{max(resolved) - healed:.1f}s" if len(resolved) == len(mine) else "never"
        counts = sorted({monitor.resolutions(ts) for ts in mine})
        print(
            f"{fault.name:<20} {len(mine):>6} {first:>8.1f}s {fault.budget:>6.1f}s {to_resolve:>11} "
            f"{'x'.join(str(c) for c in counts):>9}"
        )
    false = {ts: s for ts, s in monitor.seen.items() if ts not in explained}
    print(f"false alerts: {len(false)}" + "".join(f"\n  - {s.component}: {s.title}" for s in false.values()))
    print(f"missed faults: {missed} of {len(windows)}")


if __name__ == "__main__":
    main()
