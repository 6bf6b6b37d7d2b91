"""`schedules`, `schedules pause <name>`, `schedules resume <name>`: what replaces `crontab -l` and
commenting out a crontab line on the bastion.

The schedules themselves are run by the bot's leader; these operations reach them through the
`ScheduleBook` the environment carries (the bot provides it; operations never import the bot).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar, Protocol

from pydantic import Field

from commands.contract import Args, Change, Event, Operation, OperationError, Plan, Result, Section
from commands.environment import Environment


@dataclass(frozen=True)
class ScheduleInfo:
    """One schedule as `schedules` shows it."""

    name: str
    cron: str
    command: str
    channel: str
    paused: bool
    next_run: datetime | None  # None while paused
    last_run: datetime | None
    last_outcome: str | None  # succeeded | failed | refused
    last_summary: str | None
    last_operation_id: str | None
    running: bool


class ScheduleBook(Protocol):
    """The bot's schedules, as operations may see and change them."""

    def schedules(self) -> list[ScheduleInfo]: ...

    def set_paused(self, name: str, paused: bool) -> ScheduleInfo: ...


def _book(env: Environment) -> ScheduleBook:
    if env.schedules is None:
        raise OperationError("no schedules are configured for this bot (see AUTOMATION_CONFIG)")
    book: ScheduleBook = env.schedules
    return book


def _find(env: Environment, name: str) -> ScheduleInfo:
    known = _book(env).schedules()
    for info in known:
        if info.name == name:
            return info
    names = ", ".join(i.name for i in known) or "none"
    raise OperationError(f"no schedule named {name!r} (known: {names})")


def _when(moment: datetime | None) -> str:
    return f"{moment:%Y-%m-%d %H:%M} UTC" if moment is not None else "—"


class ListArgs(Args):
    pass


class NameArgs(Args):
    positional: ClassVar[tuple[str, ...]] = ("name",)
    name: str = Field(
        pattern=r"^[A-Za-z0-9-]{1,40}$", description="the schedule's name, as `schedules` shows"
    )


class SchedulesOperation(Operation[ListArgs]):
    """List every schedule with its next run, last run and last result."""

    name = "schedules"
    args_model = ListArgs
    usage = "schedules"

    def execute(self, env: Environment, args: ListArgs, plan: Plan | None) -> Iterator[Event]:
        infos = _book(env).schedules()
        sections = []
        for info in infos:
            state = "paused" if info.paused else "active"
            last = _when(info.last_run)
            if info.last_outcome:
                last += f" — {info.last_outcome}" + (f": {info.last_summary}" if info.last_summary else "")
            fields = {
                "cron": info.cron,
                "command": info.command,
                "state": "running now" if info.running else state,
                "next run": _when(info.next_run) if not info.paused else "— (paused)",
                "last run": last,
            }
            if info.last_operation_id:
                fields["output"] = f"audit show {info.last_operation_id}"
            sections.append(Section(title=info.name, fields=fields))
        summary = f"{len(infos)} schedules" if infos else "no schedules are configured"
        yield Result(ok=True, summary=summary, sections=tuple(sections))


class _PauseResume(Operation[NameArgs]):
    args_model = NameArgs
    mutating = True
    default_role = "admin"
    default_approval = True
    pause: ClassVar[bool]

    def lock_target(self, env: Environment, args: NameArgs) -> str:
        return f"schedule/{args.name}"

    def plan(self, env: Environment, args: NameArgs) -> Plan:
        info = _find(env, args.name)
        verb = "pause" if self.pause else "resume"
        noop = info.paused == self.pause
        summary = (
            f"schedule {info.name} is already {'paused' if info.paused else 'active'}"
            if noop
            else f"{verb} schedule {info.name} (`{info.command}`, {info.cron})"
        )
        return Plan(
            summary=summary,
            target=self.lock_target(env, args),
            changes=(
                Change(f"schedule/{info.name}", "state", _state(info), "paused" if self.pause else "active"),
            ),
            noop=noop,
            observed={"paused": info.paused},
        )

    def execute(self, env: Environment, args: NameArgs, plan: Plan | None) -> Iterator[Event]:
        info = _book(env).set_paused(args.name, self.pause)
        when = "" if info.paused else f"; next run {_when(info.next_run)}"
        yield Result(ok=True, summary=f"schedule {info.name} is now {_state(info)}{when}")


def _state(info: ScheduleInfo) -> str:
    return "paused" if info.paused else "active"


class SchedulesPauseOperation(_PauseResume):
    """Pause a schedule: it does not run until resumed (its missed runs are not made up)."""

    name = "schedules pause"
    usage = "schedules pause <name>"
    pause = True


class SchedulesResumeOperation(_PauseResume):
    """Resume a paused schedule from its next due time."""

    name = "schedules resume"
    usage = "schedules resume <name>"
    pause = False
