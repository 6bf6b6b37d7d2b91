"""Property-based hostile input against the running bot: command texts full of controls, mentions,
mrkdwn, long and unicode strings, and bodies of every size and content type, signed or not.

Example counts come from a Hypothesis profile: `hostile-ci` (the default, bounded so the suite stays
fast) or `hostile-long` by hand: `HOSTILE_PROFILE=hostile-long pytest tests/e2e/test_hostile_properties.py`.
"""

from __future__ import annotations

import os
import shlex
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.alerts.alertmanager import PATH as ALERTMANAGER_PATH
from bot.http_guard import SERVER_BODY_LIMIT, SLACK_BODY_LIMIT
from sandbox.slack import sign
from tests.e2e.harness import SIGNING_SECRET, BotHarness, wait_until
from tests.e2e.hostile import ACK_BUDGET, HEALTHZ_BUDGET, MENTIONS, audit_rows

pytestmark = pytest.mark.slow

_COMMON = {
    "deadline": None,
    "suppress_health_check": [HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
}
settings.register_profile("hostile-ci", max_examples=20, **_COMMON)
settings.register_profile("hostile-long", max_examples=400, **_COMMON)
HOSTILE = settings.get_profile(os.environ.get("HOSTILE_PROFILE", "hostile-ci"))

CONTROLS = st.sampled_from(
    ["\x00", "\x07", "\x1b[31m", "\x7f", "\x85", "\u202e", "\u2066", "\u200b", "\ufeff"]
)
MRKDWN = st.sampled_from(
    ["*b*", "_i_", "`c`", "```", "~s~", "<https://evil.example|x>", "&amp;", "&lt;", ">q"]
)
NUMBERS = st.sampled_from(["1_0", "3.0", "+3", "-1", "0x3", "99999999999999999999", "\u0663"])
PIECES = st.one_of(
    CONTROLS,
    st.sampled_from(MENTIONS),
    MRKDWN,
    NUMBERS,
    st.text(max_size=30),
    st.text(alphabet=st.characters(codec="utf-8"), min_size=300, max_size=1200),
)
VERBS = st.sampled_from(
    [
        "scale litellm",
        "logs litellm --grep",
        "models verify",
        "help",
        "admin promote",
        "upgrade backend",
        "audit",
        "rollback litellm --to-revision",
        "models add model_name=x litellm_model=a/b api_base=https://x.example/v1 api_key=",
        "keys cleanup --older-than",
        "schedules pause",
        "status",
    ]
)
COMMANDS = st.builds(
    lambda verb, pieces, quoted: verb + " " + " ".join(shlex.quote(p) if quoted else p for p in pieces),
    VERBS,
    st.lists(PIECES, min_size=1, max_size=4),
    st.booleans(),
)
USERS = st.sampled_from(["alice", "bob", "carol", "eve"])


@pytest.mark.slow
@HOSTILE
@given(user=USERS, text=COMMANDS)
def test_any_hostile_command_is_answered_plainly_audited_and_changes_nothing(
    harness: BotHarness, user: str, text: str
) -> None:
    refused_before = len([r for r in audit_rows(harness.pg_url) if r[2] in ("refused", "blocked")])
    started = time.monotonic()
    response, key = harness.command(user, text)
    ack = time.monotonic() - started
    assert response.status_code == 200 and ack < ACK_BUDGET, f"ack {response.status_code} after {ack:.2f}s"
    harness.wait_reply(key, timeout=30)
    answer = harness.slack.responses(key)[-1]
    assert "Something went wrong" not in str(answer)
    if str(answer.get("text", "")).startswith(":warning:") and text.split()[0] != "help":
        wait_until(
            lambda: (
                len([r for r in audit_rows(harness.pg_url) if r[2] in ("refused", "blocked")])
                > refused_before
            ),
            10,
            "the refusal's audit row",
        )
    sent = str([call.args for call in harness.slack.calls])
    assert [m for m in MENTIONS if m in sent] == [], "a mention from input reached Slack raw"
    assert harness.mutations() == []


BODY_SIZES = st.one_of(
    st.sampled_from([0, 1, SLACK_BODY_LIMIT - 1, SLACK_BODY_LIMIT, SLACK_BODY_LIMIT + 1, SERVER_BODY_LIMIT]),
    st.integers(min_value=0, max_value=SERVER_BODY_LIMIT),
)
CONTENT_TYPES = st.sampled_from(
    [
        "application/x-www-form-urlencoded",
        "application/json",
        "text/plain; charset=utf-16",
        "multipart/form-data; boundary=xyz",
        "application/octet-stream",
        "",
    ]
)
PATHS = st.sampled_from(["/slack/events", ALERTMANAGER_PATH, "/healthz", "/readyz", "/metrics", "/other"])


@pytest.mark.slow
@HOSTILE
@given(
    path=PATHS,
    size=BODY_SIZES,
    seed=st.binary(min_size=1, max_size=64),
    content_type=CONTENT_TYPES,
    signed=st.booleans(),
    chunked=st.booleans(),
)
def test_any_body_is_refused_or_served_without_5xx_and_the_bot_stays_responsive(
    harness: BotHarness, path: str, size: int, seed: bytes, content_type: str, signed: bool, chunked: bool
) -> None:
    body = (seed * (size // len(seed) + 1))[:size]
    headers = sign(SIGNING_SECRET, body) if signed else {}
    headers["Content-Type"] = content_type
    send = iter([body[: size // 2], body[size // 2 :]]) if chunked else body
    response = harness.http.post(f"{harness.server.url}{path}", content=send, headers=headers)
    assert response.status_code < 500, response.text[:200]
    limit = {"/slack/events": SLACK_BODY_LIMIT, ALERTMANAGER_PATH: SERVER_BODY_LIMIT}.get(path, 0)
    if size > limit:
        assert response.status_code == 413
    elif path == "/slack/events" and not signed:
        assert response.status_code == 401
    started = time.monotonic()
    assert harness.http.get(f"{harness.server.url}/healthz").status_code == 200
    assert time.monotonic() - started < HEALTHZ_BUDGET
    assert harness.mutations() == []
