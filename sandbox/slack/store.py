"""The sandbox's mutable Slack state: messages per channel, files, views, response_url answers.

Thread-safe (one lock); every read returns deep copies so callers can never change the state.
"""

from __future__ import annotations

import contextlib
import copy
import itertools
import threading
import time
from dataclasses import dataclass
from typing import Any

from sandbox.slack.workspace import BOT_ID, BOT_USER_ID

PREVIEW_LINES = 5


class NotFound(LookupError):
    """The message, view or file asked for does not exist."""


@dataclass(frozen=True)
class ResponseTarget:
    """Where a response_url's answers land: the channel, the message it may replace, who sees ephemerals."""

    channel: str | None = None
    message_ts: str | None = None
    user: str | None = None


def _ts_key(ts: str) -> tuple[int, int]:
    seconds, _, micros = ts.partition(".")
    try:
        return int(seconds), int(micros or 0)
    except ValueError:
        return 0, 0


class SlackStore:
    """Messages (post order, current content), files, views, pending uploads and response_url answers."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._messages: dict[str, list[dict[str, Any]]] = {}
        self._files: list[dict[str, Any]] = []
        self._uploads: dict[str, dict[str, Any]] = {}
        self._views: dict[str, dict[str, Any]] = {}
        self._responses: dict[str, list[dict[str, Any]]] = {}
        self._targets: dict[str, ResponseTarget] = {}
        self._response_message: dict[str, tuple[str, str]] = {}
        self._last_micros = 0
        self._ids = itertools.count(1)

    # -- ids -------------------------------------------------------------------------------------

    def next_ts(self) -> str:
        """A fresh, strictly increasing Slack timestamp (`seconds.micros`)."""
        with self._lock:
            self._last_micros = max(int(time.time() * 1_000_000), self._last_micros + 1)
            return f"{self._last_micros // 1_000_000}.{self._last_micros % 1_000_000:06d}"

    def next_id(self, prefix: str) -> str:
        """A fresh object id such as F0000001 or V0000002."""
        return f"{prefix}{next(self._ids):07d}"

    # -- messages --------------------------------------------------------------------------------

    def post(
        self,
        channel: str,
        *,
        text: str,
        blocks: list[Any] | None = None,
        attachments: list[Any] | None = None,
        thread_ts: str | None = None,
        ephemeral_user: str | None = None,
        files: list[dict[str, Any]] | None = None,
        metadata: Any = None,
    ) -> dict[str, Any]:
        """Store a new message from the bot (ephemeral when `ephemeral_user` is given) and return it."""
        message: dict[str, Any] = {
            "type": "message",
            "channel": channel,
            "ts": self.next_ts(),
            "text": text,
            "blocks": blocks or [],
            "attachments": attachments or [],
            "thread_ts": thread_ts,
            "user": ephemeral_user or BOT_USER_ID,
            "bot_id": BOT_ID,
            "ephemeral": ephemeral_user is not None,
            "edited": None,
            "reactions": [],
            "files": files or [],
        }
        if metadata is not None:
            message["metadata"] = metadata
        with self._lock:
            self._messages.setdefault(channel, []).append(message)
            return copy.deepcopy(message)

    def _find(self, channel: str, ts: str) -> dict[str, Any]:
        for message in self._messages.get(channel, []):
            if message["ts"] == ts:
                return message
        raise NotFound(f"no message {ts} in {channel}")

    def update(
        self,
        channel: str,
        ts: str,
        *,
        text: str | None = None,
        blocks: list[Any] | None = None,
        attachments: list[Any] | None = None,
        allow_ephemeral: bool = False,
    ) -> dict[str, Any]:
        """Replace the given parts of a stored message and mark it edited; NotFound when absent."""
        with self._lock:
            message = self._find(channel, ts)
            if message["ephemeral"] and not allow_ephemeral:
                raise NotFound(f"message {ts} in {channel} is ephemeral")
            if text is not None:
                message["text"] = text
            if blocks is not None:
                message["blocks"] = blocks
            if attachments is not None:
                message["attachments"] = attachments
            message["edited"] = {"user": BOT_USER_ID, "ts": self.next_ts()}
            return copy.deepcopy(message)

    def delete(self, channel: str, ts: str) -> None:
        """Remove a message; NotFound when absent."""
        with self._lock:
            message = self._find(channel, ts)
            self._messages[channel].remove(message)

    def add_reaction(self, channel: str, ts: str, name: str, user: str) -> bool:
        """Add reaction `name` by `user`; False when that user had already reacted so."""
        with self._lock:
            message = self._find(channel, ts)
            for reaction in message["reactions"]:
                if reaction["name"] == name:
                    if user in reaction["users"]:
                        return False
                    reaction["users"].append(user)
                    reaction["count"] += 1
                    return True
            message["reactions"].append({"name": name, "users": [user], "count": 1})
            return True

    def message(self, channel: str, ts: str) -> dict[str, Any]:
        """The current state of one message; NotFound when absent."""
        with self._lock:
            return copy.deepcopy(self._find(channel, ts))

    def messages(self, channel: str) -> list[dict[str, Any]]:
        """The current messages of a channel, in post order."""
        with self._lock:
            return copy.deepcopy(self._messages.get(channel, []))

    def all_messages(self) -> list[dict[str, Any]]:
        """Every current message of every channel, in post order."""
        with self._lock:
            everything = [m for messages in self._messages.values() for m in messages]
            return copy.deepcopy(sorted(everything, key=lambda m: _ts_key(m["ts"])))

    # -- views -----------------------------------------------------------------------------------

    def open_view(self, view: dict[str, Any], trigger_id: str) -> dict[str, Any]:
        """Store a newly opened modal and return it with its id and hash."""
        stored = {**view, "id": self.next_id("V"), "hash": self.next_ts(), "trigger_id": trigger_id}
        with self._lock:
            self._views[stored["id"]] = stored
            return copy.deepcopy(stored)

    def update_view(
        self, view: dict[str, Any], *, view_id: str | None, external_id: str | None
    ) -> dict[str, Any]:
        """Replace a stored modal found by id or external_id; NotFound when absent."""
        with self._lock:
            found = self._views.get(view_id or "")
            if found is None and external_id:
                found = next((v for v in self._views.values() if v.get("external_id") == external_id), None)
            if found is None:
                raise NotFound("no such view")
            updated = {**view, "id": found["id"], "hash": self.next_ts(), "trigger_id": found["trigger_id"]}
            self._views[found["id"]] = updated
            return copy.deepcopy(updated)

    def views(self) -> list[dict[str, Any]]:
        """Every modal opened so far, in its current state."""
        with self._lock:
            return copy.deepcopy(list(self._views.values()))

    # -- files -----------------------------------------------------------------------------------

    def begin_upload(self, filename: str, length: int) -> str:
        """Reserve a file id for an upload of `length` bytes."""
        file_id = self.next_id("F")
        with self._lock:
            self._uploads[file_id] = {"filename": filename, "length": length, "data": None}
        return file_id

    def receive_upload(self, file_id: str, data: bytes) -> None:
        """Accept the bytes for a reserved upload; NotFound for an unknown id."""
        with self._lock:
            if file_id not in self._uploads:
                raise NotFound(file_id)
            self._uploads[file_id]["data"] = data

    def complete_upload(
        self,
        file_id: str,
        *,
        title: str | None,
        channel: str | None,
        thread_ts: str | None,
        initial_comment: str | None,
    ) -> dict[str, Any]:
        """Store an uploaded file (shared in `channel` when given); NotFound if never uploaded."""
        with self._lock:
            upload = self._uploads.get(file_id)
            if upload is None or upload["data"] is None:
                raise NotFound(file_id)
            del self._uploads[file_id]
            data: bytes = upload["data"]
            content = data.decode("utf-8", errors="replace")
            stored = {
                "id": file_id,
                "name": upload["filename"],
                "title": title or upload["filename"],
                "size": len(data),
                "content": content,
                "bytes": data,
                "channel": channel,
                "thread_ts": thread_ts,
                "initial_comment": initial_comment,
                "preview": "\n".join(content.splitlines()[:PREVIEW_LINES]),
            }
            self._files.append(stored)
            if channel is not None:
                shared = {k: stored[k] for k in ("id", "name", "title", "size", "preview")}
                self.post(channel, text=initial_comment or "", thread_ts=thread_ts, files=[shared])
            return copy.deepcopy(stored)

    def files(self) -> list[dict[str, Any]]:
        """Every completed upload, in order."""
        with self._lock:
            return copy.deepcopy(self._files)

    # -- response_url ----------------------------------------------------------------------------

    def bind_response_url(self, key: str, target: ResponseTarget) -> None:
        """Say where the answers to response_url `key` land (channel, original message, viewer)."""
        with self._lock:
            self._targets[key] = target

    def respond(self, key: str, body: dict[str, Any]) -> None:
        """Apply one response_url POST: per-key list, and, for a bound key, the channel's messages."""
        replace = _truthy(body.get("replace_original"))
        delete = _truthy(body.get("delete_original"))
        with self._lock:
            answers = self._responses.setdefault(key, [])
            if delete:
                if answers:
                    answers.pop()
            elif replace and answers:
                answers[-1] = copy.deepcopy(body)
            else:
                answers.append(copy.deepcopy(body))
            target = self._targets.get(key)
            if target is not None and target.channel is not None:
                self._respond_in_channel(key, target, body, replace=replace, delete=delete)

    def _respond_in_channel(
        self, key: str, target: ResponseTarget, body: dict[str, Any], *, replace: bool, delete: bool
    ) -> None:
        assert target.channel is not None
        original = self._response_message.get(key)
        if original is None and target.message_ts is not None:
            original = (target.channel, target.message_ts)
        if delete:
            if original is not None:
                with contextlib.suppress(NotFound):
                    self.delete(*original)
            return
        text = body.get("text") if isinstance(body.get("text"), str) else ""
        blocks = body.get("blocks") if isinstance(body.get("blocks"), list) else None
        attachments = body.get("attachments") if isinstance(body.get("attachments"), list) else None
        if replace and original is not None:
            try:
                self.update(
                    *original, text=text, blocks=blocks or [], attachments=attachments, allow_ephemeral=True
                )
                return
            except NotFound:
                pass
        in_channel = body.get("response_type") == "in_channel"
        viewer = None if in_channel or target.user is None else target.user
        thread_ts = body.get("thread_ts") if isinstance(body.get("thread_ts"), str) else None
        posted = self.post(
            target.channel,
            text=str(text),
            blocks=blocks,
            attachments=attachments,
            thread_ts=thread_ts,
            ephemeral_user=viewer,
        )
        self._response_message[key] = (target.channel, posted["ts"])

    def responses(self, key: str) -> list[dict[str, Any]]:
        """The answers currently standing for response_url `key` (replaced/deleted ones gone)."""
        with self._lock:
            return copy.deepcopy(self._responses.get(key, []))


def _truthy(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.lower() in ("true", "1"))
