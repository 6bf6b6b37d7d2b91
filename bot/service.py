"""The one path every command takes — slash command, button, console (and later schedules).

parse → access (role, channel) → policy → dry-run | approval card | lock + audit + run.
Mutating commands are refused when PostgreSQL (audit) or Redis (locks) cannot be reached.
Every outbound text is rendered by `bot.rendering` and redacted by the `Messenger`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import ValidationError

from bot import forms, rendering
from bot.access import AccessControl, Caller
from bot.builtins import (
    BUILTINS,
    ApprovalsCommand,
    AuditArgs,
    AuditCommand,
    AuditShowArgs,
    AuditShowCommand,
    HelpArgs,
    HelpCommand,
    LocksCommand,
    WhoamiCommand,
    is_for_everyone,
)
from bot.card_binding import card_mismatch
from bot.locks import HeldLock, LockBusy, LocksUnavailable, TargetLocks
from bot.logging_setup import operation_context
from bot.masking import masked_text, refused_command, refused_text
from bot.messenger import Messenger, Reply
from bot.metrics import BotMetrics
from bot.parsing import ParsedCommand, ParseError, field_problems, parse_command, suggest_verb
from bot.rendering import Message, escape_text
from bot.runner import JobRunner, RunnerBusy, Throttle
from bot.stash import ArgumentStash, secret_fields
from bot.store import AuditLog, Database, OperationRecord, OperationStore, StoreUnavailable
from commands.clients.kube import KubeError
from commands.contract import Operation, OperationError, Plan, Progress, Result
from commands.environment import Environment
from commands.registry import Registry

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CommandRequest:
    """A command as typed: who, where, what (and Slack's trigger, to open a form)."""

    user_id: str
    channel_id: str
    text: str
    trigger_id: str | None = None


@dataclass(frozen=True)
class Decision:
    """A click on Approve or Deny."""

    user_id: str
    operation_id: str
    approve: bool
    channel_id: str | None = None  # where the clicked message is …
    message_ts: str | None = None  # … and which one: it must be the request's card


class CommandService:
    """Runs commands and approval decisions with permissions, audit, approvals and locks."""

    def __init__(
        self,
        *,
        registry: Registry,
        env: Environment,
        access: AccessControl,
        db: Database,
        store: OperationStore,
        audit: AuditLog,
        locks: TargetLocks,
        runner: JobRunner,
        messenger: Messenger,
        stash: ArgumentStash,
        intake: JobRunner | None = None,
        slash_command: str = "/maas",
        progress_interval: float = 1.0,
        metrics: BotMetrics | None = None,
    ) -> None:
        self.registry = registry
        self.env = env
        self.access = access
        self.db = db
        self.store = store
        self.audit = audit
        self.locks = locks
        self.runner = runner
        self.messenger = messenger
        self.stash = stash
        self.intake = intake or JobRunner(workers=2, backlog=5000)
        self.slash_command = slash_command
        self.progress_interval = progress_interval
        self.metrics = metrics or BotMetrics()
        self._schema_ready = False
        self._help_cache: dict[tuple[str | None, bool], Message] = {}
        self._inflight: dict[str, HeldLock | None] = {}  # operation id → its lock, for this process
        self._inflight_guard = threading.Lock()

    # ------------------------------------------------------------------ commands

    def accept(self, work: Callable[[], None], reply: Reply) -> None:
        """Take an acknowledged interaction off Bolt's listener threads, so the next ack is never delayed."""
        try:
            self.intake.submit(work, name="interaction")
        except RunnerBusy:
            reply(rendering.render_error("The bot is very busy right now; try again in a minute."))

    def handle_command(self, request: CommandRequest, reply: Reply) -> None:
        """Answer one typed command. Never raises: every failure becomes a message."""
        try:
            self._handle_command(request, reply)
        except Exception:
            log.exception("command failed unexpectedly")
            reply(rendering.render_error("Something went wrong on the bot's side; the error is logged."))

    def _handle_command(self, request: CommandRequest, reply: Reply) -> None:
        form = self._form_requested(request)
        if form is not None:
            self._open_form(request, form, reply)
            return
        try:
            parsed = parse_command(request.text, self.registry, components=list(self.env.components))
        except ParseError as exc:
            reply(rendering.render_error(exc.message, usage=exc.usage, suggestion=exc.suggestion))
            if request.text.strip():  # every refused command is audited, its secrets never kept
                kept = {"text": refused_text(request.text, self.registry)}
                verb = refused_command(request.text, self.registry)
                self._audit_safely(request.user_id, verb, kept, "refused", detail=exc.message)
            return
        self.dispatch(request, parsed, reply)

    def dispatch(self, request: CommandRequest, parsed: ParsedCommand, reply: Reply) -> None:
        """Run a parsed command: permissions, then the builtin, read-only or mutating path."""
        op_cls = parsed.operation
        caller = self.access.caller(request.user_id)

        if not is_for_everyone(op_cls):
            refusal = self._permission_refusal(caller, op_cls, request.channel_id)
            if refusal is not None:
                reply(rendering.render_error(refusal))
                self._audit_blocked(request, parsed, refusal)
                return

        if op_cls in BUILTINS:
            self.metrics.command(parsed.verb, "read")
        if op_cls is HelpCommand:
            reply(self._help(caller, parsed.args))
        elif op_cls is WhoamiCommand:
            reply(self._whoami(caller))
        elif op_cls is AuditShowCommand:
            self._show_operation(request, parsed, reply)
        elif op_cls in (AuditCommand, ApprovalsCommand, LocksCommand):
            reply(self._bot_state(parsed), ephemeral=False)
        elif op_cls.mutating:
            self._request_mutation(request, parsed, caller, reply)
        else:
            self._run_read_only(request, parsed, reply)

    # ------------------------------------------------------------------ forms

    def _form_requested(self, request: CommandRequest) -> type[Operation[Any]] | None:
        """The operation whose form to open: a form operation typed with no arguments, from Slack."""
        words = request.text.split()
        match = self.registry.match(words)
        if match is None or request.trigger_id is None:
            return None
        op_cls, width = match
        return op_cls if op_cls.modal and len(words) == width else None

    def _open_form(self, request: CommandRequest, op_cls: type[Operation[Any]], reply: Reply) -> None:
        refusal = self._permission_refusal(self.access.caller(request.user_id), op_cls, request.channel_id)
        if refusal is not None:
            reply(rendering.render_error(refusal))
            self._audit_safely(request.user_id, op_cls.name, {}, "blocked", detail=refusal)
            return
        assert request.trigger_id is not None
        view = forms.build_form(op_cls, channel_id=request.channel_id, command_text=request.text)
        if not self.messenger.open_view(request.trigger_id, view):
            reply(
                rendering.render_error(
                    f"Could not open the form; type `{self.slash_command} {op_cls.usage}`."
                )
            )

    def check_form(self, verb: str, values: dict[str, str]) -> ParsedCommand | dict[str, str]:
        """A submitted form as a parsed command, or field-level errors to show in the form."""
        op_cls = self.registry.get(verb)
        if op_cls is None or not op_cls.modal:
            return {"": "this form is no longer known to the bot"}
        components = list(self.env.components)
        try:
            args = op_cls.args_model.model_validate(values, context={"components": components})
        except ValidationError as error:
            return field_problems(op_cls.args_model, error, components)
        return ParsedCommand(verb=verb, operation=op_cls, args=args, text=forms.typed_equivalent(verb, args))

    def _permission_refusal(self, caller: Caller, op_cls: type[Operation[Any]], channel: str) -> str | None:
        if caller.role is None:
            return (
                f"You have no role for the bot, so you may only use `{self.slash_command} help` and "
                f"`{self.slash_command} whoami`. Ask a platform admin to add you to the access file."
            )
        policy = self.access.policy(op_cls.name, op_cls.default_role, op_cls.default_approval)
        if not caller.may(policy.role):
            return f"`{op_cls.name}` needs the {policy.role} role; you are {caller.role}."
        if not self.access.channel_allowed(channel, op_cls.mutating):
            if channel.startswith("D"):
                return f"`{op_cls.name}` changes the system, so it is only accepted in the ops channels."
            return "Commands are not accepted in this channel; use one of the configured ops channels."
        return None

    def _audit_blocked(self, request: CommandRequest, parsed: ParsedCommand, reason: str) -> None:
        self._audit_safely(request.user_id, parsed.verb, _args_json(parsed), "blocked", detail=reason)

    def _audit_safely(
        self, actor: str, command: str, args: dict[str, Any], outcome: str, detail: str
    ) -> None:
        """Audit a refusal; a refusal still stands when the audit store is down (it is logged)."""
        self.metrics.command(command, outcome)
        try:
            self.audit.record(actor=actor, command=command, args=args, outcome=outcome, detail=detail)
        except StoreUnavailable as exc:
            log.warning("could not audit a %s command: %s", outcome, exc)

    # ------------------------------------------------------------------ read-only

    def _run_read_only(self, request: CommandRequest, parsed: ParsedCommand, reply: Reply) -> None:
        op = parsed.operation()

        def job() -> None:
            started = time.monotonic()
            result = self._collect(op, parsed, None, on_progress=None)
            duration = time.monotonic() - started
            self.metrics.command(parsed.verb, "read" if result.ok else "failed")
            self.metrics.operation_duration(parsed.verb, duration)
            reply(
                rendering.render_result(
                    result,
                    command_text=self._typed(parsed),
                    requester=request.user_id,
                    duration_s=duration,
                    buttons=_follow_up_buttons(result),
                ),
                ephemeral=False,
            )
            self._upload_files(request.channel_id, result)

        try:
            self.runner.submit(job, name=parsed.verb)
        except RunnerBusy as exc:
            reply(rendering.render_error(str(exc)))

    # ------------------------------------------------------------------ mutating

    def _unavailable(self) -> str | None:
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

    def _request_mutation(
        self, request: CommandRequest, parsed: ParsedCommand, caller: Caller, reply: Reply
    ) -> None:
        op_cls = parsed.operation
        unavailable = self._unavailable()
        if unavailable is not None:
            self.metrics.command(parsed.verb, "refused")  # not audited: the audit store may be down
            reply(rendering.render_error(f"Cannot run `{parsed.verb}`: {unavailable}"))
            return
        op = op_cls()
        try:
            plan = op.plan(self.env, parsed.args)
        except (OperationError, KubeError) as exc:
            reply(rendering.render_error(f"`{parsed.verb}` refused: {exc}"))
            self._audit(request.user_id, parsed, "refused", detail=str(exc))
            return
        if parsed.args.dry_run:
            reply(rendering.render_plan(plan, command_text=self._typed(parsed), dry_run=True))
            self._audit(request.user_id, parsed, "dry-run", detail=plan.summary)
            return
        if plan.noop:
            reply(rendering.render_text(f"Nothing to do: {plan.summary}"))
            self._audit(request.user_id, parsed, "refused", detail=f"no-op: {plan.summary}")
            return
        holder = self._lock_holder(plan.target)
        if holder is not None:
            reply(rendering.render_error(holder, escape=False))
            self._audit(request.user_id, parsed, "refused", detail=holder)
            return

        policy = self.access.policy(op_cls.name, op_cls.default_role, op_cls.default_approval)
        if policy.approval or op.needs_approval(parsed.args):
            self._request_approval(request, parsed, plan, reply)
            return
        record = self._create_record(request, parsed, plan, approval_required=False)
        self._start(record, parsed, plan, reply)

    def _create_record(
        self, request: CommandRequest, parsed: ParsedCommand, plan: Plan, *, approval_required: bool
    ) -> OperationRecord:
        """The operation's row: `requested` (with an expiry) when it waits for approval, else `approved`."""
        ttl = timedelta(minutes=self.access.approval.ttl_minutes)
        record = self.store.create(
            command=parsed.verb,
            args=_args_json(parsed),
            text=self._typed(parsed),
            requester=request.user_id,
            channel=request.channel_id,
            environment=self.env.name,
            target=plan.target,
            state="requested" if approval_required else "approved",
            approval_required=approval_required,
            plan=plan.to_json(),
            plan_fingerprint=plan.fingerprint,
            expires_at=datetime.now(UTC) + ttl if approval_required else None,
        )
        secrets = secret_fields(parsed.args)
        if secrets and approval_required:
            self.stash.put(str(record.id), secrets, int(ttl.total_seconds()) + 60)
        return record

    def _lock_holder(self, target: str) -> str | None:
        info = self.locks.holder(target)
        if info is None:
            return None
        return (
            f"{escape_text(target)} is locked by <@{info.owner}> since {info.since:%H:%M:%S} UTC "
            f"({escape_text(info.reason)}); try again when it is done."
        )

    def _request_approval(
        self, request: CommandRequest, parsed: ParsedCommand, plan: Plan, reply: Reply
    ) -> None:
        record = self._create_record(request, parsed, plan, approval_required=True)
        self._audit(request.user_id, parsed, "requested", operation_id=str(record.id), detail=plan.summary)
        card = self._card(record, plan)
        ts = self.messenger.post(request.channel_id, card)
        if ts is not None:
            self.store.set_message(record.id, request.channel_id, ts)
        reply(
            rendering.render_text(
                f"Approval requested for `{self._typed(parsed)}`; an approver has "
                f"{self.access.approval.ttl_minutes} minutes to decide."
            )
        )

    # ------------------------------------------------------------------ decisions

    def handle_decision(self, decision: Decision, reply: Reply) -> None:
        """Apply an Approve/Deny click. Never raises; exactly one click of many wins."""
        try:
            self._handle_decision(decision, reply)
        except StoreUnavailable as exc:
            reply(
                rendering.render_error(f"Cannot record the decision: the audit store is unreachable ({exc}).")
            )
        except Exception:
            log.exception("decision failed unexpectedly")
            reply(rendering.render_error("Something went wrong on the bot's side; the error is logged."))

    def _handle_decision(self, decision: Decision, reply: Reply) -> None:
        record = self.store.get(decision.operation_id)
        if record is None:
            reply(rendering.render_error("This request is unknown to the bot."))
            return
        mismatch = card_mismatch(
            record, decision.channel_id, decision.message_ts, lambda: self.store.get(decision.operation_id)
        )
        if mismatch is not None:
            reply(rendering.render_error(mismatch))
            self._audit_record(record, decision.user_id, "blocked", detail=mismatch)
            return
        caller = self.access.caller(decision.user_id)
        verdict = "approve" if decision.approve else "deny"
        if not caller.approver:
            reason = f"You cannot {verdict} requests: you are not an approver."
            reply(rendering.render_error(reason))
            self._audit_record(record, decision.user_id, "blocked", detail=reason)
            return
        if decision.user_id == record.requester and not self.access.approval.allow_self_approval:
            reason = f"You cannot {verdict} your own request; another approver must decide."
            reply(rendering.render_error(reason))
            self._audit_record(record, decision.user_id, "blocked", detail=reason)
            return
        if record.state != "requested":
            reply(rendering.render_error(f"This request is already {record.state}."))
            return
        if record.expires_at is not None and record.expires_at <= datetime.now(UTC):
            self.expire_due()
            reply(rendering.render_error("This request has expired; request it again."))
            return
        if not decision.approve:
            denied = self.store.transition(
                record.id, from_states=["requested"], to="denied", approver=decision.user_id
            )
            if denied is None:
                reply(rendering.render_error("This request was decided a moment ago by someone else."))
                return
            self._audit_record(denied, decision.user_id, "denied")
            self._update_card(denied)
            return
        self._approve(record, decision, reply)

    def _approve(self, record: OperationRecord, decision: Decision, reply: Reply) -> None:
        op_cls = self.registry.get(record.command)
        if op_cls is None:
            reply(rendering.render_error(f"`{record.command}` is no longer a known command."))
            return
        unavailable = self._unavailable()
        if unavailable is not None:
            reply(rendering.render_error(f"Cannot approve now: {unavailable}"))
            return
        try:
            stored = dict(record.args)
            if any(isinstance(v, str) and v == "**********" for v in stored.values()):
                secrets = self.stash.get(str(record.id))
                if secrets is None:
                    reply(
                        rendering.render_error("The request's secret values have expired; request it again.")
                    )
                    return
                stored.update(secrets)
            parsed = ParsedCommand(
                verb=record.command,
                operation=op_cls,
                args=op_cls.args_model.model_validate(
                    stored, context={"components": list(self.env.components)}
                ),
                text=record.text,
            )
            plan = op_cls().plan(self.env, parsed.args)
        except (OperationError, KubeError) as exc:
            reply(rendering.render_error(f"Cannot approve now: {exc}"))
            return
        if plan.fingerprint != record.plan_fingerprint or plan.noop:
            note = (
                "The target changed since the request: "
                f"{plan.summary}. Check the new plan and approve again if it is still wanted."
            )
            changed = self.store.transition(
                record.id,
                from_states=["requested"],
                to="requested",
                plan=plan.to_json(),
                plan_fingerprint=plan.fingerprint,
            )
            if changed is not None:
                self._update_card(changed, note=note)
            reply(rendering.render_error(note))
            return
        approved = self.store.transition(
            record.id, from_states=["requested"], to="approved", approver=decision.user_id
        )
        if approved is None:
            reply(rendering.render_error("This request was decided a moment ago by someone else."))
            return
        self.stash.drop(str(record.id))
        self._audit_record(approved, decision.user_id, "approved")
        self._update_card(approved)
        self._start(approved, parsed, plan, reply)

    def expire_due(self) -> list[OperationRecord]:
        """Close requests past their expiry and update their cards (the reaper calls this)."""
        expired = self.store.expire_due()
        for record in expired:
            self._audit_record(record, record.requester, "expired")
            self._update_card(record)
        return expired

    # ------------------------------------------------------------------ schedules

    def run_scheduled(self, actor: str, text: str, channel: str) -> tuple[Result, str | None]:
        """Run a schedule's command now, on this thread: an operation record, audit rows, the result
        posted to `channel` and kept (with its files) for `audit show`. The automation file is the
        authority for what runs (no role check, no approval); locks and audit storage still apply."""
        try:
            parsed = parse_command(text, self.registry, components=list(self.env.components))
        except ParseError as exc:
            return Result(
                ok=False, summary=f"the schedule's command `{text}` is invalid: {exc.message}"
            ), None
        unavailable = self._unavailable()
        if unavailable is not None:
            self.metrics.command(parsed.verb, "refused")
            return Result(ok=False, summary=f"not run: {unavailable}"), None
        request = CommandRequest(user_id=actor, channel_id=channel, text=text)
        op = parsed.operation()
        try:  # a read-only job still runs under a lock named after its schedule: runs never overlap
            plan = (
                op.plan(self.env, parsed.args)
                if parsed.operation.mutating
                else Plan(summary=self._typed(parsed), target=actor)
            )
        except (OperationError, KubeError) as exc:
            self._audit(actor, parsed, "refused", detail=str(exc))
            return Result(ok=False, summary=f"`{parsed.verb}` refused: {exc}"), None
        if plan.noop:
            self._audit(actor, parsed, "refused", detail=f"no-op: {plan.summary}")
            return Result(ok=True, summary=f"nothing to do: {plan.summary}"), None
        record = self._create_record(request, parsed, plan, approval_required=False)
        return self._execute(record, parsed, plan, keep_files=True), str(record.id)

    def _show_operation(self, request: CommandRequest, parsed: ParsedCommand, reply: Reply) -> None:
        """`audit show <id>`: the operation's stored result, re-rendered, with its kept files."""
        assert isinstance(parsed.args, AuditShowArgs)
        try:
            record = self.store.get(parsed.args.operation_id)
        except StoreUnavailable as exc:
            reply(rendering.render_error(f"Cannot read the bot's state: {exc}"))
            return
        if record is None:
            reply(rendering.render_error("No operation with this id."))
            return
        if record.result is None:
            reply(rendering.render_text(f"`{record.text}` is {record.state}; it has no output yet."))
            return
        result = Result.from_json(record.result)
        message = rendering.render_result(result, command_text=record.text, requester=record.requester)
        reply(message, ephemeral=False)
        self._upload_files(request.channel_id, result)

    # ------------------------------------------------------------------ execution

    def _start(self, record: OperationRecord, parsed: ParsedCommand, plan: Plan, reply: Reply) -> None:
        def job() -> None:
            self._execute(record, parsed, plan)

        self._track(str(record.id), None)  # queued: not an orphan while it waits for a worker
        try:
            self.runner.submit(job, name=f"{record.command}:{record.id}")
        except RunnerBusy as exc:
            self._untrack(str(record.id))
            self.store.transition(record.id, from_states=["approved"], to="failed", error=str(exc))
            reply(rendering.render_error(str(exc)))

    def _execute(
        self, record: OperationRecord, parsed: ParsedCommand, plan: Plan, *, keep_files: bool = False
    ) -> Result:
        """Run an approved operation under its lock; the final message, audit row and Result."""
        with operation_context(str(record.id)):  # runs on the worker: its log lines carry the id
            try:
                return self._execute_locked(record, parsed, plan, keep_files=keep_files)
            finally:
                self._untrack(str(record.id))

    def _execute_locked(
        self, record: OperationRecord, parsed: ParsedCommand, plan: Plan, *, keep_files: bool
    ) -> Result:
        started = time.monotonic()
        try:
            lock = self.locks.acquire(
                plan.target, owner=record.requester, reason=record.text, operation=str(record.id)
            )
        except (LockBusy, LocksUnavailable) as exc:
            failed = self.store.transition(record.id, from_states=["approved"], to="failed", error=str(exc))
            if failed is not None:
                self._audit_record(failed, record.requester, "failed", detail=str(exc))
                self._update_card(failed, note=str(exc))
            return Result(ok=False, summary=str(exc))
        self._track(str(record.id), lock)
        with lock:
            running = self.store.transition(record.id, from_states=["approved"], to="running")
            if running is None:  # somebody else started or closed it
                return Result(ok=False, summary="the operation was started or closed elsewhere")
            self._update_card(running)
            progress_ts = self.messenger.post(
                record.channel,
                rendering.render_progress(
                    command_text=record.text, requester=record.requester, progress=Progress("starting…")
                ),
            )
            if progress_ts is not None:
                self.store.set_progress_message(record.id, progress_ts)
            throttle = Throttle(self.progress_interval)

            def on_progress(event: Progress) -> None:
                if progress_ts is not None and throttle.ready():
                    self.messenger.update(
                        record.channel,
                        progress_ts,
                        rendering.render_progress(
                            command_text=record.text, requester=record.requester, progress=event
                        ),
                    )

            result = self._collect(parsed.operation(), parsed, plan, on_progress=on_progress)
            duration = time.monotonic() - started
            final = self.store.transition(
                record.id,
                from_states=["running"],
                to="succeeded" if result.ok else "failed",
                result=result.to_json(file_contents=keep_files),
                error=None if result.ok else result.summary,
            )
            message = rendering.render_result(
                result,
                command_text=record.text,
                requester=record.requester,
                duration_s=duration,
                buttons=_follow_up_buttons(result),
            )
            if progress_ts is not None:
                self.messenger.update(record.channel, progress_ts, message)
            else:
                progress_ts = self.messenger.post(record.channel, message)
            self._upload_files(record.channel, result, thread_ts=progress_ts)
            if final is not None:
                self._audit_record(
                    final,
                    record.requester,
                    "succeeded" if result.ok else "failed",
                    detail=result.summary,
                    duration_ms=int(duration * 1000),
                )
                self._update_card(final)
            return result

    # ------------------------------------------------------------------ stops and crashes

    def _track(self, operation_id: str, lock: HeldLock | None) -> None:
        with self._inflight_guard:
            self._inflight[operation_id] = lock

    def _untrack(self, operation_id: str) -> None:
        with self._inflight_guard:
            self._inflight.pop(operation_id, None)

    def interrupt_running(self, reason: str) -> list[OperationRecord]:
        """At shutdown: mark this process's unfinished operations interrupted, say so, free their locks."""
        with self._inflight_guard:
            inflight = dict(self._inflight)
            self._inflight.clear()
        marked: list[OperationRecord] = []
        for operation_id, lock in inflight.items():
            record = self.store.get(operation_id)
            if record is not None:
                marked += self._mark_interrupted(record, reason)
            if lock is not None:
                lock.release()
        return marked

    def recover_interrupted(self, approved_grace: timedelta = timedelta(minutes=10)) -> list[OperationRecord]:
        """Mark operations left unfinished by a stopped or crashed replica: running (or approved and
        never started) with no live lock of their own. Their locks expire by themselves (TTL)."""
        with self._inflight_guard:
            mine = set(self._inflight)
        marked: list[OperationRecord] = []
        for record in self.store.unfinished(approved_before=datetime.now(UTC) - approved_grace):
            if str(record.id) in mine:
                continue
            holder = self.locks.holder(record.target) if record.target else None
            if holder is not None and holder.operation == str(record.id):
                continue  # still running on a live replica (its lock is being renewed)
            reason = "the bot stopped while this ran (a replica crashed or was killed)"
            marked += self._mark_interrupted(record, reason)
        return marked

    def _mark_interrupted(self, record: OperationRecord, reason: str) -> list[OperationRecord]:
        done = self.store.transition(
            record.id, from_states=["running", "approved"], to="interrupted", error=reason
        )
        if done is None:
            return []
        log.warning("operation %s (%s) interrupted: %s", record.id, record.command, reason)
        self._audit_record(done, record.requester, "interrupted", detail=reason)
        note = (
            f"⚠️ Interrupted: `{escape_text(record.text)}` — {escape_text(reason)}. Its change may be "
            f"half done: check with `{self.slash_command} status` before running it again."
        )
        if done.progress_ts is not None:
            self.messenger.update(done.channel, done.progress_ts, rendering.render_text(note, escape=False))
        else:
            self.messenger.post(done.channel, rendering.render_text(note, escape=False))
        self._update_card(done)
        return [done]

    def _collect(
        self,
        op: Operation[Any],
        parsed: ParsedCommand,
        plan: Plan | None,
        on_progress: Any,
    ) -> Result:
        """Run an operation to its Result; failures become a failed Result with a plain message."""
        try:
            for event in op.execute(self.env, parsed.args, plan):
                if isinstance(event, Result):
                    return event
                if on_progress is not None:
                    on_progress(event)
        except (OperationError, KubeError) as exc:
            return Result(ok=False, summary=f"{parsed.verb} failed: {exc}")
        except Exception:
            log.exception("operation %s raised", parsed.verb)
            return Result(ok=False, summary=f"{parsed.verb} failed on the bot's side; the error is logged.")
        return Result(ok=False, summary=f"{parsed.verb} ended without a result.")

    def _upload_files(self, channel: str, result: Result, thread_ts: str | None = None) -> None:
        for file in result.files:
            self.messenger.upload(
                channel, filename=file.filename, title=file.title, content=file.content, thread_ts=thread_ts
            )

    # ------------------------------------------------------------------ rendering helpers

    def _card(self, record: OperationRecord, plan: Plan | None = None, note: str | None = None) -> Message:
        shown = plan or Plan.from_json(record.plan or {"summary": record.text, "target": record.target or ""})
        return rendering.render_approval_card(
            operation_id=str(record.id),
            requester=record.requester,
            command_text=record.text,
            plan=shown,
            expires_at=record.expires_at or datetime.now(UTC),
            state=record.state,
            decided_by=record.approver,
            note=note,
        )

    def _update_card(self, record: OperationRecord, note: str | None = None) -> None:
        if not record.approval_required or record.message_channel is None or record.message_ts is None:
            return
        self.messenger.update(record.message_channel, record.message_ts, self._card(record, note=note))

    def _typed(self, parsed: ParsedCommand) -> str:
        return f"{self.slash_command} {masked_text(parsed)}"

    def _help(self, caller: Caller, args: Any) -> Message:
        assert isinstance(args, HelpArgs)
        if args.command is None:  # the full list depends only on the role: rendered once per role
            key = (caller.role, caller.approver)
            if key not in self._help_cache:
                self._help_cache[key] = self._full_help(caller)
            return self._help_cache[key]
        return self._command_help(caller, args.command)

    def _full_help(self, caller: Caller) -> Message:
        visible = [op for op in self.registry.operations() if self._may_see(caller, op)]
        lines = [f"`{self.slash_command} {op.usage}` — {op.help()}" for op in visible]
        if caller.role is None:
            lines.append("You have no role yet: ask a platform admin to add you to the access file.")
        return rendering.render_text("\n".join(lines))

    def _command_help(self, caller: Caller, command: str) -> Message:
        visible = [op for op in self.registry.operations() if self._may_see(caller, op)]
        match = self.registry.match(command.split())
        if match is None or match[0] not in visible:
            suggestion = suggest_verb(command, [op.name for op in visible])
            unknown = f"No command `{command[:40]}` that you may run."
            return rendering.render_error(unknown, suggestion=suggestion)
        op = match[0]
        return rendering.render_text(f"`{self.slash_command} {op.usage}`\n{op.help()}")

    def _may_see(self, caller: Caller, op: type[Operation[Any]]) -> bool:
        if is_for_everyone(op):
            return True
        if caller.role is None:
            return False
        policy = self.access.policy(op.name, op.default_role, op.default_approval)
        return caller.may(policy.role)

    def _whoami(self, caller: Caller) -> Message:
        role = caller.role or "no role"
        approver = ", approver" if caller.approver else ""
        return rendering.render_text(
            f"You are <@{caller.user_id}> (`{caller.user_id}`): {role}{approver}.", escape=False
        )

    def _bot_state(self, parsed: ParsedCommand) -> Message:
        try:
            if parsed.operation is AuditCommand:
                assert isinstance(parsed.args, AuditArgs)
                entries = self.audit.recent(parsed.args.limit)
                lines = [
                    f"{e.at:%Y-%m-%d %H:%M:%S} <@{e.actor}> {e.command} → {e.outcome}"
                    + (f" (approver <@{e.approver}>)" if e.approver else "")
                    + (f" {e.duration_ms} ms" if e.duration_ms is not None else "")
                    + (f" — {escape_text(e.detail)}" if e.detail else "")
                    for e in entries
                ]
                return rendering.render_text("\n".join(lines) or "No operations yet.", escape=False)
            if parsed.operation is ApprovalsCommand:
                pending = self.store.pending()
                lines = [
                    f"`{escape_text(r.text)}` requested by <@{r.requester}>, expires {r.expires_at:%H:%M} UTC"
                    for r in pending
                    if r.expires_at is not None
                ]
                return rendering.render_text(
                    "\n".join(lines) or "No requests are waiting for approval.", escape=False
                )
            holders = self.locks.holders()
            lines = [
                f"{escape_text(h.target)}: <@{h.owner}> since {h.since:%H:%M:%S} UTC "
                f"({escape_text(h.reason)})"
                for h in holders
            ]
            return rendering.render_text("\n".join(lines) or "No locks are held.", escape=False)
        except (StoreUnavailable, LocksUnavailable) as exc:
            return rendering.render_error(f"Cannot read the bot's state: {exc}")

    # ------------------------------------------------------------------ audit helpers

    def _audit(
        self,
        actor: str,
        parsed: ParsedCommand,
        outcome: str,
        *,
        operation_id: str | None = None,
        detail: str | None = None,
    ) -> None:
        self.metrics.command(parsed.verb, outcome)
        self.audit.record(
            actor=actor,
            command=parsed.verb,
            args=_args_json(parsed),
            outcome=outcome,
            operation_id=operation_id,
            detail=detail,
        )

    def _audit_record(
        self,
        record: OperationRecord,
        actor: str,
        outcome: str,
        *,
        detail: str | None = None,
        duration_ms: int | None = None,
    ) -> None:
        self._measure(record, outcome, duration_ms)
        try:
            self.audit.record(
                actor=actor,
                command=record.command,
                args=record.args,
                outcome=outcome,
                operation_id=str(record.id),
                approver=record.approver,
                detail=detail,
                duration_ms=duration_ms,
            )
        except StoreUnavailable as exc:
            log.warning("could not audit %s of %s: %s", outcome, record.id, exc)

    def _measure(self, record: OperationRecord, outcome: str, duration_ms: int | None) -> None:
        """Metrics for an audited outcome: its count, the run time, the approval's decision latency."""
        self.metrics.command(record.command, outcome)
        if duration_ms is not None:
            self.metrics.operation_duration(record.command, duration_ms / 1000)
        if outcome in ("approved", "denied") and record.decided_at is not None:
            self.metrics.approval_decided(outcome, (record.decided_at - record.created_at).total_seconds())


FOLLOW_UP_ACTION = "followup.run"


def _follow_up_buttons(result: Result) -> list[rendering.Button]:
    """Buttons for a result's next steps; a click runs the command as the clicker, checks and all."""
    return [
        rendering.Button(f.label, FOLLOW_UP_ACTION, f.command, "danger" if f.label == "Rollback" else None)
        for f in result.follow_ups
    ]


def _args_json(parsed: ParsedCommand) -> dict[str, Any]:
    data: dict[str, Any] = parsed.args.model_dump(mode="json")
    return data
