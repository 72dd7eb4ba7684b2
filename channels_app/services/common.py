"""Building blocks the services share: locks, messages, status changes, operator snapshots.

Locking rules of every service (ARCHITECTURE.md, "Locking"):

* Row locks are taken in one order: ``OperatorProfile`` rows by user id, then
  the ``Conversation`` row (inbound takes the ``Client`` row before its
  conversation and no operator row). Nobody locks an operator after a
  conversation, so two services can never wait on each other in a cycle.
* Anything that can *raise* an operator's chat-limit count (a new offer, a
  transfer to them) holds that operator's row lock while it re-counts, so two
  routers cannot both fill the last slot. Lowering a count (closing,
  withdrawing, requeueing) needs only the conversation lock.
* Offers and messages of a conversation change only under its row lock.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from functools import partial

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, connection, transaction
from django.db.models import Q

from channels_app import distribution, events, signals
from channels_app.i18n import client_text
from channels_app.models import (
    ConnectorKind,
    Conversation,
    ConversationStatus,
    LeavePeriod,
    Message,
    Offer,
    OpenChannel,
    OperatorProfile,
    QueueMember,
    StatusChange,
)
from channels_app.services.errors import NotFound

logger = logging.getLogger("channels_app.services")
User = get_user_model()

HELD_STATUSES = (ConversationStatus.ACTIVE, ConversationStatus.CLOSED_PENDING_RATING)
KEEP = object()  # set_status(): leave the holder as it is


# --- after-commit helpers ---------------------------------------------------------------------------------


def after_commit(func: Callable[[], object]) -> None:
    """Run ``func`` once the transaction commits; its failure is logged and never undoes the service."""
    transaction.on_commit(func, robust=True)


def _send_message_created(message_id: int, conversation_id: int, author_kind: str, conversation_status: str) -> None:
    results = signals.message_created.send_robust(
        sender=Message,
        message_id=message_id,
        conversation_id=conversation_id,
        author_kind=author_kind,
        conversation_status=conversation_status,
    )
    for receiver, result in results:
        if isinstance(result, Exception):
            logger.error("message_created receiver %r failed", receiver, exc_info=result)


def _send_conversation_closed(conversation_id: int) -> None:
    results = signals.conversation_closed.send_robust(sender=Conversation, conversation_id=conversation_id)
    for receiver, result in results:
        if isinstance(result, Exception):
            logger.error("conversation_closed receiver %r failed", receiver, exc_info=result)


def _send_conversation_created(conversation_id: int) -> None:
    results = signals.conversation_created.send_robust(sender=Conversation, conversation_id=conversation_id)
    for receiver, result in results:
        if isinstance(result, Exception):
            logger.error("conversation_created receiver %r failed", receiver, exc_info=result)


def announce_conversation_created(conversation: Conversation) -> None:
    after_commit(partial(_send_conversation_created, conversation.pk))


# --- operators --------------------------------------------------------------------------------------------


def profile_for(user) -> OperatorProfile:
    """The operator's profile, created on demand for users who never had one."""
    profile, _ = OperatorProfile.objects.get_or_create(user_id=user.pk)
    return profile


def ensure_profiles(user_ids: Iterable[int]) -> None:
    user_ids = set(user_ids)
    existing = set(OperatorProfile.objects.filter(user_id__in=user_ids).values_list("user_id", flat=True))
    missing = user_ids - existing
    if missing:
        OperatorProfile.objects.bulk_create(
            [OperatorProfile(user_id=user_id) for user_id in sorted(missing)], ignore_conflicts=True
        )


def lock_operators(user_ids: Iterable[int]) -> dict[int, OperatorProfile]:
    """Lock the operators' rows in user-id order (the first lock of the fixed order)."""
    user_ids = sorted(set(user_ids))
    if not user_ids:
        return {}
    ensure_profiles(user_ids)
    profiles = OperatorProfile.objects.select_for_update().filter(user_id__in=user_ids).order_by("user_id")
    return {profile.user_id: profile for profile in profiles}


def lock_conversation(conversation_id: int, *, skip_locked: bool = False) -> Conversation | None:
    """Lock the conversation row (after any operator rows). ``None`` when skipped or gone."""
    return (
        Conversation.objects.select_for_update(skip_locked=skip_locked, of=("self",))
        .select_related("open_channel", "client__connector", "connector")
        .filter(pk=conversation_id)
        .first()
    )


def get_conversation(conversation_id: int) -> Conversation:
    conversation = (
        Conversation.objects.select_related("open_channel", "client", "connector").filter(pk=conversation_id).first()
    )
    if conversation is None:
        raise NotFound("This conversation does not exist.")
    return conversation


def on_leave_ids(user_ids: Iterable[int], now: datetime) -> set[int]:
    """Q5: operators with an absence covering ``now``."""
    return set(
        LeavePeriod.objects.filter(operator_id__in=list(user_ids), starts_at__lte=now, ends_at__gt=now).values_list(
            "operator_id", flat=True
        )
    )


def operator_online(profile: OperatorProfile | None, open_channel: OpenChannel, now: datetime) -> bool:
    """Q6: console connected (fresh heartbeat) and activity within the channel's offline time."""
    if profile is None:
        return False
    return distribution.is_online(
        heartbeat_at=profile.console_heartbeat_at,
        last_activity_at=profile.last_activity_at,
        now=now,
        heartbeat_timeout=settings.CONSOLE_HEARTBEAT_TIMEOUT,
        offline_after=timedelta(minutes=open_channel.offline_after_minutes),
    )


# One round trip for what the limit and leave rules need about a set of operators. Routing runs it
# twice per decision, so it is plain SQL rather than three ORM queries.
_LOAD_SQL = """
    SELECT operator_id, status, replied, last_by_operator, SUM(n)::int FROM (
        SELECT operator_id, status,
               COALESCE(last_operator_message_at >= assigned_at, FALSE) AS replied,
               last_message_author = 'operator' AS last_by_operator,
               COUNT(*) AS n
          FROM channels_app_conversation
         WHERE operator_id = ANY(%(ids)s) AND status IN ('active', 'closed_pending_rating')
         GROUP BY 1, 2, 3, 4
        UNION ALL
        SELECT operator_id, 'offered', FALSE, FALSE, COUNT(*)
          FROM channels_app_offer
         WHERE operator_id = ANY(%(ids)s) AND status = 'pending'
         GROUP BY 1
        UNION ALL
        SELECT operator_id, 'leave', FALSE, FALSE, COUNT(*)
          FROM channels_app_leaveperiod
         WHERE operator_id = ANY(%(ids)s) AND starts_at <= %(now)s AND ends_at > %(now)s
         GROUP BY 1
    ) AS held GROUP BY 1, 2, 3, 4
"""


def loads_and_leave(
    user_ids: Iterable[int], now: datetime
) -> tuple[dict[int, tuple[distribution.HeldBucket, ...]], set[int]]:
    """Q8 and Q5 in one query: each operator's held conversations and pending offers, grouped by what the
    exclusions look at, and the operators on leave at ``now``."""
    user_ids = list(user_ids)
    buckets: dict[int, list[distribution.HeldBucket]] = defaultdict(list)
    on_leave: set[int] = set()
    if not user_ids:
        return {}, on_leave
    with connection.cursor() as cursor:
        cursor.execute(_LOAD_SQL, {"ids": user_ids, "now": now})
        for operator_id, kind, replied, last_by_operator, count in cursor.fetchall():
            if kind == "leave":
                on_leave.add(operator_id)
            else:
                buckets[operator_id].append(
                    distribution.HeldBucket(kind=kind, replied=replied, last_by_operator=last_by_operator, count=count)
                )
    return {user_id: tuple(items) for user_id, items in buckets.items()}, on_leave


def held_buckets(user_ids: Iterable[int], now: datetime) -> dict[int, tuple[distribution.HeldBucket, ...]]:
    """Q8: per operator, their held conversations and pending offers (see :func:`loads_and_leave`)."""
    return loads_and_leave(user_ids, now)[0]


def operator_name(user) -> str:
    profile = getattr(user, "operator_profile", None)
    if profile is not None and profile.display_name:
        return profile.display_name
    return user.get_full_name() or user.get_username()


def rules_for(open_channel: OpenChannel) -> distribution.RoutingRules:
    return distribution.RoutingRules(
        mode=open_channel.distribution_mode,
        check_online=open_channel.check_online,
        require_clocked_in=open_channel.require_clocked_in,
        chat_limit=open_channel.chat_limit if open_channel.chat_limit_enabled else None,
        chat_limit_exclusion=open_channel.chat_limit_exclusion,
    )


def operator_load(user_id: int, open_channel: OpenChannel, now: datetime) -> int:
    return distribution.chat_load(held_buckets([user_id], now).get(user_id, ()), open_channel.chat_limit_exclusion)


def operator_channel_ids(user_id: int) -> list[int]:
    return list(
        QueueMember.objects.filter(operator_id=user_id, open_channel__is_active=True).values_list(
            "open_channel_id", flat=True
        )
    )


# --- conversation state -----------------------------------------------------------------------------------


def set_status(
    conversation: Conversation,
    *,
    to_status: str,
    now: datetime,
    reason: str,
    operator_id: int | object | None = KEEP,
    extra_fields: Iterable[str] = (),
) -> None:
    """Change status and/or holder, save, and record a :class:`StatusChange` row.

    ``operator_id`` left out keeps the holder; ``None`` clears it.
    """
    from_status = conversation.status
    fields = {"status", *extra_fields}
    conversation.status = to_status
    if operator_id is not KEEP:
        conversation.operator_id = operator_id
        fields.add("operator")
    # K1: a close ends the client's wait and a bot's hand-over starts it, with or without a message.
    closed = (ConversationStatus.CLOSED, ConversationStatus.CLOSED_PENDING_RATING)
    if from_status == ConversationStatus.BOT or (to_status in closed and from_status not in closed):
        conversation.responses_pending = True
        fields.add("responses_pending")
    conversation.save(update_fields=sorted(fields))
    StatusChange.objects.create(
        conversation=conversation,
        at=now,
        from_status=from_status,
        to_status=to_status,
        operator_id=conversation.operator_id,
        reason=reason[:120],
    )
    if to_status == ConversationStatus.CLOSED and from_status != ConversationStatus.CLOSED:
        after_commit(partial(_send_conversation_closed, conversation.pk))


def outbound_delivery(conversation: Conversation) -> str:
    # The live-chat widget reads messages over its socket; messenger connectors send queued ones.
    if conversation.connector.kind == ConnectorKind.LIVECHAT:
        return Message.Delivery.SENT
    return Message.Delivery.QUEUED


def create_message(
    conversation: Conversation,
    *,
    author_kind: str,
    text: str,
    now: datetime,
    author=None,
    attachments: list[dict] | None = None,
    system_key: str = "",
    source_message_id: str | None = None,
) -> Message | None:
    """Store a message, keep the conversation's message timestamps current, and announce it after commit.

    A system message whose ``system_key`` was already sent in this conversation
    is not sent again (``None`` is returned): retries and overlapping sweeps
    cannot repeat "nobody is available" or the closing text.
    """
    if system_key and Message.objects.filter(conversation=conversation, system_key=system_key).exists():
        return None
    delivery = Message.Delivery.RECEIVED if author_kind == Message.Author.CLIENT else outbound_delivery(conversation)
    message = Message(
        conversation=conversation,
        connector_id=conversation.connector_id,
        author_kind=author_kind,
        author=author,
        text=text,
        attachments=attachments or [],
        system_key=system_key,
        source_message_id=source_message_id,
        created_at=now,
        delivery=delivery,
    )
    if system_key:
        try:
            with transaction.atomic():
                message.save()
        except IntegrityError:
            return None
    else:
        message.save()

    # K1: response times are recorded later in batches (kpi.services.responses_record_pending); the flag
    # rides on this UPDATE of the conversation row. A bot's conversation is flagged when it hands over.
    records_responses = conversation.status != ConversationStatus.BOT and author_kind != Message.Author.BOT
    # System notices are not conversation activity: they neither keep a
    # conversation from auto-closing (Q11) nor change who spoke last (Q8).
    if author_kind != Message.Author.SYSTEM:
        fields = ["last_message_at"]
        if records_responses:
            conversation.responses_pending = True
            fields.append("responses_pending")
        conversation.last_message_at = now
        if author_kind == Message.Author.CLIENT:
            conversation.last_client_message_at = now
            conversation.last_message_author = Message.Author.CLIENT
            fields += ["last_client_message_at", "last_message_author"]
        elif author_kind == Message.Author.OPERATOR:
            conversation.last_operator_message_at = now
            conversation.last_message_author = Message.Author.OPERATOR
            fields += ["last_operator_message_at", "last_message_author"]
            if conversation.first_response_at is None:
                conversation.first_response_at = now
                fields.append("first_response_at")
        conversation.save(update_fields=fields)
    elif records_responses and not conversation.responses_pending:
        # Rare (welcome, close notices); a close already flagged this row in set_status.
        Conversation.objects.filter(pk=conversation.pk).update(responses_pending=True)
        conversation.responses_pending = True

    events.publish_to_conversation(
        conversation, events.message_created(message), operator_ids=[conversation.operator_id]
    )
    after_commit(partial(_send_message_created, message.pk, conversation.pk, author_kind, conversation.status))
    return message


def send_system_message(conversation: Conversation, *, key: str, text: str, now: datetime) -> Message | None:
    if not text.strip():
        return None
    # O3: an untouched default text goes out in the open channel's language.
    text = client_text(text, conversation.open_channel.language)
    return create_message(conversation, author_kind=Message.Author.SYSTEM, text=text, now=now, system_key=key)


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
    Offer.objects.filter(pk__in=[offer.pk for offer in resolved]).update(status=status, resolved_at=now)
    for offer in resolved:
        offer.status = status
        offer.resolved_at = now
        events.publish([events.operator_group(offer.operator_id)], events.offer_withdrawn(offer, reason))
    return resolved


def stamp_last_assigned(open_channel_id: int, user_ids: Iterable[int], now: datetime) -> None:
    QueueMember.objects.filter(open_channel_id=open_channel_id, operator_id__in=list(user_ids)).update(
        last_assigned_at=now
    )


def request_redistribution(open_channel_ids: Iterable[int], *, now: datetime, trigger: str) -> None:
    """Q9: once this transaction commits, route the waiting conversations of these channels at once."""
    channel_ids = sorted(set(open_channel_ids))
    if channel_ids:
        after_commit(partial(_redistribute, channel_ids, now, trigger))


# Instant redistribution runs in the process of the service that triggered it (often a console's
# socket); a long queue beyond this many conversations is left to a Celery task.
INLINE_REDISTRIBUTION_LIMIT = 100


def _redistribute(channel_ids: list[int], now: datetime, trigger: str) -> None:
    from channels_app.services.routing import channel_redistribute

    for channel_id in channel_ids:
        offered = channel_redistribute(
            open_channel_id=channel_id, now=now, trigger=trigger, limit=INLINE_REDISTRIBUTION_LIMIT
        )
        if offered >= INLINE_REDISTRIBUTION_LIMIT:
            _continue_in_celery(channel_id, trigger)


def _continue_in_celery(channel_id: int, trigger: str) -> None:
    from channels_app import tasks

    try:
        tasks.redistribute_open_channel.delay(channel_id, trigger)
    except Exception:
        # The 2-minute retry sweep routes the rest; the broker being down must not fail the caller.
        logger.exception("Could not queue the redistribution of open channel %s", channel_id)


def request_route(conversation_id: int, *, now: datetime, trigger: str) -> None:
    """Route the conversation once this transaction commits (in its own transaction, as the lock order needs)."""
    after_commit(partial(_route, conversation_id, now, trigger))


def _route(conversation_id: int, now: datetime, trigger: str) -> None:
    from channels_app.services.routing import conversation_route

    conversation_route(conversation_id=conversation_id, now=now, trigger=trigger)
