"""Slack messages (Block Kit) for results, progress, approval cards and errors. Pure functions, no I/O.

Blocks are built with `slack_sdk.models.blocks` so Slack's limits are checked by the SDK; long texts
are truncated to those limits (never an exception for a big result). Text coming from users or
operations goes through `bot.text_safety`: redacted on the raw text, then escaped (`&`, `<`, `>`, so it
cannot ping `@channel` or forge a mention), and only then clipped; that holds for the `text` fallback
(what Slack notifies with) as for the blocks. The `Messenger` redacts the finished message once more.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    HeaderBlock,
    MarkdownTextObject,
    PlainTextObject,
    SectionBlock,
)

from bot.block_kit import (
    FIELDS_PER_SECTION,
    HEADER_LIMIT,
    MAX_BLOCKS,
    SECTION_TEXT_LIMIT,
    Button,
    Message,
    duration_text,
    escape_text,
    production_marked,
)
from bot.block_kit import actions as _actions
from bot.block_kit import button_element as _button
from bot.block_kit import code as _code
from bot.block_kit import code_block as _with_code_block
from bot.block_kit import command_echo as _command
from bot.block_kit import context as _context
from bot.block_kit import field as _field
from bot.block_kit import fit as _fit
from bot.block_kit import message as _message
from bot.block_kit import plain as _plain
from bot.block_kit import section as _section
from bot.block_kit import slack_date as _slack_date
from bot.block_kit import unmentioned as _unmentioned
from bot.block_kit import who as _who
from bot.text_safety import ELLIPSIS, clip, escape
from commands.contract import Plan, Progress, Result

__all__ = ["Button", "Message", "duration_text", "escape_text", "production_marked"]

_esc = escape  # raw text from users, operations, alerts: redacted, then escaped (bot.text_safety)
_clip = clip  # on escaped text only: never half an entity


STATE_LINES: dict[str, str] = {
    "approved": "✅ Approved",
    "denied": "🚫 Denied",
    "expired": "⌛ Expired",
    "running": "▶️ Running",
    "succeeded": "✅ Succeeded",
    "failed": "❌ Failed",
    "interrupted": "⚠️ Interrupted",
}


def progress_bar(done: int, total: int, width: int = 10) -> str:
    """A text bar with the count, e.g. "▰▰▰▱▱▱▱▱▱▱ 3/10"; out-of-range numbers are clamped."""
    width = max(1, width)
    total = max(0, total)
    done = min(max(0, done), total)
    filled = done * width // total if total else 0
    return f"{'▰' * filled}{'▱' * (width - filled)} {done:,}/{total:,}"


def render_result(
    result: Result,
    *,
    command_text: str,
    requester: str,
    duration_s: float | None = None,
    buttons: Sequence[Button] = (),
) -> Message:
    """The final message of an operation: ✅/❌ summary, its sections, warnings, who/what/how long."""
    icon = "✅" if result.ok else "❌"
    summary = result.summary.strip() or ("done" if result.ok else "failed")
    head: list[Block] = [_section(f"{icon} *{_plain(summary)}*")]
    body: list[Block] = []
    for section in result.sections:
        body.extend(_result_section(section.title, section.fields, section.lines))
    tail: list[Block] = []
    if result.warnings:
        tail.append(_section("\n".join(f"⚠️ {_plain(w)}" for w in result.warnings)))
    if buttons:
        tail.append(_actions(buttons))
    context = [f"requested by {_who(requester)}", f"`{_command(command_text)}`"]
    if duration_s is not None:
        context.append(duration_text(duration_s))
    tail.append(_context(" · ".join(context)))
    blocks = _fit(head, body, tail)
    return _message(f"{icon} {_esc(_unmentioned(summary))}", blocks)


FOLLOW_UP_ACTION = "followup.run"


def follow_up_buttons(result: Result) -> list[Button]:
    """Buttons for a result's next steps; a click runs the command as the clicker, checks and all."""
    return [
        Button(f.label, FOLLOW_UP_ACTION, f.command, "danger" if f.danger else None)
        for f in result.follow_ups
    ]


def render_note(result: Result) -> Message:
    """A result shown as a plain note (the bot's own commands): its summary and lines, users as mentions.

    A failed one reads as an error."""
    lines = [result.summary.strip()] if result.summary.strip() else []
    for section in result.sections:
        lines.extend(section.lines)
    text = "\n".join(lines)
    if not result.ok:
        return render_error(_plain(text), escape=False) if text else render_error("")
    return render_text(_plain(text), escape=False)


def render_progress(
    *, command_text: str, requester: str, progress: Progress, started_by: str | None = None
) -> Message:
    """The in-place progress message: ⏳ step text and, with a count, a bar like "▰▰▰▱▱ 3/5"."""
    step = progress.text.strip() or "working"
    lines = [f"⏳ {_esc(step)}"]
    if progress.done is not None and progress.total is not None:
        lines.append(f"`{progress_bar(progress.done, progress.total)}`")
    context = [f"requested by {_who(requester)}", f"`{_command(command_text)}`"]
    if started_by is not None and started_by != requester:
        context.append(f"started by {_who(started_by)}")
    blocks: list[Block] = [_section("\n".join(lines)), _context(" · ".join(context))]
    fallback = f"⏳ {_esc(step)}"
    if progress.done is not None and progress.total is not None:
        fallback += f" ({progress.done:,}/{progress.total:,})"
    return _message(fallback, blocks)


def render_approval_card(
    *,
    operation_id: str,
    requester: str,
    command_text: str,
    plan: Plan,
    expires_at: datetime,
    state: str,
    decided_by: str | None = None,
    note: str | None = None,
    environment: str | None = None,
    production: bool = False,
    approvals_required: int = 1,
    approvers: Sequence[str] = (),
) -> Message:
    """The approval card: requester, command, plan, changes, risks, expiry; buttons while "requested".
    A production environment's card says so in its header and carries a red bar. A request needing
    several approvals shows how many it has and from whom ("1 of 2 approvals — @dave")."""
    command = _command(command_text).removeprefix("/maas ").strip() or "command"
    title = f"Approval needed: {command}"
    if production:
        title = f"🚨 PRODUCTION ({environment}) · {title}"
    head: list[Block] = [
        HeaderBlock(text=PlainTextObject(text=_clip(title, HEADER_LIMIT))),
        SectionBlock(
            fields=[
                _field("Requested by", _who(requester)),
                _field("Expires", _slack_date(expires_at)),
                _field("Command", f"`{_command(command_text)}`"),
                _field("Target", _esc(plan.target) or "—"),
            ]
        ),
        _section(f"*Plan:* {_esc(plan.summary) or '—'}" + ("\n_Nothing to change._" if plan.noop else "")),
    ]
    body: list[Block] = []
    if plan.changes:
        change_lines = [
            f"• {_esc(c.target)} {_esc(c.field)}: {_esc(c.before)} → {_esc(c.after)}" for c in plan.changes
        ]
        body.append(_section("*Changes*\n" + "\n".join(change_lines)))
    if plan.risks:
        body.append(_section("*Risks*\n" + "\n".join(f"⚠️ {_esc(r)}" for r in plan.risks)))
    tail: list[Block] = []
    if note:
        tail.append(_section(f":information_source: {_esc(note)}"))
    status = _state_line(state, decided_by, approvers)
    tally = approval_tally(approvals_required, approvers) if state == "requested" else None
    if tally is not None:
        tail.append(_context(tally))
    if state == "requested":
        tail.append(
            ActionsBlock(
                block_id=_clip(f"approval:{operation_id}", 255),
                elements=[
                    _button(Button("Approve", "approval.approve", operation_id, "primary")),
                    _button(Button("Deny", "approval.deny", operation_id, "danger")),
                ],
            )
        )
    else:
        tail.append(_context(status))
    fallback = f"{title} (requested by {_who(requester)})"
    if state != "requested":
        fallback += f" — {status}"
    elif tally is not None:
        fallback += f" — {tally}"
    message = _message(fallback, _fit(head, body, tail))
    return production_marked(message, environment or "") if production else message


def render_error(
    message: str, *, usage: str | None = None, suggestion: str | None = None, escape: bool = True
) -> Message:
    """Content of an ephemeral error: ":warning: message", "Usage: `…`", "Did you mean `scale`?".

    `escape=False` keeps the bot's own mrkdwn (mentions); escape any user text in it with `escape_text`.
    """
    first = message.strip() or "something went wrong"
    first = _esc(first) if escape else first
    lines = [f":warning: {first}"]
    if suggestion:
        lines.append(f"Did you mean `{_code(suggestion)}`?")
    if usage:
        lines.append(f"Usage: `{_code(usage)}`")
    return _message(f":warning: {first}", [_section("\n".join(lines))])


def render_text(text: str, *, escape: bool = True) -> Message:
    """A plain message; long text is split over several sections (≤ 50), the rest cut with "…".

    `escape=False` keeps the bot's own mrkdwn (mentions); escape any user text in it with `escape_text`.
    """
    body = (_esc(text.strip()) if escape else text.strip()) or "(empty)"
    chunks = [body[i : i + SECTION_TEXT_LIMIT - 1] for i in range(0, len(body), SECTION_TEXT_LIMIT - 1)]
    blocks: list[Block] = [_section(chunk) for chunk in chunks[:MAX_BLOCKS]]
    if len(chunks) > MAX_BLOCKS:
        blocks[-1] = _section(chunks[MAX_BLOCKS - 1][:-1] + ELLIPSIS)
    return _message(body, blocks)


def render_plan(plan: Plan, *, command_text: str, dry_run: bool = True) -> Message:
    """A plan shown without buttons: the answer to `--dry-run`."""
    title = "Dry run — nothing was changed" if dry_run else "Plan"
    lines = [f"*{title}:* `{_command(command_text)}`", f"*Plan:* {_esc(plan.summary) or '—'}"]
    lines += [f"• {_esc(c.target)} {_esc(c.field)}: {_esc(c.before)} → {_esc(c.after)}" for c in plan.changes]
    lines += [f"⚠️ {_esc(r)}" for r in plan.risks]
    if plan.noop:
        lines.append("_Nothing to change._")
    return _message(f"{title}: {_esc(plan.summary)}", [_section(_clip("\n".join(lines), SECTION_TEXT_LIMIT))])


def _result_section(title: str, fields: dict[str, str], lines: tuple[str, ...]) -> list[Block]:
    text = f"*{_clip(_esc(title.strip()), 200)}*" if title.strip() else ""
    if lines:
        text = _with_code_block(text, lines)
    items = [_field(key, _plain(value)) for key, value in fields.items()]
    groups = [items[i : i + FIELDS_PER_SECTION] for i in range(0, len(items), FIELDS_PER_SECTION)]
    if not groups:
        return [_section(text or "—")]
    blocks: list[Block] = []
    for number, group in enumerate(groups):
        label = text if number == 0 else ""
        blocks.append(
            SectionBlock(
                text=MarkdownTextObject(text=_clip(label, SECTION_TEXT_LIMIT)) if label else None,
                fields=group,
            )
        )
    return blocks


def approval_tally(required: int, approvers: Sequence[str]) -> str | None:
    """How far a request needing several approvals is: "1 of 2 approvals — @dave" (None for one)."""
    if required <= 1:
        return None
    if not approvers:
        return f"Needs {required} approvals, from approvers other than the requester"
    return f"{len(approvers)} of {required} approvals — {', '.join(_who(a) for a in approvers)}"


def _state_line(state: str, decided_by: str | None, approvers: Sequence[str] = ()) -> str:
    line = STATE_LINES.get(state, f"State: {_esc(state)}")
    if state != "denied" and len(approvers) > 1:
        decided_by = " and ".join(_who(a) for a in approvers)
    elif decided_by:
        decided_by = _who(decided_by)
    if decided_by and state in ("approved", "denied"):
        return f"{line} by {decided_by}"
    if decided_by and state in ("running", "succeeded", "failed", "interrupted"):
        return f"{line} · approved by {decided_by}"
    return line
