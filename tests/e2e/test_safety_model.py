"""The four promises under faults, by model-based testing (issue 12, "Proof").

A Hypothesis `RuleBasedStateMachine` drives the real service: two instances (built as `serve` builds
them) sharing one PostgreSQL database, one Redis prefix, one sandbox cluster and one sandbox Slack.
Rules request commands on overlapping targets (`all` among them), approve or deny as anyone
(the requester too), double-click from both instances at once, let time pass beyond the approval TTL,
lose locks (a Redis pause past the lock TTL), cut an instance's PostgreSQL connections, crash an
instance mid-run and let the other's reaper pass. After every step the invariants are checked:

1. no two running operations with overlapping lock sets (a run whose lock the model took away, or
   whose instance crashed, is not running any more as far as the cluster is concerned);
2. every approved request is decided once, executed at most once, and never after it expired;
3. every ended operation has one final Slack message (and card) agreeing with its row;
4. once the reaper has passed, no lock without a live holder, and no row of a crashed run "running";
5. no secret (a `models add api_key=sk-…` typed inline) in PostgreSQL, Redis, the logs or Slack.

Time is faked where a clock exists: an approval's TTL passes by moving `expires_at` into the past, a
lock's TTL by deleting its keys. `SAFETY_MODEL_PROFILE=long` runs the long profile (by hand, with
`--timeout 0`); the CI profile is bounded.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import psycopg
import pytest
import redis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from bot.store import OperationRecord
from sandbox.kube import KubeSandbox
from sandbox.slack import SlackSandbox
from tests.conftest import REDIS_URL
from tests.e2e.harness import wait_until
from tests.e2e.safety_world import (
    CARD_LABEL,
    ENDED,
    Instance,
    LogCapture,
    audit_counts,
    eventually,
    final_text_agrees,
    locks_held,
    message_text,
    non_card_messages,
    operations,
    overlapping,
    redis_text,
    start_instance,
    stored_text,
)

pytestmark = [pytest.mark.slow, pytest.mark.stepped_rollouts]  # runs stay running across steps

PROFILES = {
    "ci": settings(
        max_examples=5,
        stateful_step_count=40,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
        database=None,
    ),
    "long": settings(  # about five minutes on two cores
        max_examples=50,
        stateful_step_count=60,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,
    ),
}
PROFILE = os.environ.get("SAFETY_MODEL_PROFILE", "ci")

COMMANDS = (
    "scale litellm 2",
    "scale litellm 3",
    "scale frontend 2",
    "scale backend 2",
    "restart litellm",
    "restart frontend",
    "restart all",
    "upgrade all 0.5.0",
    "upgrade frontend 0.5.1",
    "models add",  # with an inline secret: see `secret_command`
)
CHANNEL = "C0OPS"
SETTLE_SECONDS = 8.0  # how long a final message may take to follow its row (eventually, not at once)


@dataclass
class Context:
    """What the pytest fixtures give the machine, and what it counts."""

    settings_for: Callable[..., dict[str, Any]]
    kube: KubeSandbox
    slack: SlackSandbox
    pg_url: str
    tmp_path: Path
    logs: LogCapture
    counts: dict[str, int] = field(default_factory=lambda: {"examples": 0, "steps": 0, "checks": 0})
    seconds: dict[str, float] = field(default_factory=dict)
    trace: list[str] = field(default_factory=list)  # the steps of the example running now
    rule_began: tuple[str, float] | None = None

    def count(self, what: str) -> None:
        """Count a rule, and note it with its arguments in the example's trace."""
        self.counts[what] = self.counts.get(what, 0) + 1
        self.rule_began = (what, time.monotonic())
        caller = sys._getframe(1).f_locals
        args = ", ".join(f"{k}={v!r}" for k, v in caller.items() if k != "self")
        self.trace.append(f"{what}({args})")

    def spent(self, what: str, since: float) -> None:
        self.seconds[what] = self.seconds.get(what, 0.0) + time.monotonic() - since


class SafetyModel(RuleBasedStateMachine):
    """Two instances of the service, the users clicking at them, and the faults of issue 12."""

    context: ClassVar[Context]

    def __init__(self) -> None:
        super().__init__()
        ctx = self.context
        began = time.monotonic()
        ctx.counts["examples"] += 1
        ctx.trace = []
        self.prefix = f"chatops-safety-{uuid.uuid4().hex[:10]}:"
        self.secret = f"sk-safety-{uuid.uuid4().hex[:20]}"
        self.redis = redis.Redis.from_url(REDIS_URL)
        with psycopg.connect(ctx.pg_url) as conn:  # the schema exists after the first example
            conn.execute(
                "DO $$ BEGIN IF to_regclass('chatops.operations') IS NOT NULL THEN "
                "TRUNCATE chatops.operations, chatops.audit CASCADE; END IF; END $$"
            )
        ctx.kube.settle()
        self.baseline = {m["ts"] for m in ctx.slack.messages(CHANNEL)}
        self.settings = ctx.settings_for(redis_prefix=self.prefix)
        self.instances: list[Instance] = []
        self.expired_undecided: set[str] = set()  # requested when their approval TTL passed
        self.lock_taken_away: set[str] = set()  # running when the model deleted their locks
        self.dead_locks_expired = True  # the TTL of every crashed holder's locks has passed
        self.confirmed: dict[str, str] = {}  # operation id → the ended state its message agreed with
        for _ in range(2):
            self._start_instance()
        ctx.spent("setup", began)

    # ------------------------------------------------------------------ helpers

    def _start_instance(self) -> None:
        ctx = self.context
        name = f"replica-{len(self.instances)}"
        self.instances.append(
            start_instance(
                name, self.settings, kube=ctx.kube, slack=ctx.slack, pg_url=ctx.pg_url, tmp_path=ctx.tmp_path
            )
        )

    def live(self) -> list[Instance]:
        return [i for i in self.instances if i.alive]

    def _instance(self, index: int) -> Instance:
        live = self.live()
        return live[index % len(live)]

    def _quiesce(self) -> None:
        for instance in self.live():
            instance.quiesce()

    def _ops(self) -> list[OperationRecord]:
        return operations(self.context.pg_url)

    def _dead_ops(self) -> set[str]:
        return {op for i in self.instances if not i.alive for op in i.orphans}

    def secret_command(self, text: str) -> str:
        if text != "models add":
            return text
        return (
            "models add model_name=safety-model litellm_model=openai/safety "
            f"api_base=https://models.example/v1 api_key={self.secret}"
        )

    def _pick(self, states: tuple[str, ...], pick: int) -> OperationRecord | None:
        found = [op for op in self._ops() if op.state in states and op.message_ts]
        return found[pick % len(found)] if found else None

    def _await(self, predicate: Callable[[], Any], what: str, timeout: float = 30.0) -> None:
        """Every command and click is answered (the steps so far in the message if not)."""
        try:
            wait_until(predicate, timeout, what)
        except AssertionError as exc:
            steps = "\n  ".join(self.context.trace)
            raise AssertionError(f"{exc}\nafter the steps:\n  {steps}") from None

    def _card_updates(self, ts: str | None) -> int:
        return sum(1 for c in self.context.slack.calls_to("chat.update") if c.args.get("ts") == ts)

    def _command(self, instance: Instance, user: str, text: str) -> None:
        """Type a command and wait for its answer (Bolt acks first and hands it over afterwards)."""
        posts = len(self.context.slack.calls_to("chat.postMessage"))
        _, key = instance.harness.command(user, self.secret_command(text))
        self._await(  # a reply, or (a change that needs no approval) its progress message posted
            lambda: (
                instance.harness.reply_texts(key)
                or len(self.context.slack.calls_to("chat.postMessage")) > posts
            ),
            f"an answer to {text!r} on {instance.name}",
        )
        self._quiesce()

    def _click(self, instance: Instance, user: str, op: OperationRecord, approve: bool) -> None:
        """Click Approve or Deny and wait until it is answered: an error reply, or the card updated."""
        action = "approval.approve" if approve else "approval.deny"
        who = op.requester if user == "requester" else user
        updates = self._card_updates(op.message_ts)
        _, key = instance.harness.click(
            who, action, str(op.id), message_ts=str(op.message_ts), channel=op.channel
        )
        self._await(
            lambda: instance.harness.reply_texts(key) or self._card_updates(op.message_ts) > updates,
            f"an answer to {who}'s click on {op.text} on {instance.name}",
        )
        self._quiesce()

    # ------------------------------------------------------------------ rules: users

    @rule(
        replica=st.integers(0, 1),
        user=st.sampled_from(["bob", "alice", "carol", "bob"]),
        command=st.sampled_from(COMMANDS),
    )
    def request(self, replica: int, user: str, command: str) -> None:
        self.context.count("request")
        self._command(self._instance(replica), user, command)

    @rule(
        replica=st.integers(0, 1),
        command=st.sampled_from(COMMANDS),
        approver=st.sampled_from(["dave", "alice"]),
        other=st.integers(0, 1),
    )
    def request_then_approve(self, replica: int, command: str, approver: str, other: int) -> None:
        """The common path: bob (alice for models) asks on one instance, an approver approves on
        either."""
        self.context.count("request_then_approve")
        requester = "alice" if command == "models add" else "bob"
        instance = self._instance(replica)
        before = {op.id for op in self._ops()}
        self._command(instance, requester, command)
        new = [op for op in self._ops() if op.id not in before and op.state == "requested" and op.message_ts]
        if new:
            self._click(
                self._instance(replica + other), approver if requester != approver else "dave", new[0], True
            )
        self._quiesce()

    @rule(
        replica=st.integers(0, 1),
        user=st.sampled_from(["alice", "dave", "bob", "requester"]),
        approve=st.booleans(),
        pick=st.integers(0, 50),
        stale=st.booleans(),
    )
    def decide(self, replica: int, user: str, approve: bool, pick: int, stale: bool) -> None:
        """A click on a waiting request, or (`stale`) on a card already decided, expired or run."""
        self.context.count("decide")
        states = (
            ("requested", "approved", "running", "expired", "denied", *ENDED) if stale else ("requested",)
        )
        op = self._pick(states, pick)
        if op is not None:
            self._click(self._instance(replica), user, op, approve)
        self._quiesce()

    @rule(user=st.sampled_from(["alice", "dave"]), pick=st.integers(0, 50), deny_second=st.booleans())
    def double_click(self, user: str, pick: int, deny_second: bool) -> None:
        """Two clicks at the same moment, one on each instance (Slack retried, or two approvers)."""
        self.context.count("double_click")
        op = self._pick(("requested",), pick)
        if op is None:
            return
        live = self.live()
        go = threading.Barrier(2)

        failures: list[BaseException] = []

        def click(index: int) -> None:
            try:
                go.wait(5)
                self._click(live[index % len(live)], user, op, approve=not (deny_second and index == 1))
            except BaseException as exc:  # re-raised on the machine's thread
                failures.append(exc)

        threads = [threading.Thread(target=click, args=(i,)) for i in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(20)
        if failures:
            raise failures[0]
        self._quiesce()

    # ------------------------------------------------------------------ rules: time and the cluster

    @rule(steps=st.integers(1, 3))
    def rollouts_progress(self, steps: int) -> None:
        self.context.count("rollouts_progress")
        for _ in range(steps):
            self.context.kube.step()
        self._quiesce()

    @rule()
    def approval_ttl_passes(self) -> None:
        self.context.count("approval_ttl_passes")
        with psycopg.connect(self.context.pg_url) as conn:
            rows = conn.execute(
                "UPDATE chatops.operations SET expires_at = now() - interval '1 second'"
                " WHERE state = 'requested' RETURNING id::text"
            ).fetchall()
        self.expired_undecided |= {str(r[0]) for r in rows}

    # ------------------------------------------------------------------ rules: faults

    @rule(pick=st.integers(0, 50))
    def redis_pause_past_the_lock_ttl(self, pick: int) -> None:
        """The locks of a run on a live instance expire (Redis paused past their TTL), then Redis is
        back: the holder's next renewal finds them gone."""
        self.context.count("redis_pause_past_the_lock_ttl")
        live_ops = {op for i in self.live() for op in i.inflight()}
        running = [op for op in self._ops() if op.state == "running" and str(op.id) in live_ops]
        if not running:
            return
        op = running[pick % len(running)]
        keys = [k for k, holder in locks_held(self.redis, self.prefix).items() if holder == str(op.id)]
        if not keys:
            return
        before = self.context.logs.count("was lost before it was released")
        self.redis.delete(*keys)
        self.lock_taken_away.add(str(op.id))
        wait_until(
            lambda: (
                self.context.logs.count("was lost before it was released") > before
                or str(op.id) not in {o for i in self.live() for o in i.inflight()}
            ),
            10,
            "the holder to notice its lock is lost",
        )

    @rule(replica=st.integers(0, 1))
    def postgres_connections_cut(self, replica: int) -> None:
        self.context.count("postgres_connections_cut")
        self._instance(replica).cut_postgres()
        self._quiesce()

    @precondition(lambda self: len(self.live()) >= 2)
    @rule(replica=st.integers(0, 1))
    def crash(self, replica: int) -> None:
        self.context.count("crash")
        busy = [i for i in self.live() if i.inflight()]  # mid-run if anything runs
        (busy[replica % len(busy)] if busy else self._instance(replica)).crash()
        self.dead_locks_expired = False

    @rule()
    def lock_ttl_passes(self) -> None:
        """The dead holders stopped renewing: their locks expire."""
        self.context.count("lock_ttl_passes")
        dead = self._dead_ops()
        keys = [k for k, holder in locks_held(self.redis, self.prefix).items() if holder in dead]
        if keys:
            self.redis.delete(*keys)
        self.dead_locks_expired = True

    @precondition(lambda self: len(self.live()) < 2 and len(self.instances) < 4)
    @rule()
    def replica_replaced(self) -> None:
        self.context.count("replica_replaced")
        self._start_instance()

    @rule(replica=st.integers(0, 1))
    def reaper_passes(self, replica: int) -> None:
        self.context.count("reaper_passes")
        instance = self._instance(replica)
        instance.bot.service.recovery.recover_interrupted()
        instance.bot.service.approvals.expire_due()
        if self.dead_locks_expired:
            self._check_no_lock_without_a_live_holder()

    # ------------------------------------------------------------------ invariants

    def _check(self, name: str, complaint: str | None) -> None:
        self.context.counts["checks"] += 1
        if complaint is not None:
            steps = "\n  ".join(self.context.trace)
            raise AssertionError(f"invariant {name} violated: {complaint}\nafter the steps:\n  {steps}")

    @invariant()
    def promises_hold(self) -> None:
        self.context.counts["steps"] += 1
        if self.context.rule_began is not None:
            self.context.spent("rule " + self.context.rule_began[0], self.context.rule_began[1])
            self.context.rule_began = None
        began = time.monotonic()
        ops = self._ops()
        self._check("one run per target", self._overlap(ops))
        self._check("approved once, never after expiry", self._approved_once(ops))
        self._check("one true final message", self._final_messages())
        self._check("nothing secret at rest", self._secrets())
        self.context.spent("invariants", began)

    def _overlap(self, ops: list[OperationRecord]) -> str | None:
        dead = self._dead_ops()
        running = [
            op for op in ops if op.state == "running" and str(op.id) not in self.lock_taken_away | dead
        ]
        pairs = overlapping(running)
        return f"running at once on shared targets: {pairs}" if pairs else None

    def _approved_once(self, ops: list[OperationRecord]) -> str | None:
        counts = audit_counts(self.context.pg_url)
        for op in ops:
            key = str(op.id)
            if counts.get((key, "approved"), 0) > 1:
                return f"{op.text} approved {counts[(key, 'approved')]} times"
            ended = sum(counts.get((key, state), 0) for state in ENDED)
            if ended > 1:
                return f"{op.text} ended {ended} times in the audit"
            if key in self.expired_undecided and op.state not in ("requested", "expired"):
                return f"{op.text} was {op.state} after its approval expired"
            late = op.decided_at and op.expires_at and op.decided_at >= op.expires_at
            if op.approver and op.state not in ("denied", "expired") and late:
                return f"{op.text} approved at {op.decided_at}, after its expiry {op.expires_at}"
        return None

    def _final_messages(self) -> str | None:
        slack = self.context.slack

        dead = self._dead_ops()

        def complaint() -> str | None:
            ops = self._ops()
            ended = [op for op in ops if op.state in ENDED]
            for op in ended:
                if op.progress_ts is None:
                    continue
                if not final_text_agrees(op.state, message_text(slack, op.channel, op.progress_ts)):
                    shown = message_text(slack, op.channel, op.progress_ts)[:160]
                    return f"{op.text} is {op.state} but its message says {shown!r}"
                if str(op.id) in dead:
                    continue  # a crash between the final message and the card update leaves the card
                if op.message_ts and CARD_LABEL[op.state] not in message_text(
                    slack, op.channel, op.message_ts
                ):
                    return f"{op.text} is {op.state} but its card does not say so"
            shown_by = {op.progress_ts: op for op in ops if op.progress_ts}
            for message in non_card_messages(slack, CHANNEL, self.baseline):
                text = str(message.get("text", ""))
                owner = shown_by.get(message["ts"])
                if text.startswith("⏳") and (owner is None or owner.state in ENDED):
                    if owner is None and any(op.state == "running" for op in ops):
                        continue  # posted, its ts about to be stored
                    return f"a progress message left behind: {text[:120]!r}"
            return None

        found = complaint()
        if found is None:
            return None
        return eventually(complaint, SETTLE_SECONDS)  # the message follows the row within seconds

    def _secrets(self) -> str | None:
        ctx = self.context
        places = {
            "PostgreSQL": stored_text(ctx.pg_url),
            "Redis": redis_text(self.redis, self.prefix),
            "the logs": ctx.logs.text(),
            "Slack": repr([call.args for call in ctx.slack.calls]) + repr(ctx.slack.files),
        }
        leaked = [where for where, text in places.items() if self.secret in text]
        return f"the inline api_key reached {', '.join(leaked)}" if leaked else None

    def _check_no_lock_without_a_live_holder(self) -> None:
        ops = {str(op.id): op for op in self._ops()}
        live = {op for i in self.live() for op in i.inflight()}
        for key, holder in locks_held(self.redis, self.prefix).items():
            op = ops.get(str(holder))
            self._check(
                "no lock without a live holder",
                None  # a live instance runs it (or is finishing it: the lock goes after the result)
                if holder in live
                else f"{key} held for {op.text if op else holder} ({op.state if op else 'no row'})",
            )
        dead = self._dead_ops()
        for op_id in dead:
            op = ops.get(op_id)
            self._check(
                "a crashed run is not left running",
                None if op is None or op.state not in ("running",) else f"{op.text} still running",
            )

    def _drain(self, timeout: float = 10.0) -> None:
        """Let the runs still going finish: step every rollout (a run may start the next) until the
        live instances have nothing running."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.context.kube.settle()
            if all(instance.bot.runner.active() == 0 for instance in self.live()):
                return
            time.sleep(0.05)
        if os.environ.get("SAFETY_MODEL_TRACE"):
            print("drain timed out:", [(op.text, op.state) for op in self._ops() if op.state not in ENDED])

    def teardown(self) -> None:
        began = time.monotonic()
        for op in self._ops():
            state = f"operations {op.state} at the end"
            self.context.counts[state] = self.context.counts.get(state, 0) + 1
        try:
            self._drain()
            for instance in self.instances:
                began_close = time.monotonic()
                instance.close()
                self.context.spent(f"close {'live' if instance.alive else 'crashed'}", began_close)
        finally:
            keys = list(self.redis.scan_iter(match=self.prefix + "*", count=1000))
            if keys:
                self.redis.delete(*keys)
            self.redis.close()
            self.context.spent("teardown", began)


@pytest.fixture
def log_capture() -> Iterator[LogCapture]:
    """Added before any bot is built, so the bots' redaction filter is installed on it too."""
    capture = LogCapture()
    root = logging.getLogger()
    level = root.level
    root.addHandler(capture)
    root.setLevel(logging.INFO)
    yield capture
    root.removeHandler(capture)
    root.setLevel(level)


@pytest.mark.timeout(0 if PROFILE == "long" else 300)  # CI: well under a minute; long: unbounded
def test_the_four_promises_hold_under_faults(
    log_capture: LogCapture,
    settings_for: Callable[..., dict[str, Any]],
    kube: KubeSandbox,
    slack: SlackSandbox,
    pg_url: str,
    tmp_path: Path,
) -> None:
    SafetyModel.context = Context(settings_for, kube, slack, pg_url, tmp_path, log_capture)
    started = time.monotonic()
    try:
        run_state_machine_as_test(SafetyModel, settings=PROFILES[PROFILE])
    finally:
        counts = SafetyModel.context.counts
        print(
            f"safety model ({PROFILE}): {counts['examples']} examples, {counts['steps']} steps, "
            f"{counts['checks']} invariant checks in {time.monotonic() - started:.1f} s "
            f"({', '.join(f'{k} {v:.1f} s' for k, v in SafetyModel.context.seconds.items())}); "
            f"counts: {dict(sorted(counts.items()))}"
        )


# ---------------------------------------------------------------------- regressions found by the model


def test_a_run_that_loses_slack_at_its_end_still_records_its_outcome_in_the_audit(
    log_capture: LogCapture,
    settings_for: Callable[..., dict[str, Any]],
    kube: KubeSandbox,
    slack: SlackSandbox,
    pg_url: str,
    tmp_path: Path,
) -> None:
    """Found by the model (a crash severing Slack): slack_sdk raises urllib's URLError, not a
    SlackClientError, when Slack refuses the connection; it escaped the messenger and the run's job
    died between the row and its audit row. Slack down must never cost the audit its outcome."""
    SafetyModel.context = Context(settings_for, kube, slack, pg_url, tmp_path, log_capture)
    model = SafetyModel()
    try:
        model.request_then_approve(0, "scale litellm 3", "dave", 0)
        running = [op for op in model._ops() if op.state == "running"]
        assert running, [(op.text, op.state) for op in model._ops()]
        runner = next(i for i in model.instances if str(running[0].id) in i.inflight())
        runner.proxies[2].sever()  # Slack refuses every connection of this instance from now on
        operation_id = str(running[0].id)
        wait_until(  # the rollout completes (stepped until it has)
            lambda: [kube.settle(), audit_counts(pg_url).get((operation_id, "succeeded"), 0) == 1][-1],
            30,
            "the outcome in the audit",
        )
        assert [op.state for op in model._ops() if str(op.id) == operation_id] == ["succeeded"]
    finally:
        model.teardown()
