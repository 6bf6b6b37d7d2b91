"""Block Kit building blocks within Slack's limits: the message shape, buttons, sections, mentions.

Every text goes through `bot.text_safety` (redacted, then escaped, then clipped); pure functions, no I/O.
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
    MarkdownTextObject,
    PlainTextObject,
    SectionBlock,
)

from bot.text_safety import clip, escape
from commands.contract import mentioned

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


def plain(text: str) -> str:
    """Text escaped for mrkdwn, with the users a result names (`contract.mention`) as mentions."""
    return "".join(who(piece) if is_user else _esc(piece) for piece, is_user in mentioned(text))


def unmentioned(text: str) -> str:
    """Text with the users it names as `@U…` (inside code, where no mention can be shown)."""
    return "".join(f"@{piece}" if is_user else piece for piece, is_user in mentioned(text))


def message(fallback: str, blocks: Sequence[Block]) -> Message:
    return {
        "text": _clip(fallback.strip(), FALLBACK_LIMIT) or "(no text)",
        "blocks": [block.to_dict() for block in blocks],
    }


def fit(head: list[Block], body: list[Block], tail: list[Block]) -> list[Block]:
    """At most MAX_BLOCKS: head and tail always kept, body cut with a "… N more" line."""
    room = MAX_BLOCKS - len(head) - len(tail)
    if len(body) > room:
        hidden = len(body) - (room - 1)
        body = [*body[: room - 1], section(f"_… {hidden} more blocks not shown_")]
    return [*head, *body, *tail]


def code_block(prefix: str, lines: tuple[str, ...]) -> str:
    """`prefix` then the lines in a code block, cut to fit a section with "… N more lines"."""
    head = f"{prefix}\n```\n" if prefix else "```\n"
    budget = SECTION_TEXT_LIMIT - len(head) - len("\n```") - 40
    kept: list[str] = []
    used = 0
    for line in lines:
        safe = _esc(unmentioned(line).replace("```", "'''"))
        safe = _clip(safe, min(500, budget))
        if used + len(safe) + 1 > budget:
            break
        kept.append(safe)
        used += len(safe) + 1
    more = len(lines) - len(kept)
    body = "\n".join(kept) or " "
    suffix = f"\n_… {more} more lines_" if more else ""
    return f"{head}{body}\n```{suffix}"


def field(label: str, value: str) -> MarkdownTextObject:
    return MarkdownTextObject(text=_clip(f"*{_esc(label)}*\n{value or '—'}", FIELD_TEXT_LIMIT))


def section(text: str) -> SectionBlock:
    return SectionBlock(text=MarkdownTextObject(text=_clip(text, SECTION_TEXT_LIMIT) or " "))


def context(text: str) -> ContextBlock:
    return ContextBlock(elements=[MarkdownTextObject(text=_clip(text, CONTEXT_TEXT_LIMIT) or " ")])


def actions(buttons: Sequence[Button]) -> ActionsBlock:
    return ActionsBlock(elements=[button_element(b) for b in buttons[:BUTTONS_PER_ACTIONS]])


def button_element(button: Button) -> ButtonElement:
    style = button.style if button.style in ("primary", "danger") else None
    return ButtonElement(
        text=PlainTextObject(text=_clip(_esc(button.text), BUTTON_TEXT_LIMIT) or "?", emoji=True),
        action_id=button.action_id,
        value=button.value,
        style=style,
    )


def slack_date(moment: datetime) -> str:
    """Slack's date token, shown in each reader's time zone, with an ISO UTC fallback."""
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    utc = aware.astimezone(UTC)
    return (
        f"<!date^{int(utc.timestamp())}^{{date_short_pretty}} {{time}}|{utc.strftime('%Y-%m-%d %H:%M UTC')}>"
    )


def who(user: str) -> str:
    """A Slack user ID as a mention (`<@U0ALICE>`); anything else as escaped text."""
    user = user.strip()
    if user.startswith("<@") and user.endswith(">") and _USER_ID.fullmatch(user[2:-1]):
        return user
    if _USER_ID.fullmatch(user):
        return f"<@{user}>"
    return _clip(_esc(user), 80) or "someone"


def command_echo(command_text: str) -> str:
    """The command as typed, as `/maas …`, safe inside inline code."""
    text = " ".join(command_text.split())
    if not text.startswith("/"):
        text = f"/maas {text}".strip()
    return _clip(code(text), COMMAND_ECHO_LIMIT)


def code(text: str) -> str:
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


def escape_text(text: str) -> str:
    """User text made safe for Slack mrkdwn: redacted, then `&`, `<`, `>` escaped (no ping, no link)."""
    return _esc(text)
