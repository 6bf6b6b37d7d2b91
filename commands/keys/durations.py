"""Durations as operators type them ("30d", "12h") and as LiteLLM keys carry them (`metadata.duration`).

`--older-than` accepts `<N>d` or `<N>h` between 1 hour and 3650 days. A key's `metadata.duration` counts
only as `<N>d` or `<N>h` (the seed's rule; litemaas-facts §4.3): anything else gives the key no start,
so only the "expired" rule applies to it. The SQL form mirrors `metadata_duration` exactly.
"""

from __future__ import annotations

import re
from datetime import timedelta

MIN_AGE = timedelta(hours=1)
MAX_AGE = timedelta(days=3650)

_AGE = re.compile(r"\s*(\d{1,7})\s*([dh])\s*", re.IGNORECASE)
# metadata.duration: lowercase unit, at most 7 digits (larger values would overflow an interval).
_METADATA = re.compile(r"(\d{1,7})([dh])")

METADATA_DURATION_SQL = r"""CASE
    WHEN jsonb_typeof(metadata) = 'object' AND metadata->>'duration' ~ '^[0-9]{1,7}d$'
        THEN make_interval(days => left(metadata->>'duration', -1)::int)
    WHEN jsonb_typeof(metadata) = 'object' AND metadata->>'duration' ~ '^[0-9]{1,7}h$'
        THEN make_interval(hours => left(metadata->>'duration', -1)::int)
END"""
"""SQL (on a `"LiteLLM_VerificationToken"` row) for the key's `metadata.duration` as an interval, or NULL."""


def parse_age(text: str) -> timedelta:
    """ "30d" / "12h" → timedelta; ValueError with a readable message otherwise or out of bounds."""
    match = _AGE.fullmatch(text)
    if match is None:
        raise ValueError("expected a number of days or hours, like 30d or 12h")
    number, unit = int(match.group(1)), match.group(2).lower()
    age = timedelta(days=number) if unit == "d" else timedelta(hours=number)
    if not MIN_AGE <= age <= MAX_AGE:
        raise ValueError("must be between 1h and 3650d")
    return age


def metadata_duration(value: object) -> timedelta | None:
    """A key's `metadata.duration` ("7d", "12h") as a timedelta; None for anything else."""
    if not isinstance(value, str):
        return None
    match = _METADATA.fullmatch(value)
    if match is None:
        return None
    number = int(match.group(1))
    return timedelta(days=number) if match.group(2) == "d" else timedelta(hours=number)


def format_age(age: timedelta) -> str:
    """timedelta → "30d" or "12h" (whole days when possible)."""
    hours = int(age.total_seconds() // 3600)
    return f"{hours // 24}d" if hours % 24 == 0 else f"{hours}h"
