"""Flap damping against a model (real Redis): whatever a finding does pass by pass (present, absent, held by
an operation) and however time moves, an alert starts only after the finding has been present and
unheld for its pending duration, and a firing alert ends only after it has been absent for its clear
duration."""

from __future__ import annotations

import uuid

import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.alerts.damping import Candidate, Damper
from bot.alerts.holding import Holder
from bot.alerts.model import Alert
from tests.conftest import REDIS_URL

PENDING, CLEAR = 10.0, 6.0
FP = "watch:pods:pods/litellm"
HOLDER = Holder("0f0f0f0f-0000-0000-0000-000000000000", "/maas restart litellm", "U0BOB", "C0OPS", None)
SEGMENTS = st.lists(  # runs of one state: a finding that holds, flaps, or sits under an operation
    st.tuples(
        st.sampled_from(["present", "absent", "held"]),
        st.integers(min_value=1, max_value=8),
        st.floats(min_value=0.5, max_value=3.0),
    ),
    min_size=1,
    max_size=8,
)
PASSES = SEGMENTS.map(lambda segments: [(what, step) for what, count, step in segments for _ in range(count)])


class Clock:
    now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(passes=PASSES)
def test_alerts_start_only_after_pending_and_end_only_after_clear(
    passes: list[tuple[str, float]],
) -> None:
    client = redis.Redis.from_url(REDIS_URL)
    prefix = f"chatops-test-{uuid.uuid4().hex[:12]}:"
    clock = Clock()
    damper = Damper(client, prefix, clock)
    alert = Alert(fingerprint=FP, severity="warning", component="litellm", title="t", source="watch:pods")
    firing = False
    present_since: float | None = None  # present and unheld since
    absent_since: float | None = None
    try:
        for what, step in passes:
            clock.now += step
            now = clock.now
            if what == "present":
                present_since = present_since if present_since is not None else now
                absent_since = None
            elif what == "held":
                present_since, absent_since = None, None
            else:
                present_since = None
                absent_since = absent_since if absent_since is not None else now
            candidates = (
                [] if what == "absent" else [Candidate(alert, PENDING, HOLDER if what == "held" else None)]
            )
            sifted = damper.sift(
                "watch:pods", candidates, firing={FP} if firing else set(), clear_seconds=CLEAR
            )
            fires = any(a.fingerprint == FP for a in sifted.fire)
            if fires and not firing:
                assert present_since is not None and now - present_since >= PENDING, "alerted too soon"
            if firing and not fires and FP not in sifted.keep:
                assert absent_since is not None and now - absent_since >= CLEAR, "resolved too soon"
            if firing and what != "absent":
                assert fires, "a firing alert still present keeps firing"
            firing = fires or (firing and FP in sifted.keep)
    finally:
        keys = list(client.scan_iter(match=prefix + "*"))
        if keys:
            client.delete(*keys)
        client.close()
