"""The `alerts` verbs' view of the bot (`commands.bot_state.AlertBook`): firing alerts from the pipeline's
Redis state, silences in PostgreSQL (made in Alertmanager too for its alerts when ALERTMANAGER_URL is
set), every change audited and shown on the alert messages it touches."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Collection
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any, TypeVar

from bot.alerts.am_silences import AlertmanagerSilences, AlertmanagerUnavailable
from bot.alerts.pipeline import AlertPipeline, AlertState
from bot.store import AuditLog, StoreUnavailable
from bot.store.silences import MatcherKind, Silence, SilenceStore
from commands.bot_state import AlertLine, BotStateUnavailable, SilenceLine

log = logging.getLogger(__name__)

T = TypeVar("T")
_ALERT_ID = re.compile(r"^[0-9a-f]{8}$")


class AlertDesk:
    """Lists, acknowledges and silences alerts for the `alerts` verbs."""

    def __init__(
        self,
        *,
        pipeline: AlertPipeline,
        silences: SilenceStore,
        audit: AuditLog,
        components: Collection[str],
        alertmanager: AlertmanagerSilences | None = None,
    ) -> None:
        self.pipeline = pipeline
        self.store = silences
        self.audit = audit
        self.components = components
        self.alertmanager = alertmanager

    def alerts(self) -> list[AlertLine]:
        states = self._states()
        active = self._active()
        return [self._line(state, active) for state in states]

    def silences(self) -> list[SilenceLine]:
        return [_silence_line(s) for s in self._active()]

    def acknowledge(self, alert_id: str, by: str) -> AlertLine:
        state = self._firing(alert_id)
        refreshed = self._guard(lambda: self.pipeline.refresh(state.fingerprint, acked_by=by))
        if refreshed is None:
            raise LookupError(f"alert `{alert_id}` is no longer firing")
        self._audit(by, "alerts ack", {"alert": alert_id}, f"acknowledged: {state.title}")
        return self._line(refreshed, self._active())

    def silence(self, what: str, seconds: int, reason: str, by: str) -> SilenceLine:
        kind, matcher, labels = self._matcher(what)
        try:
            silence = self.store.create(
                kind=kind,
                matcher=matcher,
                shown_as=what,
                reason=reason,
                created_by=by,
                duration=timedelta(seconds=seconds),
            )
        except StoreUnavailable as exc:
            raise BotStateUnavailable(str(exc)) from None
        if labels and self.alertmanager is not None:
            try:
                am_id = self.alertmanager.create(labels, silence.expires_at, by, reason)
                self.store.set_alertmanager_id(silence.id, am_id)
                silence = replace(silence, alertmanager_silence_id=am_id)
            except (AlertmanagerUnavailable, StoreUnavailable) as exc:
                log.warning("silence %s kept in the bot only: %s", silence.short_id, exc)
        self._audit(by, "alerts silence", {"target": what, "seconds": seconds, "reason": reason}, "silenced")
        self._refresh_matching(silence)
        return _silence_line(silence)

    def unsilence(self, silence_id: str, by: str) -> SilenceLine:
        try:
            found = self.store.find(silence_id)
            ended = self.store.end(found.id, by) if found is not None else None
        except StoreUnavailable as exc:
            raise BotStateUnavailable(str(exc)) from None
        if ended is None:
            raise LookupError(f"no silence `{silence_id}` in force (see `alerts`)")
        if ended.alertmanager_silence_id and self.alertmanager is not None:
            try:
                self.alertmanager.expire(ended.alertmanager_silence_id)
            except AlertmanagerUnavailable as exc:
                log.warning("silence %s still in Alertmanager: %s", ended.short_id, exc)
        self._audit(by, "alerts unsilence", {"silence": silence_id}, f"ended silence on {ended.shown_as}")
        self._refresh_matching(ended)
        return _silence_line(ended)

    # ------------------------------------------------------------------ internals

    def _matcher(self, what: str) -> tuple[MatcherKind, str, tuple[tuple[str, str], ...]]:
        """A silence's matcher for a typed target: a firing alert's id, else a component."""
        if _ALERT_ID.match(what):
            for state in self._states():
                if state.alert_id == what:
                    pairs = (state.alert or {}).get("labels") or ()
                    return "alert", state.fingerprint, tuple((str(k), str(v)) for k, v in pairs)
        known = set(self.components) | {s.component for s in self._states()}
        if what in known:
            return "component", what, ()
        raise LookupError(f"no firing alert or component `{what}`; components: {', '.join(sorted(known))}")

    def _firing(self, alert_id: str) -> AlertState:
        for state in self._states():
            if state.alert_id == alert_id:
                return state
        raise LookupError(f"no alert `{alert_id}` is firing (see `alerts`)")

    def _refresh_matching(self, silence: Silence) -> None:
        hidden = [s.fingerprint for s in self._states() if silence.matches(s.fingerprint, s.component)]
        for fingerprint in hidden:
            self._guard(partial(self.pipeline.refresh, fingerprint))

    def _line(self, state: AlertState, active: list[Silence]) -> AlertLine:
        silence = next((s for s in active if s.matches(state.fingerprint, state.component)), None)
        return AlertLine(
            alert_id=state.alert_id,
            severity=state.severity,
            component=state.component,
            title=state.title,
            since=datetime.fromtimestamp(state.first_seen, UTC),
            acknowledged_by=state.acked_by,
            silenced_by=silence.short_id if silence is not None else None,
            environment=(state.alert or {}).get("environment"),
        )

    def _states(self) -> list[AlertState]:
        return self._guard(self.pipeline.states)

    def _active(self) -> list[Silence]:
        try:
            return self.store.active()
        except StoreUnavailable as exc:
            raise BotStateUnavailable(str(exc)) from None

    def _guard(self, read: Callable[[], T]) -> T:
        """Redis trouble as `BotStateUnavailable`."""
        try:
            return read()
        except Exception as exc:  # redis-py raises many kinds; all mean the alert state is unreadable
            if isinstance(exc, LookupError | BotStateUnavailable):
                raise
            kind = type(exc).__name__
            raise BotStateUnavailable(f"the alert state (Redis) is unreadable ({kind})") from None

    def _audit(self, by: str, command: str, args: dict[str, Any], detail: str) -> None:
        try:
            self.audit.record(actor=by, command=command, args=args, outcome="succeeded", detail=detail)
        except StoreUnavailable as exc:
            raise BotStateUnavailable(str(exc)) from None


def _silence_line(silence: Silence) -> SilenceLine:
    return SilenceLine(
        silence_id=silence.short_id,
        shown_as=silence.shown_as,
        created_by=silence.created_by,
        reason=silence.reason,
        expires_at=silence.expires_at,
        alertmanager=silence.alertmanager_silence_id is not None,
    )
