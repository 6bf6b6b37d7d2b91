"""The approval lifecycle: request (card), decide (Approve/Deny), approve (re-plan, then run), expire.

A decision is one conditional state change in PostgreSQL, so of many simultaneous clicks exactly one
wins. At approval the plan is computed again; a target that changed since the request is shown on
the card and asked again.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from bot import rendering
from bot.access import AccessControl
from bot.audit_trail import AuditTrail
from bot.card_binding import card_mismatch
from bot.cards import card, update_card
from bot.environments import EnvironmentSet
from bot.interactions import CommandRequest, Decision
from bot.messenger import Messenger, Reply
from bot.parsing import ParsedCommand, validate_args
from bot.runs import Runs, args_json, stored_plan
from bot.stash import ArgumentStash
from bot.store import OperationRecord, OperationStore, StoreUnavailable
from commands.contract import SECRET_MASK, OperationError, Plan
from commands.environment import Environment
from commands.registry import Registry

log = logging.getLogger(__name__)


class Approvals:
    """Approval cards and the decisions on them."""

    def __init__(
        self,
        *,
        registry: Registry,
        environments: EnvironmentSet,
        access: AccessControl,
        store: OperationStore,
        runs: Runs,
        stash: ArgumentStash,
        messenger: Messenger,
        trail: AuditTrail,
    ) -> None:
        self.registry = registry
        self.environments = environments
        self.access = access
        self.store = store
        self.runs = runs
        self.stash = stash
        self.messenger = messenger
        self.trail = trail

    def request(
        self, request: CommandRequest, parsed: ParsedCommand, plan: Plan, reply: Reply, env: Environment
    ) -> None:
        """Record the request (in `env`), post its card in the channel, tell the requester."""
        record = self.runs.create_record(request, parsed, plan, approval_required=True, env=env)
        self.trail.record(
            request.user_id,
            parsed.verb,
            args_json(parsed),
            "requested",
            operation_id=str(record.id),
            detail=plan.summary,
            required=True,
        )
        ts = self.messenger.post(request.channel_id, card(record, plan))
        if ts is not None:
            self.store.set_message(record.id, request.channel_id, ts)
        reply(
            rendering.render_text(
                f"Approval requested for `{self.runs.typed(parsed, env)}`; an approver has "
                f"{self.access.approval.ttl_minutes} minutes to decide."
            )
        )

    def handle_decision(self, decision: Decision, reply: Reply) -> None:
        """Apply an Approve/Deny click. Never raises; exactly one click of many wins."""
        try:
            self._decide(decision, reply)
        except StoreUnavailable as exc:
            reply(
                rendering.render_error(f"Cannot record the decision: the audit store is unreachable ({exc}).")
            )
        except Exception:
            log.exception("decision failed unexpectedly")
            reply(rendering.render_error("Something went wrong on the bot's side; the error is logged."))

    def _decide(self, decision: Decision, reply: Reply) -> None:
        record = self.store.get(decision.operation_id)
        if record is None:
            reply(rendering.render_error("This request is unknown to the bot."))
            return
        mismatch = card_mismatch(
            record, decision.channel_id, decision.message_ts, lambda: self.store.get(decision.operation_id)
        )
        if mismatch is not None:
            self.trail.of(record, decision.user_id, "blocked", detail=mismatch)
            reply(rendering.render_error(mismatch))
            return
        caller = self.access.caller(decision.user_id, record.environment)
        verdict = "approve" if decision.approve else "deny"
        refusal = None
        if not caller.approver:
            refusal = f"You cannot {verdict} requests: you are not an approver."
        elif decision.user_id == record.requester and not self.access.approval.allow_self_approval:
            refusal = f"You cannot {verdict} your own request; another approver must decide."
        if refusal is not None:
            self.trail.of(record, decision.user_id, "blocked", detail=refusal)
            reply(rendering.render_error(refusal))
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
                record.id, from_states=["requested"], to="denied", unexpired=True, approver=decision.user_id
            )
            if denied is None:
                reply(rendering.render_error(self._lost_decision(record.id)))
                return
            self.trail.of(denied, decision.user_id, "denied")
            update_card(self.messenger, denied)
            return
        self._approve(record, decision, reply)

    def _approve(self, record: OperationRecord, decision: Decision, reply: Reply) -> None:
        op_cls = self.registry.get(record.command)
        if op_cls is None:
            reply(rendering.render_error(f"`{record.command}` is no longer a known command."))
            return
        unavailable = self.runs.unavailable()
        if unavailable is not None:
            reply(rendering.render_error(f"Cannot approve now: {unavailable}"))
            return
        stored = dict(record.args)
        if any(value == SECRET_MASK for value in stored.values()):
            secrets = self.stash.get(str(record.id))
            if secrets is None:
                reply(rendering.render_error("The request's secret values have expired; request it again."))
                return
            stored.update(secrets)
        env = self.environments.find(record.environment)
        if env is None:
            reply(rendering.render_error(f"The `{record.environment}` environment is no longer served."))
            return
        try:
            args = validate_args(op_cls, stored, env.components)
            parsed = ParsedCommand(verb=record.command, operation=op_cls, args=args, text=record.text)
            plan = op_cls().plan(env, args)
        except (OperationError, ValueError) as exc:
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
                plan=stored_plan(plan, env),
                plan_fingerprint=plan.fingerprint,
            )
            if changed is not None:
                update_card(self.messenger, changed, note=note)
            reply(rendering.render_error(note))
            return
        approved = self.store.transition(
            record.id, from_states=["requested"], to="approved", unexpired=True, approver=decision.user_id
        )
        if approved is None:
            reply(rendering.render_error(self._lost_decision(record.id)))
            return
        self.stash.drop(str(record.id))
        self.trail.of(approved, decision.user_id, "approved")
        update_card(self.messenger, approved)
        self.runs.start(approved, parsed, plan, reply)

    def _lost_decision(self, operation_id: object) -> str:
        """Why a decision did not land: the request expired meanwhile, or someone else decided first."""
        self.expire_due()
        current = self.store.get(str(operation_id))
        if current is not None and current.state == "expired":
            return "This request has expired; request it again."
        return "This request was decided a moment ago by someone else."

    def expire_due(self) -> list[OperationRecord]:
        """Close requests past their expiry and update their cards (the reaper calls this)."""
        expired = self.store.expire_due()
        for record in expired:
            self.trail.of(record, record.requester, "expired")
            update_card(self.messenger, record)
        return expired
