"""Running an operation: its record, its lock, the run with progress in one edited message, the result.

Every run ends with one final message, one audit row and its card updated. Read-only operations are
answered here too: on the worker pool, or at once when they read only the bot's own state.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from bot import rendering
from bot.access import Caller
from bot.audit_trail import AuditTrail
from bot.bot_state import answering
from bot.cards import update_card
from bot.environments import EnvironmentSet
from bot.interactions import CommandRequest
from bot.locks import LockBusy, LocksUnavailable, TargetLocks
from bot.logging_setup import operation_context
from bot.masking import masked_text, secret_values
from bot.messenger import Messenger, Reply
from bot.outcomes import OutcomeBook
from bot.parsing import ParsedCommand, ParseError, parse_command
from bot.recovery import LOCK_LOST, Checkpoint, Inflight
from bot.rendering import Message
from bot.runner import JobRunner, RunnerBusy, Throttle
from bot.stash import ArgumentStash
from bot.store import Database, OperationRecord, OperationStore, StoreUnavailable
from commands.contract import Operation, OperationError, Plan, Progress, Result
from commands.environment import Environment
from commands.registry import Registry

log = logging.getLogger(__name__)

FINISH_ATTEMPTS = 6  # the final state change is retried for about 6 s while PostgreSQL is unreachable
KEPT = (  # the final message's note when the row could not be changed but Redis keeps the outcome
    "Not recorded yet: the audit store (PostgreSQL) is unreachable. "
    "This outcome is kept and will be recorded when it is back."
)
LOST = (  # … and when neither store could take it
    "The record of this outcome could not be written: "
    "the audit store (PostgreSQL) and the lock store (Redis) are unreachable."
)


def args_json(parsed: ParsedCommand) -> dict[str, Any]:
    """A command's arguments as stored and audited (secrets masked: pydantic dumps SecretStr masked)."""
    data: dict[str, Any] = parsed.args.model_dump(mode="json")
    return data


def stored_plan(plan: Plan, env: Environment) -> dict[str, Any]:
    """A plan as its row keeps it, with its environment (the card shows production unmistakably)."""
    return {**plan.to_json(), "environment": env.name, "production": env.production}


class Runs:
    """Records, locks, runs and reports operations."""

    def __init__(
        self,
        *,
        registry: Registry,
        environments: EnvironmentSet,
        db: Database,
        store: OperationStore,
        locks: TargetLocks,
        runner: JobRunner,
        messenger: Messenger,
        trail: AuditTrail,
        stash: ArgumentStash,
        inflight: Inflight,
        outcomes: OutcomeBook,
        slash_command: str,
        approval_ttl: timedelta,
        progress_interval: float = 1.0,
    ) -> None:
        self.registry = registry
        self.environments = environments
        self.db = db
        self.store = store
        self.locks = locks
        self.runner = runner
        self.messenger = messenger
        self.trail = trail
        self.stash = stash
        self.inflight = inflight
        self.outcomes = outcomes
        self.slash_command = slash_command
        self.approval_ttl = approval_ttl
        self.progress_interval = progress_interval
        self._schema_ready = False

    def typed(self, parsed: ParsedCommand, env: Environment | None = None) -> str:
        """The command as stored and shown (secrets masked); with several environments, its `--env`."""
        text = f"{self.slash_command} {masked_text(parsed)}"
        return f"{text} --env {env.name}" if env is not None and self.environments.several else text

    def scoped(self, result: Result, env: Environment) -> Result:
        """A result whose follow-up buttons stay in its environment (they carry its `--env`)."""
        if not self.environments.several or not result.follow_ups:
            return result
        follow_ups = tuple(replace(f, command=f"{f.command} --env {env.name}") for f in result.follow_ups)
        return replace(result, follow_ups=follow_ups)

    # ------------------------------------------------------------------ read-only answers

    def answer(
        self, request: CommandRequest, parsed: ParsedCommand, caller: Caller, reply: Reply, env: Environment
    ) -> None:
        """Answer a read-only command in `env`: at once when it reads the bot's state, else on a worker."""
        op_cls = parsed.operation

        def job() -> None:
            started = time.monotonic()
            with answering(caller):
                result = self.scoped(self.collect(op_cls(), parsed, None, on_progress=None, env=env), env)
            duration = time.monotonic() - started
            self.trail.metrics.command(parsed.verb, "read" if result.ok else "failed")
            self.trail.metrics.operation_duration(parsed.verb, duration)
            if op_cls.answer == "result":
                message = rendering.render_result(
                    result,
                    command_text=self.typed(parsed, env),
                    requester=request.user_id,
                    duration_s=duration,
                    buttons=rendering.follow_up_buttons(result),
                )
            else:
                message = rendering.render_note(result)
            reply(message, ephemeral=op_cls.answer == "private")
            self.upload_files(request.channel_id, result)

        if op_cls.bot_state:
            job()
            return
        try:
            self.runner.submit(job, name=parsed.verb)
        except RunnerBusy as exc:
            reply(rendering.render_error(str(exc)))

    # ------------------------------------------------------------------ records

    def unavailable(self) -> str | None:
        """Why mutating commands cannot run now (audit or locks storage down), or None."""
        try:
            self.db.ping()
            if not self._schema_ready:  # PostgreSQL was down at start-up: migrate now
                self.db.migrate()
                self._schema_ready = True
        except StoreUnavailable as exc:
            return f"the audit store (PostgreSQL) is unreachable ({exc}), so changes are refused."
        try:
            self.locks.ping()
        except LocksUnavailable as exc:
            return f"the lock store (Redis) is unreachable ({exc}), so changes are refused."
        return None

    def create_record(
        self,
        request: CommandRequest,
        parsed: ParsedCommand,
        plan: Plan,
        *,
        approval_required: bool,
        env: Environment,
    ) -> OperationRecord:
        """The operation's row: `requested` (with an expiry) when it waits for approval, else `approved`.

        A request needs the operation's `approvals_required` distinct approvers (the access file's
        policy says whether approval applies, not how many). Secret arguments never enter the row:
        they wait in the stash until the approved run."""
        record = self.store.create(
            command=parsed.verb,
            args=args_json(parsed),
            text=self.typed(parsed, env),
            requester=request.user_id,
            channel=request.channel_id,
            environment=env.name,
            target=env.lock_prefix + plan.target,  # the lock it runs under (recovery reads it)
            state="requested" if approval_required else "approved",
            approval_required=approval_required,
            plan=stored_plan(plan, env),
            plan_fingerprint=plan.fingerprint,
            expires_at=datetime.now(UTC) + self.approval_ttl if approval_required else None,
            approvals_required=parsed.operation.approvals_required if approval_required else 1,
        )
        secrets = secret_values(parsed.args)
        if secrets and approval_required:
            self.stash.put(str(record.id), secrets, int(self.approval_ttl.total_seconds()) + 60)
        return record

    # ------------------------------------------------------------------ runs

    def start(self, record: OperationRecord, parsed: ParsedCommand, plan: Plan, reply: Reply) -> None:
        """Queue an approved operation on the worker pool."""

        def job() -> None:
            self.execute(record, parsed, plan)

        self.inflight.track(str(record.id), None)  # queued: not an orphan while it waits for a worker
        try:
            self.runner.submit(job, name=f"{record.command}:{record.id}")
        except RunnerBusy as exc:
            self.inflight.untrack(str(record.id))
            self.store.transition(record.id, from_states=["approved"], to="failed", error=str(exc))
            reply(rendering.render_error(str(exc)))

    def execute(
        self, record: OperationRecord, parsed: ParsedCommand, plan: Plan, *, keep_files: bool = False
    ) -> Result:
        """Run an approved operation under its lock; the final message, audit row and Result."""
        if self.inflight.stopping.is_set():  # the bot is stopping: a queued run never starts; it stays
            return Result(ok=False, summary="the bot is stopping")  # tracked, so shutdown marks it
        with operation_context(str(record.id)):  # runs on the worker: its log lines carry the id
            try:
                return self._execute_locked(record, parsed, plan, keep_files=keep_files)
            finally:
                self.inflight.untrack(str(record.id))

    def _execute_locked(
        self, record: OperationRecord, parsed: ParsedCommand, plan: Plan, *, keep_files: bool
    ) -> Result:
        started = time.monotonic()
        env = self.environments.find(record.environment)
        try:
            if env is None:
                raise LocksUnavailable(f"the `{record.environment}` environment is no longer served here")
            lock = self.locks.acquire_all(
                tuple(env.lock_prefix + target for target in plan.lock_targets),
                owner=record.requester,
                reason=record.text,
                operation=str(record.id),
            )
        except (LockBusy, LocksUnavailable) as exc:
            failed = self.store.transition(record.id, from_states=["approved"], to="failed", error=str(exc))
            if failed is not None:
                self.trail.of(failed, record.requester, "failed", detail=str(exc))
                update_card(self.messenger, failed, note=str(exc))
            return Result(ok=False, summary=str(exc))
        self.inflight.track(str(record.id), lock)
        checkpoint = Checkpoint(lock, self.inflight.stopping)
        with lock:  # released when this block ends: after the outcome is recorded and shown (SIGTERM too)
            running = self.store.transition(record.id, from_states=["approved"], to="running")
            if running is None:  # somebody else started or closed it
                return Result(ok=False, summary="the operation was started or closed elsewhere")
            update_card(self.messenger, running)
            progress_ts = self.messenger.post(record.channel, self._progress(record, Progress("starting…")))
            if progress_ts is not None:
                self._remember_progress_message(record, progress_ts)
            throttle = Throttle(self.progress_interval)

            def on_progress(event: Progress) -> None:
                if progress_ts is not None and throttle.ready():
                    self.messenger.update(record.channel, progress_ts, self._progress(record, event))

            result = self.scoped(
                self.collect(parsed.operation(), parsed, plan, on_progress, env=env, halt=checkpoint),
                env,
            )
            duration = time.monotonic() - started
            ended = "succeeded" if result.ok else "failed"
            stopped_by = checkpoint.stopped_by or (LOCK_LOST if lock.lost else None)
            if stopped_by is not None:  # lock lost or SIGTERM: it stopped before its next step
                ended = "interrupted"
                result = Result(ok=False, summary=f"{parsed.verb} {stopped_by}", sections=result.sections)
            final, note = self._finish(record, ended, result, duration, keep_files=keep_files)
            message = rendering.render_result(
                result if note is None else replace(result, warnings=(*result.warnings, note)),
                command_text=record.text,
                requester=record.requester,
                duration_s=duration,
                buttons=rendering.follow_up_buttons(result),
            )
            if progress_ts is not None:
                self.messenger.update(record.channel, progress_ts, message)
            else:
                progress_ts = self.messenger.post(record.channel, message)
            self.upload_files(record.channel, result, thread_ts=progress_ts)
            if final is not None:
                self.trail.of(
                    final, record.requester, ended, detail=result.summary, duration_ms=int(duration * 1000)
                )
                update_card(self.messenger, final)
            return result

    def _finish(
        self, record: OperationRecord, ended: str, result: Result, duration: float, *, keep_files: bool
    ) -> tuple[OperationRecord | None, str | None]:
        """The final state change, retried while PostgreSQL is unreachable, and what the final message
        must add (None: nothing). The outcome is kept in Redis first, under the run's locks: if the row
        is never changed here, the reaper of any replica records this outcome, not "interrupted"."""
        kept = self.outcomes.put(str(record.id), ended, result.to_json(), int(duration * 1000))
        for attempt in range(FINISH_ATTEMPTS):
            try:
                final = self.store.transition(
                    record.id,
                    from_states=["running"],
                    to=ended,
                    result=result.to_json(file_contents=keep_files),
                    error=None if result.ok else result.summary,
                )
            except StoreUnavailable as exc:
                log.warning(
                    "could not record the outcome of %s (attempt %d): %s", record.id, attempt + 1, exc
                )
                time.sleep(min(0.2 * 2**attempt, 2.0))
                continue
            if kept is not None:
                self.outcomes.forget(str(record.id))
            return final, None
        return None, KEPT if kept is not None else LOST

    def _remember_progress_message(self, record: OperationRecord, ts: str) -> None:
        """Best effort: without it the run still ends in Slack (the reaper would post anew)."""
        try:
            self.store.set_progress_message(record.id, ts)
        except StoreUnavailable as exc:
            log.warning("could not remember the progress message of %s: %s", record.id, exc)

    def _progress(self, record: OperationRecord, event: Progress) -> Message:
        return rendering.render_progress(command_text=record.text, requester=record.requester, progress=event)

    def collect(
        self,
        op: Operation[Any],
        parsed: ParsedCommand,
        plan: Plan | None,
        on_progress: Callable[[Progress], None] | None,
        *,
        env: Environment,
        halt: Callable[[], str | None] = lambda: None,
    ) -> Result:
        """Run an operation in `env` to its Result; failures become a failed Result with a plain message.

        Before its first step and between two steps (each `Progress`), a reason from `halt()` (lock
        lost, bot stopping) stops the run before its next step."""
        if (reason := halt()) is not None:
            return Result(ok=False, summary=f"{parsed.verb} {reason}")
        events = op.execute(env, parsed.args, plan)
        try:
            for event in events:
                if isinstance(event, Result):
                    return event
                if (reason := halt()) is not None:
                    close = getattr(events, "close", None)
                    if close is not None:  # a generator: its `finally` blocks run now
                        close()
                    return Result(ok=False, summary=f"{parsed.verb} {reason}")
                if on_progress is not None:
                    on_progress(event)
        except OperationError as exc:
            return Result(ok=False, summary=f"{parsed.verb} failed: {exc}")
        except Exception:
            log.exception("operation %s raised", parsed.verb)
            return Result(ok=False, summary=f"{parsed.verb} failed on the bot's side; the error is logged.")
        return Result(ok=False, summary=f"{parsed.verb} ended without a result.")

    def upload_files(self, channel: str, result: Result, thread_ts: str | None = None) -> None:
        for file in result.files:
            self.messenger.upload(
                channel, filename=file.filename, title=file.title, content=file.content, thread_ts=thread_ts
            )

    # ------------------------------------------------------------------ schedules

    def run_scheduled(
        self, actor: str, text: str, channel: str, env: Environment | None = None
    ) -> tuple[Result, str | None]:
        """Run a schedule's command now, on this thread: an operation record, audit rows, the result
        posted to `channel` and kept (with its files) for `audit show`. The automation file is the
        authority for what runs (no role check, no approval); locks and audit storage still apply.
        `env`: where it runs (default: the first environment)."""
        env = env or self.environments.first
        try:
            parsed = parse_command(
                text, self.registry, components=list(env.components), command_name=self.slash_command
            )
        except ParseError as exc:
            return Result(
                ok=False, summary=f"the schedule's command `{text}` is invalid: {exc.message}"
            ), None
        unavailable = self.unavailable()
        if unavailable is not None:
            self.trail.metrics.command(parsed.verb, "refused")
            return Result(ok=False, summary=f"not run: {unavailable}"), None
        request = CommandRequest(user_id=actor, channel_id=channel, text=text)
        op = parsed.operation()
        args = args_json(parsed)
        try:  # a read-only job still runs under a lock named after its schedule: runs never overlap
            plan = (
                op.plan(env, parsed.args)
                if parsed.operation.mutating
                else Plan(summary=self.typed(parsed, env), target=actor)
            )
        except OperationError as exc:
            self.trail.record(actor, parsed.verb, args, "refused", detail=str(exc), required=True)
            return Result(ok=False, summary=f"`{parsed.verb}` refused: {exc}"), None
        if plan.noop:
            self.trail.record(
                actor, parsed.verb, args, "refused", detail=f"no-op: {plan.summary}", required=True
            )
            return Result(ok=True, summary=f"nothing to do: {plan.summary}"), None
        record = self.create_record(request, parsed, plan, approval_required=False, env=env)
        return self.execute(record, parsed, plan, keep_files=True), str(record.id)
