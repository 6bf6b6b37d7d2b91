"""`schedules`: every schedule with its cron, command, next run and last result (what `crontab -l` was)."""

from __future__ import annotations

from collections.abc import Iterator

from commands.contract import Args, Event, Operation, Plan, Result, Section
from commands.environment import Environment
from commands.schedules.book import schedule_book, when_text


class ListArgs(Args):
    pass


class SchedulesOperation(Operation[ListArgs]):
    """List every schedule with its next run, last run and last result."""

    name = "schedules"
    args_model = ListArgs

    def execute(self, env: Environment, args: ListArgs, plan: Plan | None) -> Iterator[Event]:
        infos = schedule_book(env).schedules()
        sections = []
        for info in infos:
            state = "paused" if info.paused else "active"
            last = when_text(info.last_run)
            if info.last_outcome:
                last += f" — {info.last_outcome}" + (f": {info.last_summary}" if info.last_summary else "")
            fields = {
                "cron": info.cron,
                "command": info.command,
                "state": "running now" if info.running else state,
                "next run": when_text(info.next_run) if not info.paused else "— (paused)",
                "last run": last,
            }
            if info.last_operation_id:
                fields["output"] = f"audit show {info.last_operation_id}"
            sections.append(Section(title=info.name, fields=fields))
        summary = f"{len(infos)} schedules" if infos else "no schedules are configured"
        yield Result(ok=True, summary=summary, sections=tuple(sections))
