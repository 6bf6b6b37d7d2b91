"""LiteLLM's `duration` strings → the `expires` they give (litellm-facts.md §8.2).

Grammar `(\\d+)(mo|[smhdw]?)` (a bare number is seconds; `mo` counts calendar months from now) and the
aliases `hourly`/`daily`/`weekly`/`monthly` = `1h`/`24h`/`7d`/`30d`. `None` or `"-1"` means "never
expires". Anything else is a `ValueError` the router turns into LiteLLM's 400.
"""

from __future__ import annotations

import calendar
import re
from datetime import datetime, timedelta

_GRAMMAR = re.compile(r"(\d+)(mo|[smhdw]?)")
_ALIASES = {"hourly": "1h", "daily": "24h", "weekly": "7d", "monthly": "30d"}
_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def _add_months(start: datetime, months: int) -> datetime:
    total = start.month - 1 + months
    year, month = start.year + total // 12, total % 12 + 1
    day = min(start.day, calendar.monthrange(year, month)[1])
    return start.replace(year=year, month=month, day=day)


def expires_from(duration: object, now: datetime) -> datetime | None:
    """`now + duration`, or None for no duration; ValueError for a string outside the grammar."""
    if duration is None or duration == "-1":
        return None
    if not isinstance(duration, str):
        raise ValueError(f"duration must be a string like '30d', got {type(duration).__name__}")
    text = _ALIASES.get(duration.strip().lower(), duration.strip())
    match = _GRAMMAR.fullmatch(text)
    if match is None:
        raise ValueError(f"Invalid duration format: {duration!r}; use e.g. '30s', '30m', '30h', '30d', '1mo'")
    count, unit = int(match.group(1)), match.group(2)
    if unit == "mo":
        return _add_months(now, count)
    return now + timedelta(seconds=count * _SECONDS[unit])
