"""An Approve/Deny click counts only on the request's own approval card.

The button's value (the operation id) is not secret: anyone who saw it could put it on another
message (a crafted payload, a copied block) and have a click there decide this request. Slack tells
which message a click came from; it must be the card the bot posted for this operation. The card's
message id is stored just after Slack answers the post, so a click that races it waits a moment.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from bot.store import OperationRecord

NOT_ITS_CARD = "This button is not on this request's approval card, so nothing was decided."
CARD_STORE_WAIT = 3.0  # seconds a click may wait for the card's message id to be stored


def card_mismatch(
    record: OperationRecord,
    channel: str | None,
    message_ts: str | None,
    reload: Callable[[], OperationRecord | None],
) -> str | None:
    """Why a click from message (`channel`, `message_ts`) may not decide `record`, or None when it may.
    `reload` reads the record again while its card's message id is not stored yet."""
    deadline = time.monotonic() + CARD_STORE_WAIT
    while record.message_ts is None and record.state == "requested" and time.monotonic() < deadline:
        time.sleep(0.05)
        record = reload() or record
    if record.message_channel is None or record.message_ts is None:
        return NOT_ITS_CARD + " (the bot has no card for it)"
    if channel != record.message_channel or message_ts != record.message_ts:
        return NOT_ITS_CARD
    return None
