"""An alert's one Slack message: severity, headline, details, the bot's notes, buttons while it fires."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from slack_sdk.models.blocks import Block

from bot.block_kit import (
    Button,
    Message,
    actions,
    code_block,
    context,
    fit,
    message,
    plain,
    section,
    slack_date,
)
from bot.text_safety import clip as _clip
from bot.text_safety import escape as _esc

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
    head: list[Block] = [section(f"{icon} *{state}: {headline}*")]
    body: list[Block] = []
    if details:
        body.append(section(code_block("", tuple(details))))
    footer = [f"{_esc(component)}", f"from {_esc(source)}", f"since {slack_date(since)}"]
    if resolved_at is not None:
        footer.append(f"resolved {slack_date(resolved_at)}")
    tail: list[Block] = [context(" · ".join(plain(note) for note in notes))] if notes else []
    if buttons and resolved_at is None:
        tail.append(actions(buttons))
    tail.append(context(" · ".join(footer)))
    return message(f"{icon} {state}: {headline}", fit(head, body, tail))
