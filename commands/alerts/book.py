"""What the alert verbs share: the environment's `AlertBook`, durations as typed, and lines as shown."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

from commands.bot_state import AlertBook, AlertLine, BotStateUnavailable, SilenceLine
from commands.contract import Args, Event, OperationError, Result, Section, mention
from commands.environment import Environment

DURATION = r"^[1-9][0-9]{0,3}[mhd]$"
MAX_SILENCE_SECONDS = 7 * 24 * 3600  # a silence longer than a week is a config change, not a silence
_UNIT_SECONDS = {"m": 60, "h": 3600, "d": 86400}


class NoArgs(Args):
    pass


def alert_book(env: Environment) -> AlertBook:
    if env.alerts is None:
        raise OperationError("alerts are not configured for this bot (see AUTOMATION_CONFIG)")
    book: AlertBook = env.alerts
    return book


def seconds_of(duration: str) -> int:
    """`90m`, `4h`, `1d` in seconds; at most a week (OperationError beyond)."""
    match = re.fullmatch(DURATION, duration)
    if match is None:
        raise OperationError("a duration is a number and m, h or d: 30m, 4h, 1d")
    seconds = int(duration[:-1]) * _UNIT_SECONDS[duration[-1]]
    if seconds > MAX_SILENCE_SECONDS:
        raise OperationError("a silence lasts at most 7d")
    return seconds


def alert_text(line: AlertLine) -> str:
    state = "🔴 firing"
    if line.silenced_by is not None:
        state = f"🔕 silenced ({line.silenced_by})"
    elif line.acknowledged_by is not None:
        state = f"🙋 {mention(line.acknowledged_by)} is on it"
    return f"`{line.alert_id}` {line.severity} · {line.component}: {line.title} — {state}"


def silence_text(line: SilenceLine) -> str:
    where = " (and in Alertmanager)" if line.alertmanager else ""
    reason = f": {line.reason}" if line.reason else ""
    return (
        f"`{line.silence_id}` {line.shown_as} until {line.expires_at:%Y-%m-%d %H:%M} UTC"
        f" by {mention(line.created_by)}{reason}{where}"
    )


def changed(change: Callable[[AlertBook, str], str], env: Environment) -> Iterator[Event]:
    """One result: what `change` did as the caller, or why it could not."""
    try:
        if env.bot is None:
            raise OperationError("the bot's own state is not available here")
        by = env.bot.caller().user_id
        summary = change(alert_book(env), by)
    except BotStateUnavailable as exc:
        yield Result(ok=False, summary=f"Cannot change the bot's alerts: {exc}")
        return
    except LookupError as exc:
        yield Result(ok=False, summary=str(exc.args[0]) if exc.args else "not found")
        return
    yield Result(ok=True, summary=summary)


def listed(env: Environment) -> Iterator[Event]:
    """Firing, acknowledged and silenced alerts, then the silences in force."""
    try:
        book = alert_book(env)
        alerts, silences = book.alerts(), book.silences()
    except BotStateUnavailable as exc:
        yield Result(ok=False, summary=f"Cannot read the bot's alerts: {exc}")
        return
    sections = []
    environments = sorted({a.environment or "" for a in alerts})
    for environment in environments:  # grouped by environment, each under its name
        heading = (f"*{environment}*",) if environment else ()
        lines = tuple(alert_text(a) for a in alerts if (a.environment or "") == environment)
        sections.append(Section(f"Alerts {environment}".strip(), lines=heading + lines))
    if silences:
        sections.append(Section("Silences", lines=tuple(silence_text(s) for s in silences)))
    summary = "" if alerts else "No alert is firing."
    yield Result(ok=True, summary=summary, sections=tuple(sections))
