"""`schedules resume <name>`: restart a paused schedule from its next due time."""

from __future__ import annotations

from commands.schedules.book import PauseResume


class SchedulesResumeOperation(PauseResume):
    """Resume a paused schedule from its next due time."""

    name = "schedules resume"
    pause = False
