"""Runs the automation file's schedules on the leader; what replaces the bastion's crontab.

Each run is an operation like a typed one (the `schedule:<name>` actor, an audit row, its result posted
to the schedule's channel and kept with the operation). A due time missed while no leader existed is
run once when a leader appears; a run never overlaps itself (the claim in PostgreSQL). A failed run
raises an alert, resolved by the next successful run. The clock is injectable for tests.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from croniter import croniter

from bot.alerts.model import Alert
from bot.alerts.pipeline import AlertPipeline
from bot.automation import AutomationConfig
from bot.store.schedules import ScheduleRow, ScheduleStore
from commands.contract import FollowUp, OperationError, Result
from commands.environment import ScheduleInfo

log = logging.getLogger(__name__)

ScheduledRun = Callable[[str, str, str], tuple[Result, str | None]]
"""Runs `command` as `actor` posting to `channel`; returns the result and the operation id."""


def _utc_now() -> datetime:
    return datetime.now(UTC)


class Scheduler:
    """The schedules: `tick()` runs what is due (the leader's loop calls it); also the `ScheduleBook`."""

    def __init__(
        self,
        config: AutomationConfig,
        store: ScheduleStore,
        run: ScheduledRun,
        pipeline: AlertPipeline | None,
        *,
        clock: Callable[[], datetime] = _utc_now,
        stale_after: timedelta = timedelta(hours=6),
    ) -> None:
        self.config = config
        self.store = store
        self.run = run
        self.pipeline = pipeline
        self.clock = clock
        self.stale_after = stale_after
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._ensured = False

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def names(self) -> list[str]:
        return [name for name, s in self.config.schedules.items() if s.enabled]

    # ------------------------------------------------------------------ running

    def due(self, name: str, row: ScheduleRow, now: datetime) -> datetime | None:
        """The latest due time not yet run (missed ones collapse into this one), or None."""
        latest: datetime = croniter(self.config.schedules[name].cron, now).get_prev(datetime)
        baseline = row.last_due_at or row.created_at
        return latest if latest > baseline and not row.paused else None

    def tick(self) -> list[str]:
        """Run every schedule that is due now, one after another; returns the names run."""
        now = self.clock()
        if not self._ensured:
            self.store.ensure(self.names, now)
            self._ensured = True
        rows = self.store.rows()
        ran: list[str] = []
        for name in self.names:
            row = rows.get(name)
            if row is None:
                continue
            due = self.due(name, row, now)
            if due is None or not self.store.claim(name, due, now, self.stale_after):
                continue
            self._run_one(name)
            ran.append(name)
        return ran

    def _run_one(self, name: str) -> None:
        schedule = self.config.schedules[name]
        channel = self.config.schedule_channel(name) or ""
        try:
            result, operation_id = self.run(f"schedule:{name}", schedule.command, channel)
        except Exception as exc:  # the run path reports its own failures; this is a last resort
            log.exception("schedule %s could not run", name)
            result, operation_id = Result(ok=False, summary=f"could not run: {type(exc).__name__}"), None
        outcome = "succeeded" if result.ok else "failed"
        self.store.finish(
            name, outcome=outcome, summary=result.summary, operation_id=operation_id, now=self.clock()
        )
        if self.pipeline is None:
            return
        fingerprint = f"schedule:{name}"
        if result.ok:
            self.pipeline.resolve(fingerprint)
            return
        actions = (FollowUp("Output", f"audit show {operation_id}"),) if operation_id else ()
        self.pipeline.fire(
            Alert(
                fingerprint=fingerprint,
                severity="warning",
                component="schedule",
                title=f"Scheduled job {name} failed: {result.summary}",
                details=(f"command: {schedule.command}", f"cron: {schedule.cron}"),
                actions=actions,
                source="schedule",
            )
        )

    def start(self, interval: float = 20.0) -> None:
        """Tick every `interval` seconds on a thread until `stop()` (leader only)."""
        if self.running:
            return
        self._stop = threading.Event()
        stop = self._stop

        def loop() -> None:
            while not stop.is_set():
                try:
                    self.tick()
                except Exception as exc:  # PostgreSQL down: try again at the next tick
                    log.warning("schedule tick failed: %s", exc)
                stop.wait(interval)

        self._thread = threading.Thread(target=loop, name="scheduler", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    # ------------------------------------------------------------------ ScheduleBook

    def schedules(self) -> list[ScheduleInfo]:
        now = self.clock()
        self.store.ensure(self.names, now)
        rows = self.store.rows()
        return [self._info(name, rows[name], now) for name in self.names if name in rows]

    def set_paused(self, name: str, paused: bool) -> ScheduleInfo:
        if name not in self.names:
            raise OperationError(f"no schedule named {name!r}")
        now = self.clock()
        self.store.set_paused(name, paused, now)
        return self._info(name, self.store.rows()[name], now)

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
