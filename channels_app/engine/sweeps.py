"""Time-driven work run by Celery beat (Q3, Q4, Q6, Q9, Q10, Q11, M2, M4, R1).

Every sweep lists candidates without locks, then handles each in its own
transaction: it locks the rows (``skip_locked`` on the conversation, so a
conversation someone else is working on is left for the next run), re-checks
the condition under the lock, and acts. Two runs started at the same moment
therefore never act twice on one conversation, and a crash loses at most the
conversation in hand, which the next run picks up.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import DateTimeField, DurationField, ExpressionWrapper, F, OuterRef, Q, Value
from django.db.models.functions import Coalesce, Greatest

from channels_app.engine import availability, events, instruments, locks, messages, transitions
from channels_app.engine.calendars import calendar_for
from channels_app.engine.conversations import close_fully
from channels_app.engine.offers import move_on_if_unoffered
from channels_app.engine.operators import (
    ABSENT_TRIGGER,
    absence_reason,
    cached_online,
    held_by_absent,
    offline_after,
)
from channels_app.engine.queue import (
    channel_redistribute,
    conversation_requeue,
    request_redistribution,
    request_route,
)
from channels_app.models import (
    OPEN_STATUSES,
    AutoCloseAction,
    Conversation,
    ConversationStatus,
    NoAnswerAction,
    Offer,
    OpenChannel,
    OperatorProfile,
)
from channels_app.policy import schedule

logger = logging.getLogger(__name__)

BATCH = 1000
NO_ANSWER_TRIGGER = "no_answer"
WAITING_FOR_ANSWER = [ConversationStatus.QUEUED, ConversationStatus.OFFERED, ConversationStatus.ACTIVE]


def _seconds(field: str) -> ExpressionWrapper:
    return ExpressionWrapper(F(field) * Value(timedelta(seconds=1)), output_field=DurationField())


def _days(field: str | OuterRef) -> ExpressionWrapper:
    value = F(field) if isinstance(field, str) else field
    return ExpressionWrapper(value * Value(timedelta(days=1)), output_field=DurationField())


def _plus(moment, duration: ExpressionWrapper) -> ExpressionWrapper:
    return ExpressionWrapper(moment + duration, output_field=DateTimeField())


def offers_expire(*, now: datetime) -> int:
    """Q3: offers not taken within the idle time expire and the conversation moves on. Returns offers expired.

    1. Each conversation with expired offers is handled in its own transaction
       (``skip_locked``): the offers become ``expired`` and, when none is left
       pending, the conversation is ``queued`` again.
    2. Then the channels concerned are routed in batches (oldest waiting
       first), so a wave of expiries costs a few transactions, not one each.
    """
    conversation_ids = list(
        Offer.objects.filter(status=Offer.Status.PENDING, expires_at__lte=now)
        .order_by("conversation_id")
        .values_list("conversation_id", flat=True)
        .distinct()[:BATCH]
    )
    expired = 0
    requeued_channels: set[int] = set()
    for conversation_id in conversation_ids:
        with transaction.atomic():
            conversation = locks.lock_conversation(conversation_id, skip_locked=True)
            if conversation is None:
                continue
            done = transitions.withdraw_pending_offers(
                conversation, now=now, reason="expired", status=Offer.Status.EXPIRED, only=Q(expires_at__lte=now)
            )
            expired += len(done)
            if done:
                instruments.count_after_commit(instruments.offers_expired, len(done))
            if done and move_on_if_unoffered(
                conversation, now=now, reason="offer expired (Q3)", trigger="offer_expired", route=False
            ):
                requeued_channels.add(conversation.open_channel_id)
    for channel_id in sorted(requeued_channels):
        channel_redistribute(open_channel_id=channel_id, now=now, trigger="offer_expired")
    return expired


def conversations_mark_unprocessed(*, now: datetime) -> int:
    """Q4, M2: flag conversations nobody answered in working time, and run the channel's no-answer action.

    Returns how many conversations were flagged (a repeated M2 round flags nothing new).

    1. Only working time counts (H1): while a channel is closed nothing is
       flagged or sent, and a conversation's wait resumes at the opening
       (:func:`~channels_app.policy.schedule.working_time_before` gives, per
       channel, the latest start that has waited long enough by ``now``).
    2. The first expiry flags the conversation and runs the no-answer action.
    3. With "back to the queue" every later expiry runs it again until an
       operator answers: a round lasts the same working time from the
       conversation's last entry into the queue or the previous round,
       whichever is later (:func:`_no_answer_round_start`).
    """
    waiting = Conversation.objects.filter(
        status__in=WAITING_FOR_ANSWER, first_response_at__isnull=True, queued_at__isnull=False
    ).filter(Q(is_unprocessed=False) | Q(open_channel__no_answer_action=NoAnswerAction.BACK_TO_QUEUE))
    # Working time never exceeds elapsed time: the channels with a round over in elapsed time are the only ones to ask.
    channel_ids = (
        waiting.alias(
            round_start=Greatest("queued_at", "no_answer_action_at"),
            deadline=_plus(F("round_start"), _seconds("open_channel__unprocessed_after_seconds")),
        )
        .filter(deadline__lte=now)
        .values_list("open_channel_id", flat=True)
        .distinct()
    )
    channels = OpenChannel.objects.filter(pk__in=list(channel_ids)).prefetch_related("working_periods", "holidays")
    flagged = 0
    for channel in channels.order_by("pk"):
        calendar = calendar_for(channel)
        if not schedule.is_open(calendar, now):
            continue
        waited_since = schedule.working_time_before(calendar, now, channel.unprocessed_after_seconds)
        if waited_since is None:
            continue
        due = list(
            waiting.filter(open_channel=channel)
            .alias(round_start=Greatest("queued_at", "no_answer_action_at"))
            .filter(round_start__lte=waited_since)
            .order_by("queued_at", "pk")
            .values_list("pk", flat=True)[:BATCH]
        )
        for conversation_id in due:
            with transaction.atomic():
                conversation = locks.lock_conversation(conversation_id, skip_locked=True)
                if conversation is None or not _no_answer_round_over(conversation, channel, waited_since):
                    continue
                if not conversation.is_unprocessed:
                    _flag_unprocessed(conversation, now)
                    flagged += 1
                _no_answer_action(conversation, channel, now)
    return flagged


def _no_answer_round_start(conversation: Conversation) -> datetime | None:
    """When the current Q4/M2 round began: the last entry into the queue, or the previous M2 round if later."""
    if conversation.queued_at is None:
        return None  # never queued (still with a bot): no round, as in the sweep's query
    if conversation.no_answer_action_at is None:
        return conversation.queued_at
    return max(conversation.queued_at, conversation.no_answer_action_at)


def _no_answer_round_over(conversation: Conversation, channel: OpenChannel, waited_since: datetime) -> bool:
    """Re-checked under the lock: still unanswered and waiting, and its round began by ``waited_since``."""
    if conversation.status not in WAITING_FOR_ANSWER or conversation.first_response_at is not None:
        return False
    if conversation.is_unprocessed and channel.no_answer_action != NoAnswerAction.BACK_TO_QUEUE:
        return False
    round_start = _no_answer_round_start(conversation)
    return round_start is not None and round_start <= waited_since


def _flag_unprocessed(conversation: Conversation, now: datetime) -> None:
    """Q4: the conversation counts as missed from now on; its consoles and the wallboards hear of it."""
    conversation.is_unprocessed = True
    conversation.unprocessed_at = now
    conversation.save(update_fields=["is_unprocessed", "unprocessed_at"])
    events.publish_to_conversation(
        conversation,
        events.conversation_status(conversation, reason="unprocessed"),
        operator_ids=[conversation.operator_id],
    )
    events.nudge_wallboards([conversation.open_channel_id])


def _no_answer_action(conversation: Conversation, channel: OpenChannel, now: datetime) -> None:
    """M2: send the text once, put the conversation back in the queue (Evenly only) at every round, or nothing.

    Each "back to the queue" round ends in a routing decision with every
    operator's reasons (trigger ``no_answer``): a held or offered conversation
    is requeued and routed; one still in the queue is routed again as it is.
    """
    first_round = conversation.no_answer_action_at is None
    conversation.no_answer_action_at = now
    conversation.save(update_fields=["no_answer_action_at"])
    if channel.no_answer_action == NoAnswerAction.SEND_TEXT and first_round:
        messages.send_system_message(conversation, key="no_answer", text=channel.no_answer_text, now=now)
    elif channel.no_answer_action == NoAnswerAction.BACK_TO_QUEUE:
        if conversation.status == ConversationStatus.QUEUED:
            request_route(conversation.pk, now=now, trigger=NO_ANSWER_TRIGGER)
        else:
            conversation_requeue(
                conversation, now=now, reason="no answer in time: back to the queue (M2)", trigger=NO_ANSWER_TRIGGER
            )


def conversations_retry_unassigned(*, now: datetime) -> int:
    """Q9, H2: route every waiting conversation again (every 2 minutes); returns how many were offered."""
    channel_ids = list(
        Conversation.objects.routable(now)
        .filter(open_channel__is_active=True)
        .order_by("open_channel_id")
        .values_list("open_channel_id", flat=True)
        .distinct()
    )
    return sum(channel_redistribute(open_channel_id=pk, now=now, trigger="retry") for pk in channel_ids)


def presence_sweep(*, now: datetime) -> int:
    """Q6: operators whose console went silent or who stopped being active are marked offline."""
    profiles = list(OperatorProfile.objects.filter(is_online=True).values_list("pk", "user_id"))
    went_offline = 0
    for profile_id, user_id in profiles:
        limit = offline_after(user_id)
        with transaction.atomic():
            profile = OperatorProfile.objects.select_for_update(skip_locked=True).filter(pk=profile_id).first()
            if profile is None or not profile.is_online or cached_online(profile, now, limit):
                continue
            profile.is_online = False
            profile.save(update_fields=["is_online"])
            events.publish([events.operator_group(user_id)], events.operator_presence(user_id, False))
            events.nudge_wallboards(availability.operator_channel_ids(user_id))
            went_offline += 1
    return went_offline


def absent_operators_sweep(*, now: datetime) -> int:
    """Q10, the daily backstop: conversations held by dismissed operators, or by operators on a leave long enough
    for the channel (:func:`~channels_app.engine.operators.long_enough_leave`), are requeued.

    The changes that make an operator absent return their conversations at once
    (:func:`~channels_app.engine.operators.held_conversations_requeue`); this sweep catches what those missed
    (a leave that began after it was saved, a change made around the signals).
    """
    held = list(held_by_absent(now).order_by("pk").values_list("pk", "operator_id")[:BATCH])
    requeued = 0
    for conversation_id, operator_id in held:
        with transaction.atomic():
            locks.lock_operators([operator_id])
            conversation = locks.lock_conversation(conversation_id, skip_locked=True)
            if conversation is None or conversation.status != ConversationStatus.ACTIVE:
                continue
            if conversation.operator_id != operator_id:
                continue
            reason = absence_reason(conversation, now)
            if reason is None:
                continue
            conversation_requeue(conversation, now=now, reason=reason, trigger=ABSENT_TRIGGER)
            requeued += 1
    return requeued


def conversations_auto_close(*, now: datetime) -> int:
    """Q11, M4, R1: close conversations inactive too long, and end rating steps whose time ran out."""
    inactive = list(
        Conversation.objects.filter(status__in=OPEN_STATUSES)
        .alias(
            last_activity=Coalesce("last_message_at", "created_at"),
            deadline=_plus(F("last_activity"), _days("open_channel__auto_close_after_days")),
        )
        .filter(deadline__lte=now)
        .order_by("pk")
        .values_list("pk", flat=True)[:BATCH]
    )
    closed = 0
    for conversation_id in inactive:
        with transaction.atomic():
            conversation = locks.lock_conversation(conversation_id, skip_locked=True)
            if conversation is None or conversation.status not in OPEN_STATUSES:
                continue
            channel = conversation.open_channel
            last_activity = conversation.last_message_at or conversation.created_at
            if last_activity + timedelta(days=channel.auto_close_after_days) > now:
                continue
            _close_for_inactivity(conversation, now)
            closed += 1

    rating_over = list(
        Conversation.objects.filter(status=ConversationStatus.CLOSED_PENDING_RATING, rating_deadline__lte=now)
        .order_by("pk")
        .values_list("pk", flat=True)[:BATCH]
    )
    for conversation_id in rating_over:
        with transaction.atomic():
            conversation = locks.lock_conversation(conversation_id, skip_locked=True)
            if conversation is None or conversation.status != ConversationStatus.CLOSED_PENDING_RATING:
                continue
            if conversation.rating_deadline is None or conversation.rating_deadline > now:
                continue
            close_fully(
                conversation, now=now, closed_by=Conversation.ClosedBy.RATING_TIMEOUT, reason="rating time over (R1)"
            )
            closed += 1
    return closed


def _close_for_inactivity(conversation: Conversation, now: datetime) -> None:
    channel: OpenChannel = conversation.open_channel
    transitions.withdraw_pending_offers(conversation, now=now, reason="closed for inactivity")
    conversation.closed_at = now
    conversation.fully_closed_at = now
    conversation.closed_by = Conversation.ClosedBy.INACTIVITY
    transitions.set_status(
        conversation,
        to_status=ConversationStatus.CLOSED,
        now=now,
        reason="no message for a long time (Q11)",
        extra_fields=["closed_at", "fully_closed_at", "closed_by"],
    )
    if channel.auto_close_action == AutoCloseAction.SEND_TEXT:
        messages.send_system_message(conversation, key="auto_close", text=channel.auto_close_text, now=now)
    events.publish_to_conversation(
        conversation, events.conversation_closed(conversation), operator_ids=[conversation.operator_id]
    )
    if conversation.operator_id is not None and channel.chat_limit_enabled:
        request_redistribution([channel.pk], now=now, trigger="slot_freed")
