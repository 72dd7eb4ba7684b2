"""Reads for the console, the widget and the admin; no writes here."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, Exists, Min, OuterRef, Q, QuerySet
from django.utils.translation import gettext as _

from channels_app.engine.errors import ServiceError
from channels_app.models import (
    Connector,
    ConnectorKind,
    Conversation,
    ConversationStatus,
    InboundUpdate,
    Message,
    Offer,
    OpenChannel,
    Reachability,
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
        .select_related("client__connector", "connector", "open_channel")
        .order_by("-last_message_at", "-id")
    )


@dataclass(frozen=True)
class MessagePage:
    """One page of a conversation's messages, oldest first for display, and whether more lie on either side."""

    messages: list[Message]
    has_older: bool
    has_newer: bool


def conversation_messages(
    conversation_id: int,
    *,
    before_id: int | None = None,
    around_id: int | None = None,
    newer_than_id: int | None = None,
    after_id: int | None = None,
    limit: int | None = None,
) -> MessagePage:
    """O2: a page of the conversation's messages with their files, oldest first (issue 15: newest first).

    Without a position it is the latest ``limit`` messages (a conversation opens on its end). ``before_id``
    gives the ``limit`` messages just older than that one (scrolling up), ``newer_than_id`` those just newer
    (scrolling down from an old stretch towards the live end), ``around_id`` that message with half the page
    on either side (a link to a search hit; near an end, the other side fills it). These follow
    ``(created_at, id)``, keyset on the ``message_conv_time`` index, so two messages of the same instant are
    never skipped or repeated; one that is not a message of this conversation is refused
    (:class:`~channels_app.engine.errors.ServiceError`, a 400). ``after_id`` gives the ``limit`` oldest with a
    larger id: a reconnecting socket re-syncs by id, which catches a message committed late with an earlier
    time too.
    """
    if sum(position is not None for position in (before_id, around_id, newer_than_id, after_id)) > 1:
        raise ServiceError(_("Ask for messages before, around or after one message, not several at once."))
    limit = max(1, limit or HISTORY_PAGE)
    messages = (
        Message.objects.filter(conversation_id=conversation_id)
        .select_related("author__operator_profile")
        .prefetch_related("attachments")  # every message's files in one query, not one per message
    )
    newest_first = ("-created_at", "-id")
    oldest_first = ("created_at", "id")
    if after_id is not None:
        found = list(messages.filter(pk__gt=after_id).order_by(*oldest_first)[: limit + 1])
        return MessagePage(found[:limit], has_older=after_id > 0, has_newer=len(found) > limit)
    anchor_id = next((i for i in (before_id, around_id, newer_than_id) if i is not None), None)
    if anchor_id is None:
        found = list(messages.order_by(*newest_first)[: limit + 1])
        return MessagePage(found[:limit][::-1], has_older=len(found) > limit, has_newer=False)
    anchor = Message.objects.filter(conversation_id=conversation_id, pk=anchor_id).values("created_at", "id").first()
    if anchor is None:
        raise ServiceError(_("There is no such message in this conversation."))
    older_than_anchor = Q(created_at__lt=anchor["created_at"]) | Q(created_at=anchor["created_at"], id__lt=anchor["id"])
    if before_id is not None:
        found = list(messages.filter(older_than_anchor).order_by(*newest_first)[: limit + 1])
        return MessagePage(found[:limit][::-1], has_older=len(found) > limit, has_newer=True)
    if newer_than_id is not None:
        found = list(messages.exclude(older_than_anchor).exclude(pk=anchor["id"]).order_by(*oldest_first)[: limit + 1])
        return MessagePage(found[:limit], has_older=True, has_newer=len(found) > limit)
    # Half on either side; near the start or the end of the conversation the other side fills the page.
    older = list(messages.filter(older_than_anchor).order_by(*newest_first)[: limit + 1])
    newer = list(messages.exclude(older_than_anchor).order_by(*oldest_first)[: limit + 1])  # from the anchor on
    older_count = min(len(older), max(limit // 2, limit - len(newer)))
    newer_count = min(len(newer), limit - older_count)
    return MessagePage(
        older[:older_count][::-1] + newer[:newer_count],
        has_older=len(older) > older_count,
        has_newer=len(newer) > newer_count,
    )


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


def connectors_reachability() -> list[tuple[int, str, bool]]:
    """Issue 21: ``(id, kind, unreachable)`` of every active connector with a provider (the metrics; one query).

    Testing recovery counts as unreachable: replies still wait until the test succeeds.
    """
    rows = (
        Connector.objects.filter(is_active=True)
        .exclude(kind=ConnectorKind.LIVECHAT)
        .order_by("pk")
        .values_list("pk", "kind", "reachability")
    )
    return [(pk, kind, reachability != Reachability.REACHABLE) for pk, kind, reachability in rows]


def oldest_pending_update_received_at() -> datetime | None:
    """When the oldest webhook delivery still waiting to be turned into messages arrived (``None``: none waits)."""
    return InboundUpdate.objects.filter(state=InboundUpdate.State.PENDING).aggregate(oldest=Min("received_at"))[
        "oldest"
    ]
