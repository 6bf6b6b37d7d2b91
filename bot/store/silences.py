"""Silences of alerts in PostgreSQL (`chatops.alert_silences`): one row per silence, active until it
expires or is ended; every replica reads the same rows, so a silence holds across replicas and restarts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal
from uuid import UUID

from bot.store.database import Database

MatcherKind = Literal["component", "alert"]


@dataclass(frozen=True)
class Silence:
    """One silence: what it matches, who set it, why, until when; `ended_at` when ended early."""

    id: UUID
    matcher_kind: str
    matcher: str
    shown_as: str
    reason: str
    created_by: str
    created_at: datetime
    expires_at: datetime
    ended_at: datetime | None
    ended_by: str | None
    alertmanager_silence_id: str | None

    @property
    def short_id(self) -> str:
        return str(self.id)[:8]

    def matches(self, fingerprint: str, component: str) -> bool:
        value = fingerprint if self.matcher_kind == "alert" else component
        return self.matcher == value

    def active(self, now: datetime) -> bool:
        return self.ended_at is None and self.expires_at > now


class SilenceStore:
    """Creates, lists and ends silences. Raises `StoreUnavailable` when PostgreSQL is down."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def create(
        self,
        *,
        kind: MatcherKind,
        matcher: str,
        shown_as: str,
        reason: str,
        created_by: str,
        duration: timedelta,
    ) -> Silence:
        with self.db.connection() as conn:
            row = conn.execute(
                "INSERT INTO chatops.alert_silences (matcher_kind, matcher, shown_as, reason, created_by,"
                " expires_at) VALUES (%s, %s, %s, %s, %s, now() + %s) RETURNING *",
                (kind, matcher, shown_as, reason, created_by, duration),
            ).fetchone()
        assert row is not None
        return _silence(row)

    def active(self) -> list[Silence]:
        """The silences in force now, newest first."""
        with self.db.connection() as conn:
            rows = conn.execute(
                "SELECT * FROM chatops.alert_silences WHERE ended_at IS NULL AND expires_at > now()"
                " ORDER BY created_at DESC"
            ).fetchall()
        return [_silence(r) for r in rows]

    def find(self, short_id: str) -> Silence | None:
        """An active silence by the first characters of its id (as `alerts` shows them)."""
        cleaned = short_id.strip().lower()
        if not cleaned or not all(c in "0123456789abcdef-" for c in cleaned):
            return None
        matches = [s for s in self.active() if str(s.id).startswith(cleaned)]
        return matches[0] if len(matches) == 1 else None

    def end(self, silence_id: UUID, ended_by: str) -> Silence | None:
        """End an active silence now; None when it already ended or expired."""
        with self.db.connection() as conn:
            row = conn.execute(
                "UPDATE chatops.alert_silences SET ended_at = now(), ended_by = %s"
                " WHERE id = %s AND ended_at IS NULL AND expires_at > now() RETURNING *",
                (ended_by, silence_id),
            ).fetchone()
        return None if row is None else _silence(row)

    def set_alertmanager_id(self, silence_id: UUID, alertmanager_id: str) -> None:
        with self.db.connection() as conn:
            conn.execute(
                "UPDATE chatops.alert_silences SET alertmanager_silence_id = %s WHERE id = %s",
                (alertmanager_id, silence_id),
            )


def _silence(row: dict[str, Any]) -> Silence:
    return Silence(**row)
