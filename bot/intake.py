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
from bot.access import AccessControl, Caller, Policy
from bot.approvals import Approvals
from bot.audit_trail import AuditTrail
from bot.environments import Choice, EnvironmentSet, UnknownEnvironment, split_env
from bot.interactions import CommandRequest
from bot.locks import TargetLocks
from bot.masking import refused_command, refused_text, typed_equivalent
from bot.messenger import Messenger, Reply
from bot.parsing import ParsedCommand, ParseError, field_problems, parse_typed, read_command, validate_args
from bot.per_environment import answer_each
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
        environments: EnvironmentSet,
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
        self.environments = environments
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
        named, text = split_env(request.text)
        try:
            typed = read_command(text, self.registry, command_name=self.slash_command)
            choice = self.choose(request.channel_id, named, typed.operation)
            if typed.operation.modal and typed.bare and request.trigger_id is not None:
                self._open_form(request, typed.operation, reply)
                return
            components = {c: None for env in choice.environments for c in env.components}
            parsed = parse_typed(typed, components=list(components), command_name=self.slash_command)
        except ParseError as exc:
            if request.text.strip():  # every refused command is audited, its secrets never kept
                kept = {"text": refused_text(request.text, self.registry)}
                verb = refused_command(request.text, self.registry)
                self.trail.record(request.user_id, verb, kept, "refused", detail=exc.message)
            reply(rendering.render_error(exc.message, usage=exc.usage, suggestion=exc.suggestion))
            return
        self.dispatch(request, parsed, reply, choice)

    def choose(self, channel_id: str, named: str | None, op_cls: type[Operation[Any]]) -> Choice:
        """The environment(s) of a command: `--env`, the channel's binding, the only one, or (read-only)
        all of them. Raises `ParseError` for an unknown name or a naked mutating command."""
        bound = self.access.environment_of(channel_id)
        try:
            choice = self.environments.choose(named, bound, mutating=op_cls.mutating)
        except UnknownEnvironment as exc:
            raise ParseError(str(exc)) from None
        if isinstance(choice, str):
            raise ParseError(f"`{op_cls.name}` refused: {choice}")
        return choice

    def dispatch(
        self, request: CommandRequest, parsed: ParsedCommand, reply: Reply, choice: Choice | None = None
    ) -> None:
        """Run a parsed command: environment, permissions, then its answer, dry run, card or run."""
        op_cls = parsed.operation
        if choice is None:
            try:
                choice = self.choose(request.channel_id, split_env(request.text)[0], op_cls)
            except ParseError as exc:
                self.trail.record(request.user_id, parsed.verb, args_json(parsed), "refused", detail=str(exc))
                reply(rendering.render_error(exc.message))
                return
        if op_cls.bot_state and choice.single is None:  # the bot's own state: one answer
            choice = Choice((self.environments.first,), named=False)
        allowed: list[tuple[Environment, Caller]] = []
        refusal: str | None = None
        for env in choice.environments:
            caller = self.access.caller(request.user_id, env.name)
            policy = self.permissions.policy(op_cls, env.name)
            refusal = self.permissions.refusal(caller, op_cls, policy, request.channel_id)
            if refusal is not None and choice.single is not None:
                where = f" in `{env.name}`" if self.environments.several else ""
                detail = refusal if not where else f"{refusal.rstrip('.')}{where}."
                self.trail.record(
                    request.user_id,
                    parsed.verb,
                    args_json(parsed),
                    "blocked",
                    detail=detail,
                    environment=env.name,
                )
                reply(rendering.render_error(detail))
                return
            if refusal is None:
                allowed.append((env, caller))
        if not allowed:
            assert refusal is not None
            self.trail.record(request.user_id, parsed.verb, args_json(parsed), "blocked", detail=refusal)
            reply(rendering.render_error(refusal))
            return
        if op_cls.mutating:
            env, _ = allowed[0]
            self._request_mutation(request, parsed, self.permissions.policy(op_cls, env.name), reply, env)
        elif len(allowed) == 1 and choice.single is not None:
            self.runs.answer(request, parsed, allowed[0][1], reply, allowed[0][0])
        else:
            answer_each(self.runs, request, parsed, allowed, reply)

    # ------------------------------------------------------------------ forms

    def _open_form(self, request: CommandRequest, op_cls: type[Operation[Any]], reply: Reply) -> None:
        caller = self.access.caller(request.user_id)
        policy = self.permissions.policy(op_cls)  # the environment's own checks come at submission
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
            args = validate_args(op_cls, values, self.environments.first.components)
        except ValidationError as error:
            return field_problems(op_cls.args_model, error)
        return ParsedCommand(verb=verb, operation=op_cls, args=args, text=typed_equivalent(verb, args))

    # ------------------------------------------------------------------ mutating

    def _request_mutation(
        self, request: CommandRequest, parsed: ParsedCommand, policy: Policy, reply: Reply, env: Environment
    ) -> None:
        if parsed.args.dry_run:  # reads only the operated systems: works with the bot's stores down
            self._dry_run(request, parsed, reply, env)
            return
        unavailable = self.runs.unavailable()
        if unavailable is not None:
            self.trail.metrics.command(parsed.verb, "refused")  # not audited: the audit store may be down
            reply(rendering.render_error(f"Cannot run `{parsed.verb}`: {unavailable}"))
            return
        op = parsed.operation()
        args = args_json(parsed)

        def audit(outcome: str, detail: str) -> None:
            self.trail.record(
                request.user_id,
                parsed.verb,
                args,
                outcome,
                detail=detail,
                required=True,
                environment=env.name,
            )

        try:
            plan = op.plan(env, parsed.args)
        except OperationError as exc:
            audit("refused", str(exc))
            reply(rendering.render_error(f"`{parsed.verb}` refused: {exc}"))
            return
        if plan.noop:
            audit("refused", f"no-op: {plan.summary}")
            reply(rendering.render_text(f"Nothing to do: {plan.summary}"))
            return
        holder = self._lock_holder(tuple(env.lock_prefix + target for target in plan.lock_targets))
        if holder is not None:
            audit("refused", holder)
            reply(rendering.render_error(holder, escape=False))
            return
        if policy.approval or op.needs_approval(parsed.args):
            self.approvals.request(request, parsed, plan, reply, env)
            return
        record = self.runs.create_record(request, parsed, plan, approval_required=False, env=env)
        self.runs.start(record, parsed, plan, reply)

    def _dry_run(
        self, request: CommandRequest, parsed: ParsedCommand, reply: Reply, env: Environment
    ) -> None:
        """The plan, shown; audited when PostgreSQL answers, else said plainly (issue 12 item 6)."""
        args = args_json(parsed)
        try:
            plan = parsed.operation().plan(env, parsed.args)
        except OperationError as exc:
            self.trail.record(
                request.user_id, parsed.verb, args, "refused", detail=str(exc), environment=env.name
            )
            reply(rendering.render_error(f"`{parsed.verb}` refused: {exc}"))
            return
        try:
            self.trail.record(
                request.user_id,
                parsed.verb,
                args,
                "dry-run",
                detail=plan.summary,
                required=True,
                environment=env.name,
            )
        except StoreUnavailable:
            plan = replace(
                plan, risks=(*plan.risks, "The audit store is unreachable: this dry run is not audited.")
            )
        reply(rendering.render_plan(plan, command_text=self.runs.typed(parsed, env), dry_run=True))

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
