"""The Web API methods of the sandbox: arguments in (a dict), Slack's JSON answer out.

Each method validates its arguments as Slack does (error codes from api.slack.com) and changes the
`SlackStore`. Transport, auth and failure injection are the HTTP layer's job (`server.py`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from sandbox.slack.store import NotFound, SlackStore
from sandbox.slack.workspace import (
    BOT_ID,
    BOT_NAME,
    BOT_USER_ID,
    TEAM_DOMAIN,
    TEAM_ID,
    TEAM_NAME,
    Workspace,
)

Reply = dict[str, Any]


class ApiError(Exception):
    """An `ok: false` answer with Slack's error code."""

    def __init__(self, error: str, detail: str | None = None) -> None:
        super().__init__(error)
        self.error = error
        self.detail = detail

    def reply(self) -> Reply:
        """The JSON body Slack sends for this error."""
        body: Reply = {"ok": False, "error": self.error}
        if self.detail:
            body["response_metadata"] = {"messages": [f"[ERROR] {self.detail}"]}
        return body


def _text(
    args: Mapping[str, Any], name: str, *, required: bool = False, error: str | None = None
) -> str | None:
    value = args.get(name)
    if value is None or value == "":
        if required:
            raise ApiError(error or "invalid_arguments", f"missing required field: {name}")
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ApiError("invalid_arguments", f"{name} must be a string")
    return str(value)


def _json(args: Mapping[str, Any], name: str, *, error: str = "invalid_arguments") -> Any:
    value = args.get(name)
    if isinstance(value, str):
        if value == "":
            return None
        try:
            return json.loads(value)
        except json.JSONDecodeError as exc:
            raise ApiError(error, f"{name} is not valid JSON") from exc
    return value


def _json_list(args: Mapping[str, Any], name: str, *, error: str) -> list[Any] | None:
    value = _json(args, name, error=error)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise ApiError(error, f"{name} must be a list of objects")
    return value


def _flag(args: Mapping[str, Any], name: str) -> bool:
    value = args.get(name)
    return value is True or (isinstance(value, str | int) and str(value).lower() in ("1", "true"))


class WebApi:
    """Slack Web API methods over a workspace and a store; `call(method, args)` → reply or ApiError."""

    def __init__(
        self,
        workspace: Workspace,
        store: SlackStore,
        base_url: Callable[[], str],
        socket_url: Callable[[], str] | None = None,
    ) -> None:
        self._workspace = workspace
        self._store = store
        self._base_url = base_url
        self._socket_url = socket_url
        self._methods: dict[str, Callable[[Mapping[str, Any]], Reply]] = {
            "api.test": lambda args: {"ok": True, "args": dict(args)},
            "auth.test": self.auth_test,
            "chat.postMessage": self.chat_post_message,
            "chat.update": self.chat_update,
            "chat.postEphemeral": self.chat_post_ephemeral,
            "chat.delete": self.chat_delete,
            "views.open": self.views_open,
            "views.update": self.views_update,
            "usergroups.list": self.usergroups_list,
            "usergroups.users.list": self.usergroups_users_list,
            "users.info": self.users_info,
            "conversations.info": self.conversations_info,
            "conversations.open": self.conversations_open,
            "files.getUploadURLExternal": self.files_get_upload_url_external,
            "files.completeUploadExternal": self.files_complete_upload_external,
            "reactions.add": self.reactions_add,
            "apps.connections.open": self.apps_connections_open,
        }

    def knows(self, method: str) -> bool:
        """Whether `method` is implemented."""
        return method in self._methods

    def call(self, method: str, args: Mapping[str, Any]) -> Reply:
        """Run one method; unknown ones answer `unknown_method`."""
        handler = self._methods.get(method)
        if handler is None:
            raise ApiError("unknown_method")
        return handler(args)

    # -- identity --------------------------------------------------------------------------------

    def auth_test(self, args: Mapping[str, Any]) -> Reply:
        return {
            "ok": True,
            "url": f"https://{TEAM_DOMAIN}.slack.com/",
            "team": TEAM_NAME,
            "user": BOT_NAME,
            "team_id": TEAM_ID,
            "user_id": BOT_USER_ID,
            "bot_id": BOT_ID,
            "is_enterprise_install": False,
        }

    def apps_connections_open(self, args: Mapping[str, Any]) -> Reply:
        # Only reached with an app-level token (the HTTP layer checks): a fresh one-time websocket URL.
        if self._socket_url is None:
            raise ApiError("not_allowed", "this sandbox serves no Socket Mode link")
        return {"ok": True, "url": self._socket_url()}

    # -- messages --------------------------------------------------------------------------------

    def _channel(self, args: Mapping[str, Any], name: str = "channel") -> str:
        raw = _text(args, name, required=True, error="channel_not_found")
        assert raw is not None
        channel = self._workspace.resolve_channel(raw)
        if channel is None:
            raise ApiError("channel_not_found")
        return channel

    def _content(self, args: Mapping[str, Any]) -> tuple[str | None, list[Any] | None, list[Any] | None]:
        text = _text(args, "text")
        blocks = _json_list(args, "blocks", error="invalid_blocks")
        attachments = _json_list(args, "attachments", error="invalid_attachments")
        return text, blocks, attachments

    def chat_post_message(self, args: Mapping[str, Any]) -> Reply:
        channel = self._channel(args)
        text, blocks, attachments = self._content(args)
        if not text and not blocks and not attachments:
            raise ApiError("no_text")
        thread_ts = _text(args, "thread_ts")
        if thread_ts is not None:
            self._require_message(channel, thread_ts, error="thread_not_found")
        message = self._store.post(
            channel,
            text=text or "",
            blocks=blocks,
            attachments=attachments,
            thread_ts=thread_ts,
            metadata=_json(args, "metadata"),
        )
        return {"ok": True, "channel": channel, "ts": message["ts"], "message": _public(message)}

    def _require_message(self, channel: str, ts: str, *, error: str) -> None:
        try:
            self._store.message(channel, ts)
        except NotFound as exc:
            raise ApiError(error) from exc

    def chat_update(self, args: Mapping[str, Any]) -> Reply:
        channel = self._channel(args)
        ts = _text(args, "ts", required=True, error="message_not_found")
        assert ts is not None
        text, blocks, attachments = self._content(args)
        if text is None and blocks is None and attachments is None:
            raise ApiError("no_text")
        try:
            message = self._store.update(channel, ts, text=text, blocks=blocks, attachments=attachments)
        except NotFound as exc:
            raise ApiError("message_not_found") from exc
        return {
            "ok": True,
            "channel": channel,
            "ts": ts,
            "text": message["text"],
            "message": _public(message),
        }

    def chat_delete(self, args: Mapping[str, Any]) -> Reply:
        channel = self._channel(args)
        ts = _text(args, "ts", required=True, error="message_not_found")
        assert ts is not None
        try:
            self._store.delete(channel, ts)
        except NotFound as exc:
            raise ApiError("message_not_found") from exc
        return {"ok": True, "channel": channel, "ts": ts}

    def chat_post_ephemeral(self, args: Mapping[str, Any]) -> Reply:
        channel = self._channel(args)
        user = _text(args, "user", required=True, error="user_not_found")
        if user not in self._workspace.users:
            raise ApiError("user_not_found")
        text, blocks, attachments = self._content(args)
        if not text and not blocks and not attachments:
            raise ApiError("no_text")
        message = self._store.post(
            channel,
            text=text or "",
            blocks=blocks,
            attachments=attachments,
            thread_ts=_text(args, "thread_ts"),
            ephemeral_user=user,
        )
        return {"ok": True, "message_ts": message["ts"]}

    def reactions_add(self, args: Mapping[str, Any]) -> Reply:
        channel = self._channel(args)
        ts = _text(args, "timestamp", required=True, error="bad_timestamp")
        name = _text(args, "name", required=True, error="invalid_name")
        assert ts is not None and name is not None
        try:
            added = self._store.add_reaction(channel, ts, name.strip(":"), BOT_USER_ID)
        except NotFound as exc:
            raise ApiError("message_not_found") from exc
        if not added:
            raise ApiError("already_reacted")
        return {"ok": True}

    # -- views -----------------------------------------------------------------------------------

    def _view(self, args: Mapping[str, Any]) -> dict[str, Any]:
        view = _json(args, "view", error="invalid_arguments")
        if not isinstance(view, dict) or view.get("type") not in ("modal", "home"):
            raise ApiError("invalid_arguments", "view must be an object with type modal or home")
        return view

    def views_open(self, args: Mapping[str, Any]) -> Reply:
        trigger_id = _text(args, "trigger_id", required=True, error="invalid_trigger_id")
        assert trigger_id is not None
        return {"ok": True, "view": self._store.open_view(self._view(args), trigger_id)}

    def views_update(self, args: Mapping[str, Any]) -> Reply:
        view_id, external_id = _text(args, "view_id"), _text(args, "external_id")
        if view_id is None and external_id is None:
            raise ApiError("invalid_arguments", "view_id or external_id is required")
        try:
            view = self._store.update_view(self._view(args), view_id=view_id, external_id=external_id)
        except NotFound as exc:
            raise ApiError("not_found") from exc
        return {"ok": True, "view": view}

    # -- people and places -----------------------------------------------------------------------

    def usergroups_list(self, args: Mapping[str, Any]) -> Reply:
        include = _flag(args, "include_users")
        groups = [
            self._workspace.usergroup_object(g, include_users=include) for g in self._workspace.usergroups
        ]
        return {"ok": True, "usergroups": groups}

    def usergroups_users_list(self, args: Mapping[str, Any]) -> Reply:
        group = _text(args, "usergroup", required=True, error="no_such_subteam") or ""
        if group not in self._workspace.usergroups:
            raise ApiError("no_such_subteam")
        return {"ok": True, "users": list(self._workspace.usergroups[group])}

    def users_info(self, args: Mapping[str, Any]) -> Reply:
        user_id = _text(args, "user", required=True, error="user_not_found")
        user = self._workspace.user_object(user_id or "")
        if user is None:
            raise ApiError("user_not_found")
        return {"ok": True, "user": user}

    def conversations_info(self, args: Mapping[str, Any]) -> Reply:
        channel_id = _text(args, "channel", required=True, error="channel_not_found")
        channel = self._workspace.conversation_object(channel_id or "")
        if channel is None:
            raise ApiError("channel_not_found")
        return {"ok": True, "channel": channel}

    def conversations_open(self, args: Mapping[str, Any]) -> Reply:
        users = (_text(args, "users", required=True, error="users_list_not_supplied") or "").split(",")
        if len(users) != 1 or users[0] not in self._workspace.users:
            raise ApiError("user_not_found")
        channel = self._workspace.conversation_object(self._workspace.resolve_channel(users[0]) or "")
        return {"ok": True, "channel": channel}

    # -- files -----------------------------------------------------------------------------------

    def files_get_upload_url_external(self, args: Mapping[str, Any]) -> Reply:
        filename = _text(args, "filename", required=True)
        length = _text(args, "length", required=True)
        assert filename is not None and length is not None
        try:
            size = int(length)
        except ValueError as exc:
            raise ApiError("invalid_arguments", "length must be an integer") from exc
        if size < 0:
            raise ApiError("invalid_arguments", "length must not be negative")
        file_id = self._store.begin_upload(filename, size)
        return {"ok": True, "upload_url": f"{self._base_url()}/upload/{file_id}", "file_id": file_id}

    def files_complete_upload_external(self, args: Mapping[str, Any]) -> Reply:
        files = _json_list(args, "files", error="invalid_arguments")
        if not files:
            raise ApiError("invalid_arguments", "files is required")
        channel = None
        raw_channel = _text(args, "channel_id") or (_text(args, "channels") or "").split(",")[0] or None
        if raw_channel is not None:
            channel = self._workspace.resolve_channel(raw_channel)
            if channel is None:
                raise ApiError("channel_not_found")
        done = []
        for item in files:
            try:
                stored = self._store.complete_upload(
                    str(item.get("id", "")),
                    title=item.get("title") if isinstance(item.get("title"), str) else None,
                    channel=channel,
                    thread_ts=_text(args, "thread_ts"),
                    initial_comment=_text(args, "initial_comment"),
                )
            except NotFound as exc:
                raise ApiError("file_not_found") from exc
            done.append({k: stored[k] for k in ("id", "name", "title", "size")})
        return {"ok": True, "files": done}


def _public(message: Mapping[str, Any]) -> dict[str, Any]:
    """A stored message as Slack returns it (without the sandbox's bookkeeping keys)."""
    hidden = {"channel", "ephemeral", "edited", "reactions", "files"}
    public = {k: v for k, v in message.items() if k not in hidden and v is not None}
    return public
