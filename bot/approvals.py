"""The approval lifecycle: request (card), decide (Approve/Deny), approve (re-plan, then run), expire.

A decision is one conditional state change in PostgreSQL, so of many simultaneous clicks exactly one
wins. A request may need several distinct approvers (`approvals_required`, never the requester then):
each approval is counted by one conditional UPDATE that also approves the request when it is the last
one needed, so it runs once. At every approval the plan is computed again; a target that changed since
the request is shown on the card, its approvals so far are void, and it is asked again.
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
        elif decision.user_id == record.requester and not self._self_approval(record):
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
        if decision.approve and decision.user_id in record.approvers:
            reply(rendering.render_error(self._already_approved(record)))
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
                approvers=[],  # approvals of the old plan do not carry over to the new one
            )
            if changed is not None:
                update_card(self.messenger, changed, note=note)
            reply(rendering.render_error(note))
            return
        added = self.store.add_approval(
            record.id,
            decision.user_id,
            fingerprint=plan.fingerprint,
            self_approval=self.access.approval.allow_self_approval,
        )
        if added is None:
            reply(rendering.render_error(self._lost_decision(record.id, decision.user_id)))
            return
        counted = added.record
        tally = f"approval {len(counted.approvers)} of {counted.approvals_required}"
        detail = tally if counted.approvals_required > 1 else None
        self.trail.of(counted, decision.user_id, "approved", detail=detail, approver=decision.user_id)
        update_card(self.messenger, counted)
        if not added.complete:
            reply(rendering.render_text(f"Your approval is recorded ({tally}); it runs at the last one."))
            return
        self.stash.drop(str(record.id))
        self.runs.start(counted, parsed, plan, reply)

    def _self_approval(self, record: OperationRecord) -> bool:
        """Whether the requester may approve `record`: by the access file, and only when one approval
        is needed (several approvals are always from approvers other than the requester)."""
        return self.access.approval.allow_self_approval and record.approvals_required <= 1

    @staticmethod
    def _already_approved(record: OperationRecord) -> str:
        missing = record.approvals_required - len(record.approvers)
        return f"You have already approved this request; it waits for {missing} more approver(s)."

    def _lost_decision(self, operation_id: object, user_id: str | None = None) -> str:
        """Why a decision did not land: the request expired meanwhile, someone else decided first, the
        clicker's approval was already counted, or the plan changed since it was checked."""
        self.expire_due()
        current = self.store.get(str(operation_id))
        if current is not None and current.state == "expired":
            return "This request has expired; request it again."
        if current is not None and current.state == "requested":
            if user_id is not None and user_id in current.approvers:
                return self._already_approved(current)
            return "The plan changed a moment ago; check the card and approve again if it is still wanted."
        return "This request was decided a moment ago by someone else."

    def expire_due(self) -> list[OperationRecord]:
        """Close requests past their expiry and update their cards (the reaper calls this)."""
        expired = self.store.expire_due()
        for record in expired:
            self.trail.of(record, record.requester, "expired")
            update_card(self.messenger, record)
        return expired
