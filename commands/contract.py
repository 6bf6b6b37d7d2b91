"""The operation contract: every command the bot runs is an `Operation`.

An operation knows nothing about Slack. It has an argument model (pydantic), a `plan()` that reads
state and says what would change (this IS the dry-run and the approval card's content), and an
`execute()` that performs the plan, yielding `Progress` events and finally one `Result`.
Read-only operations (status, logs…) have `mutating = False`; their `plan()` is never called.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict

if TYPE_CHECKING:
    from commands.environment import Environment

Role = Literal["viewer", "operator", "admin"]
ROLE_ORDER: tuple[Role, ...] = ("viewer", "operator", "admin")


class Args(BaseModel):
    """Base of every argument model: unknown options are errors, `--dry-run` is always accepted.

    `positional` names the fields filled, in order, by the words after the verb.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    positional: ClassVar[tuple[str, ...]] = ()

    dry_run: bool = False


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

    @property
    def lock_targets(self) -> tuple[str, ...]:
        """Every lock this run needs: `targets` when given, else `target` alone."""
        return self.targets or ((self.target,) if self.target else ())

    @property
    def fingerprint(self) -> str:
        blob = json.dumps(self.observed, sort_keys=True, default=str)
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
    """

    label: str
    command: str


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
                FollowUp(str(f["label"]), str(f["command"])) for f in data.get("follow_ups") or ()
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

    The class docstring's first line is the user-facing help of the command.
    """

    name: ClassVar[str]  # the verb as typed, e.g. "scale" or "keys cleanup"
    args_model: ClassVar[type[Args]]
    usage: ClassVar[str]  # e.g. "scale <component> <replicas> [--force] [--dry-run]"
    mutating: ClassVar[bool] = False
    default_role: ClassVar[Role] = "viewer"
    default_approval: ClassVar[bool] = False
    # distinct approvers (never the requester) a run needs when approval applies; the bot enforces it
    approvals_required: ClassVar[int] = 1
    modal: ClassVar[bool] = False  # typed without arguments, the bot asks for them in a form

    def lock_target(self, env: Environment, args: A) -> str | None:
        """The lock this run needs (mutating operations), or None."""
        return None

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
