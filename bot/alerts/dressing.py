"""An alert as its message shows it: who is on it, the silence hiding it, and the buttons that fit
(Acknowledge until someone is on it, Silence 1 h / 4 h / 24 h until it is silenced)."""

from __future__ import annotations

from dataclasses import replace

from bot.alerts.model import Alert
from bot.store.silences import Silence
from commands.contract import FollowUp, mention

SILENCE_CHOICES = ("1h", "4h", "24h")


def dressed(alert: Alert, acked_by: str | None, silence: Silence | None) -> Alert:
    """`alert` with the bot's notes and buttons for its acknowledgement and silence state."""
    notes = list(alert.notes)
    actions = list(alert.actions)
    if acked_by is not None:
        notes.append(f"🙋 {mention(acked_by)} is on it")
    else:
        actions.append(FollowUp("Acknowledge", f"alerts ack {alert.alert_id}"))
    if silence is not None:
        reason = f": {silence.reason}" if silence.reason else ""
        notes.append(
            f"🔕 silenced until {silence.expires_at:%Y-%m-%d %H:%M} UTC by {mention(silence.created_by)}"
            f"{reason} (silence {silence.short_id})"
        )
    else:
        actions.extend(
            FollowUp(f"Silence {choice}", f"alerts silence {alert.alert_id} {choice}")
            for choice in SILENCE_CHOICES
        )
    return replace(alert, notes=tuple(notes), actions=tuple(actions))
