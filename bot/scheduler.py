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
from datetime import datetime, timedelta

from bot.alerts.model import Alert
from bot.alerts.pipeline import AlertPipeline
from bot.schedule_book import Schedules
from commands.contract import FollowUp, Result

log = logging.getLogger(__name__)

ScheduledRun = Callable[[str, str, str], tuple[Result, str | None]]
"""Runs `command` as `actor` posting to `channel`; returns the result and the operation id."""


class Scheduler:
    """Runs the schedules of a `Schedules` book: `tick()` runs what is due (the leader's loop calls it)."""

    def __init__(
        self,
        book: Schedules,
        run: ScheduledRun,
        pipeline: AlertPipeline | None,
        *,
        stale_after: timedelta = timedelta(hours=6),
        alert_channel: str | None = None,
    ) -> None:
        self.book = book
        self.alert_channel = alert_channel  # the environment's alert channel (several environments)
        self.config = book.config
        self.store = book.store
        self.run = run
        self.pipeline = pipeline
        self.stale_after = stale_after
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._ensured = False

    @property
    def clock(self) -> Callable[[], datetime]:
        return self.book.clock

    @clock.setter
    def clock(self, clock: Callable[[], datetime]) -> None:
        self.book.clock = clock

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def names(self) -> list[str]:
        return self.book.names

    def tick(self) -> list[str]:
        """Run every schedule that is due now, one after another; returns the names run."""
        now = self.clock()
        key = self.book.key
        if not self._ensured:
            self.store.ensure([key(n) for n in self.names], now)
            self._ensured = True
        rows = self.store.rows()
        ran: list[str] = []
        for name in self.names:
            row = rows.get(key(name))
            if row is None:
                continue
            due = self.book.due(name, row, now)
            if due is None or not self.store.claim(key(name), due, now, self.stale_after):
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
            self.book.key(name),
            outcome=outcome,
            summary=result.summary,
            operation_id=operation_id,
            now=self.clock(),
        )
        if self.pipeline is None:
            return
        fingerprint = f"schedule:{self.book.key(name)}"
        where = f"[{self.book.environment}] " if self.book.environment else ""
        if result.ok:
            self.pipeline.resolve(fingerprint)
            return
        actions = (FollowUp("Output", f"audit show {operation_id}"),) if operation_id else ()
        self.pipeline.fire(
            Alert(
                fingerprint=fingerprint,
                severity="warning",
                component="schedule",
                title=f"{where}Scheduled job {name} failed: {result.summary}",
                details=(f"command: {schedule.command}", f"cron: {schedule.cron}"),
                actions=actions,
                source="schedule",
                environment=self.book.environment,
                route=self.alert_channel,
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


class SchedulerGroup:
    """Several environments' schedulers behind one face (the leader runs them all); `tick()` returns
    the names run as `<name>@<environment>`."""

    def __init__(self, schedulers: list[Scheduler]) -> None:
        self.schedulers = schedulers

    @property
    def clock(self) -> Callable[[], datetime]:
        return self.schedulers[0].clock

    @clock.setter
    def clock(self, clock: Callable[[], datetime]) -> None:
        for scheduler in self.schedulers:
            scheduler.clock = clock

    @property
    def running(self) -> bool:
        return any(s.running for s in self.schedulers)

    @property
    def names(self) -> list[str]:
        return [s.book.key(n) for s in self.schedulers for n in s.names]

    def tick(self) -> list[str]:
        return [s.book.key(n) for s in self.schedulers for n in s.tick()]

    def start(self, interval: float = 20.0) -> None:
        for scheduler in self.schedulers:
            scheduler.start(interval)

    def stop(self, timeout: float = 5.0) -> None:
        for scheduler in self.schedulers:
            scheduler.stop(timeout)
