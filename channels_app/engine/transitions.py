"""Changing who holds a conversation and in which status, with the audit rows that record it."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from enum import Enum
from typing import Final

from django.db.models import Q

from channels_app.engine import events, signals
from channels_app.models import CLOSED_STATUSES, Conversation, ConversationStatus, Offer, QueueMember, StatusChange


class _Keep(Enum):
    """set_status(): leave the holder as it is (an enum member, so mypy tells it apart from an id or None)."""

    HOLDER = "keep the holder"


KEEP: Final = _Keep.HOLDER


def set_status(
    conversation: Conversation,
    *,
    to_status: str,
    now: datetime,
    reason: str,
    operator_id: int | _Keep | None = KEEP,
    extra_fields: Iterable[str] = (),
    actor_id: int | None = None,
) -> None:
    """Change status and/or holder, save, and record a :class:`StatusChange` row.

    ``operator_id`` left out keeps the holder; ``None`` clears it. ``actor_id`` is the person who made the change
    (an operator, a supervisor), recorded with it; ``None`` when the client, a bot, routing or a sweep did.
    """
    from_status = conversation.status
    fields = {"status", *extra_fields}
    conversation.status = to_status
    if operator_id is not KEEP:
        conversation.operator_id = operator_id
        fields.add("operator")
    # K1: a close ends the client's wait and a bot's hand-over starts it, with or without a message.
    if from_status == ConversationStatus.BOT or (to_status in CLOSED_STATUSES and from_status not in CLOSED_STATUSES):
        conversation.responses_pending = True
        fields.add("responses_pending")
    conversation.save(update_fields=sorted(fields))
    StatusChange.objects.create(
        conversation=conversation,
        at=now,
        from_status=from_status,
        to_status=to_status,
        operator_id=conversation.operator_id,
        actor_id=actor_id,
        reason=reason[:120],
    )
    events.nudge_wallboards([conversation.open_channel_id])
    if to_status == ConversationStatus.CLOSED and from_status != ConversationStatus.CLOSED:
        signals.send_conversation_closed_after_commit(Conversation, conversation_id=conversation.pk)


def withdraw_pending_offers(
    conversation: Conversation,
    *,
    now: datetime,
    reason: str,
    status: str = Offer.Status.WITHDRAWN,
    except_offer_id: int | None = None,
    only: Q | None = None,
) -> list[Offer]:
    """Resolve the conversation's pending offers (the caller holds its row lock) and tell each operator."""
    offers = Offer.objects.filter(conversation=conversation, status=Offer.Status.PENDING)
    if except_offer_id is not None:
        offers = offers.exclude(pk=except_offer_id)
    if only is not None:
        offers = offers.filter(only)
    resolved = list(offers)
    if not resolved:
        return []
    events.nudge_wallboards([conversation.open_channel_id])
    Offer.objects.filter(pk__in=[offer.pk for offer in resolved]).update(status=status, resolved_at=now)
    for offer in resolved:
        offer.status = status
        offer.resolved_at = now
        events.publish([events.operator_group(offer.operator_id)], events.offer_withdrawn(offer, reason))
    return resolved


def stamp_last_assigned(open_channel_id: int, user_ids: Iterable[int], now: datetime) -> None:
    """Q2 Evenly: these operators were given a conversation of the channel at ``now`` (Evenly in every channel
    compares the latest of these times, :data:`~channels_app.engine.availability.HELD_ROWS_SQL`)."""
    QueueMember.objects.filter(open_channel_id=open_channel_id, operator_id__in=list(user_ids)).update(
        last_assigned_at=now
    )
