"""The operation contract: every command the bot runs is an `Operation`.

An operation knows nothing about Slack. It has an argument model (pydantic), a `plan()` that reads
state and says what would change (this IS the dry-run and the approval card's content), and an
`execute()` that performs the plan, yielding `Progress` events and finally one `Result`.
Read-only operations (status, logs…) have `mutating = False`; their `plan()` is never called.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import types
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Literal, TypeVar, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, SecretStr, ValidationInfo, field_validator
from pydantic.fields import FieldInfo
from pydantic_core import PydanticCustomError

from commands.input_rules import describe_character, first_forbidden, is_plain_integer

if TYPE_CHECKING:
    from commands.environment import Environment

Role = Literal["viewer", "operator", "admin"]
Answer = Literal["result", "note", "private"]
"""How a read-only command's answer is shown: the full result in the channel, a plain note in the
channel, or a plain note only the caller sees."""
ROLE_ORDER: tuple[Role, ...] = ("viewer", "operator", "admin")


class Args(BaseModel):
    """Base of every argument model: unknown options are errors, `--dry-run` is always accepted.

    `positional` names the fields filled, in order, by the words after the verb; when `rest` is set,
    the last of them takes every remaining word (`help models add`). A field's `json_schema_extra`
    may name how usage shows its value (`shown_as("N")`). Rules every model gets here, whatever path
    the values take (typed, a form, a stored request): no invisible control or direction character in
    any text (`commands.input_rules`), integers as plain decimal digits, and a field is secret exactly
    when its type is `SecretStr` (`secret_fields`): masked wherever the command is stored or echoed.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    positional: ClassVar[tuple[str, ...]] = ()
    rest: ClassVar[bool] = False

    dry_run: bool = False

    @field_validator("*", mode="before")
    @classmethod
    def _typed_text(cls, value: Any, info: ValidationInfo) -> Any:
        """Refuse invisible characters in any text and non-digit spellings of integers."""
        if not isinstance(value, str):
            return value
        found = first_forbidden(value)
        if found is not None:
            raise PydanticCustomError(
                "forbidden_character",
                "contains the invisible character {character}; retype it without it",
                {"character": describe_character(found[1])},
            )
        field_info = cls.model_fields.get(info.field_name or "")
        if field_info is not None and _takes_int(field_info) and not is_plain_integer(value):
            raise PydanticCustomError("int_parsing", "must be a whole number written with digits only")
        return value

    @classmethod
    def secret_fields(cls) -> frozenset[str]:
        """The names of the fields holding secrets (typed `SecretStr`): masked wherever args are shown."""
        return frozenset(name for name, info in cls.model_fields.items() if SecretStr in _members(info))


def _members(info: FieldInfo) -> tuple[Any, ...]:
    """The types a field accepts (`int | None` → (int,))."""
    annotation = info.annotation
    if get_origin(annotation) in (Union, types.UnionType):
        return tuple(a for a in get_args(annotation) if a is not type(None))
    return (annotation,)


def _takes_int(info: FieldInfo) -> bool:
    return int in _members(info) and str not in _members(info)


def shown_as(metavar: str) -> dict[str, Any]:
    """`Field(json_schema_extra=shown_as("N"))`: how usage shows the field's value (`--tail N`)."""
    return {"metavar": metavar}


SECRET_MASK = "**********"  # a secret argument as stored and echoed (pydantic's own JSON of SecretStr)


A = TypeVar("A", bound=Args)


class OperationError(Exception):
    """A failure the user should read as is: what failed and what to do. Never carries a secret."""


@dataclass(frozen=True)
class Change:
    """One field of one object that the plan changes."""

    target: str  # e.g. "deployment/litellm"
    field: str  # e.g. "replicas" or "image (backend)"
    before: str
    after: str


@dataclass(frozen=True)
class Plan:
    """What a mutating operation would do; shown as the dry-run and on the approval card.

    `observed` is the state the plan was computed from; at approval the plan is computed again and
    a different `fingerprint` means the target changed since the request.

    `target` is the lock the bot takes today; `targets`, when not empty, is every lock the run needs
    (all to be held at once, `target` among them): see `lock_targets`.
    """

    summary: str
    target: str  # lock target, e.g. "deployment/litellm"
    changes: tuple[Change, ...] = ()
    risks: tuple[str, ...] = ()
    noop: bool = False
    observed: dict[str, Any] = field(default_factory=dict)
    targets: tuple[str, ...] = ()
    # when set, what the approver agrees to (rule, threshold, scope): fingerprinted instead of `observed`,
    # for plans whose observed counts move all the time (keys cleanup)
    intent: dict[str, Any] = field(default_factory=dict)

    @property
    def lock_targets(self) -> tuple[str, ...]:
        """Every lock this run needs: `targets` when given, else `target` alone."""
        return self.targets or ((self.target,) if self.target else ())

    @property
    def fingerprint(self) -> str:
        blob = json.dumps(self.intent or self.observed, sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def to_json(self) -> dict[str, Any]:
        return {
            "summary": self.summary,
            "target": self.target,
            "changes": [vars(c) for c in self.changes],
            "risks": list(self.risks),
            "noop": self.noop,
            "observed": self.observed,
            **({"targets": list(self.targets)} if self.targets else {}),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Plan:
        return cls(
            summary=data["summary"],
            target=data["target"],
            changes=tuple(Change(**c) for c in data.get("changes", [])),
            risks=tuple(data.get("risks", [])),
            noop=bool(data.get("noop", False)),
            observed=dict(data.get("observed", {})),
            targets=tuple(str(t) for t in data.get("targets") or ()),
        )


@dataclass(frozen=True)
class Progress:
    """A step of a running operation; `done`/`total` draw a progress bar where there is a count."""

    text: str
    done: int | None = None
    total: int | None = None


@dataclass(frozen=True)
class Section:
    """A titled block of a result: key/value fields and/or plain lines (presentation is the bot's)."""

    title: str
    fields: dict[str, str] = field(default_factory=dict)
    lines: tuple[str, ...] = ()


@dataclass(frozen=True)
class FollowUp:
    """A next step offered with a result (e.g. Rollback after a failed upgrade).

    The bot shows it as a button that, when clicked, runs `command` (text as typed after the slash
    command) as the clicker, through the same permission and approval checks as a typed command.
    `danger` marks a step that undoes or destroys (shown in red).
    """

    label: str
    command: str
    danger: bool = False


def rollback(component: str) -> FollowUp:
    """The Rollback step offered after a failed rollout of `component`."""
    return FollowUp("Rollback", f"rollback {component}", danger=True)


_MENTION_TAG = "\ue000" + secrets.token_hex(6)  # unguessable: text from outside can never forge one


def mention(user_id: str) -> str:
    """A chat user named in a result (an id from the bot's own records, never typed text); the bot
    shows it as a mention. Everything else in a result is shown as plain text."""
    return f"{_MENTION_TAG}{user_id}{_MENTION_TAG}"


def mentioned(text: str) -> list[tuple[str, bool]]:
    """`text` split into (piece, is_user_id) parts, for the bot's renderer."""
    parts = text.split(_MENTION_TAG)
    return [(part, index % 2 == 1) for index, part in enumerate(parts) if part]


@dataclass(frozen=True)
class ResultFile:
    """Output too long for a message (full logs, full lists): the bot uploads it as a file."""

    filename: str
    title: str
    content: str


@dataclass(frozen=True)
class Result:
    """The outcome of an operation, as data. The bot renders it; it never contains a secret."""

    ok: bool
    summary: str
    sections: tuple[Section, ...] = ()
    warnings: tuple[str, ...] = ()
    follow_ups: tuple[FollowUp, ...] = ()
    files: tuple[ResultFile, ...] = ()

    def to_json(self, *, file_contents: bool = False) -> dict[str, Any]:
        """As stored with the operation; `file_contents` keeps the files' text too (scheduled jobs)."""
        return {
            "ok": self.ok,
            "summary": self.summary,
            "sections": [
                {"title": s.title, "fields": s.fields, "lines": list(s.lines)} for s in self.sections
            ],
            "warnings": list(self.warnings),
            "follow_ups": [vars(f) for f in self.follow_ups],
            "files": [
                {
                    "filename": f.filename,
                    "title": f.title,
                    "size": len(f.content),
                    **({"content": f.content} if file_contents else {}),
                }
                for f in self.files
            ],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Result:
        """A stored result back (files whose text was not kept come back empty)."""
        return cls(
            ok=bool(data.get("ok")),
            summary=str(data.get("summary", "")),
            sections=tuple(
                Section(str(s.get("title", "")), dict(s.get("fields") or {}), tuple(s.get("lines") or ()))
                for s in data.get("sections") or ()
            ),
            warnings=tuple(str(w) for w in data.get("warnings") or ()),
            follow_ups=tuple(
                FollowUp(str(f["label"]), str(f["command"]), bool(f.get("danger")))
                for f in data.get("follow_ups") or ()
            ),
            files=tuple(
                ResultFile(str(f.get("filename", "")), str(f.get("title", "")), str(f.get("content", "")))
                for f in data.get("files") or ()
                if f.get("content")
            ),
        )


Event = Progress | Result


class Operation(Generic[A]):
    """Base class of operations. Subclasses set the class attributes and implement the methods.

    The class docstring's first line is the user-facing help of the command; `usage` is derived from
    `name` and `args_model` (never written by hand).
    """

    name: ClassVar[str]  # the verb as typed, e.g. "scale" or "keys cleanup"
    args_model: ClassVar[type[Args]]
    usage: ClassVar[str]  # derived: "scale <component> <replicas> [--force] [--dry-run]"
    mutating: ClassVar[bool] = False
    default_role: ClassVar[Role] = "viewer"
    default_approval: ClassVar[bool] = False
    # distinct approvers a run needs when approval applies (more than one: never the requester);
    # the bot counts them in one conditional UPDATE per approval (OperationStore.add_approval)
    approvals_required: ClassVar[int] = 1
    modal: ClassVar[bool] = False  # typed without arguments, the bot asks for them in a form
    everyone: ClassVar[bool] = False  # anyone may run it, even without a role (help, whoami)
    bot_state: ClassVar[bool] = False  # reads only the bot's own state: answered at once, as a note
    answer: ClassVar[Answer] = "result"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if hasattr(cls, "name") and hasattr(cls, "args_model"):
            cls.usage = usage_of(cls.name, cls.args_model, mutating=cls.mutating, modal=cls.modal)

    def needs_approval(self, args: A) -> bool:
        """Approval demanded by the arguments themselves, whatever the policy (e.g. `restart all`)."""
        return False

    def plan(self, env: Environment, args: A) -> Plan:
        """Read state and say what would change. Raises OperationError for a refusal."""
        raise NotImplementedError

    def execute(self, env: Environment, args: A, plan: Plan | None) -> Iterator[Event]:
        """Do the work; yield Progress events, then exactly one Result (the last event)."""
        raise NotImplementedError

    @classmethod
    def help(cls) -> str:
        doc = (cls.__doc__ or "").strip().splitlines()
        return doc[0] if doc else cls.usage


def usage_of(verb: str, model: type[Args], *, mutating: bool, modal: bool = False) -> str:
    """The usage line of a command, from its argument model: positional fields as `<name>` (`[name]`
    when optional), options as `[--name VALUE]` or `[--flag]`; a form's fields as `name=<value>`."""
    words = [verb]
    fields = model.model_fields
    for name in model.positional:
        shown = _metavar(name, fields[name], default=name.replace("_", "-"))
        words.append(f"<{shown}>" if fields[name].is_required() else f"[{shown}]")
    for name, info in fields.items():
        if name in model.positional or name == "dry_run":
            continue
        if modal:
            value = _metavar(name, info, default=_value_shape(info))
            words.append(f"{name}=<{value}>" if info.is_required() else f"[{name}={value}]")
        elif _is_flag(info):
            words.append(f"[--{name.replace('_', '-')}]")
        else:
            words.append(f"[--{name.replace('_', '-')} {_metavar(name, info, default=name.upper())}]")
    if mutating:
        words.append("[--dry-run]")
    return " ".join(words)


def _metavar(name: str, info: FieldInfo, *, default: str) -> str:
    extra = info.json_schema_extra
    if isinstance(extra, dict) and isinstance(extra.get("metavar"), str):
        return str(extra["metavar"])
    return default


def _is_flag(info: FieldInfo) -> bool:
    return _members(info) == (bool,)


def _value_shape(info: FieldInfo) -> str:
    """How a form field's value looks: `true|false`, `a|b|c`, `N`, `…`."""
    members = _members(info)
    if members == (bool,):
        return "true|false"
    if members and get_origin(members[0]) is Literal:
        return "|".join(str(v) for v in get_args(members[0]))
    if members in ((int,), (float,)):
        return "N"
    if members == (SecretStr,):
        return "secret"
    return "…"
