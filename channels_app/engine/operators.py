"""Operator presence and shift state: console heartbeats (Q6), clock in/out and breaks (Q5), the operator's own
Available / Away / Offline (issue 20); absent operators (Q10).

Whether an operator is online is computed from two timestamps whenever it
matters (routing reads them directly): the console's heartbeat must be younger
than ``settings.CONSOLE_HEARTBEAT_TIMEOUT`` and the last activity younger than
the open channel's *offline after* time (unless that channel's inactivity rule
is off); a visible console tab counts as activity
(:func:`~channels_app.policy.presence.counts_as_activity`). ``OperatorProfile.is_online`` is a
cached flag for consoles and dashboards, kept current by these services and by
the presence sweep. Every change that can make an operator eligible routes the
waiting conversations at once (Q9).

Q10: the moment an operator is dismissed, leaves a queue, loses their profile or
begins a leave long enough for the channel, the conversations they hold return
to the queue (:func:`held_conversations_requeue`, called after that change
commits); the daily sweep (:func:`~channels_app.engine.sweeps.absent_operators_sweep`)
stays as the backstop with the same rule (:func:`long_enough_leave`).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from functools import partial

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.db.models import (
    DateTimeField,
    DurationField,
    Exists,
    ExpressionWrapper,
    F,
    OuterRef,
    Q,
    QuerySet,
    Value,
)
from django.utils import timezone
from django.utils.translation import gettext as _

from channels_app.engine import availability, events, locks
from channels_app.engine.availability import operator_channel_ids
from channels_app.engine.errors import InvalidState, NotAllowed, ServiceError
from channels_app.engine.offers import withdraw_offers_to_departed
from channels_app.engine.queue import conversation_requeue, request_redistribution
from channels_app.engine.signals import after_commit
from channels_app.models import (
    Conversation,
    ConversationStatus,
    LeavePeriod,
    OperatorAvailability,
    OperatorProfile,
    QueueMember,
)
from channels_app.policy.presence import StoredPresence, counts_as_activity, is_online

DEFAULT_OFFLINE_AFTER_MINUTES = 10


def operator_heartbeat(
    *, operator, now: datetime, active: bool, tab_visible: bool = False, active_at: datetime | None = None
) -> StoredPresence:
    """Q6: the console pings (``active`` when the operator used the tab since the last ping: moved the pointer,
    scrolled, typed, clicked, focused it; ``tab_visible`` when the tab is on screen, which counts as activity;
    ``active_at`` the latest activity of earlier pings the console did not store, decision 0031).

    Returns what is stored now, which the console keeps to skip the pings that would change nothing
    (:func:`~channels_app.policy.presence.heartbeat_changes_nothing`): most pings never reach this service.

    1. Fast path, one UPDATE: an operator flagged online whose timestamps
       still say online (as :func:`cached_online` reads them, with the same
       longest *offline after* of their channels) stays online after a new
       heartbeat, so nothing but the timestamps changes.
    2. Otherwise (coming online, a stale flag, no profile yet) under the
       profile's row lock: store the timestamps, correct the flag, announce
       the change and route waiting conversations at once (Q9).
    """
    activity_at = now if counts_as_activity(input_seen=active, tab_visible=tab_visible) else active_at
    stored = _heartbeat_while_online(operator.pk, now, activity_at)
    if stored is not None:
        return stored
    with transaction.atomic():
        profile = _locked_profile(operator)
        limit, shortest = presence_windows(operator.pk)
        was_online = cached_online(profile, now, limit)
        profile.console_heartbeat_at = now
        fields = ["console_heartbeat_at"]
        if activity_at is not None and (profile.last_activity_at is None or activity_at > profile.last_activity_at):
            profile.last_activity_at = activity_at
            fields.append("last_activity_at")
        _store_presence(profile, now, fields, limit)
        if profile.is_online and not was_online:
            request_redistribution(availability.operator_channel_ids(operator.pk), now=now, trigger="operator_online")
    return StoredPresence(profile.is_online, profile.console_heartbeat_at, profile.last_activity_at, limit, shortest)


def operator_disconnect(*, operator, now: datetime) -> None:
    """Q6: the console closed; the operator counts as offline until the next heartbeat."""
    with transaction.atomic():
        profile = _locked_profile(operator)
        profile.console_heartbeat_at = None
        _store_presence(profile, now, ["console_heartbeat_at"], offline_after(operator.pk))


def operator_clock_in(*, operator, now: datetime) -> None:
    """Q5: start of the working day; channels that route only to clocked-in operators route at once."""
    with transaction.atomic():
        profile = _locked_profile(operator)
        if profile.clocked_in and not profile.on_break:
            return
        if not profile.clocked_in:
            profile.clocked_in, profile.clocked_in_at = True, now
        profile.on_break, profile.break_started_at = False, None
        profile.save(update_fields=["clocked_in", "clocked_in_at", "on_break", "break_started_at"])
        events.nudge_wallboards(availability.operator_channel_ids(operator.pk))
        _route_channels_requiring_clock_in(operator.pk, now, trigger="clock_in")


def operator_clock_out(*, operator, now: datetime) -> None:
    """Q5: end of the working day. Conversations already held stay with the operator."""
    with transaction.atomic():
        profile = _locked_profile(operator)
        if not profile.clocked_in:
            return
        profile.clocked_in, profile.on_break, profile.break_started_at = False, False, None
        profile.save(update_fields=["clocked_in", "on_break", "break_started_at"])
        events.nudge_wallboards(availability.operator_channel_ids(operator.pk))


def operator_break_start(*, operator, now: datetime) -> None:
    """Q5: a break; no new conversations where clocking in is required."""
    with transaction.atomic():
        profile = _locked_profile(operator)
        if not profile.clocked_in:
            raise InvalidState(_("Clock in before taking a break."))
        if profile.on_break:
            return
        profile.on_break, profile.break_started_at = True, now
        profile.save(update_fields=["on_break", "break_started_at"])
        events.nudge_wallboards(availability.operator_channel_ids(operator.pk))


def operator_break_end(*, operator, now: datetime) -> None:
    """Q5, Q9: back from the break; waiting conversations are routed at once."""
    with transaction.atomic():
        profile = _locked_profile(operator)
        if not profile.on_break:
            return
        profile.on_break, profile.break_started_at = False, None
        profile.save(update_fields=["on_break", "break_started_at"])
        events.nudge_wallboards(availability.operator_channel_ids(operator.pk))
        _route_channels_requiring_clock_in(operator.pk, now, trigger="break_end")


def operator_availability_set(*, operator, availability: str, now: datetime) -> str:
    """Issue 20: the operator chooses Available, Away or Offline, whatever their clock-in.

    Away and Offline: no new offers in any channel (the routing policy's ``REASON_SET_*``); the conversations
    they hold stay theirs, and their pending offers are withdrawn after commit so each conversation moves on to
    a colleague at once (Q3) rather than ringing out. Available: waiting conversations of their channels are
    routed at once (Q9). Every console tab of theirs and the wallboards hear of it. Idempotent; an unknown
    value is refused and changes nothing.
    """
    if availability not in OperatorAvailability.values:
        raise ServiceError(_("Choose Available, Away or Offline."))
    with transaction.atomic():
        profile = _locked_profile(operator)
        if profile.availability == availability:
            return availability
        profile.availability = availability
        profile.save(update_fields=["availability"])
        channel_ids = operator_channel_ids(operator.pk)
        events.publish([events.operator_group(operator.pk)], events.operator_presence(operator.pk, profile.is_online))
        events.nudge_wallboards(channel_ids)
        if availability == OperatorAvailability.AVAILABLE:
            request_redistribution(channel_ids, now=now, trigger="operator_available")
        else:
            why = f"operator set to {availability}"
            after_commit(partial(withdraw_offers_to_departed, operator.pk, now=now, why=why))
    return availability


def operator_language_set(*, operator, language: str) -> str:
    """O3: save the operator's console language; an unknown code is refused and changes nothing."""
    if language not in dict(settings.LANGUAGES):
        raise ServiceError(f"Unknown language: {language!r}.")
    with transaction.atomic():
        updated = OperatorProfile.objects.filter(user_id=operator.pk).update(language=language)
    if not updated:
        raise NotAllowed("Only operators have a console language.")
    return language


# --- helpers ----------------------------------------------------------------------------------------------

# The presence windows of the operators ``user_ids`` (with their activity to store, ``activity``, in the same
# order), one row each: whether one of their active channels has the inactivity rule off, the longest and the
# shortest *offline after* (minutes) of their active channels (the shortest among those with the rule on).
# Raw: read by the heartbeats' UPDATE below as CTEs, and alone by presence_windows().
_WINDOWS_SQL = """
    due AS (SELECT * FROM unnest(%(user_ids)s::integer[], %(activity)s::timestamptz[]) AS due(user_id, activity_at)),
    windows AS (
        SELECT due.user_id,
               COALESCE(bool_or(NOT channel.offline_when_inactive), FALSE) AS rule_off_somewhere,
               MAX(channel.offline_after_minutes) AS longest_minutes,
               MIN(channel.offline_after_minutes) FILTER (WHERE channel.offline_when_inactive) AS shortest_minutes
          FROM due
          LEFT JOIN channels_app_queuemember AS member ON member.operator_id = due.user_id
          LEFT JOIN channels_app_openchannel AS channel ON channel.id = member.open_channel_id AND channel.is_active
         GROUP BY due.user_id)
"""

# The heartbeats of operators still online, one statement however many: locks their rows in user-id order (the
# fixed order of engine.locks), stores the timestamps and returns them with the windows; an operator with no row
# must go the locked path. The conditions are
# policy.presence.is_online's (``<=`` limits) on the stored values, and the limit is offline_after()'s: none when
# one of the operator's active channels has the inactivity rule off, else the longest *offline after* of their
# active channels, else the default. Raw: it runs for every heartbeat that writes, and the ORM cannot say
# UPDATE … FROM … RETURNING.
_HEARTBEAT_WHILE_ONLINE_SQL = f"""
    WITH {_WINDOWS_SQL},
    locked AS MATERIALIZED (
        SELECT profile.user_id FROM channels_app_operatorprofile AS profile
         WHERE profile.user_id = ANY(%(user_ids)s::integer[])
         ORDER BY profile.user_id
           FOR UPDATE)
    UPDATE channels_app_operatorprofile AS profile
       SET console_heartbeat_at = %(now)s,
           last_activity_at = GREATEST(profile.last_activity_at, due.activity_at)
      FROM due JOIN windows USING (user_id) JOIN locked USING (user_id)
     WHERE profile.user_id = due.user_id
       AND profile.is_online
       AND profile.console_heartbeat_at >= %(now)s - make_interval(secs => %(heartbeat_timeout_seconds)s)
       AND (windows.rule_off_somewhere
            OR profile.last_activity_at >= %(now)s - make_interval(
               mins => COALESCE(windows.longest_minutes, %(default_minutes)s)))
 RETURNING profile.user_id, profile.console_heartbeat_at, profile.last_activity_at,
           windows.rule_off_somewhere, windows.longest_minutes, windows.shortest_minutes
"""  # noqa: S608 (only the module constant above is formatted in; values are bound)

_PRESENCE_WINDOWS_SQL = f"""
    WITH {_WINDOWS_SQL}
    SELECT rule_off_somewhere, longest_minutes, shortest_minutes FROM windows
"""  # noqa: S608 (only the module constant above is formatted in; values are bound)


def _heartbeat_while_online(user_id: int, now: datetime, activity_at: datetime | None) -> StoredPresence | None:
    return operators_heartbeat_while_online(activity={user_id: activity_at}, now=now).get(user_id)


def operators_heartbeat_while_online(
    *, activity: dict[int, datetime | None], now: datetime
) -> dict[int, StoredPresence]:
    """Decision 0031: the heartbeats of many consoles at ``now`` in one UPDATE (``activity``: user id → activity to
    store, or None), for the operators still online by their stored timestamps; returns what is stored for each
    of them. An operator missing from the result needs :func:`operator_heartbeat` (the locked path).

    A web process gathers the heartbeats its consoles owe for a moment and writes them together. Nothing but the
    timestamps changes (no event, no routing): the rows are locked in user-id order for the statement alone.
    """
    if not activity:
        return {}
    user_ids = sorted(activity)
    with connection.cursor() as cursor:
        cursor.execute(
            _HEARTBEAT_WHILE_ONLINE_SQL,
            {
                "user_ids": user_ids,
                "activity": [activity[user_id] for user_id in user_ids],
                "now": now,
                "heartbeat_timeout_seconds": settings.CONSOLE_HEARTBEAT_TIMEOUT.total_seconds(),
                "default_minutes": DEFAULT_OFFLINE_AFTER_MINUTES,
            },
        )
        rows = cursor.fetchall()
    return {
        user_id: StoredPresence(True, heartbeat_at, activity_at, *_windows(rule_off, longest, shortest))
        for user_id, heartbeat_at, activity_at, rule_off, longest, shortest in rows
    }


def _windows(rule_off: bool, longest: int | None, shortest: int | None) -> tuple[timedelta | None, timedelta | None]:
    limit = None if rule_off else timedelta(minutes=longest or DEFAULT_OFFLINE_AFTER_MINUTES)
    return limit, None if shortest is None else timedelta(minutes=shortest)


def presence_windows(user_id: int) -> tuple[timedelta | None, timedelta | None]:
    """:func:`offline_after`, and the shortest *offline after* among the operator's active channels that have the
    inactivity rule on (None when none has): the one the stored activity must stay within (decision 0031)."""
    with connection.cursor() as cursor:
        cursor.execute(_PRESENCE_WINDOWS_SQL, {"user_ids": [user_id], "activity": [None]})
        return _windows(*cursor.fetchone())


def offline_after(user_id: int) -> timedelta | None:
    """The longest *offline after* time of the operator's channels: the cached flag is "online somewhere".

    None (no limit) when one of those channels has the inactivity rule off.
    """
    return presence_windows(user_id)[0]


def cached_online(profile: OperatorProfile, now: datetime, limit: timedelta | None) -> bool:
    """Q6 for the cached flag; ``limit`` is :func:`offline_after`'s (None: the inactivity rule is off somewhere)."""
    return is_online(
        heartbeat_at=profile.console_heartbeat_at,
        last_activity_at=profile.last_activity_at,
        now=now,
        heartbeat_timeout=settings.CONSOLE_HEARTBEAT_TIMEOUT,
        offline_after=limit,
    )


def _locked_profile(operator) -> OperatorProfile:
    locks.ensure_profiles([operator.pk])
    return OperatorProfile.objects.select_for_update().get(user_id=operator.pk)


def _store_presence(profile: OperatorProfile, now: datetime, fields: list[str], limit: timedelta | None) -> None:
    online = cached_online(profile, now, limit)
    if online != profile.is_online:
        profile.is_online = online
        fields = [*fields, "is_online"]
        events.publish([events.operator_group(profile.user_id)], events.operator_presence(profile.user_id, online))
        events.nudge_wallboards(availability.operator_channel_ids(profile.user_id))
    profile.save(update_fields=fields)


def _route_channels_requiring_clock_in(user_id: int, now: datetime, *, trigger: str) -> None:
    channel_ids = QueueMember.objects.filter(
        operator_id=user_id, open_channel__is_active=True, open_channel__require_clocked_in=True
    ).values_list("open_channel_id", flat=True)
    request_redistribution(list(channel_ids), now=now, trigger=trigger)


# --- Q10: absent operators ------------------------------------------------------------------------------------

REASON_DISMISSED = "operator dismissed (Q10)"
REASON_ON_LEAVE = "operator on leave (Q10)"
REASON_LEFT_QUEUE = "operator left the queue (Q10)"
REASON_PROFILE_DELETED = "operator profile deleted (Q10)"
ABSENT_TRIGGER = "absent_operator"


def long_enough_leave(*, now: datetime, return_after_days: int | OuterRef) -> QuerySet[LeavePeriod]:
    """Q10: leave periods covering ``now`` that last, start to end, at least the open channel's
    ``absent_return_after_days`` (a number, or a reference to the channel's field in a subquery).

    A leave that long returns the operator's conversations from its first moment rather than after that many
    days: the source asks to take chats back from an operator away "longer than N days", and a planned
    leave's length is known when it begins.
    """
    days = Value(return_after_days) if isinstance(return_after_days, int) else return_after_days
    threshold = ExpressionWrapper(days * Value(timedelta(days=1)), output_field=DurationField())
    return LeavePeriod.objects.filter(starts_at__lte=now, ends_at__gt=now).filter(
        starts_at__lte=ExpressionWrapper(F("ends_at") - threshold, output_field=DateTimeField())
    )


def held_by_absent(now: datetime) -> QuerySet[Conversation]:
    """Q10: conversations held (``active``) by an operator who is dismissed, or on a leave long enough for the
    conversation's open channel (:func:`long_enough_leave`)."""
    long_leave = long_enough_leave(
        now=now, return_after_days=OuterRef("open_channel__absent_return_after_days")
    ).filter(operator_id=OuterRef("operator_id"))
    return Conversation.objects.filter(status=ConversationStatus.ACTIVE).filter(
        Q(operator__is_active=False) | Exists(long_leave)
    )


def absence_reason(conversation: Conversation, now: datetime) -> str | None:
    """Q10: why the holder of this conversation is absent from it now, or ``None`` when they are not."""
    if conversation.operator_id is None:
        return None  # nobody holds the conversation, so nobody is absent from it
    operator = get_user_model().objects.filter(pk=conversation.operator_id).first()
    if operator is None or not operator.is_active:
        return REASON_DISMISSED
    days = conversation.open_channel.absent_return_after_days
    on_long_leave = long_enough_leave(now=now, return_after_days=days).filter(operator_id=operator.pk).exists()
    return REASON_ON_LEAVE if on_long_leave else None


def held_conversation_ids(operator_id: int, *, open_channel_ids: Iterable[int] | None = None) -> list[int]:
    """The conversations the operator holds now (``active``), in these open channels when given."""
    held = Conversation.objects.filter(operator_id=operator_id, status=ConversationStatus.ACTIVE)
    if open_channel_ids is not None:
        held = held.filter(open_channel_id__in=list(open_channel_ids))
    return list(held.order_by("pk").values_list("pk", flat=True))


def held_conversations_requeue(*, operator_id: int, conversation_ids: Iterable[int], now: datetime, reason: str) -> int:
    """Q10 at once: these conversations, held by the operator, return to the queue and are routed again.

    One transaction per conversation, like the sweeps, run after the change that made the operator absent has
    committed. Only the conversation is locked: requeueing lowers the operator's count, which needs no operator
    lock (:mod:`~channels_app.engine.locks`), and locking an operator would re-create a profile being deleted.
    A conversation no longer held by them (taken over, closed meanwhile) is left alone. Returns how many
    returned to the queue.
    """
    requeued = 0
    for conversation_id in sorted(set(conversation_ids)):
        with transaction.atomic():
            conversation = locks.lock_conversation(conversation_id)
            if conversation is None or conversation.status != ConversationStatus.ACTIVE:
                continue
            if conversation.operator_id != operator_id:
                continue
            conversation_requeue(conversation, now=now, reason=reason, trigger=ABSENT_TRIGGER)
            requeued += 1
    return requeued


def requeue_held_after_commit(
    operator_id: int, *, now: datetime, reason: str, open_channel_ids: Iterable[int] | None = None
) -> None:
    """Q10: once the caller's change commits, return the conversations the operator then holds (in these
    channels, when given) to the queue."""
    channel_ids = list(open_channel_ids) if open_channel_ids is not None else None

    def requeue() -> None:
        held = held_conversation_ids(operator_id, open_channel_ids=channel_ids)
        held_conversations_requeue(operator_id=operator_id, conversation_ids=held, now=now, reason=reason)

    after_commit(requeue)


def on_leave_period_saved(sender, instance: LeavePeriod, **kwargs) -> None:
    """Q10: a leave that covers now and is long enough for a channel returns the conversations held there at
    once. A leave that begins later is the daily sweep's to act on when it has begun."""
    now = timezone.now()
    held = held_by_absent(now).filter(operator_id=instance.operator_id).values_list("pk", flat=True)
    if instance.starts_at <= now < instance.ends_at and held.exists():
        ids = list(held)
        after_commit(
            partial(
                held_conversations_requeue,
                operator_id=instance.operator_id,
                conversation_ids=ids,
                now=now,
                reason=REASON_ON_LEAVE,
            )
        )


def on_operator_profile_deleted(sender, instance: OperatorProfile, **kwargs) -> None:
    """Q10: an operator whose profile is deleted no longer answers: their held conversations return to the queue
    once the deletion commits."""
    requeue_held_after_commit(instance.user_id, now=timezone.now(), reason=REASON_PROFILE_DELETED)
