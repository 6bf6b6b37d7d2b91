"""The demo console: a fake Slack *client* in the terminal that talks to the bot over real HTTP.

Type `as alice: /maas scale litellm 3` to send a signed slash command, `press 1 as dave` to click a
numbered button; the console then waits (bounded) for the bot's Web API calls to settle and prints
new and edited messages. Rendering is a pure function of a message dict (`render_message`).
"""

from __future__ import annotations

import html
import json
import re
import sys
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TextIO

import httpx

from sandbox.console_faults import FAULT_HELP, FAULT_WORDS, fault_command
from sandbox.console_images import registry_command
from sandbox.kube import KubeSandbox
from sandbox.registry import RegistrySandbox
from sandbox.slack import SlackCall, SlackSandbox, block_actions_body, sign, slash_command_body
from sandbox.slack.workspace import BOT_NAME

SETTLE_TIMEOUT = 3.0  # at most this long after an action, waiting for the bot's calls
QUIET_PERIOD = 0.3  # the calls have settled once none came for this long
FIRST_CALL_WAIT = 1.0  # give up early when the bot made no call at all for this long
MAX_WAIT_COMMAND = 60.0

HELP = f"""\
commands:
  as alice: /maas status                 slash command as alice in the current channel
  in C0OTHER as bob: /maas status        … in another channel (id, #name, or dm)
  as dave: press 1  |  press 1 as dave   click button [1] as dave
  wait [SECONDS]                         show what the bot posts for a while (default 5)
  wait 30 for Resolved                   … until the text shows (since the last command; at most 30 s)
{FAULT_HELP}
  break litellm prod                     … in one environment's cluster (sandbox --environments)
  registry down  |  registry up          a registry outage: the pre-flight cannot check (the card says so)
  untag IMAGE  |  push IMAGE             delete / add a tag in the sandbox registry
  users                                  who is who
  help                                   this text
  quit                                   leave"""


# -- rendering (pure) --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ButtonRef:
    """One clickable button of one message: enough to build Slack's block_actions payload."""

    channel: str
    message_ts: str
    block_id: str
    action_id: str
    value: str
    text: str


def message_buttons(msg: Mapping[str, Any]) -> list[ButtonRef]:
    """The buttons of a message in display order (section accessories and actions blocks)."""
    buttons: list[ButtonRef] = []
    for block in _all_blocks(msg):
        elements: list[Any] = []
        if block.get("type") == "actions":
            elements = list(block.get("elements") or [])
        elif block.get("type") == "section" and isinstance(block.get("accessory"), dict):
            elements = [block["accessory"]]
        for element in elements:
            if isinstance(element, dict) and element.get("type") == "button":
                buttons.append(
                    ButtonRef(
                        channel=str(msg.get("channel", "")),
                        message_ts=str(msg.get("ts", "")),
                        block_id=str(block.get("block_id") or ""),
                        action_id=str(element.get("action_id") or ""),
                        value=str(element.get("value") or ""),
                        text=_plain(element.get("text")),
                    )
                )
    return buttons


def _all_blocks(msg: Mapping[str, Any]) -> list[dict[str, Any]]:
    blocks = [b for b in (msg.get("blocks") or []) if isinstance(b, dict)]
    for attachment in msg.get("attachments") or []:
        if isinstance(attachment, dict):
            blocks.extend(b for b in (attachment.get("blocks") or []) if isinstance(b, dict))
    return blocks


def _plain(text_object: Any) -> str:
    if isinstance(text_object, dict):
        return str(text_object.get("text") or "")
    return str(text_object or "")


_DATE = re.compile(r"<!date\^\d+\^[^|>]*\|([^>]*)>")  # Slack date token → its fallback text
_USER = re.compile(r"<@([UW][A-Z0-9]+)(?:\|([^>]*))?>")
_CHANNEL = re.compile(r"<#([CDG][A-Z0-9]+)(?:\|([^>]*))?>")
_SUBTEAM = re.compile(r"<!subteam\^([A-Z0-9]+)(?:\|([^>]*))?>")
_SPECIAL = re.compile(r"<!(here|channel|everyone)(?:\|[^>]*)?>")
_LINK = re.compile(r"<((?:https?|mailto):[^|>]+)(?:\|([^>]*))?>")
_BOLD = re.compile(r"(?<![\w*])\*(?!\s)([^*\n]+?)(?<!\s)\*(?![\w*])")
_ITALIC = re.compile(r"(?<![\w_])_(?!\s)([^_\n]+?)(?<!\s)_(?![\w_])")


def mrkdwn_to_text(text: str, users: Mapping[str, str], channels: Mapping[str, str] | None = None) -> str:
    """Slack mrkdwn, lightly: *bold*/_italic_ → plain, <@U0ALICE> → @alice, <#C0OPS> → #ops, links → label."""
    channels = channels or {}
    text = _DATE.sub(lambda m: m.group(1), text)
    text = _USER.sub(lambda m: "@" + users.get(m.group(1), m.group(2) or m.group(1)), text)
    text = _CHANNEL.sub(lambda m: "#" + (m.group(2) or channels.get(m.group(1), m.group(1))), text)
    text = _SUBTEAM.sub(lambda m: m.group(2) or "@" + m.group(1), text)
    text = _SPECIAL.sub(lambda m: "@" + m.group(1), text)
    text = _LINK.sub(lambda m: f"{m.group(2)} ({m.group(1)})" if m.group(2) else m.group(1), text)
    text = _BOLD.sub(r"\1", text)
    text = _ITALIC.sub(r"\1", text)
    return html.unescape(text)


def _text_object(obj: Any, users: Mapping[str, str], channels: Mapping[str, str]) -> str:
    if not isinstance(obj, dict):
        return ""
    raw = str(obj.get("text") or "")
    return mrkdwn_to_text(raw, users, channels) if obj.get("type") == "mrkdwn" else raw


def _field_line(field: Any, users: Mapping[str, str], channels: Mapping[str, str]) -> str:
    text = _text_object(field, users, channels).strip()
    key, newline, value = text.partition("\n")
    if newline:
        return f"{key.strip().rstrip(':')}: {' '.join(value.split())}"
    return text


def _rich_text(node: Any) -> str:
    if isinstance(node, dict):
        if node.get("type") == "text":
            return str(node.get("text", ""))
        if node.get("type") == "user":
            return "<@" + str(node.get("user_id", "")) + ">"
        return "".join(_rich_text(child) for child in node.get("elements") or [])
    return ""


class _Numbers:
    """Hands out button numbers in display order from the caller's list (or 1, 2, 3…)."""

    def __init__(self, numbers: Sequence[int] | None) -> None:
        self._given = list(numbers) if numbers is not None else None
        self._next = 0

    def take(self) -> str:
        index = self._next
        self._next += 1
        if self._given is None:
            return str(index + 1)
        return str(self._given[index]) if index < len(self._given) else "?"


def _block_lines(
    block: Mapping[str, Any], users: Mapping[str, str], channels: Mapping[str, str], numbers: _Numbers
) -> list[str]:
    kind = block.get("type")
    lines: list[str] = []
    if kind == "header":
        lines.append(_plain(block.get("text")).upper())
    elif kind == "section":
        text = _text_object(block.get("text"), users, channels)
        lines.extend(text.splitlines() if text else [])
        lines.extend(_field_line(f, users, channels) for f in block.get("fields") or [])
        accessory = block.get("accessory")
        if isinstance(accessory, dict) and accessory.get("type") == "button":
            lines.append(f"[{numbers.take()}] {_plain(accessory.get('text'))}")
    elif kind == "context":
        parts = []
        for element in block.get("elements") or []:
            if isinstance(element, dict) and element.get("type") == "image":
                parts.append(f"[{element.get('alt_text', 'image')}]")
            else:
                parts.append(_text_object(element, users, channels))
        lines.append("  ".join(p for p in parts if p))
    elif kind == "divider":
        lines.append("─" * 20)
    elif kind == "actions":
        shown = []
        for element in block.get("elements") or []:
            if not isinstance(element, dict):
                continue
            if element.get("type") == "button":
                shown.append(f"[{numbers.take()}] {_plain(element.get('text'))}")
            else:
                label = _plain(element.get("placeholder")) or str(element.get("action_id", ""))
                shown.append(f"[{element.get('type', 'element')}: {label}]")
        lines.append("  ".join(shown))
    elif kind == "rich_text":
        lines.extend(mrkdwn_to_text(_rich_text(block), users, channels).splitlines())
    elif kind == "image":
        lines.append(f"[image: {block.get('alt_text', '')}]")
    else:
        lines.append(f"[{kind} block]")
    return lines


def render_message(
    msg: Mapping[str, Any],
    users: Mapping[str, str],
    *,
    channels: Mapping[str, str] | None = None,
    numbers: Sequence[int] | None = None,
) -> str:
    """A message as readable text: where/who, header, section, fields (key: value), context, numbered
    buttons, files with their first lines. `users` maps id → name; `channels` id → name (no `#`);
    `numbers` are the labels of the message's buttons in order (default 1, 2, …)."""
    channels = channels or {}
    numbering = _Numbers(numbers)
    channel = str(msg.get("channel") or "")
    where = "#" + channels[channel] if channel in channels else _dm_or_id(channel, users)
    head = f"{where} · {BOT_NAME}"
    if msg.get("ephemeral"):
        viewer = str(msg.get("user") or "")
        head += f"  (only visible to {users.get(viewer, viewer)})"
    if msg.get("edited"):
        head += "  (edited)"
    body: list[str] = []
    blocks = [b for b in (msg.get("blocks") or []) if isinstance(b, dict)]
    if blocks:
        for block in blocks:
            body.extend(_block_lines(block, users, channels, numbering))
    elif msg.get("text"):
        body.extend(mrkdwn_to_text(str(msg["text"]), users, channels).splitlines())
    for attachment in msg.get("attachments") or []:
        if isinstance(attachment, dict):
            body.extend("│ " + line for line in _attachment_lines(attachment, users, channels, numbering))
    for file in msg.get("files") or []:
        if isinstance(file, dict):
            body.append(
                f"📎 {file.get('title') or file.get('name')} ({file.get('name')}, {file.get('size')} bytes)"
            )
            body.extend("   │ " + line for line in str(file.get("preview") or "").splitlines())
    lines = [head, *("  " + line for line in body)]
    thread_ts = msg.get("thread_ts")
    if thread_ts and thread_ts != msg.get("ts"):
        lines = ["    ↳ " + lines[0], *("      " + line for line in lines[1:])]
    return "\n".join(lines)


def _attachment_lines(
    attachment: Mapping[str, Any], users: Mapping[str, str], channels: Mapping[str, str], numbers: _Numbers
) -> list[str]:
    lines: list[str] = []
    for key in ("pretext", "title", "text"):
        if attachment.get(key):
            lines.extend(mrkdwn_to_text(str(attachment[key]), users, channels).splitlines())
    for field in attachment.get("fields") or []:
        if isinstance(field, dict):
            lines.append(f"{field.get('title', '')}: {field.get('value', '')}")
    for block in attachment.get("blocks") or []:
        if isinstance(block, dict):
            lines.extend(_block_lines(block, users, channels, numbers))
    return lines


def _dm_or_id(channel: str, users: Mapping[str, str]) -> str:
    if channel.startswith("D"):
        for user_id, name in users.items():
            if channel in ("D0" + user_id[2:], "D" + user_id):
                return f"DM with {name}"
    return channel or "?"


# -- the console -------------------------------------------------------------------------------------

_ACTION = re.compile(
    r"^(?:in\s+(?P<channel>\S+)\s+)?(?:as\s+(?P<user>[\w.@-]+)\s*:\s*)?(?P<rest>.*)$", re.IGNORECASE
)
_PRESS = re.compile(r"^press\s+(?P<number>\S+)(?:\s+as\s+(?P<user>[\w.@-]+))?$", re.IGNORECASE)


class Console:
    """Reads demo commands, sends them to the bot as Slack would, prints what the bot posts.

    `users` maps user id → name (default: the sandbox's users). Never raises on bad input: it says
    what was wrong.
    """

    def __init__(
        self,
        slack: SlackSandbox,
        bot_url: str,
        signing_secret: str,
        channel: str = "C0OPS",
        users: dict[str, str] | None = None,
        out: TextIO = sys.stdout,
        *,
        settle_timeout: float = SETTLE_TIMEOUT,
        kube: KubeSandbox | None = None,
        registry: RegistrySandbox | None = None,
        control_url: str | None = None,
        clusters: dict[str, KubeSandbox] | None = None,
    ) -> None:
        self.slack = slack
        self.control_url = control_url
        self.kube = kube
        self.clusters = dict(clusters or {})  # environment name → its cluster (several environments)
        self.registry = registry
        self.bot_url = bot_url.rstrip("/")
        self.channel = slack.workspace.resolve_channel(channel) or channel
        self.users: dict[str, str] = dict(users if users is not None else slack.workspace.users)
        self.out = out
        self._recent: list[str] = []  # what was printed since the last command other than `wait`
        self.finished = False
        self._secret = signing_secret
        self._settle_timeout = settle_timeout
        self._http = httpx.Client(timeout=10.0)
        self._shown: dict[tuple[str, str], dict[str, Any]] = {}
        self._buttons: list[ButtonRef] = []
        self._button_numbers: dict[ButtonRef, int] = {}
        self._last_user: str | None = None
        self._sequence = 0
        self._activity = threading.Condition()
        self._last_call_at: float | None = None
        slack.subscribe(self._on_call)

    # -- input -----------------------------------------------------------------------------------

    def _break_or_heal(self, word: str, args: list[str]) -> None:
        """Script the sandbox cluster (or one environment's): every pod of a Deployment crash-loops,
        or recovers."""
        if len(args) not in (1, 2):
            self._write(f"! usage: {word} <deployment> [environment], e.g. {word} litellm")
            return
        kube = self.kube if len(args) == 1 else self.clusters.get(args[1])
        if kube is None:
            known = ", ".join(self.clusters) or "none"
            where = f" named {args[1]!r} (environments: {known})" if len(args) == 2 else ""
            self._write(f"! no sandbox cluster{where} to {word} here")
            return
        try:
            deployment = kube.get("deployments", args[0])
        except KeyError:
            names = ", ".join(d["metadata"]["name"] for d in kube.list("deployments"))
            self._write(f"! no deployment {args[0]!r}; there are: {names}")
            return
        container = deployment["spec"]["template"]["spec"]["containers"][0]["name"]
        pods = kube.pods_of(args[0])
        for pod in pods:
            if word == "break":
                kube.set_pod_state(
                    pod["metadata"]["name"],
                    container,
                    waiting_reason="CrashLoopBackOff",
                    restart_count=6,
                    ready=False,
                )
            else:
                kube.set_pod_state(pod["metadata"]["name"], container, waiting_reason=None, ready=True)
        state = "crash-looping" if word == "break" else "healthy again"
        self._write(
            f"{len(pods)} pod(s) of {args[0]} are {state}; "
            "the watchers alert once it lasts 10 s (try: wait 30)"
        )

    def run(self, lines: Iterable[str], *, prompt: str = "") -> None:
        """Handle lines until `quit` or the end of input (e.g. `run(sys.stdin, prompt="> ")`)."""
        iterator = iter(lines)
        while not self.finished:
            if prompt:
                self._write(prompt, newline=False)
            try:
                line = next(iterator)
            except StopIteration:
                break
            self.handle(line)
        self._http.close()

    def handle(self, line: str) -> None:
        """Handle one command line; problems are printed, never raised."""
        line = line.strip()
        if not line or line.startswith("#"):
            return
        if not line.lower().startswith("wait"):
            self._recent = []  # a `wait … for TEXT` looks at the output since the last command
        self._show_changes()  # whatever the bot did since the last command
        try:
            self._dispatch(line)
        except httpx.HTTPError as exc:
            self._write(f"! cannot reach the bot at {self.bot_url}: {type(exc).__name__}")
        except Exception as exc:  # the demo must survive anything one line can cause
            self._write(f"! could not do that: {type(exc).__name__}: {exc}")

    def _dispatch(self, line: str) -> None:
        word = line.split()[0].lower()
        if word in ("quit", "exit"):
            self.finished = True
            self._write("bye")
            return
        if word == "help":
            self._write(HELP)
            return
        if word == "users":
            self._print_users()
            return
        if word == "wait":
            self._wait_command(line)
            return
        if word in ("break", "heal") and len(line.split()) == 3 and line.split()[2] in self.clusters:
            self._break_or_heal(word, line.split()[1:])  # one environment's cluster
            return
        if word in FAULT_WORDS:
            self._write(fault_command(self._http, self.control_url, word, line.split()[1:]))
            return
        if word in ("registry", "untag", "push"):
            self._write(registry_command(self.kube, self.registry, word, line.split()[1:]))
            return
        match = _ACTION.match(line)
        assert match is not None  # the pattern matches any line
        rest = match.group("rest").strip()
        channel = self.channel
        if match.group("channel"):
            resolved = self._resolve_channel(match.group("channel"), match.group("user"))
            if resolved is None:
                self._write(f"! unknown channel {match.group('channel')!r} (known: {self._channel_list()})")
                return
            channel = resolved
        press = _PRESS.match(rest)
        user_name = match.group("user") or (press.group("user") if press else None)
        user_id = self._resolve_user(user_name)
        if user_id is None:
            return
        if press:
            self._press(press.group("number"), user_id)
        elif rest.startswith("/"):
            self._slash(rest, user_id, channel)
        else:
            self._write(f"! not understood: {line!r} — type `help`")

    def _resolve_user(self, name: str | None) -> str | None:
        if name is None:
            if self._last_user is None:
                self._write("! who is acting? start with `as alice: …` (type `users`)")
            return self._last_user
        wanted = name.lstrip("@").lower()
        for user_id, user_name in self.users.items():
            if wanted in (user_name.lower(), user_id.lower()):
                self._last_user = user_id
                return user_id
        self._write(f"! unknown user {name!r} (known: {', '.join(sorted(self.users.values()))})")
        return None

    def _resolve_channel(self, name: str, user_name: str | None) -> str | None:
        if name.lower() == "dm":
            user_id = self._resolve_user(user_name) if user_name else self._last_user
            return self.slack.workspace.resolve_channel(user_id) if user_id else None
        return self.slack.workspace.resolve_channel(name)

    def _channel_list(self) -> str:
        return ", ".join(f"{cid} (#{name})" for cid, name in self.slack.workspace.channels.items()) + ", dm"

    def _print_users(self) -> None:
        groups = self.slack.workspace.usergroups
        for user_id, name in self.users.items():
            member_of = [g for g, members in groups.items() if user_id in members]
            suffix = f"  member of {', '.join(member_of)}" if member_of else ""
            self._write(f"  {name:<8} {user_id}{suffix}")

    def _wait_command(self, line: str) -> None:
        """`wait [SECONDS] [for TEXT]`: show what the bot posts for SECONDS, or until TEXT was printed
        (since the last command other than `wait`)."""
        seconds_part, _, expected = line.partition(" for ")
        parts = seconds_part.split()
        try:
            seconds = float(parts[1]) if len(parts) > 1 else 5.0
        except ValueError:
            self._write("! usage: wait [SECONDS] [for TEXT]")
            return
        seconds = max(0.0, min(seconds, MAX_WAIT_COMMAND))
        deadline = time.monotonic() + seconds
        expected = expected.strip()
        while time.monotonic() < deadline and not (expected and any(expected in t for t in self._recent)):
            with self._activity:
                self._activity.wait(min(0.2, max(0.0, deadline - time.monotonic())))
            self._show_changes()
        self._show_changes()

    # -- actions ---------------------------------------------------------------------------------

    def _next_key(self, kind: str) -> str:
        self._sequence += 1
        return f"console-{kind}-{self._sequence}-{int(time.time() * 1000)}"

    def _slash(self, rest: str, user_id: str, channel: str) -> None:
        command, _, text = rest.partition(" ")
        self._write(f"{self.users[user_id]} in {self._where(channel)}: {command} {text}".rstrip())
        key = self._next_key("cmd")
        response_url = self.slack.response_url(key, channel=channel, user=user_id)
        body = slash_command_body(
            text=text.strip(),
            user_id=user_id,
            channel_id=channel,
            command=command,
            response_url=response_url,
            user_name=self.users[user_id],
            channel_name=self.slack.workspace.channels.get(channel, "directmessage"),
        )
        self._send(body, ack_key=key)

    def _press(self, number_text: str, user_id: str) -> None:
        try:
            number = int(number_text.strip("[]"))
        except ValueError:
            self._write(f"! press takes a button number, e.g. `press 1` (got {number_text!r})")
            return
        if not 1 <= number <= len(self._buttons):
            self._write(f"! no button [{number}] is shown" + (" yet" if not self._buttons else ""))
            return
        button = self._buttons[number - 1]
        try:
            message = self.slack.message(button.channel, button.message_ts)
        except KeyError:
            self._write(f"! button [{number}] is gone: its message was deleted")
            return
        if button not in message_buttons(message):
            self._write(f"! button [{number}] is gone: its message changed")
            return
        self._write(f"{self.users[user_id]} pressed [{number}] {button.text}")
        key = self._next_key("act")
        response_url = self.slack.response_url(
            key, channel=button.channel, message_ts=button.message_ts, user=user_id
        )
        shown = {k: v for k, v in message.items() if k in ("type", "ts", "text", "blocks", "user", "bot_id")}
        body = block_actions_body(
            user_id=user_id,
            action_id=button.action_id,
            value=button.value,
            channel_id=button.channel,
            message_ts=button.message_ts,
            response_url=response_url,
            block_id=button.block_id or "actions",
            message=shown,
            button_text=button.text,
            user_name=self.users[user_id],
            channel_name=self.slack.workspace.channels.get(button.channel, "directmessage"),
            is_ephemeral=bool(message.get("ephemeral")),
        )
        self._send(body, ack_key=key)

    def _send(self, body: str, *, ack_key: str) -> None:
        with self._activity:
            self._last_call_at = None
        response = self._http.post(
            f"{self.bot_url}/slack/events", content=body, headers=sign(self._secret, body)
        )
        if response.status_code != 200:
            self._write(f"! the bot answered HTTP {response.status_code}: {response.text[:200]}")
        elif response.text.strip():
            self._show_ack(response, ack_key)
        self._settle()
        self._show_changes()

    def _show_ack(self, response: httpx.Response, key: str) -> None:
        try:
            parsed = response.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            parsed = None
        message = parsed if isinstance(parsed, dict) else {"text": response.text}
        if message.get("text") or message.get("blocks"):
            # Slack shows an acknowledgement's body as a message (ephemeral unless in_channel).
            self.slack.show_ack(key, message)

    # -- output ----------------------------------------------------------------------------------

    def _on_call(self, call: SlackCall) -> None:
        with self._activity:
            self._last_call_at = time.monotonic()
            self._activity.notify_all()

    def _settle(self) -> None:
        started = time.monotonic()
        deadline = started + self._settle_timeout
        with self._activity:
            while True:
                now = time.monotonic()
                if now >= deadline:
                    return
                last = self._last_call_at
                if last is None and now - started >= FIRST_CALL_WAIT:
                    return
                if last is not None and now - last >= QUIET_PERIOD:
                    return
                self._activity.wait(0.05)

    def _show_changes(self) -> None:
        current = {(m["channel"], m["ts"]): m for m in self.slack.all_messages()}
        for key, message in current.items():
            if self._shown.get(key) != message:
                self._write(self._render(message))
                self._shown[key] = message
        for key in [k for k in self._shown if k not in current]:
            self._write(f"{self._where(key[0])}: a message was deleted")
            del self._shown[key]

    def _render(self, message: Mapping[str, Any]) -> str:
        numbers = []
        for button in message_buttons(message):
            if button not in self._button_numbers:
                self._buttons.append(button)
                self._button_numbers[button] = len(self._buttons)
            numbers.append(self._button_numbers[button])
        return render_message(message, self.users, channels=self.slack.workspace.channels, numbers=numbers)

    def _where(self, channel: str) -> str:
        name = self.slack.workspace.channels.get(channel)
        return f"#{name}" if name else _dm_or_id(channel, self.users)

    def _write(self, text: str, *, newline: bool = True) -> None:
        self._recent.append(text)
        self.out.write(text + ("\n" if newline else ""))
        self.out.flush()
