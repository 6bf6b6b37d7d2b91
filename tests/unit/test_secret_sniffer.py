"""The suite-wide guard against secrets in our log records must itself catch a leak."""

from __future__ import annotations

import logging

from tests.conftest import _SecretSniffer


def test_sniffer_catches_a_key_a_token_and_a_url_password_but_not_plain_text() -> None:
    sniffer = _SecretSniffer()
    log = logging.getLogger("sniffer-self-test")  # outside bot.*: the autouse guard must not see it
    log.addHandler(sniffer)
    log.setLevel(logging.DEBUG)
    try:
        log.info("rollout of %s done", "litellm")
        assert sniffer.leaks == []
        log.info("master key %s", "sk-abcdef123456")
        log.warning("cannot connect to postgresql://litellm:hunter2@db/litellm")
        log.debug("token xoxb-1234-5678-abcdef")
    finally:
        log.removeHandler(sniffer)
    assert len(sniffer.leaks) == 3
