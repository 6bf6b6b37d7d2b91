"""An Approve/Deny click counts only on the request's own approval card.

The button's value (the operation id) is not secret: anyone who saw it could put it on another
message (a crafted payload, a copied block) and have a click there decide this request. Slack tells
which message a click came from; it must be the card the bot posted for this operation.
"""

from __future__ import annotations

from bot.store import OperationRecord

NOT_ITS_CARD = "This button is not on this request's approval card, so nothing was decided."


def card_mismatch(record: OperationRecord, channel: str | None, message_ts: str | None) -> str | None:
    """Why a click from message (`channel`, `message_ts`) may not decide `record`, or None when it may."""
    if record.message_channel is None or record.message_ts is None:
        return NOT_ITS_CARD + " (the bot posted no card for it)"
    if channel != record.message_channel or message_ts != record.message_ts:
        return NOT_ITS_CARD
    return None
