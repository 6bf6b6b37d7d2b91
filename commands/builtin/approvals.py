"""`approvals`: the requests waiting for an approver."""

from __future__ import annotations

from collections.abc import Iterator

from commands.bot_state import BotState, PendingRequest
from commands.builtin.state import answer
from commands.builtin.whoami import NoArgs
from commands.contract import Event, Operation, Plan, mention
from commands.environment import Environment


def _pending(state: BotState) -> list[str]:
    return [
        f"`{r.text}` requested by {mention(r.requester)}, expires {r.expires_at:%H:%M} UTC{_progress(r)}"
        for r in state.pending_requests()
    ]


def _progress(request: PendingRequest) -> str:
    """How far a request that needs several approvals has come ("" when it needs one)."""
    if request.approvals_required < 2:
        return ""
    who = ", ".join(mention(a) for a in request.approvers) or "nobody yet"
    return f"; {len(request.approvers)} of {request.approvals_required} approvals ({who})"


class ApprovalsCommand(Operation[NoArgs]):
    """List the requests waiting for an approver."""

    name = "approvals"
    args_model = NoArgs
    bot_state = True
    answer = "note"

    def execute(self, env: Environment, args: NoArgs, plan: Plan | None) -> Iterator[Event]:
        yield from answer(_pending, "No requests are waiting for approval.", env)
