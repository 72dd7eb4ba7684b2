"""S2: Meta's standard messaging window, the time after a client's message in which a business may answer freely.

Messenger (the standard messaging window) and the WhatsApp Cloud API (the
customer service window) accept a free-form reply only within 24 hours of
the client's last message; after that Meta refuses the send (Messenger's
error 10 / subcode 2018278, WhatsApp's 131047 "re-engagement message"), and
on WhatsApp only an approved template message may open the conversation
again. Refusing before sending tells the operator why at once, instead of a
delivery that fails later. Telegram, Zalo's customer-service API and the live
chat have no such window here.

Kinds are the connector kinds' values (``ConnectorKind``), passed as text so
the rule stays free of Django.
"""

from __future__ import annotations

from datetime import datetime, timedelta

STANDARD_WINDOW = timedelta(hours=24)
WINDOWED_KINDS = frozenset({"facebook", "whatsapp"})


def may_reply_freely(*, kind: str, last_client_message_at: datetime | None, now: datetime) -> bool:
    """True when a free-form reply may go out now: no window on this source, or within it (its end excluded).

    On a windowed source a conversation with no client message (the business
    wrote first) has no open window.
    """
    if kind not in WINDOWED_KINDS:
        return True
    return last_client_message_at is not None and now < last_client_message_at + STANDARD_WINDOW


def window_closes_at(*, kind: str, last_client_message_at: datetime | None) -> datetime | None:
    """When a free-form reply stops being accepted on this source: ``None`` where there is no window."""
    if kind not in WINDOWED_KINDS or last_client_message_at is None:
        return None
    return last_client_message_at + STANDARD_WINDOW
