"""Signals other apps listen to, so the engine never imports them, and how services send them after commit.

All three are sent with ``transaction.on_commit``: a receiver sees committed
rows and may enqueue Celery work. A failing receiver is logged and never
undoes the service that sent the signal.

- ``message_created(message_id, conversation_id, author_kind,
  conversation_status)``: every new message (client, operator, bot, system);
  ``conversation_status`` is the conversation's status when it was stored. The
  connectors send outbound messages from it and the chatbots take their turn
  (KPI does not listen: the services flag ``Conversation.responses_pending``
  instead).
- ``conversation_created(conversation_id)``: a new conversation. CRM creates
  automatic leads from it (C2).
- ``conversation_closed(conversation_id)``: a conversation became fully closed
  (after the rating step, if any). CRM e-mails the transcript to the lead (O2, O3).

One is sent *inside* the transaction instead, and a failing receiver undoes it:

- ``conversations_erasing(conversation_ids)``: an erasure or the retention sweep is
  erasing these conversations' content (issue 19, :mod:`channels_app.engine.erasure`);
  KPI blanks the texts it keeps about them (a missed target's notification text, a
  supervisor's comment) in the same transaction, so nothing survives a committed erasure.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial
from typing import Any

from django.db import transaction
from django.dispatch import Signal

logger = logging.getLogger(__name__)

message_created = Signal()
conversation_created = Signal()
conversation_closed = Signal()
conversations_erasing = Signal()


def after_commit(func: Callable[[], object]) -> None:
    """Run ``func`` once the transaction commits; its failure is logged and never undoes the service."""
    transaction.on_commit(func, robust=True)


def _send(name: str, signal: Signal, sender: type, **kwargs: Any) -> None:
    for receiver, result in signal.send_robust(sender=sender, **kwargs):
        if isinstance(result, Exception):
            logger.error("%s receiver %r failed", name, receiver, exc_info=result)


def send_message_created_after_commit(
    sender: type, *, message_id: int, conversation_id: int, author_kind: str, conversation_status: str
) -> None:
    after_commit(
        partial(
            _send,
            "message_created",
            message_created,
            sender,
            message_id=message_id,
            conversation_id=conversation_id,
            author_kind=author_kind,
            conversation_status=conversation_status,
        )
    )


def send_conversation_created_after_commit(sender: type, *, conversation_id: int) -> None:
    after_commit(partial(_send, "conversation_created", conversation_created, sender, conversation_id=conversation_id))


def send_conversation_closed_after_commit(sender: type, *, conversation_id: int) -> None:
    after_commit(partial(_send, "conversation_closed", conversation_closed, sender, conversation_id=conversation_id))


def send_conversations_erasing(sender: type, *, conversation_ids: list[int]) -> None:
    """In the caller's transaction: a receiver's exception propagates and rolls the erasure back."""
    conversations_erasing.send(sender=sender, conversation_ids=conversation_ids)
