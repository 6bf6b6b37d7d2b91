"""The automation file's schedules and their rows in PostgreSQL: what `schedules` shows and
`schedules pause|resume` changes (`commands.bot_state.ScheduleBook`), and when each is due."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from croniter import croniter

from bot.automation import AutomationConfig
from bot.store.schedules import ScheduleRow, ScheduleStore
from commands.bot_state import ScheduleInfo
from commands.contract import OperationError


def _utc_now() -> datetime:
    return datetime.now(UTC)


class Schedules:
    """Schedule definitions (automation file) and state (`chatops.schedules`); the clock is injectable."""

    def __init__(
        self,
        config: AutomationConfig,
        store: ScheduleStore,
        *,
        clock: Callable[[], datetime] = _utc_now,
        environment: str | None = None,
        only: tuple[str, ...] | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self.clock = clock
        self.environment = environment  # one of several: its rows are `<name>@<environment>`
        self.only = only  # the environment's schedules (None: every one of the file)

    def in_environment(self, environment: str, only: tuple[str, ...] | None) -> Schedules:
        """The same schedules as one environment of several runs them (own rows, own state)."""
        return Schedules(self.config, self.store, clock=self.clock, environment=environment, only=only)

    def key(self, name: str) -> str:
        """The schedule's row: its name, or `<name>@<environment>` when several environments run it."""
        return name if self.environment is None else f"{name}@{self.environment}"

    @property
    def names(self) -> list[str]:
        return [
            name
            for name, s in self.config.schedules.items()
            if s.enabled and (self.only is None or name in self.only)
        ]

    def due(self, name: str, row: ScheduleRow, now: datetime) -> datetime | None:
        """The latest due time not yet run (missed ones collapse into this one), or None."""
        latest: datetime = croniter(self.config.schedules[name].cron, now).get_prev(datetime)
        baseline = row.last_due_at or row.created_at
        return latest if latest > baseline and not row.paused else None

    def schedules(self) -> list[ScheduleInfo]:
        now = self.clock()
        self.store.ensure([self.key(n) for n in self.names], now)
        rows = self.store.rows()
        return [self._info(name, rows[self.key(name)], now) for name in self.names if self.key(name) in rows]

    def set_paused(self, name: str, paused: bool) -> ScheduleInfo:
        if name not in self.names:
            raise OperationError(f"no schedule named {name!r}")
        now = self.clock()
        self.store.set_paused(self.key(name), paused, now)
        return self._info(name, self.store.rows()[self.key(name)], now)

    def _info(self, name: str, row: ScheduleRow, now: datetime) -> ScheduleInfo:
        schedule = self.config.schedules[name]
        next_run: datetime | None = None
        if not row.paused:
            pending = self.due(name, row, now)
            next_run = pending or croniter(schedule.cron, now).get_next(datetime)
        return ScheduleInfo(
            name=name,
            cron=schedule.cron,
            command=schedule.command,
            channel=self.config.schedule_channel(name) or "",
            paused=row.paused,
            next_run=next_run,
            last_run=row.last_started_at,
            last_outcome=row.last_outcome,
            last_summary=row.last_summary,
            last_operation_id=str(row.last_operation_id) if row.last_operation_id else None,
            running=row.running_since is not None,
        )
