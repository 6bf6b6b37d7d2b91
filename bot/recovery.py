"""Operations that will not finish: this process's at SIGTERM, and those a crashed replica left behind.

`Inflight` is what this process runs (or has queued) now. At SIGTERM `Inflight.stopping` is set: each
run stops at its `Checkpoint` (between two steps), records itself interrupted and only then frees its
locks (the worker's own `with lock`, the one place a run's locks are released). `interrupt_remaining`
marks what is left after the grace (queued runs, workers that did not stop) and frees nothing: a worker
may still be patching; its locks expire after their TTL. The reaper's `recover_interrupted` marks the
unfinished operations no live lock names any more. A run whose outcome was kept in Redis
(`bot.outcomes`: PostgreSQL was down when it ended) gets that outcome instead of `interrupted`.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime, timedelta

from bot import rendering
from bot.audit_trail import AuditTrail
from bot.cards import update_card
from bot.locks import HeldLock, TargetLocks
from bot.messenger import Messenger
from bot.outcomes import Outcome, OutcomeBook
from bot.rendering import escape_text
from bot.store import OperationRecord, OperationStore
from commands.contract import Result

log = logging.getLogger(__name__)

LOCK_LOST = "interrupted (lock lost): another run may hold its targets; it stopped before its next step."
BOT_STOPPED = (
    "interrupted (the bot was stopped): it stopped before its next step; its change may be half done, "
    "check the status before running it again."
)


class Inflight:
    """Operation id → its lock (None while queued), for the operations of this process; `stopping`
    is set at SIGTERM (every run stops at its next checkpoint)."""

    def __init__(self) -> None:
        self._runs: dict[str, HeldLock | None] = {}
        self._guard = threading.Lock()
        self.stopping = threading.Event()

    def track(self, operation_id: str, lock: HeldLock | None) -> None:
        with self._guard:
            self._runs[operation_id] = lock

    def untrack(self, operation_id: str) -> None:
        with self._guard:
            self._runs.pop(operation_id, None)

    def ids(self) -> set[str]:
        with self._guard:
            return set(self._runs)

    def wait_unlocked(self, timeout: float) -> bool:
        """Wait until no run of this process holds its locks (every worker stopped); False on timeout."""
        deadline = time.monotonic() + timeout
        while self._holding():
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.02)
        return True

    def _holding(self) -> bool:
        with self._guard:
            return any(lock is not None for lock in self._runs.values())

    def take_all(self) -> dict[str, HeldLock | None]:
        """Every tracked run, forgotten from here on (shutdown)."""
        with self._guard:
            runs = dict(self._runs)
            self._runs.clear()
        return runs


class Checkpoint:
    """Asked between two steps of a run: the reason it must stop now (its lock lost, the bot stopping),
    else None. `stopped_by` keeps the reason once it said stop."""

    def __init__(self, lock: HeldLock, stopping: threading.Event) -> None:
        self.lock = lock
        self.stopping = stopping
        self.stopped_by: str | None = None

    def __call__(self) -> str | None:
        if self.lock.lost:
            self.stopped_by = LOCK_LOST
        elif self.stopping.is_set():
            self.stopped_by = BOT_STOPPED
        return self.stopped_by


def lock_targets(record: OperationRecord) -> tuple[str, ...]:
    """The lock set an operation runs under, from its stored plan (its `target` for older rows).

    The row's `target` is the plan's `target` with the environment's lock prefix: the set gets it too."""
    planned = str((record.plan or {}).get("target") or "")
    if record.plan and record.plan.get("targets") and record.target and record.target.endswith(planned):
        prefix = record.target[: len(record.target) - len(planned)]
        return tuple(prefix + str(t) for t in record.plan["targets"])
    return (record.target,) if record.target else ()


class Recovery:
    """Marks operations interrupted and says so where they were shown."""

    def __init__(
        self,
        *,
        store: OperationStore,
        locks: TargetLocks,
        messenger: Messenger,
        trail: AuditTrail,
        inflight: Inflight,
        outcomes: OutcomeBook,
        slash_command: str,
    ) -> None:
        self.store = store
        self.locks = locks
        self.outcomes = outcomes
        self.messenger = messenger
        self.trail = trail
        self.inflight = inflight
        self.slash_command = slash_command

    def interrupt_remaining(self) -> list[OperationRecord]:
        """At shutdown, once the workers had their grace: mark this process's runs still tracked
        interrupted (queued ones that never started; workers that did not stop) and say so. Frees no
        lock: a worker still holding one may still patch; its locks expire after their TTL."""
        marked: list[OperationRecord] = []
        for operation_id, lock in self.inflight.take_all().items():
            record = self.store.get(operation_id)
            if record is None:
                continue
            if lock is None:
                reason = "the bot was stopped before this started; nothing was changed"
            else:
                reason = (
                    "the bot was stopped while this ran and it did not stop within the grace period; "
                    "its locks expire by themselves"
                )
            marked += self._close(record, reason)
        return marked

    def recover_interrupted(self, approved_grace: timedelta = timedelta(minutes=10)) -> list[OperationRecord]:
        """Close operations left unfinished by a stopped or crashed replica: running (or approved and
        never started) with no live lock of their own. Their locks expire by themselves (TTL)."""
        mine = self.inflight.ids()
        marked: list[OperationRecord] = []
        for record in self.store.unfinished(approved_before=datetime.now(UTC) - approved_grace):
            if str(record.id) in mine:
                continue
            held = self.locks.holders_of(lock_targets(record))
            if any(info.operation == str(record.id) for info in held):
                continue  # still running on a live replica (its locks are being renewed)
            reason = "the bot stopped while this ran (a replica crashed or was killed)"
            marked += self._close(record, reason)
        return marked

    def _close(self, record: OperationRecord, reason: str) -> list[OperationRecord]:
        """The kept outcome of a run that ended while PostgreSQL was down, else `interrupted`."""
        outcome = self.outcomes.get(str(record.id)) if record.state == "running" else None
        if outcome is not None:
            return self._record_outcome(record, outcome)
        return self._mark_interrupted(record, reason)

    def _record_outcome(self, record: OperationRecord, outcome: Outcome) -> list[OperationRecord]:
        """Record the outcome its runner kept (row, audit, its final message and card), then drop it."""
        result = Result.from_json(outcome.result)
        done = self.store.transition(
            record.id,
            from_states=["running"],
            to=outcome.state,
            result=outcome.result,
            error=None if result.ok else result.summary,
        )
        self.outcomes.forget(str(record.id))
        if done is None:
            return []
        log.info(
            "operation %s (%s) recorded as %s from its kept outcome", record.id, record.command, done.state
        )
        self.trail.of(
            done, record.requester, outcome.state, detail=result.summary, duration_ms=outcome.duration_ms
        )
        message = rendering.render_result(
            result,
            command_text=record.text,
            requester=record.requester,
            duration_s=outcome.duration_ms / 1000,
            buttons=rendering.follow_up_buttons(result),
        )
        if done.progress_ts is not None:
            self.messenger.update(done.channel, done.progress_ts, message)
        else:
            self.messenger.post(done.channel, message)
        update_card(self.messenger, done)
        return [done]

    def _mark_interrupted(self, record: OperationRecord, reason: str) -> list[OperationRecord]:
        done = self.store.transition(
            record.id, from_states=["running", "approved"], to="interrupted", error=reason
        )
        if done is None:
            return []
        log.warning("operation %s (%s) interrupted: %s", record.id, record.command, reason)
        self.trail.of(done, record.requester, "interrupted", detail=reason)
        note = (
            f"⚠️ Interrupted: `{escape_text(record.text)}` — {escape_text(reason)}. Its change may be "
            f"half done: check with `{self.slash_command} status` before running it again."
        )
        if done.progress_ts is not None:
            self.messenger.update(done.channel, done.progress_ts, rendering.render_text(note, escape=False))
        else:
            self.messenger.post(done.channel, rendering.render_text(note, escape=False))
        update_card(self.messenger, done)
        return [done]
