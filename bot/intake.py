"""The front door: a command as typed → words and verb (once) → form, or arguments → permission
(one policy lookup) → the answer of a read-only command, or a dry run, an approval card or a run.

Everything happens off Bolt's listener threads (`accept`), and every failure becomes a message.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from pydantic import ValidationError

from bot import forms, rendering
from bot.access import AccessControl, Policy
from bot.approvals import Approvals
from bot.audit_trail import AuditTrail
from bot.interactions import CommandRequest
from bot.locks import TargetLocks
from bot.masking import refused_command, refused_text, typed_equivalent
from bot.messenger import Messenger, Reply
from bot.parsing import ParsedCommand, ParseError, field_problems, parse_typed, read_command, validate_args
from bot.permissions import Permissions
from bot.rendering import escape_text
from bot.runner import JobRunner, RunnerBusy
from bot.runs import Runs, args_json
from bot.store import StoreUnavailable
from commands.contract import Operation, OperationError
from commands.environment import Environment
from commands.registry import Registry

log = logging.getLogger(__name__)


class Intake:
    """Takes commands in and routes each to its answer."""

    def __init__(
        self,
        *,
        registry: Registry,
        env: Environment,
        access: AccessControl,
        permissions: Permissions,
        runs: Runs,
        approvals: Approvals,
        locks: TargetLocks,
        messenger: Messenger,
        trail: AuditTrail,
        pool: JobRunner | None = None,
    ) -> None:
        self.registry = registry
        self.env = env
        self.access = access
        self.permissions = permissions
        self.runs = runs
        self.approvals = approvals
        self.locks = locks
        self.messenger = messenger
        self.trail = trail
        self.pool = pool or JobRunner(workers=2, backlog=5000)
        self.slash_command = permissions.slash_command

    def accept(self, work: Callable[[], None], reply: Reply) -> None:
        """Take an acknowledged interaction off Bolt's listener threads, so the next ack is never delayed."""
        try:
            self.pool.submit(work, name="interaction")
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
        try:
            typed = read_command(request.text, self.registry, command_name=self.slash_command)
            if typed.operation.modal and typed.bare and request.trigger_id is not None:
                self._open_form(request, typed.operation, reply)
                return
            parsed = parse_typed(typed, components=self.env.components, command_name=self.slash_command)
        except ParseError as exc:
            if request.text.strip():  # every refused command is audited, its secrets never kept
                kept = {"text": refused_text(request.text, self.registry)}
                verb = refused_command(request.text, self.registry)
                self.trail.record(request.user_id, verb, kept, "refused", detail=exc.message)
            reply(rendering.render_error(exc.message, usage=exc.usage, suggestion=exc.suggestion))
            return
        self.dispatch(request, parsed, reply)

    def dispatch(self, request: CommandRequest, parsed: ParsedCommand, reply: Reply) -> None:
        """Run a parsed command: permissions, then its answer, dry run, card or run."""
        op_cls = parsed.operation
        caller = self.access.caller(request.user_id)
        policy = self.permissions.policy(op_cls)
        refusal = self.permissions.refusal(caller, op_cls, policy, request.channel_id)
        if refusal is not None:
            self.trail.record(request.user_id, parsed.verb, args_json(parsed), "blocked", detail=refusal)
            reply(rendering.render_error(refusal))
            return
        if op_cls.mutating:
            self._request_mutation(request, parsed, policy, reply)
        else:
            self.runs.answer(request, parsed, caller, reply)

    # ------------------------------------------------------------------ forms

    def _open_form(self, request: CommandRequest, op_cls: type[Operation[Any]], reply: Reply) -> None:
        caller = self.access.caller(request.user_id)
        policy = self.permissions.policy(op_cls)
        refusal = self.permissions.refusal(caller, op_cls, policy, request.channel_id)
        if refusal is not None:
            self.trail.record(request.user_id, op_cls.name, {}, "blocked", detail=refusal)
            reply(rendering.render_error(refusal))
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
        try:
            args = validate_args(op_cls, values, self.env.components)
        except ValidationError as error:
            return field_problems(op_cls.args_model, error)
        return ParsedCommand(verb=verb, operation=op_cls, args=args, text=typed_equivalent(verb, args))

    # ------------------------------------------------------------------ mutating

    def _request_mutation(
        self, request: CommandRequest, parsed: ParsedCommand, policy: Policy, reply: Reply
    ) -> None:
        if parsed.args.dry_run:  # reads only the operated systems: works with the bot's stores down
            self._dry_run(request, parsed, reply)
            return
        unavailable = self.runs.unavailable()
        if unavailable is not None:
            self.trail.metrics.command(parsed.verb, "refused")  # not audited: the audit store may be down
            reply(rendering.render_error(f"Cannot run `{parsed.verb}`: {unavailable}"))
            return
        op = parsed.operation()
        args = args_json(parsed)

        def audit(outcome: str, detail: str) -> None:
            self.trail.record(request.user_id, parsed.verb, args, outcome, detail=detail, required=True)

        try:
            plan = op.plan(self.env, parsed.args)
        except OperationError as exc:
            audit("refused", str(exc))
            reply(rendering.render_error(f"`{parsed.verb}` refused: {exc}"))
            return
        if plan.noop:
            audit("refused", f"no-op: {plan.summary}")
            reply(rendering.render_text(f"Nothing to do: {plan.summary}"))
            return
        holder = self._lock_holder(plan.lock_targets)
        if holder is not None:
            audit("refused", holder)
            reply(rendering.render_error(holder, escape=False))
            return
        if policy.approval or op.needs_approval(parsed.args):
            self.approvals.request(request, parsed, plan, reply)
            return
        record = self.runs.create_record(request, parsed, plan, approval_required=False)
        self.runs.start(record, parsed, plan, reply)

    def _dry_run(self, request: CommandRequest, parsed: ParsedCommand, reply: Reply) -> None:
        """The plan, shown; audited when PostgreSQL answers, else said plainly (issue 12 item 6)."""
        args = args_json(parsed)
        try:
            plan = parsed.operation().plan(self.env, parsed.args)
        except OperationError as exc:
            self.trail.record(request.user_id, parsed.verb, args, "refused", detail=str(exc))
            reply(rendering.render_error(f"`{parsed.verb}` refused: {exc}"))
            return
        try:
            self.trail.record(
                request.user_id, parsed.verb, args, "dry-run", detail=plan.summary, required=True
            )
        except StoreUnavailable:
            plan = replace(
                plan, risks=(*plan.risks, "The audit store is unreachable: this dry run is not audited.")
            )
        reply(rendering.render_plan(plan, command_text=self.runs.typed(parsed), dry_run=True))

    def _lock_holder(self, targets: tuple[str, ...]) -> str | None:
        """Each held lock of the plan's set: its holder, their operation and since when; None if free."""
        held = self.locks.holders_of(targets)
        if not held:
            return None
        named = "; ".join(
            f"{escape_text(info.target)} is locked by <@{info.owner}> since {info.since:%H:%M:%S} UTC "
            f"({escape_text(info.reason)})"
            for info in held
        )
        return f"{named}; try again when it is done."
