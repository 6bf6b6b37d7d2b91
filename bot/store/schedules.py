"""Schedule state in `chatops.schedules`: paused or not, the last claimed due time, the last run.

`claim` is one conditional UPDATE: a due time is run at most once, and never while the previous run
of the same schedule is still going (unless that run is older than `stale_after`: a crashed replica
must not block a schedule forever).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from bot.store.database import Database


@dataclass(frozen=True)
class ScheduleRow:
    """One row of `chatops.schedules`."""

    name: str
    created_at: datetime
    paused: bool
    last_due_at: datetime | None
    running_since: datetime | None
    last_started_at: datetime | None
    last_finished_at: datetime | None
    last_outcome: str | None
    last_summary: str | None
    last_operation_id: UUID | None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> ScheduleRow:
        return cls(**row)


class ScheduleStore:
    """Reads and changes schedule rows; rows are created on first sight of a configured schedule."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def ensure(self, names: list[str], now: datetime) -> None:
        """Create missing rows; a new schedule's first due time is its first one after `now`."""
        with self.db.connection() as conn:
            for name in names:
                conn.execute(
                    "INSERT INTO chatops.schedules (name, created_at) VALUES (%s, %s) ON CONFLICT DO NOTHING",
                    (name, now),
                )

    def rows(self) -> dict[str, ScheduleRow]:
        with self.db.connection() as conn:
            rows = conn.execute("SELECT * FROM chatops.schedules ORDER BY name").fetchall()
        return {row["name"]: ScheduleRow.from_row(row) for row in rows}

    def claim(self, name: str, due: datetime, now: datetime, stale_after: timedelta) -> bool:
        """Take the run of `due` for this replica; False when already run, running, or paused."""
        with self.db.connection() as conn:
            row = conn.execute(
                """
                UPDATE chatops.schedules
                   SET last_due_at = %(due)s, running_since = %(now)s, last_started_at = %(now)s
                 WHERE name = %(name)s AND NOT paused
                   AND (last_due_at IS NULL OR last_due_at < %(due)s)
                   AND (running_since IS NULL OR running_since < %(stale)s)
                RETURNING name
                """,
                {"name": name, "due": due, "now": now, "stale": now - stale_after},
            ).fetchone()
        return row is not None

    def finish(
        self, name: str, *, outcome: str, summary: str, operation_id: UUID | str | None, now: datetime
    ) -> None:
        with self.db.connection() as conn:
            conn.execute(
                """
                UPDATE chatops.schedules
                   SET running_since = NULL, last_finished_at = %s, last_outcome = %s,
                       last_summary = %s, last_operation_id = %s
                 WHERE name = %s
                """,
                (now, outcome, summary[:500], operation_id, name),
            )

    def set_paused(self, name: str, paused: bool, now: datetime) -> None:
        """Pause, or resume from the next due time after `now` (runs missed while paused are skipped)."""
        with self.db.connection() as conn:
            conn.execute(
                """
                UPDATE chatops.schedules
                   SET paused = %s, last_due_at = CASE WHEN %s THEN last_due_at ELSE %s END
                 WHERE name = %s
                """,
                (paused, paused, now, name),
            )
