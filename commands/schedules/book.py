"""What the schedule verbs share: the environment's `ScheduleBook`, a schedule by name, pause/resume."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import ClassVar

from pydantic import Field

from commands import targets
from commands.bot_state import ScheduleBook, ScheduleInfo
from commands.contract import Args, Change, Event, Operation, OperationError, Plan, Result
from commands.environment import Environment


def schedule_book(env: Environment) -> ScheduleBook:
    if env.schedules is None:
        raise OperationError("no schedules are configured for this bot (see AUTOMATION_CONFIG)")
    book: ScheduleBook = env.schedules
    return book


def find_schedule(env: Environment, name: str) -> ScheduleInfo:
    known = schedule_book(env).schedules()
    for info in known:
        if info.name == name:
            return info
    names = ", ".join(i.name for i in known) or "none"
    raise OperationError(f"no schedule named {name!r} (known: {names})")


def when_text(moment: datetime | None) -> str:
    return f"{moment:%Y-%m-%d %H:%M} UTC" if moment is not None else "—"


class NameArgs(Args):
    positional: ClassVar[tuple[str, ...]] = ("name",)
    name: str = Field(
        pattern=r"^[A-Za-z0-9-]{1,40}$", description="the schedule's name, as `schedules` shows"
    )


class PauseResume(Operation[NameArgs]):
    """What pause and resume share: a plan that flips `paused`, and the flip."""

    args_model = NameArgs
    mutating = True
    default_role = "admin"
    default_approval = True
    pause: ClassVar[bool]

    def plan(self, env: Environment, args: NameArgs) -> Plan:
        info = find_schedule(env, args.name)
        verb = "pause" if self.pause else "resume"
        noop = info.paused == self.pause
        summary = (
            f"schedule {info.name} is already {'paused' if info.paused else 'active'}"
            if noop
            else f"{verb} schedule {info.name} (`{info.command}`, {info.cron})"
        )
        return Plan(
            summary=summary,
            target=targets.schedule(args.name),
            changes=(
                Change(
                    f"schedule/{info.name}", "state", state_text(info), "paused" if self.pause else "active"
                ),
            ),
            noop=noop,
            observed={"paused": info.paused},
        )

    def execute(self, env: Environment, args: NameArgs, plan: Plan | None) -> Iterator[Event]:
        info = schedule_book(env).set_paused(args.name, self.pause)
        when = "" if info.paused else f"; next run {when_text(info.next_run)}"
        yield Result(ok=True, summary=f"schedule {info.name} is now {state_text(info)}{when}")


def state_text(info: ScheduleInfo) -> str:
    return "paused" if info.paused else "active"
