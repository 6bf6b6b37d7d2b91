"""A read-only command that named no environment, in a channel serving several: it runs in each
environment the caller may use, and the answer is one line per environment with a button for each
one's details (the same command with its `--env`)."""

from __future__ import annotations

import time

from bot import rendering
from bot.access import Caller
from bot.bot_state import answering
from bot.interactions import CommandRequest
from bot.masking import masked_text
from bot.messenger import Reply
from bot.parsing import ParsedCommand
from bot.runner import RunnerBusy
from bot.runs import Runs
from commands.contract import FollowUp, Result, Section
from commands.environment import Environment


def answer_each(
    runs: Runs,
    request: CommandRequest,
    parsed: ParsedCommand,
    allowed: list[tuple[Environment, Caller]],
    reply: Reply,
) -> None:
    """A read-only command that named no environment, in a channel serving several: one line per
    environment (its summary), each with a button for the details (the command with its `--env`)."""
    op_cls = parsed.operation

    def job() -> None:
        started = time.monotonic()
        results: list[tuple[Environment, Result]] = []
        for env, caller in allowed:  # one after the other: each read has its own deadlines
            with answering(caller):
                results.append((env, runs.collect(op_cls(), parsed, None, on_progress=None, env=env)))
        lines = [
            f"{'✅' if r.ok else '❌'} {env.name}{' (production)' if env.production else ''}: {r.summary}"
            for env, r in results
        ]
        shown = masked_text(parsed)
        combined = Result(
            ok=all(r.ok for _, r in results),
            summary=f"{parsed.verb} in {len(results)} environments",
            sections=(Section("", {}, tuple(lines)),),
            follow_ups=tuple(
                FollowUp(f"{env.name} details", f"{shown} --env {env.name}") for env, _ in results
            ),
        )
        runs.trail.metrics.command(parsed.verb, "read" if combined.ok else "failed")
        message = rendering.render_result(
            combined,
            command_text=runs.typed(parsed),
            requester=request.user_id,
            duration_s=time.monotonic() - started,
            buttons=rendering.follow_up_buttons(combined),
        )
        reply(message, ephemeral=op_cls.answer == "private")

    try:
        runs.runner.submit(job, name=parsed.verb)
    except RunnerBusy as exc:
        reply(rendering.render_error(str(exc)))
