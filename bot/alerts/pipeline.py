"""The one alert pipeline: one Slack message per firing alert, edited while it changes, resolved in place.

State lives in Redis (shared by replicas, so a new leader edits the messages of the old one): per
fingerprint the channel, message ts, content digest and times. A short per-fingerprint lock makes
concurrent deliveries (two replicas receiving Alertmanager's retries) post once. When Slack refuses a
post, no message is recorded, so the next pass posts it: nothing is lost.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import redis
from redis.lock import Lock

from bot import alert_card, rendering
from bot.alerts.dressing import dressed
from bot.alerts.model import Alert, alert_id
from bot.automation import Alerts
from bot.messenger import Messenger
from bot.metrics import BotMetrics
from bot.store import StoreUnavailable
from bot.store.silences import Silence, SilenceStore

log = logging.getLogger(__name__)

ALERT_ACTION = "alert.action"
_ACTION_TTL = 14 * 24 * 3600  # a button outlives any alert worth clicking on
_RESOLVED_TTL = 24 * 3600  # a resolved alert's record, so late duplicates stay no-ops


class AlertNotDelivered(Exception):
    """Slack refused an alert's message; it is posted on the next delivery (Alertmanager retries on 503)."""


@dataclass
class AlertState:
    """What the pipeline remembers of one alert (JSON in Redis)."""

    fingerprint: str
    source: str
    title: str
    component: str
    severity: str
    channel: str
    ts: str | None
    digest: str
    first_seen: float
    last_notified: float
    resolved_at: float | None = None
    acked_by: str | None = None  # who said they are on it
    alert: dict[str, Any] | None = None  # the alert as last reported (to show acks and silences on it)

    @property
    def alert_id(self) -> str:
        return alert_id(self.fingerprint)

    def to_json(self) -> str:
        return json.dumps(self.__dict__)

    @classmethod
    def from_json(cls, raw: bytes | str) -> AlertState:
        return cls(**json.loads(raw))


class AlertPipeline:
    """Posts, edits, re-notifies and resolves alerts; `report` reconciles a watcher's full picture."""

    def __init__(
        self,
        *,
        client: redis.Redis,
        prefix: str,
        messenger: Messenger,
        config: Alerts,
        clock: Callable[[], float] | None = None,
        metrics: BotMetrics | None = None,
        silences: SilenceStore | None = None,
    ) -> None:
        self.silences = silences
        self.redis = client
        self.prefix = prefix
        self.messenger = messenger
        self.config = config
        self.clock = clock or (lambda: datetime.now(UTC).timestamp())
        self.metrics = metrics or BotMetrics()

    # ------------------------------------------------------------------ public

    def fire(self, alert: Alert) -> None:
        """Post the alert, or edit its message if it changed, or remind in its thread when due; a
        silenced alert is not posted (and not reminded), an acknowledged one not reminded."""
        channel = alert.route or self.config.channel_for(alert.severity, alert.component)
        if channel is None:
            log.info("alert %s has no route to a channel; not posted", alert.fingerprint)
            return
        silence = self._silence_for(alert.fingerprint, alert.component)
        with self._locked(alert.fingerprint):
            state = self._load(alert.fingerprint)
            now = self.clock()
            if state is None or state.resolved_at is not None or state.ts is None:
                fresh = state is None or state.resolved_at is not None
                first_seen = now if fresh or state is None else state.first_seen
                shown = dressed(alert, None, silence)
                ts = None
                if silence is None:  # a silenced alert is listed by `alerts`, not posted
                    ts = self.messenger.post(channel, self._render(shown, first_seen))
                    self._sent(alert.severity, "posted", ts is not None)
                state = AlertState(
                    fingerprint=alert.fingerprint,
                    source=alert.source,
                    title=alert.title,
                    component=alert.component,
                    severity=alert.severity,
                    channel=channel,
                    ts=ts,
                    digest=shown.digest(),
                    first_seen=first_seen,
                    last_notified=now,
                )
            else:
                shown = dressed(alert, state.acked_by, silence)
                self._follow_up(state, alert, shown, quiet=silence is not None or state.acked_by is not None)
            state.alert = alert.to_dict()
            self._save(state)
            self._remember_actions(shown)
        if state.ts is None and silence is None:
            raise AlertNotDelivered(f"Slack refused the message of alert {alert.fingerprint}")

    def _follow_up(self, state: AlertState, alert: Alert, shown: Alert, *, quiet: bool) -> None:
        """An alert already posted: edit it when what it shows changed, else remind when due (unless
        `quiet`: someone is on it, or it is silenced)."""
        assert state.ts is not None
        now = self.clock()
        if state.digest != shown.digest():
            updated = self.messenger.update(state.channel, state.ts, self._render(shown, state.first_seen))
            self._sent(alert.severity, "updated", updated)
            state.digest = shown.digest()
            state.title, state.component, state.severity = alert.title, alert.component, alert.severity
        elif quiet:
            state.last_notified = now
        elif now - state.last_notified >= self.config.renotify_minutes * 60:
            minutes = int((now - state.first_seen) // 60)
            reminder = rendering.render_text(f"Still firing after {minutes} min: {alert.title}")
            reminded = self.messenger.post(state.channel, reminder, thread_ts=state.ts, broadcast=True)
            self._sent(alert.severity, "reminded", reminded is not None)
            state.last_notified = now

    def refresh(self, fingerprint: str, *, acked_by: str | None = None) -> AlertState | None:
        """Show a firing alert's current acknowledgement and silence on its message (`acked_by`: it is
        acknowledged now); a silenced alert never posted is posted once its silence is gone."""
        with self._locked(fingerprint):
            state = self._load(fingerprint)
            if state is None or state.resolved_at is not None or state.alert is None:
                return None
            if acked_by is not None:
                state.acked_by = acked_by
            alert = Alert.from_dict(state.alert)
            shown = dressed(alert, state.acked_by, self._silence_for(fingerprint, state.component))
            if state.digest != shown.digest() and state.ts is not None:
                self.messenger.update(state.channel, state.ts, self._render(shown, state.first_seen))
            state.digest = shown.digest()
            self._save(state)
            self._remember_actions(shown)
            return state

    def states(self) -> list[AlertState]:
        """Every alert firing now, posted or hidden by a silence, oldest first."""
        found = [self._load(fp) for fp in self.firing()]
        return sorted((s for s in found if s is not None), key=lambda s: s.first_seen)

    def silence_for(self, fingerprint: str, component: str) -> Silence | None:
        """The silence in force on this alert, or None (also when PostgreSQL cannot say)."""
        return self._silence_for(fingerprint, component)

    def resolve(self, fingerprint: str) -> None:
        """Mark the alert's message resolved and say so in its thread; a no-op if it is not firing."""
        with self._locked(fingerprint):
            state = self._load(fingerprint)
            if state is None or state.resolved_at is not None:
                return
            now = self.clock()
            state.resolved_at = now
            if state.ts is not None:
                self._sent(state.severity, "resolved", self._mark_resolved(state))
                lasted = rendering.duration_text(now - state.first_seen)
                self.messenger.post(
                    state.channel,
                    rendering.render_text(f"✅ Resolved after {lasted}."),
                    thread_ts=state.ts,
                )
            self.redis.set(self._key(fingerprint), state.to_json(), ex=_RESOLVED_TTL)
            self.redis.hdel(self._firing_key, fingerprint)

    def report(self, source: str, alerts: Sequence[Alert], keep: Collection[str] = ()) -> None:
        """A source's complete current picture: fire each alert, resolve its alerts no longer present
        (except those in `keep`: gone, but not yet clear for long enough)."""
        current = {alert.fingerprint for alert in alerts}
        undelivered: list[str] = []
        for alert in alerts:
            try:
                self.fire(alert)
            except AlertNotDelivered:
                undelivered.append(alert.fingerprint)
        for fp, who in self.firing().items():
            if who == source and fp not in current and fp not in keep:
                self.resolve(fp)
        if undelivered:
            raise AlertNotDelivered(f"Slack refused {len(undelivered)} alert message(s); retried next pass")

    def firing(self) -> dict[str, str]:
        """Fingerprint → source of every alert firing now."""
        return {_text(k): _text(v) for k, v in self.redis.hgetall(self._firing_key).items()}

    def action(self, action_id: str) -> str | None:
        """The command behind an alert button (buttons carry only this id), or None when unknown/expired."""
        if not action_id or len(action_id) > 64:
            return None
        raw = self.redis.get(f"{self.prefix}alert-action:{action_id}")
        if raw is None:
            return None
        return str(json.loads(raw)["command"])

    # ------------------------------------------------------------------ internals

    @property
    def _firing_key(self) -> str:
        return f"{self.prefix}alerts:firing"

    def _key(self, fingerprint: str) -> str:
        return f"{self.prefix}alert:{fingerprint}"

    def _locked(self, fingerprint: str) -> Lock:
        lock: Lock = self.redis.lock(
            f"{self.prefix}alert-lock:{fingerprint}", timeout=30, blocking_timeout=10
        )
        return lock

    def _silence_for(self, fingerprint: str, component: str) -> Silence | None:
        if self.silences is None:
            return None
        try:
            active = self.silences.active()
        except StoreUnavailable as exc:  # cannot tell: alert rather than hide
            log.warning("silences unreadable, alerting anyway: %s", exc)
            return None
        return next((s for s in active if s.matches(fingerprint, component)), None)

    def _load(self, fingerprint: str) -> AlertState | None:
        raw = self.redis.get(self._key(fingerprint))
        return None if raw is None else AlertState.from_json(raw)

    def _save(self, state: AlertState) -> None:
        pipe = self.redis.pipeline()
        pipe.set(self._key(state.fingerprint), state.to_json())
        pipe.hset(self._firing_key, state.fingerprint, state.source)
        pipe.execute()

    def _render(self, alert: Alert, first_seen: float) -> rendering.Message:
        return alert_card.render_alert(
            severity=alert.severity,
            component=alert.component,
            title=alert.title,
            details=alert.details,
            source=alert.source,
            since=datetime.fromtimestamp(first_seen, UTC),
            notes=alert.notes,
            buttons=[
                rendering.Button(
                    a.label,
                    ALERT_ACTION,
                    _action_id(alert.fingerprint, a.command),
                    "danger" if a.danger else None,
                )
                for a in alert.actions
            ],
        )

    def _sent(self, severity: str, kind: str, accepted: bool) -> None:
        if accepted:
            self.metrics.alert(severity, kind)

    def _mark_resolved(self, state: AlertState) -> bool:
        """Edit the alert's message to its resolved form: headline kept, details and buttons gone."""
        assert state.ts is not None and state.resolved_at is not None
        return self.messenger.update(
            state.channel,
            state.ts,
            alert_card.render_alert(
                severity=state.severity,
                component=state.component,
                title=state.title,
                details=(),
                source=state.source,
                since=datetime.fromtimestamp(state.first_seen, UTC),
                resolved_at=datetime.fromtimestamp(state.resolved_at, UTC),
            ),
        )

    def _remember_actions(self, alert: Alert) -> None:
        if not alert.actions:
            return
        pipe = self.redis.pipeline()
        for action in alert.actions:
            action_id = _action_id(alert.fingerprint, action.command)
            body = json.dumps({"command": action.command, "fingerprint": alert.fingerprint})
            pipe.set(f"{self.prefix}alert-action:{action_id}", body, ex=_ACTION_TTL)
        pipe.execute()


def _text(raw: bytes | str) -> str:
    return raw.decode() if isinstance(raw, bytes) else str(raw)


def _action_id(fingerprint: str, command: str) -> str:
    return hashlib.sha256(f"{fingerprint}\n{command}".encode()).hexdigest()[:24]
