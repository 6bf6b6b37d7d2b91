"""`schedules pause <name>`: stop a schedule (runs missed while paused are skipped)."""

from __future__ import annotations

from commands.schedules.book import PauseResume


class SchedulesPauseOperation(PauseResume):
    """Pause a schedule: it does not run until resumed (its missed runs are not made up)."""

    name = "schedules pause"
    pause = True
