"""Property-based: whatever Slack (or a forger with the secret) sends, no 5xx and no unapproved change."""

from __future__ import annotations

import json
import urllib.parse

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sandbox.slack import sign, slash_command_body
from tests.e2e.harness import SIGNING_SECRET, BotHarness

USERS = st.sampled_from(["U0ALICE", "U0BOB", "U0CAROL", "U0DAVE", "U0EVE", "UNOBODY"])
WORDS = st.sampled_from(
    [
        "scale",
        "status",
        "help",
        "litellm",
        "backend",
        "frontend",
        "3",
        "-1",
        "--force",
        "--dry-run",
        "audit",
        "--to-revision",
        "key=value",
        '"',
        "'",
        "whoami",
        "locks",
        "approvals",
        "99999999999999999999",
    ]
)
TEXTS = st.one_of(st.text(max_size=300), st.lists(WORDS, max_size=8).map(" ".join))
FUZZ = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def post(harness: BotHarness, body: str) -> int:
    response = harness.http.post(
        f"{harness.server.url}/slack/events", content=body, headers=sign(SIGNING_SECRET, body)
    )
    return response.status_code


@pytest.mark.slow
@FUZZ
@given(user=USERS, text=TEXTS, channel=st.sampled_from(["C0OPS", "C0OTHER", "D0BOB"]))
def test_any_command_text_never_5xx_never_changes_the_cluster(
    harness: BotHarness, user: str, text: str, channel: str
) -> None:
    body = slash_command_body(
        text=text, user_id=user, channel_id=channel, response_url=harness.slack.response_url("fuzz")
    )
    assert post(harness, body) < 500
    assert harness.mutations() == [], "a change reached the cluster without an approval"


JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=10,
)


@pytest.mark.slow
@FUZZ
@given(
    payload=st.fixed_dictionaries(
        {"type": st.sampled_from(["block_actions", "view_submission", "shortcut", "nonsense"])},
        optional={
            "user": st.one_of(JSONISH, st.fixed_dictionaries({"id": USERS})),
            "actions": st.one_of(
                JSONISH,
                st.lists(
                    st.fixed_dictionaries(
                        {
                            "action_id": st.sampled_from(["approval.approve", "approval.deny", "x"]),
                            "value": JSONISH,
                        }
                    ),
                    max_size=2,
                ),
            ),
            "channel": JSONISH,
            "response_url": st.just("http://127.0.0.1:1/nowhere"),
        },
    )
)
def test_any_interaction_payload_never_5xx_never_changes_the_cluster(
    harness: BotHarness, payload: dict
) -> None:
    body = "payload=" + urllib.parse.quote(json.dumps(payload))
    assert post(harness, body) < 500
    assert harness.mutations() == []


@pytest.mark.slow
@FUZZ
@given(raw=st.one_of(st.binary(max_size=300).map(lambda b: b.decode("latin-1")), st.text(max_size=300)))
def test_any_raw_body_never_5xx(harness: BotHarness, raw: str) -> None:
    assert post(harness, raw) < 500
    assert harness.mutations() == []
