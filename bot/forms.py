"""Slack modals generated from an operation's argument model (`models add` typed without arguments).

The form has one input per field (a select for `Literal` and `bool` fields, text otherwise), and its
submission is validated by the same pydantic model as typed arguments, so the rules live in one place.
Secret fields (`Args.secret_fields`) are never pre-filled and never echoed.
"""

from __future__ import annotations

import json
import re
import types
from typing import Any, Literal, Union, get_args, get_origin

from pydantic.fields import FieldInfo
from slack_sdk.models.blocks import (
    InputBlock,
    Option,
    PlainTextInputElement,
    PlainTextObject,
    StaticSelectElement,
)
from slack_sdk.models.views import View

from commands.contract import Operation
from commands.text import clip

FORM_CALLBACK = "op.form"
ACTION_ID = "value"
TITLE_LIMIT = 24
MAX_INPUTS = 50


def build_form(op: type[Operation[Any]], *, channel_id: str, command_text: str) -> dict[str, Any]:
    """The modal asking for `op`'s arguments; `private_metadata` remembers the verb and the channel."""
    secret = op.args_model.secret_fields()
    fields = [(name, field) for name, field in op.args_model.model_fields.items() if name != "dry_run"]
    blocks = [_input(name, field, secret=name in secret) for name, field in fields][:MAX_INPUTS]
    view = View(
        type="modal",
        callback_id=FORM_CALLBACK,
        title=PlainTextObject(
            text=clip(f"/{op.name}" if len(op.name) < TITLE_LIMIT else op.name, TITLE_LIMIT)
        ),
        submit=PlainTextObject(text="Submit"),
        close=PlainTextObject(text="Cancel"),
        private_metadata=json.dumps({"verb": op.name, "channel": channel_id, "text": command_text[:200]}),
        blocks=blocks,
    )
    return dict(view.to_dict())


def read_form(view: dict[str, Any]) -> tuple[str, str, dict[str, str]]:
    """(verb, channel, entered values) of a submitted form; empty inputs are left out (defaults apply)."""
    try:
        meta = json.loads(str(view.get("private_metadata") or "{}"))
    except ValueError:
        meta = {}
    values: dict[str, str] = {}
    state = (view.get("state") or {}).get("values") or {}
    for block_id, actions in state.items():
        entry = (actions or {}).get(ACTION_ID) or {}
        value = entry.get("value")
        if value is None:
            value = (entry.get("selected_option") or {}).get("value")
        if isinstance(value, str) and value.strip():
            values[str(block_id)] = value.strip()
    return str(meta.get("verb", "")), str(meta.get("channel", "")), values


def typed_environment(view: dict[str, Any]) -> str:
    """The `--env NAME` the command that opened the form carried (empty: none), to keep with it."""
    try:
        meta = json.loads(str(view.get("private_metadata") or "{}"))
    except ValueError:
        return ""
    found = re.search(r"(?:^|\s)--env(?:=|\s+)([a-z0-9-]+)", str(meta.get("text", "")))
    return f" --env {found.group(1)}" if found else ""


def _input(name: str, field: FieldInfo, *, secret: bool) -> InputBlock:
    label = clip(field.title or name.replace("_", " ").capitalize(), 2000)
    choices = _choices(field)
    element: PlainTextInputElement | StaticSelectElement
    if choices is not None:
        options = [Option(text=c, value=c) for c in choices]
        initial = next((o for o in options if o.value == _default_text(field)), None)
        element = StaticSelectElement(action_id=ACTION_ID, options=options, initial_option=initial)
    else:
        initial_value = None if secret else _default_text(field)
        element = PlainTextInputElement(action_id=ACTION_ID, initial_value=initial_value)
    return InputBlock(
        block_id=name,
        label=PlainTextObject(text=label),
        element=element,
        optional=not field.is_required(),
        hint=PlainTextObject(text=clip(field.description, 2000)) if field.description else None,
    )


def _members(field: FieldInfo) -> tuple[Any, ...]:
    annotation = field.annotation
    if get_origin(annotation) in (Union, types.UnionType):
        return tuple(a for a in get_args(annotation) if a is not type(None))
    return (annotation,)


def _choices(field: FieldInfo) -> list[str] | None:
    members = _members(field)
    if len(members) == 1 and get_origin(members[0]) is Literal:
        return [str(v) for v in get_args(members[0])]
    if members == (bool,):
        return ["true", "false"]
    return None


def _default_text(field: FieldInfo) -> str | None:
    if field.is_required() or field.default is None:
        return None
    if isinstance(field.default, bool):
        return "true" if field.default else "false"
    return str(field.default)
