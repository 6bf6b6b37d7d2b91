"""The redactor removes every secret shape the bot may meet, from texts, Block Kit payloads and logs."""

from __future__ import annotations

import io
import logging
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.redaction import RedactingFilter, Redactor, install_log_redaction

MASTER_KEY = "sk-Ab3dEfGhIjKlMnOpQrStUv"


@pytest.mark.parametrize(
    ("text", "secret", "hint"),
    [
        (f"master key is {MASTER_KEY}", MASTER_KEY, "sk-***"),
        ("bot token xoxb-1234-5678-abcdEFGH", "1234-5678-abcdEFGH", "xoxb-***"),
        ("user token xoxp-99-88-zz", "99-88-zz", "xoxp-***"),
        ("app token xapp-1-A0-123-abc", "1-A0-123-abc", "xapp-***"),
        ("admin ltm_admin_s3cr3tValue here", "s3cr3tValue", "ltm_admin_***"),
        ("postgresql://litellm:Pa55word@litellm-postgres:5432/litemaas_db", "Pa55word", "litellm:***@"),
        ("redis://:hunter22@litellm-redis:6379/0", "hunter22", "redis://:***@"),
        ("Authorization: Bearer abc.def-ghi", "abc.def-ghi", "Authorization: Bearer ***"),
        ("curl -H 'Authorization: Basic dXNlcjpwYXNz'", "dXNlcjpwYXNz", "Basic ***"),
        ("sent Bearer tok_9f8e7d6c", "tok_9f8e7d6c", "Bearer ***"),
        ("DB_PASSWORD=s3cret! and more", "s3cret!", "DB_PASSWORD=***"),
        ('{"password": "hunter2hunter2", "user": "bob"}', "hunter2hunter2", '"password": "***"'),
        ("LITELLM_MASTER_KEY: abcdef123456", "abcdef123456", "LITELLM_MASTER_KEY: ***"),
        ("api_key='qwerty-123'", "qwerty-123", "api_key='***'"),
        ("X-Api-Key: zzzzzz999", "zzzzzz999", "X-Api-Key: ***"),
        ("client_secret=abc123xyz&x=1", "abc123xyz", "client_secret=***"),
        ('{\\"api_key\\": \\"deadbeef77\\"}', "deadbeef77", '\\"api_key\\": \\"***\\"'),
        (
            "jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJlX2hlcmU done",
            "c2lnbmF0dXJlX2hlcmU",
            "eyJ***",
        ),
    ],
)
def test_known_secret_shapes_are_masked_with_a_hint(text: str, secret: str, hint: str) -> None:
    out = Redactor().redact(text)
    assert secret not in out
    assert hint in out


@pytest.mark.parametrize(
    "text",
    [
        "deployment/litellm-backend 2/2 ready, image quay.io/rh-aiservices-bu/litemaas-backend:0.5.0",
        "disk-pressure-condition on node worker-1",
        "max_tokens=4096 tpm=100000",
        "see https://docs.example.com/path?x=1",
        "Scaled litellm from 1 to 3 replicas",
    ],
)
def test_ordinary_operational_text_is_untouched(text: str) -> None:
    assert Redactor().redact(text) == text


def test_registered_secret_is_masked_anywhere_and_short_values_are_ignored() -> None:
    redactor = Redactor(["Zq9-passphrase", "abc"])
    redactor.add("second-secret-value")
    out = redactor.redact("a=Zq9-passphrase;b=second-secret-value;c=abc")
    assert "Zq9-passphrase" not in out and "second-secret-value" not in out
    assert out.endswith("c=abc")  # a 3-character "secret" would mask every "abc" of every message


def test_redact_is_idempotent() -> None:
    redactor = Redactor([MASTER_KEY])
    once = redactor.redact(f"key {MASTER_KEY} password=x1y2z3 Bearer qqq")
    assert redactor.redact(once) == once


def test_redact_obj_masks_every_string_of_a_block_kit_payload() -> None:
    redactor = Redactor(["registered-secret"])
    payload: dict[str, Any] = {
        "text": f"key {MASTER_KEY}",
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": "url redis://:registered-secret@h:6379"}},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": "ok"}]},
        ],
        "metadata": {"api_key": "plainvalue", "count": 3, "flag": True, "none": None},
        "tuple": ("xoxb-1-2-3",),
    }
    out = redactor.redact_obj(payload)
    assert MASTER_KEY not in str(out)
    assert "registered-secret" not in str(out)
    assert out["metadata"] == {"api_key": "***", "count": 3, "flag": True, "none": None}
    assert out["blocks"][1] == payload["blocks"][1]
    assert out["tuple"] == ("xoxb-***",)
    assert payload["text"] == f"key {MASTER_KEY}"  # the input is not modified


def test_logging_filter_redacts_message_args_and_traceback() -> None:
    redactor = Redactor(["db-pass-123456"])
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    logger = logging.getLogger("test.redaction.filter")
    logger.propagate = False
    logger.addHandler(handler)
    installed = install_log_redaction(redactor, logger)
    assert isinstance(installed, RedactingFilter)
    try:
        logger.warning("connecting with %s and %s", "db-pass-123456", MASTER_KEY)
        try:
            raise RuntimeError(f"failed with xoxb-777-888-secret and {MASTER_KEY}")
        except RuntimeError:
            logger.exception("boom")
    finally:
        logger.removeHandler(handler)
    logged = stream.getvalue()
    assert "connecting with *** and sk-***" in logged
    assert "RuntimeError: failed with xoxb-*** and sk-***" in logged
    for secret in ("db-pass-123456", MASTER_KEY, "777-888-secret"):
        assert secret not in logged


_SECRET_CHARS = st.characters(codec="utf-8", exclude_categories=["Cs"])


@settings(max_examples=300, deadline=None)
@given(
    prefix=st.text(_SECRET_CHARS, max_size=40),
    secret=st.text(_SECRET_CHARS, min_size=6, max_size=30),
    suffix=st.text(_SECRET_CHARS, max_size=40),
)
def test_a_registered_secret_never_survives_in_any_text(prefix: str, secret: str, suffix: str) -> None:
    out = Redactor([secret]).redact(prefix + secret + suffix + secret)
    assert secret not in out


@settings(max_examples=200, deadline=None)
@given(
    prefix=st.text(max_size=30).map(lambda t: t + " "),
    body=st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-", min_size=8),
    suffix=st.text(max_size=30),
)
def test_an_unregistered_litellm_key_never_survives(prefix: str, body: str, suffix: str) -> None:
    key = "sk-" + body
    assert key not in Redactor().redact(prefix + key + suffix)


def test_a_secret_registered_later_is_masked_in_a_text_redacted_before() -> None:
    redactor = Redactor()
    text = "the value is correct-horse-battery"
    assert redactor.redact(text) == text  # remembered as clean…
    redactor.add("correct-horse-battery")
    assert redactor.redact(text) == "the value is ***"  # …until a new secret makes it unclean
