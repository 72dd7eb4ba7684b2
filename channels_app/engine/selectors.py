"""Reads for the console, the widget and the admin; no writes here."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, Exists, Min, OuterRef, Q, QuerySet

from channels_app.models import (
    Conversation,
    ConversationStatus,
    InboundUpdate,
    Message,
    Offer,
    OpenChannel,
    RoutingDecision,
)

CONSOLE_STATUSES = (
    ConversationStatus.OFFERED,
    ConversationStatus.ACTIVE,
    ConversationStatus.CLOSED_PENDING_RATING,
)
HISTORY_PAGE = 200


def operator_open_channels(user) -> QuerySet[OpenChannel]:
    """The active open channels whose queue the user belongs to (Q1)."""
    return OpenChannel.objects.filter(is_active=True, queue_members__operator=user).distinct().order_by("name", "id")


def conversations_for_console(user) -> QuerySet[Conversation]:
    """What the operator's console lists: conversations they hold, closed ones awaiting a rating, and offers.

    Each row is annotated with ``pending_offer_id`` (the operator's pending
    offer, if the conversation is offered to them), most recent activity first.
    """
    pending = Offer.objects.filter(conversation=OuterRef("pk"), operator=user, status=Offer.Status.PENDING)
    return (
        Conversation.objects.filter(status__in=CONSOLE_STATUSES)
        .filter(
            Q(operator=user, status__in=[ConversationStatus.ACTIVE, ConversationStatus.CLOSED_PENDING_RATING])
            | Q(Exists(pending), status=ConversationStatus.OFFERED)
        )
        .annotate(pending_offer_id=pending.values("pk")[:1])
        .select_related("client", "connector", "open_channel")
        .order_by("-last_message_at", "-id")
    )


def conversation_history(conversation_id: int, after_id: int | None = None, limit: int = HISTORY_PAGE) -> list[Message]:
    """O2: the conversation's messages in order, with their files; ``after_id`` gives only newer ones (a
    reconnecting socket)."""
    messages = (
        Message.objects.filter(conversation_id=conversation_id)
        .select_related("author__operator_profile")
        .prefetch_related("attachments")  # every message's files in one query, not one per message
    )
    if after_id is not None:
        messages = messages.filter(pk__gt=after_id)
    return list(messages.order_by("created_at", "id")[:limit])


def pending_offers_for(user) -> QuerySet[Offer]:
    return (
        Offer.objects.filter(operator=user, status=Offer.Status.PENDING)
        .select_related("conversation__client", "conversation__open_channel")
        .order_by("expires_at")
    )


def routing_decisions_for(conversation_id: int) -> QuerySet[RoutingDecision]:
    """Every routing decision of a conversation with its reasons, newest first (shown in the admin)."""
    return RoutingDecision.objects.filter(conversation_id=conversation_id).order_by("-created_at", "-id")


def waiting_conversations(open_channel_id: int) -> QuerySet[Conversation]:
    """The channel's queue: conversations waiting for an operator, oldest first."""
    return (
        Conversation.objects.filter(open_channel_id=open_channel_id, status=ConversationStatus.QUEUED)
        .select_related("client")
        .order_by("queued_at", "id")
    )


@dataclass(frozen=True)
class WaitingGroup:
    """Conversations of one open channel waiting for an operator in one status, and since when the oldest waits."""

    open_channel_id: int
    status: str
    count: int
    oldest_queued_at: datetime | None


def conversations_waiting(now: datetime) -> list[WaitingGroup]:
    """Conversations waiting for an operator now, per open channel and status (one grouped query; the metrics).

    Waiting means ``queued`` and routable now (:meth:`ConversationQuerySet.routable`: not held back until the
    channel's working hours begin, H2, when nobody is expected to answer) or ``offered`` (an operator has been
    asked but has not taken it). The wait counts from ``queued_at``, the moment it last entered the queue.
    """
    waiting = Conversation.objects.routable(now) | Conversation.objects.filter(status=ConversationStatus.OFFERED)
    rows = (
        waiting.order_by()
        .values("open_channel_id", "status")
        .annotate(count=Count("id"), oldest_queued_at=Min("queued_at"))
    )
    return [WaitingGroup(**row) for row in rows]


def active_open_channel_ids() -> list[int]:
    return list(OpenChannel.objects.filter(is_active=True).order_by("pk").values_list("pk", flat=True))


def oldest_pending_update_received_at() -> datetime | None:
    """When the oldest webhook delivery still waiting to be turned into messages arrived (``None``: none waits)."""
    return InboundUpdate.objects.filter(state=InboundUpdate.State.PENDING).aggregate(oldest=Min("received_at"))[
        "oldest"
    ]
