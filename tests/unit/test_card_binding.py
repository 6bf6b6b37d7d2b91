"""A decision counts only from the request's own card; a click racing the card's stored id waits for it."""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import replace
from datetime import UTC, datetime

from bot.card_binding import NOT_ITS_CARD, card_mismatch
from bot.store import OperationRecord

NOW = datetime(2025, 3, 1, tzinfo=UTC)
RECORD = OperationRecord(
    id=uuid.uuid4(), command="scale", args={}, text="/maas scale litellm 2", requester="U0BOB",
    channel="C0OPS", environment="default", target="deployment/litellm", state="requested",
    approval_required=True, plan=None, plan_fingerprint=None, approver=None, decided_at=None,
    expires_at=None, started_at=None, finished_at=None, created_at=NOW, message_channel="C0OPS",
    message_ts="100.1", result=None, error=None,
)  # fmt: skip


def test_only_the_cards_own_message_may_decide() -> None:
    assert card_mismatch(RECORD, "C0OPS", "100.1", lambda: RECORD) is None
    assert card_mismatch(RECORD, "C0OPS", "100.2", lambda: RECORD) == NOT_ITS_CARD
    assert card_mismatch(RECORD, "C0OTHER", "100.1", lambda: RECORD) == NOT_ITS_CARD
    assert card_mismatch(RECORD, None, None, lambda: RECORD) == NOT_ITS_CARD


def test_a_click_racing_the_stored_card_id_waits_for_it() -> None:
    stored: list[OperationRecord] = [replace(RECORD, message_channel=None, message_ts=None)]
    threading.Timer(0.2, lambda: stored.append(RECORD)).start()
    started = time.monotonic()
    assert card_mismatch(stored[0], "C0OPS", "100.1", lambda: stored[-1]) is None
    assert 0.15 < time.monotonic() - started < 2


def test_a_request_without_any_card_is_refused_after_the_wait() -> None:
    cardless = replace(RECORD, message_channel=None, message_ts=None, state="expired")
    assert card_mismatch(cardless, "C0OPS", "100.1", lambda: cardless).startswith(NOT_ITS_CARD)
