"""Slack messages (Block Kit) for results, progress, approval cards and errors. Pure functions, no I/O.

Blocks are built with `slack_sdk.models.blocks` so Slack's limits are checked by the SDK; long texts
are truncated to those limits (never an exception for a big result). Text coming from users or
operations goes through `bot.text_safety`: redacted on the raw text, then escaped (`&`, `<`, `>`, so it
cannot ping `@channel` or forge a mention), and only then clipped; that holds for the `text` fallback
(what Slack notifies with) as for the blocks. The `Messenger` redacts the finished message once more.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NotRequired, TypedDict

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    HeaderBlock,
    MarkdownTextObject,
    PlainTextObject,
    SectionBlock,
)

from bot.text_safety import ELLIPSIS, clip, escape
from commands.contract import Plan, Progress, Result, mentioned

MAX_BLOCKS = 50
SECTION_TEXT_LIMIT = 3000
FIELD_TEXT_LIMIT = 2000
FIELDS_PER_SECTION = 10
HEADER_LIMIT = 150
BUTTON_TEXT_LIMIT = 75
BUTTONS_PER_ACTIONS = 25
CONTEXT_TEXT_LIMIT = 3000
FALLBACK_LIMIT = 3000
COMMAND_ECHO_LIMIT = 200

_USER_ID = re.compile(r"[UW][A-Z0-9]{2,}")


class Message(TypedDict):
    """What `chat_postMessage` / `respond` take: `text` is the notification fallback, never empty;
    `attachments` only for a colour bar (production)."""

    text: str
    blocks: list[dict[str, Any]]
    attachments: NotRequired[list[dict[str, Any]]]


PRODUCTION_COLOUR = "#E01E5A"  # Slack's red: a production card's bar


def production_marked(message: Message, environment: str) -> Message:
    """A message marked as touching production: a red bar naming the environment."""
    marked: Message = {**message}
    marked["attachments"] = [
        {
            "color": PRODUCTION_COLOUR,
            "fallback": f"PRODUCTION ({environment})",
            "text": f":rotating_light: *PRODUCTION* environment `{_esc(environment)}`",
        }
    ]
    return marked


@dataclass(frozen=True)
class Button:
    """A button under a result (e.g. Rollback, Logs); `style` is None, "primary" or "danger"."""

    text: str
    action_id: str
    value: str
    style: str | None = None


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


def _plain(text: str) -> str:
    """Text escaped for mrkdwn, with the users a result names (`contract.mention`) as mentions."""
    return "".join(_who(piece) if is_user else _esc(piece) for piece, is_user in mentioned(text))


def _unmentioned(text: str) -> str:
    """Text with the users it names as `@U…` (inside code, where no mention can be shown)."""
    return "".join(f"@{piece}" if is_user else piece for piece, is_user in mentioned(text))


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
) -> Message:
    """The approval card: requester, command, plan, changes, risks, expiry; buttons while "requested".
    A production environment's card says so in its header and carries a red bar."""
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
    status = _state_line(state, decided_by)
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


def escape_text(text: str) -> str:
    """User text made safe for Slack mrkdwn: redacted, then `&`, `<`, `>` escaped (no ping, no link)."""
    return _esc(text)


# --- helpers ---------------------------------------------------------------------------------------


def _message(fallback: str, blocks: Sequence[Block]) -> Message:
    return {
        "text": _clip(fallback.strip(), FALLBACK_LIMIT) or "(no text)",
        "blocks": [block.to_dict() for block in blocks],
    }


def _fit(head: list[Block], body: list[Block], tail: list[Block]) -> list[Block]:
    """At most MAX_BLOCKS: head and tail always kept, body cut with a "… N more" line."""
    room = MAX_BLOCKS - len(head) - len(tail)
    if len(body) > room:
        hidden = len(body) - (room - 1)
        body = [*body[: room - 1], _section(f"_… {hidden} more blocks not shown_")]
    return [*head, *body, *tail]


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


def _with_code_block(prefix: str, lines: tuple[str, ...]) -> str:
    """`prefix` then the lines in a code block, cut to fit a section with "… N more lines"."""
    head = f"{prefix}\n```\n" if prefix else "```\n"
    budget = SECTION_TEXT_LIMIT - len(head) - len("\n```") - 40
    kept: list[str] = []
    used = 0
    for line in lines:
        safe = _esc(_unmentioned(line).replace("```", "'''"))
        safe = _clip(safe, min(500, budget))
        if used + len(safe) + 1 > budget:
            break
        kept.append(safe)
        used += len(safe) + 1
    more = len(lines) - len(kept)
    body = "\n".join(kept) or " "
    suffix = f"\n_… {more} more lines_" if more else ""
    return f"{head}{body}\n```{suffix}"


def _field(label: str, value: str) -> MarkdownTextObject:
    return MarkdownTextObject(text=_clip(f"*{_esc(label)}*\n{value or '—'}", FIELD_TEXT_LIMIT))


def _section(text: str) -> SectionBlock:
    return SectionBlock(text=MarkdownTextObject(text=_clip(text, SECTION_TEXT_LIMIT) or " "))


def _context(text: str) -> ContextBlock:
    return ContextBlock(elements=[MarkdownTextObject(text=_clip(text, CONTEXT_TEXT_LIMIT) or " ")])


def _actions(buttons: Sequence[Button]) -> ActionsBlock:
    return ActionsBlock(elements=[_button(b) for b in buttons[:BUTTONS_PER_ACTIONS]])


def _button(button: Button) -> ButtonElement:
    style = button.style if button.style in ("primary", "danger") else None
    return ButtonElement(
        text=PlainTextObject(text=_clip(_esc(button.text), BUTTON_TEXT_LIMIT) or "?", emoji=True),
        action_id=button.action_id,
        value=button.value,
        style=style,
    )


def _state_line(state: str, decided_by: str | None) -> str:
    line = STATE_LINES.get(state, f"State: {_esc(state)}")
    if decided_by and state in ("approved", "denied"):
        return f"{line} by {_who(decided_by)}"
    if decided_by and state in ("running", "succeeded", "failed", "interrupted"):
        return f"{line} · approved by {_who(decided_by)}"
    return line


def _slack_date(moment: datetime) -> str:
    """Slack's date token, shown in each reader's time zone, with an ISO UTC fallback."""
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    utc = aware.astimezone(UTC)
    return (
        f"<!date^{int(utc.timestamp())}^{{date_short_pretty}} {{time}}|{utc.strftime('%Y-%m-%d %H:%M UTC')}>"
    )


def _who(user: str) -> str:
    """A Slack user ID as a mention (`<@U0ALICE>`); anything else as escaped text."""
    user = user.strip()
    if user.startswith("<@") and user.endswith(">") and _USER_ID.fullmatch(user[2:-1]):
        return user
    if _USER_ID.fullmatch(user):
        return f"<@{user}>"
    return _clip(_esc(user), 80) or "someone"


def _command(command_text: str) -> str:
    """The command as typed, as `/maas …`, safe inside inline code."""
    text = " ".join(command_text.split())
    if not text.startswith("/"):
        text = f"/maas {text}".strip()
    return _clip(_code(text), COMMAND_ECHO_LIMIT)


def _code(text: str) -> str:
    return _esc(text.replace("`", "'"))


def duration_text(seconds: float) -> str:
    """ "12.3 s" or "3 min 5 s"."""
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest} s"


_esc = escape  # raw text from users, operations, alerts: redacted, then escaped (bot.text_safety)
_clip = clip  # on escaped text only: never half an entity


SEVERITY_ICONS = {"critical": "🔴", "warning": "🟠", "info": "🔵"}


def render_alert(
    *,
    severity: str,
    component: str,
    title: str,
    details: Sequence[str],
    source: str,
    since: datetime,
    resolved_at: datetime | None = None,
    buttons: Sequence[Button] = (),
    notes: Sequence[str] = (),
) -> Message:
    """An alert's one message: severity, headline, details, the bot's notes (who acknowledged, the
    operation it followed, a silence: mentions from `contract.mention`); resolved: without buttons."""
    icon = "✅" if resolved_at is not None else SEVERITY_ICONS.get(severity, "🟠")
    headline = _clip(_esc(title.strip() or "alert"), 300)
    state = "Resolved" if resolved_at is not None else severity.capitalize()
    head: list[Block] = [_section(f"{icon} *{state}: {headline}*")]
    body: list[Block] = []
    if details:
        body.append(_section(_with_code_block("", tuple(details))))
    context = [f"{_esc(component)}", f"from {_esc(source)}", f"since {_slack_date(since)}"]
    if resolved_at is not None:
        context.append(f"resolved {_slack_date(resolved_at)}")
    tail: list[Block] = [_context(" · ".join(_plain(note) for note in notes))] if notes else []
    if buttons and resolved_at is None:
        tail.append(_actions(buttons))
    tail.append(_context(" · ".join(context)))
    return _message(f"{icon} {state}: {headline}", _fit(head, body, tail))
