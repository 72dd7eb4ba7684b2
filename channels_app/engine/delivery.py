"""Delivery state of outbound messages after they went out: receipts, and the operator's retry (issue 15.5).

Our sender (``connectors.processing.message_deliver``) moves a queued message
to ``sent`` or ``failed``. Afterwards the source may say more, and these
services record it:

* :func:`message_delivery_update`: a receipt naming the provider's message ids
  (WhatsApp ``statuses``, Messenger ``delivery.mids``), ``failed`` with the
  provider's reason included;
* :func:`messages_delivery_up_to`: a receipt for every message up to a moment
  (Messenger's ``delivery`` / ``read`` watermarks) or up to a message (the
  widget's read);
* :func:`message_delivery_retry`: the operator sends a failed message again.

Every change follows :mod:`channels_app.policy.delivery` (forward only, failed
terminal until a retry), so a receipt replayed or arriving late changes nothing,
and each change is announced after commit (``message.delivery``) to the
conversation's viewers and its operator. Unknown message ids change nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime

from django.db import transaction
from django.db.models import QuerySet
from django.utils.translation import gettext as _

from channels_app.engine import events, jobs, locks, notifications
from channels_app.engine.access import can_see_conversation
from channels_app.engine.errors import InvalidState, NotAllowed, NotFound
from channels_app.models import ConversationStatus, Message
from channels_app.policy import delivery as policy

logger = logging.getLogger("channels_app.engine")

# A watermark may cover a long conversation; a receipt changes at most this many messages at once.
MAX_MESSAGES_PER_RECEIPT = 500
# The longest provider reason kept (a provider's error text is not ours to store unbounded).
MAX_REASON_LENGTH = 1000


def message_delivery_update(
    *, connector_id: int, source_message_ids: Sequence[str], state: str, now: datetime, error: str = ""
) -> list[int]:
    """Record a receipt for the outbound messages of a connector with these provider ids; return those changed.

    ``state`` is ``delivered``, ``read`` or ``failed`` (with ``error``: the
    provider's reason, shown to the operator). Ids no message of ours has are
    ignored (a message sent from the provider's own app, or one whose "sent"
    has not been recorded yet).
    """
    ids = [value for value in dict.fromkeys(source_message_ids) if value]
    if state not in policy.RECEIPTS or not ids:
        return []
    rows = Message.objects.filter(connector_id=connector_id, source_message_id__in=ids)
    return _apply(rows, state=state, now=now, error=error)


def messages_delivery_up_to(
    *,
    state: str,
    now: datetime,
    connector_id: int | None = None,
    client_external_id: str = "",
    up_to: datetime | None = None,
    conversation_id: int | None = None,
    up_to_message_id: int | None = None,
) -> list[int]:
    """Record ``delivered`` or ``read`` for every outbound message up to a moment or a message; return those changed.

    Either ``connector_id``, ``client_external_id`` and ``up_to`` (Messenger's
    watermark: every message to that client created no later), or
    ``conversation_id`` and ``up_to_message_id`` (the widget: what the visitor saw).
    """
    if state not in (policy.DELIVERED, policy.READ):
        return []
    if conversation_id is not None and up_to_message_id is not None:
        rows = Message.objects.filter(conversation_id=conversation_id, pk__lte=up_to_message_id)
    elif connector_id is not None and client_external_id and up_to is not None:
        rows = Message.objects.filter(
            connector_id=connector_id, conversation__client__external_id=client_external_id, created_at__lte=up_to
        )
    else:
        return []
    return _apply(rows, state=state, now=now)


def _apply(rows: QuerySet[Message], *, state: str, now: datetime, error: str = "") -> list[int]:
    # Only rows the receipt can move are read and locked (a watermark over a long conversation stays cheap).
    movable = [current for current in policy.ORDER if policy.delivery_after(current, state) is not None]
    changed: list[int] = []
    failed: list[int] = []
    with transaction.atomic():
        locked = (
            rows.exclude(author_kind=Message.Author.CLIENT)
            .filter(delivery__in=movable)
            .select_for_update(of=("self",))
            .order_by("pk")[:MAX_MESSAGES_PER_RECEIPT]
        )
        for message in locked:
            following = policy.delivery_after(message.delivery, state)
            if following is None:
                continue
            fields = ["delivery"]
            message.delivery = following
            if following == policy.FAILED:
                message.delivery_error = (error or _("The messenger did not deliver the message."))[:MAX_REASON_LENGTH]
                fields.append("delivery_error")
            if following in (policy.DELIVERED, policy.READ) and message.delivered_at is None:
                message.delivered_at = now
                fields.append("delivered_at")
            if following == policy.READ and message.read_at is None:
                message.read_at = now
                fields.append("read_at")
            message.save(update_fields=fields)
            changed.append(message.pk)
            if following == policy.FAILED:
                failed.append(message.pk)
        for message_id in changed:
            if message_id in failed:
                delivery_failed(message_id, now=now)
            else:
                announce_delivery(message_id)
    return changed


def delivery_failed(message_id: int, *, now: datetime) -> None:
    """What follows a message becoming ``failed`` (our sender gave up, or the provider's receipt said so), inside
    that transaction: its viewers redraw it, and its holder is notified until they read it."""
    announce_delivery(message_id)
    notifications.delivery_failed_notify(message_id=message_id, now=now)


def announce_delivery(message_id: int) -> None:
    """Tell the conversation's viewers (and its operator) the message's delivery changed (after commit)."""
    message = (
        Message.objects.select_related("conversation", "author__operator_profile")
        .prefetch_related("attachments")
        .get(pk=message_id)
    )
    conversation = message.conversation
    events.publish_to_conversation(
        conversation, events.message_delivery(message), operator_ids=[conversation.operator_id]
    )


def message_delivery_retry(*, message_id: int, user, now: datetime) -> Message:
    """The operator sends a failed message again: it is queued, and the send resumes after the parts that went out.

    Only a failed operator message, in a conversation the user holds (may reply
    in); anything else is refused and nothing changes. The message row is
    locked and must still be ``failed``, so two retries (two tabs, a double
    click) queue one send, never two.
    """
    conversation_id = Message.objects.filter(pk=message_id).values_list("conversation_id", flat=True).first()
    if conversation_id is None:
        raise NotFound(_("This message does not exist."))
    with transaction.atomic():
        conversation = locks.locked_conversation(conversation_id)
        if not can_see_conversation(user, conversation):
            raise NotFound(_("This message does not exist."))
        if conversation.status != ConversationStatus.ACTIVE or conversation.operator_id != user.pk:
            raise NotAllowed(_("Only the operator who holds this conversation may send the message again."))
        message = Message.objects.select_for_update(of=("self",)).get(pk=message_id)
        if message.author_kind != Message.Author.OPERATOR:
            raise InvalidState(_("Only an operator's message can be sent again."))
        if not policy.may_retry(message.delivery):
            raise InvalidState(_("Only a message that was not delivered can be sent again."))
        message.delivery = Message.Delivery.QUEUED  # only messenger messages fail; the widget's are sent at once
        message.delivery_error = ""
        message.save(update_fields=["delivery", "delivery_error"])
        announce_delivery(message.pk)
        transaction.on_commit(lambda: _enqueue_send(message.pk))
    logger.info(
        "message %s: retry queued by user %s (after %s parts)", message.pk, user.pk, message.delivery_parts_sent
    )
    return message


def _enqueue_send(message_id: int) -> None:
    try:
        jobs.enqueue(jobs.SEND_MESSAGE, message_id)
    except Exception:
        # The message stays queued; the operator sees "sending…" and may reload. Logged for the on-call person.
        logger.exception("message %s: retry not enqueued", message_id)
